"""StreamSearcher driven directly (no Ray cluster): its state round trip mid-run.

A driver plays Tune: it keeps up to ``SLOTS`` trials live, asks the searcher for a config
whenever a slot is free, and completes the oldest live trial with a deterministic score of its
schedule. Halfway through, the searcher's state is saved (``get_state`` through JSON, or
``save`` to a file) and restored into a freshly built one; from there on, the restored searcher
must hand out exactly what the original does: same stream, same config, same order, to the
end of the comparison. The streams cover every kind the shared experiment holds: S2E behind a
batching ``ConcurrencyLimiter``, TPE and Optuna behind a plain one, random search, and the
references (``FixedConfigSearcher``).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from ray.tune.search import ConcurrencyLimiter, Searcher

from raysearch.noisy.settings import TrialSettings
from raysearch.tune.compare_experiments import streams
from raysearch.tune.compare_settings import METRIC, MODE, CompareSettings
from raysearch.tune.fixed_configs import FixedConfigSearcher
from raysearch.tune.spaces import SCHEDULE_KEY
from raysearch.tune.streams import StreamSearcher

SEARCHERS = ("s2e", "random", "tpe", "optuna")
SLOTS = 3


def _settings(tmp_path) -> CompareSettings:
    return CompareSettings(
        trial=TrialSettings(epochs=2), searchers=SEARCHERS, trials=4, seeds=2,
        samples_per_iter=2, out=str(tmp_path),
    )  # fmt: skip


def _searcher(settings: CompareSettings) -> StreamSearcher:
    return StreamSearcher(streams(settings), metric=METRIC, mode=MODE)


def _score(schedule: dict) -> float:
    leaves = [float(v) for _, v in sorted(schedule.items()) if isinstance(v, int | float)]
    return sum(math.sin(3.0 * x + i) for i, x in enumerate(leaves))


@dataclass
class _Driver:
    """What Tune does with a searcher, reduced to its order of calls."""

    live: list[tuple[str, dict]] = field(default_factory=list)
    created: int = 0
    finished: bool = False

    def step(self, searcher: Searcher) -> tuple:
        """Fill a free slot, else complete the oldest live trial; the event."""
        if len(self.live) < SLOTS and not self.finished:
            trial_id = f"trial{self.created:03d}"
            config = searcher.suggest(trial_id)
            if config == Searcher.FINISHED:
                self.finished = True
            elif config is not None:
                self.created += 1
                self.live.append((trial_id, config))
                return ("suggest", trial_id, config["searcher"], config["seed"], config)
        if not self.live:
            return ("end",) if self.finished else ("stuck",)
        trial_id, config = self.live.pop(0)
        epochs = config["epochs"]
        result = {
            METRIC: _score(config[SCHEDULE_KEY]),
            "epoch": epochs,
            "training_iteration": epochs,
        }
        searcher.on_trial_result(trial_id, result)
        searcher.on_trial_complete(trial_id, result=result)
        return ("complete", trial_id)

    def run(self, searcher: Searcher, steps: int | None = None) -> list[tuple]:
        events: list[tuple] = []
        while steps is None or len(events) < steps:
            events.append(self.step(searcher))
            assert events[-1] != ("stuck",), events
            if events[-1] == ("end",):
                break
        return events


def _whole_run(settings: CompareSettings) -> list[tuple]:
    return _Driver().run(_searcher(settings))


def test_the_driver_runs_every_stream_to_its_budget(tmp_path):
    settings = _settings(tmp_path)
    events = _whole_run(settings)
    suggested = [e for e in events if e[0] == "suggest"]
    per_stream = {(s, seed) for _, _, s, seed, _ in suggested}
    assert len(suggested) == 2 * (len(SEARCHERS) * 4 + 2)
    assert per_stream == {(s, seed) for seed in (0, 1) for s in (*SEARCHERS, "standard", "coteaching")}  # fmt: skip
    assert _whole_run(settings) == events  # the run itself is deterministic


@pytest.mark.parametrize("how", ["get_state", "save"])
@pytest.mark.parametrize("after", [7, 23])
def test_a_restored_stream_searcher_suggests_what_the_original_does_next(tmp_path, how, after):
    settings = _settings(tmp_path)
    original, driver = _searcher(settings), _Driver()
    head = driver.run(original, steps=after)
    assert driver.live, "the state is saved with trials live"
    assert any(s.live for s in original.streams if isinstance(s.search_alg, ConcurrencyLimiter))
    if how == "get_state":
        state = json.loads(json.dumps(original.get_state()))  # what is saved is plain JSON
        restored = _searcher(settings)
        restored.set_state(state)
    else:
        original.save(str(tmp_path / "state.json"))
        restored = _searcher(settings)
        restored.restore(str(tmp_path / "state.json"))
    assert {s.name: (s.suggested, s.live) for s in restored.streams} == {
        s.name: (s.suggested, s.live) for s in original.streams
    }
    twin = copy.deepcopy(driver)  # Tune restores the live trials, which then report
    tail = driver.run(original)
    assert twin.run(restored) == tail
    assert head + tail == _whole_run(settings)  # saving changed nothing for the original
    kinds = {type(s.search_alg).__name__ for s in original.streams}
    assert {"ConcurrencyLimiter", "RandomSearcher", "FixedConfigSearcher"} <= kinds


def test_a_reference_stream_hands_out_its_schedule_once_and_keeps_that_after_a_restore(tmp_path):
    settings = _settings(tmp_path)
    searcher = _searcher(settings)
    references = [s for s in searcher.streams if s.role == "reference"]
    assert references and all(isinstance(s.search_alg, FixedConfigSearcher) for s in references)
    driver = _Driver()
    events = driver.run(searcher)
    handed = [e for e in events if e[0] == "suggest" and e[2] in ("standard", "coteaching")]
    assert sorted((e[2], e[3]) for e in handed) == sorted(
        (name, seed) for seed in (0, 1) for name in ("standard", "coteaching")
    )
    for _, _, name, seed, config in handed:
        assert config[SCHEDULE_KEY] == settings.reference_schedule(name)
        assert config["seed"] == seed and config["role"] == "reference"
    restored = _searcher(settings)
    restored.set_state(json.loads(json.dumps(searcher.get_state())))
    assert restored.suggest("late") == Searcher.FINISHED  # nothing handed out twice


def test_restoring_another_comparisons_state_is_refused(tmp_path):
    state = _searcher(_settings(tmp_path)).get_state()
    fewer = CompareSettings(trial=TrialSettings(epochs=2), searchers=("s2e",), trials=4, seeds=2,
                            samples_per_iter=2, out=str(tmp_path))  # fmt: skip
    with pytest.raises(ValueError, match="saved streams"):
        _searcher(fewer).set_state(state)
    with pytest.raises(ValueError, match="version"):
        _searcher(_settings(tmp_path)).set_state({**state, "version": 99})


def test_a_snapshot_after_every_call_equals_saving_every_sub_searcher_afresh(tmp_path):
    """``get_state`` saves again only the sub-searchers called since its last call; taken after
    every call Tune makes, it must equal a state that saves every sub-searcher anew."""
    from raysearch.tune.streams import _save_chain

    searcher = _searcher(_settings(tmp_path))
    counts = {"calls": 0, "resaved": 0}

    def snapshot_checked(method):
        def call(*args, **kwargs):
            value = method(*args, **kwargs)
            counts["calls"] += 1
            counts["resaved"] += sum(s.saved is None for s in searcher.streams)
            assert searcher.get_state()["streams"] == {
                s.name: {"suggested": s.suggested, "finished": s.finished,
                         "live": sorted(s.live), "searcher": _save_chain(s.search_alg)}
                for s in searcher.streams
            }  # fmt: skip
            return value

        return call

    tune_side = SimpleNamespace(**{
        name: snapshot_checked(getattr(searcher, name))
        for name in ("suggest", "on_trial_result", "on_trial_complete")
    })  # fmt: skip
    events = _Driver().run(tune_side)
    assert events[-1] == ("end",)
    # the first snapshot saves all of them; after that mostly the one just called
    assert counts["resaved"] < len(searcher.streams) + 2 * counts["calls"], counts
