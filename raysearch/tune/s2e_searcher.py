"""S2E (Yao et al. 2020, Alg. 2) as a Ray Tune ``Searcher``: a thin adapter over
:class:`raysearch.relax.RelaxationOptimizer`.

The optimizer asks K samples (one iteration m of Alg. 2); the searcher hands them out as Tune
configs, collects their final metric and tells the whole batch before asking the next one,
so the Newton step of eq. (8) always uses K fresh evaluations. It limits concurrency itself
(``set_max_concurrency`` returns True), so ``ConcurrencyLimiter(batch=True)`` delegates to it
instead of waiting for results that a K-sized batch never produces (ray#15880).

Failures: a trial that errors, or whose result lacks the metric or holds NaN / inf, is told as
``None``; the optimizer replaces it by the worst finite score of the batch (a penalty) and
never crashes. ``save`` / ``restore`` keep everything, including which live trial holds which
sample, so ``Tuner.restore`` continues the same iteration (ray#14814, #30861).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ray.tune.search import Searcher

from raysearch.relax import UPDATES, RelaxationOptimizer
from raysearch.tune.space_relaxation import RelaxedSpace, relax_tune_space

STATE_VERSION = 1


class S2ESearcher(Searcher):
    """S2E stochastic relaxation with Newton (or ``gd`` / ``ng`` / ``official``) updates.

    Args:
        space: a Tune search space; ``None`` to take the ``param_space`` given to the Tuner.
        metric, mode: as in Tune (may come from ``TuneConfig``).
        update: ``newton`` (S2E eq. (8) with Prop. 1), ``gd``, ``ng`` or ``official``.
        samples_per_iter: K, the samples of one iteration of Alg. 2.
        step_size: ρ of eq. (8).
        seed: seeds the sampling of the relaxation.
        simplex_groups: flattened keys (``"schedule/alpha1"``) searched as one Dirichlet block.
        max_iterations: stop suggesting after M iterations (``None``: let ``num_samples`` decide).
        optimizer_kwargs: passed on to :class:`RelaxationOptimizer`.

    Example (any bounded Tune space; see README.md for a full run next to HyperOptSearch):
        >>> from ray import tune
        >>> from raysearch.api import S2ESearcher
        >>> space = {"lr": tune.loguniform(1e-4, 1e-1), "act": tune.choice(["relu", "tanh"])}
        >>> searcher = S2ESearcher(space, metric="score", mode="max", samples_per_iter=4)
        >>> sorted(searcher.suggest("trial-1"))
        ['act', 'lr']
    """

    def __init__(
        self,
        space: Mapping[str, Any] | None = None,
        *,
        metric: str | None = None,
        mode: str | None = None,
        update: str = "newton",
        samples_per_iter: int = 4,
        step_size: float = 1.0,
        seed: int = 0,
        simplex_groups: Sequence[Sequence[str]] = (),
        max_iterations: int | None = None,
        **optimizer_kwargs: Any,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        if samples_per_iter < 2:
            raise ValueError(
                f"samples_per_iter (K) must be >= 2 to estimate a gradient, got {samples_per_iter}"
            )
        if max_iterations is not None and max_iterations < 1:
            raise ValueError(f"max_iterations must be None or >= 1, got {max_iterations}")
        self.samples_per_iter = samples_per_iter
        self.max_iterations = max_iterations
        if update not in UPDATES:
            raise ValueError(f"unknown update {update!r}; allowed: {list(UPDATES)}")
        self._optimizer_args = {
            "update": update,
            "step_size": step_size,
            "seed": seed,
            **optimizer_kwargs,
        }
        self._simplex_groups = [tuple(g) for g in simplex_groups]
        self._space: Mapping[str, Any] | None = None
        self._relaxed: RelaxedSpace | None = None
        self.optimizer: RelaxationOptimizer | None = None
        self._max_live = samples_per_iter
        self._queue: list[dict[str, Any]] = []  # asked, not yet handed to a trial
        self._live: dict[str, dict[str, Any]] = {}  # trial id -> its sample
        self._told: list[tuple[dict[str, Any], float | None]] = []  # finished in this batch
        self._saved_state: dict[str, Any] | None = None  # restored before the space was known
        if space is not None:
            self._build(space)

    # -- set-up ------------------------------------------------------------------------------

    def _build(self, space: Mapping[str, Any]) -> None:
        self._space = space
        self._relaxed = relax_tune_space(space, simplex_groups=self._simplex_groups)
        self.optimizer = RelaxationOptimizer(self._relaxed.blocks, **self._optimizer_args)
        if self._saved_state is not None:
            self.set_state(self._saved_state)

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict, **spec: Any
    ) -> bool:
        if self.optimizer is not None and config:
            return False  # a space was given already; Tune must not overwrite it
        if metric is not None:
            self._metric = metric
        if mode is not None:
            if mode not in ("min", "max"):
                raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
            self._mode = mode
        if self.optimizer is None and config:
            self._build(config)
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        """At most ``max_concurrent`` live trials (and never more than K); we limit ourselves."""
        self._max_live = max(1, min(int(max_concurrent), self.samples_per_iter))
        return True

    # -- Searcher API ------------------------------------------------------------------------

    @property
    def iteration(self) -> int:
        return 0 if self.optimizer is None else self.optimizer.iteration

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
        if self.optimizer is None or self._relaxed is None:
            raise RuntimeError(
                "S2ESearcher has no search space: pass `space=` or a Tuner param_space"
            )
        if self._metric is None or self._mode is None:
            raise ValueError("S2ESearcher needs metric and mode (here or in TuneConfig)")
        if not self._queue and not self.optimizer.pending:
            if self.max_iterations is not None and self.optimizer.iteration >= self.max_iterations:
                return Searcher.FINISHED
            self._queue = self.optimizer.ask(self.samples_per_iter)
        if not self._queue or len(self._live) >= self._max_live:
            return None  # the rest of the batch is running; the next batch waits for its scores
        sample = self._queue.pop(0)
        self._live[trial_id] = sample
        return self._relaxed.decode(sample)

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        sample = self._live.pop(trial_id, None)
        if sample is None or self.optimizer is None:
            return
        self._told.append((sample, None if error else self._score(result)))
        if not self._queue and not self._live:
            # a canonical order, not the order trials happened to end in: the same results
            # give the same update however the batch's trials were interleaved
            told = sorted(self._told, key=lambda pair: json.dumps(pair[0], sort_keys=True))
            samples, scores = zip(*told, strict=True)
            self.optimizer.tell(list(samples), list(scores))
            self._told = []

    def _score(self, result: dict | None) -> float | None:
        """The metric to maximise, or None when it is missing or not finite (penalised)."""
        value = None if result is None else result.get(self._metric)  # type: ignore[arg-type]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            return None
        return float(value) if self._mode == "max" else -float(value)

    # -- persistence -------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        if self.optimizer is None:
            raise RuntimeError("nothing to save: the searcher has no search space yet")
        return {
            "version": STATE_VERSION,
            "metric": self._metric,
            "mode": self._mode,
            "samples_per_iter": self.samples_per_iter,
            "max_iterations": self.max_iterations,
            "max_live": self._max_live,
            "optimizer": self.optimizer.state_dict(),
            "queue": self._queue,
            "live": self._live,
            "told": self._told,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported S2ESearcher state version {state.get('version')!r}")
        if self.optimizer is None:
            self._saved_state = state  # applied once Tune hands over the space
            return
        self._saved_state = None
        self._metric, self._mode = state["metric"], state["mode"]
        self.samples_per_iter, self.max_iterations = (
            state["samples_per_iter"],
            state["max_iterations"],
        )
        self._max_live = state["max_live"]
        self.optimizer.load_state_dict(state["optimizer"])
        self._queue = list(state["queue"])
        self._live = dict(state["live"])
        self._told = [(dict(s), v) for s, v in state["told"]]

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_text(json.dumps(self.get_state()))

    def restore(self, checkpoint_path: str) -> None:
        try:
            state = json.loads(Path(checkpoint_path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise RuntimeError(
                f"cannot read S2E searcher state {checkpoint_path}: {error}"
            ) from error
        self.set_state(state)
