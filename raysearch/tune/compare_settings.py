"""The settings of a ``raysearch compare`` and the experiments they make (validated, no Ray work).

A comparison runs every searcher and the reference schedules on seeds 0 .. S-1. Seed s fixes
the trials' training seed (initial weights, batch order); the split and the noisy labels come
from the trial settings' ``noise_seed``. So on one seed every searcher and reference trains on
the same data with the same initial weights (common random numbers), and comparisons pair by
seed. Experiments:

* ``searchers``: one Tune experiment holding every (searcher, seed) stream of the searchers
  that are Tune ``Searcher``\\ s and every (reference, seed) stream
  (:mod:`raysearch.tune.streams`);
* ``<scheduler>-seed<s>``: one per seed for the strategies that need a trial scheduler
  (Hyperband, ASHA, BOHB), whose brackets must see only their own seed's trials; they run one
  trial at a time (:class:`~raysearch.tune.graceful_stop.PausingScheduler`), beside the
  ``searchers`` experiment.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raysearch.noisy.settings import TrialSettings
from raysearch.tune.searchers import (
    SearchRequest,
    check_searcher_names,
    needs_own_experiment,
)
from raysearch.tune.spaces import SCHEDULE_KEY, family_space, simplex_groups
from search_spaces.schedules import REFERENCES, get_family, reference_schedule

METRIC, MODE = "val_acc", "max"
SEARCHERS_EXPERIMENT = "searchers"


def check_references(names: tuple[str, ...]) -> None:
    unknown = [n for n in names if n not in REFERENCES]
    if unknown:
        raise KeyError(f"unknown reference(s) {unknown}; references: {', '.join(REFERENCES)}")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"reference(s) {duplicated} given more than once")


@dataclass(frozen=True)
class CompareSettings:
    """A comparison: schedule family, strategies, references, budget (N trials x E epochs),
    seeds, and how trials run (concurrency per searcher stream, resources, checkpoints)."""

    trial: TrialSettings
    space: str = "s2e"
    searchers: tuple[str, ...] = ("s2e", "random", "tpe", "hyperband")
    references: tuple[str, ...] = REFERENCES
    trials: int = 12
    seeds: int = 2
    samples_per_iter: int = 4
    concurrency: int = 1
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    checkpoint_every_s: float = 30.0
    out: str = "runs/compare"

    def __post_init__(self) -> None:
        get_family(self.space)
        check_searcher_names(list(self.searchers))
        check_references(tuple(self.references))
        for name, value, low in (
            ("trials", self.trials, 1),
            ("seeds", self.seeds, 1),
            ("samples_per_iter", self.samples_per_iter, 2),
            ("concurrency", self.concurrency, 1),
        ):
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        if not self.cpus_per_trial > 0:  # fractional: trials share cores (see docs)
            raise ValueError(f"cpus_per_trial must be > 0, got {self.cpus_per_trial}")
        if not self.checkpoint_every_s > 0:
            raise ValueError(f"checkpoint_every_s must be > 0, got {self.checkpoint_every_s}")
        object.__setattr__(self, "out", str(Path(self.out).expanduser().resolve()))

    @property
    def stream_searchers(self) -> list[str]:
        """The searchers that share the ``searchers`` experiment."""
        return [n for n in self.searchers if not needs_own_experiment(n)]

    @property
    def experiments(self) -> list[str]:
        """Experiment names, the shared one first."""
        shared = [SEARCHERS_EXPERIMENT] if self.stream_searchers or self.references else []
        own = [f"{n}-seed{s}" for s in range(self.seeds) for n in self.searchers
               if needs_own_experiment(n)]  # fmt: skip
        return shared + own

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> CompareSettings:
        """Inverse of ``dataclasses.asdict`` (JSON round trip)."""
        trial = TrialSettings(**fields["trial"])
        return cls(**{**fields, "trial": trial, "searchers": tuple(fields["searchers"]),
                      "references": tuple(fields["references"])})  # fmt: skip

    def fingerprint(self) -> dict[str, Any]:
        """The settings every trial of the folder depends on (``out`` excluded: a copied or
        moved folder keeps its fingerprint)."""
        settings = dataclasses.asdict(self)
        settings.pop("out")
        return settings

    def request(self, seed: int) -> SearchRequest:
        family = get_family(self.space)
        return SearchRequest(
            metric=METRIC, mode=MODE, trials=self.trials, epochs=self.trial.epochs, seed=seed,
            concurrency=self.concurrency, samples_per_iter=self.samples_per_iter, simplex_groups=simplex_groups(family),
        )  # fmt: skip

    def trial_config(self, seed: int) -> dict[str, Any]:
        """The trial settings at training seed ``seed``, and the checkpoint period."""
        trial = dataclasses.replace(self.trial, seed=seed)
        return {**trial.to_config(), "checkpoint_every_s": self.checkpoint_every_s}

    def param_space(self, seed: int) -> dict[str, Any]:
        """Trial settings (training seed = search seed) plus the family's Tune space."""
        return {**self.trial_config(seed), SCHEDULE_KEY: family_space(get_family(self.space))}

    def reference_schedule(self, name: str) -> dict[str, Any]:
        """The schedule of reference ``name`` for this comparison's noise rate."""
        return reference_schedule(name, self.trial.schedule_noise_rate)
