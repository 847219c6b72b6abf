"""Candidate tasks of the schedule benchmark and the default comparison (no Ray).

A task fixes everything of a Co-teaching trial but its schedule and seed: the embedded
``fashion-mnist-mini`` (10,800 training rows after the 1,200-row clean validation split), the
noise, the epochs and the training rows. The names read ``<noise><rate>-e<epochs>-n<rows>``.
"""

from __future__ import annotations

from typing import Any

TASKS: dict[str, dict[str, Any]] = {
    "sym50-e20-n4000": {"noise": "symmetric:0.5", "epochs": 20, "train_size": 4000},
    "pair45-e20-n4000": {"noise": "pair:0.45", "epochs": 20, "train_size": 4000},
    "sym50-e40-n2000": {"noise": "symmetric:0.5", "epochs": 40, "train_size": 2000},
    "pair45-e40-n2000": {"noise": "pair:0.45", "epochs": 40, "train_size": 2000},
    "sym50-e30-n4000": {"noise": "symmetric:0.5", "epochs": 30, "train_size": 4000},
    "sym50-e20-n6000": {"noise": "symmetric:0.5", "epochs": 20, "train_size": 6000},
    "sym50-e20-full": {"noise": "symmetric:0.5", "epochs": 20},
}
TABULATED = ("sym50-e20-n6000", "pair45-e20-n4000")  # one symmetric, one pair-noise task


def check_task(name: str) -> dict[str, Any]:
    """The ``TrialSettings`` overrides of task ``name``; ``KeyError`` listing the tasks."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; tasks: {', '.join(TASKS)}")
    return dict(TASKS[name])


def task_settings(name: str, **overrides: Any) -> Any:
    """The ``TrialSettings`` of task ``name`` (clean validation, seed 0 unless overridden)."""
    from raysearch.noisy.settings import TrialSettings

    return TrialSettings(**{**check_task(name), **overrides})


def noise_rate(name: str) -> float:
    """The noise rate of task ``name`` (``symmetric:0.5`` -> 0.5)."""
    from raysearch.noisy import NoiseSpec

    return NoiseSpec.parse(check_task(name)["noise"]).rate
