"""Many independent searches in one Tune experiment: one ``Searcher`` per stream (searcher, seed).

A comparison runs every searcher on every seed, plus the reference schedules. As separate Tune
experiments they pay Tune's set-up and tear-down, fresh trial actors and an idle core at every
experiment's tail. :class:`StreamSearcher` holds one independent sub-searcher per stream, tags
every trial it hands out with its stream (config keys ``searcher`` and ``role``; ``seed`` is
the trial's own training seed), routes each result only to that stream's sub-searcher and
stops asking a stream once it has had its budget of trials. Each stream therefore suggests
exactly what the same searcher would in an experiment of its own, given the same results in the
same order. Streams are served in order (first seed first); a stream that waits (S2E's batch,
a searcher at its concurrency limit) leaves its slot to the next one, so the cores stay busy.

``save`` / ``restore`` keep every sub-searcher's own saved state (its file, base64 in JSON),
the state of a ``ConcurrencyLimiter`` around it (which Tune's own limiter does not save), the
trials each stream has handed out and which live trial belongs to which stream.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray.tune.search import ConcurrencyLimiter, Searcher
from ray.tune.search.sample import Domain

STATE_VERSION = 1


@dataclass
class Stream:
    """One search of a comparison: ``searcher`` (a registry or reference name) at ``seed``,
    suggesting up to ``trials`` configs from ``space`` (its own Tune ``param_space``)."""

    searcher: str
    seed: int
    role: str  # "searcher" or "reference"
    search_alg: Searcher
    trials: int
    space: dict[str, Any]
    suggested: int = 0
    finished: bool = False
    live: set[str] = field(default_factory=set)
    configured: bool = False  # its searcher has been given metric, mode and space
    saved: dict[str, Any] | None = field(default=None, repr=False)  # see StreamSearcher.get_state

    def searcher_called(self) -> Searcher:
        """Its searcher, about to be called: what it last saved may no longer hold."""
        self.saved = None
        return self.search_alg

    @property
    def name(self) -> str:
        return f"{self.searcher}/seed{self.seed}"


def _save_chain(searcher: Searcher) -> dict[str, Any]:
    """A searcher's saved state as JSON: a limiter's own fields, then what it wraps."""
    if isinstance(searcher, ConcurrencyLimiter):
        own = searcher.get_state()
        own["live_trials"] = sorted(own["live_trials"])
        return {"limiter": own, "inner": _save_chain(searcher.searcher)}
    fd, name = tempfile.mkstemp(prefix="raysearch-stream-")
    os.close(fd)
    try:
        searcher.save(name)
        return {"file": base64.b64encode(Path(name).read_bytes()).decode()}
    finally:
        Path(name).unlink(missing_ok=True)


def _restore_chain(searcher: Searcher, state: dict[str, Any]) -> None:
    if "limiter" in state:
        if not isinstance(searcher, ConcurrencyLimiter):
            raise ValueError("saved stream state has a ConcurrencyLimiter the searcher lacks")
        own = dict(state["limiter"], live_trials=set(state["limiter"]["live_trials"]))
        searcher.set_state(own)
        _restore_chain(searcher.searcher, state["inner"])
        return
    fd, name = tempfile.mkstemp(prefix="raysearch-stream-")
    os.close(fd)
    try:
        Path(name).write_bytes(base64.b64decode(state["file"]))
        searcher.restore(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _constants(space: dict[str, Any]) -> dict[str, Any]:
    """``space`` without its search domains (what every config of the stream shares)."""
    return {
        key: _constants(value) if isinstance(value, dict) else copy.deepcopy(value)
        for key, value in space.items()
        if not isinstance(value, Domain)
    }


def _merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``update`` merged in, nested dicts key by key."""
    out = dict(base)
    for key, value in update.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merged(out[key], value) if both else copy.deepcopy(value)
    return out


class StreamSearcher(Searcher):
    """Route suggestions and results between Tune and one sub-searcher per :class:`Stream`."""

    def __init__(
        self, streams: Sequence[Stream], *, metric: str | None = None, mode: str | None = None
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        names = [s.name for s in streams]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"streams need distinct names and at least one, got {names}")
        self.streams = list(streams)
        self._by_name = {s.name: s for s in self.streams}
        self._trial_stream: dict[str, str] = {}  # live trial id -> stream name
        if metric is not None and mode is not None:  # Tune calls it only for a non-empty space
            self.set_search_properties(metric, mode, {})

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict, **spec: Any
    ) -> bool:
        self._metric, self._mode = metric or self._metric, mode or self._mode
        for stream in self.streams:  # each searches its own space (its seed), not Tune's
            if not stream.configured:
                stream.searcher_called().set_search_properties(
                    self._metric, self._mode, stream.space, **spec
                )
                stream.configured = True
        return True

    def stream_of(self, trial_id: str) -> Stream | None:
        name = self._trial_stream.get(trial_id)
        return None if name is None else self._by_name[name]

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
        for stream in self.streams:
            if stream.finished:
                continue
            if stream.suggested >= stream.trials:
                stream.finished = True
                continue
            config = stream.searcher_called().suggest(trial_id)
            if config == Searcher.FINISHED:
                stream.finished = True
                continue
            if config is None:
                continue
            stream.suggested += 1
            stream.live.add(trial_id)
            self._trial_stream[trial_id] = stream.name
            tagged = _merged(_constants(stream.space), config)
            return {**tagged, "searcher": stream.searcher, "role": stream.role}
        return Searcher.FINISHED if all(s.finished for s in self.streams) else None

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        stream = self.stream_of(trial_id)
        if stream is not None:
            stream.searcher_called().on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        stream = self.stream_of(trial_id)
        if stream is None:
            return
        del self._trial_stream[trial_id]
        stream.live.discard(trial_id)
        stream.searcher_called().on_trial_complete(trial_id, result=result, error=error)

    # -- persistence -------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """Every stream's state. A sub-searcher's own state is saved again only if it was
        called since its last save (Tune snapshots every few seconds; re-saving all of them,
        TPE's trial history included, took 11 of the drivers' 48 CPU seconds in the default
        job)."""
        for stream in self.streams:
            if stream.saved is None:
                stream.saved = _save_chain(stream.search_alg)
        return {
            "version": STATE_VERSION,
            "metric": self._metric,
            "mode": self._mode,
            "trial_stream": self._trial_stream,
            "streams": {
                s.name: {
                    "suggested": s.suggested,
                    "finished": s.finished,
                    "live": sorted(s.live),
                    "searcher": s.saved,
                }
                for s in self.streams
            },  # fmt: skip
        }

    def set_state(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported stream searcher state version {state.get('version')!r}")
        saved = state["streams"]
        if sorted(saved) != sorted(self._by_name):
            raise ValueError(
                f"saved streams {sorted(saved)} differ from this comparison's {sorted(self._by_name)}"
            )
        self._metric, self._mode = state["metric"], state["mode"]
        self._trial_stream = dict(state["trial_stream"])
        for name, entry in saved.items():
            stream = self._by_name[name]
            stream.suggested, stream.finished = int(entry["suggested"]), bool(entry["finished"])
            stream.live = set(entry["live"])
            _restore_chain(stream.searcher_called(), entry["searcher"])

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_text(json.dumps(self.get_state()))

    def restore(self, checkpoint_path: str) -> None:
        try:
            state = json.loads(Path(checkpoint_path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise RuntimeError(
                f"cannot read stream searcher state {checkpoint_path}: {error}"
            ) from error
        self.set_state(state)
