"""How much a task rewards schedule search, measured on its bench table (issue 18, item 6; no Ray).

A task suits a search comparison when good schedules are rare (a searcher must find them) and
the best beat Co-teaching's published schedule by more than seed noise (a paired interval over
a few seeds can show it). On the final clean test accuracy:

* ``seed_std``: one run's noise near the top, the pooled standard deviation over seeds of the
  best quarter of schedules (by seed mean); bad schedules are far noisier (a collapsing run),
  so ``seed_std_all``, pooled over every schedule, overstates the noise a search meets;
* ``best_held_out``: the best schedule picked on one seed and scored on another (every ordered
  pair of seeds, averaged), free of the winner's curse of the maximum of noisy means
  (``best_in_sample`` is that maximum, for comparison);
* ``share_within_std``: the share of the Sobol schedules (the space-filling sample of the
  searched ``s2e`` family) whose seed mean is within one ``seed_std`` of ``best_held_out``
  (``share_within_std_all``: of every tabulated schedule);
* ``gain_over_coteaching``: ``best_held_out`` less the ``coteaching`` reference scored on the
  same held-out seeds, also in units of ``seed_std`` (``gain_in_std``);
* ``random_gain``: what random search gains over ``coteaching`` with ``networks`` trials: the
  expected test accuracy (seed mean) of the best-by-validation of ``networks`` Sobol schedules
  drawn without replacement (exact, from the order statistics) less the reference's seed mean.

:func:`default_job_misfits` says why a task does not suit the default ``compare`` job.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.special import comb

from raysearch.bench.tables import TaskTable

METRIC = "test_acc"
SEARCHED_KIND = "sobol"
TOP_QUARTER = 0.25
MAX_GOOD_SHARE = 0.10  # good schedules are rare: at most this share within one seed-std of the best


@dataclass(frozen=True)
class TaskMeasure:
    task: str
    schedules: int
    seeds: int
    seed_std: float
    seed_std_all: float
    best_design: str  # the best by the seed mean
    best_in_sample: float
    best_held_out: float
    share_within_std: float
    share_within_std_all: float
    coteaching: float
    standard: float
    gain_over_coteaching: float
    gain_in_std: float
    networks: int
    random_gain: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def expected_best_of(values: np.ndarray, n: int, by: np.ndarray | None = None) -> float:
    """E[value of the draw with the highest ``by``] (default: E[max]) of ``n`` of ``values``
    drawn without replacement: ranked by ``by`` ascending, the k-th is the pick with
    probability C(k-1, n-1) / C(M, n)."""
    values = np.asarray(values, dtype=float)
    if not 1 <= n <= len(values):
        raise ValueError(f"draw 1..{len(values)} values, got {n}")
    order = np.argsort(values if by is None else np.asarray(by, dtype=float), kind="stable")
    weights = comb(np.arange(len(values)), n - 1) / comb(len(values), n)
    return float(weights @ values[order])


def measure_task(table: TaskTable, *, networks: int = 6) -> TaskMeasure:
    """The measure of ``table``'s task (module docstring), random search given ``networks``
    trials; ``ValueError`` with fewer than two seeds (no seed noise to measure)."""
    finals = table.final(METRIC)  # schedules x seeds
    if finals.shape[1] < 2:
        raise ValueError(f"{table.task}: measuring a task needs >= 2 seeds, the table has {finals.shape[1]}")  # fmt: skip
    variance = finals.var(axis=1, ddof=1)
    mean = finals.mean(axis=1)
    top = np.argsort(-mean)[: max(2, round(TOP_QUARTER * len(mean)))]
    seed_std = float(np.sqrt(variance[top].mean()))
    coteaching = finals[table.index("reference-coteaching")]
    pairs = list(itertools.permutations(range(finals.shape[1]), 2))
    best_held_out = float(np.mean([finals[finals[:, a].argmax(), b] for a, b in pairs]))
    coteaching_held_out = float(np.mean([coteaching[b] for _, b in pairs]))
    searched = np.array([k == SEARCHED_KIND for k in table.kinds])
    searched = searched if searched.any() else np.ones_like(searched)
    sample, by_val = mean[searched], table.final("val_acc").mean(axis=1)[searched]
    level = best_held_out - seed_std
    gain = best_held_out - coteaching_held_out
    return TaskMeasure(
        task=table.task, schedules=len(mean), seeds=finals.shape[1], seed_std=seed_std,
        seed_std_all=float(np.sqrt(variance.mean())),
        best_design=table.design_ids[int(mean.argmax())], best_in_sample=float(mean.max()),
        best_held_out=best_held_out, share_within_std=float((sample >= level).mean()),
        share_within_std_all=float((mean >= level).mean()),
        coteaching=float(coteaching.mean()),
        standard=float(finals[table.index("reference-standard")].mean()),
        gain_over_coteaching=gain, gain_in_std=gain / seed_std if seed_std > 0 else np.inf,
        networks=networks,
        random_gain=expected_best_of(sample, min(networks, len(sample)), by_val)
        - float(coteaching.mean()),
    )  # fmt: skip


def default_job_misfits(measure: TaskMeasure, seeds: int) -> list[str]:
    """Why ``measure``'s task does not suit a default job of ``measure.networks`` trials on
    ``seeds`` seeds (empty: it suits): good schedules must be rare (``share_within_std`` <=
    :data:`MAX_GOOD_SHARE`) and random search's expected gain over Co-teaching at that budget
    must exceed the half-width of a paired 95 % interval, 2 sqrt(2) ``seed_std`` / sqrt(seeds)
    (the difference of two runs of one seed each)."""
    misfits = []
    if measure.share_within_std > MAX_GOOD_SHARE:
        misfits.append(f"{measure.share_within_std:.1%} of the s2e sample is within one seed-std "
                       f"of the best (> {MAX_GOOD_SHARE:.0%})")  # fmt: skip
    needed = 2 * math.sqrt(2) * measure.seed_std / math.sqrt(seeds)
    if measure.random_gain < needed:
        misfits.append(f"random search's expected gain over Co-teaching with {measure.networks} "
                       f"trials is {measure.random_gain:+.4f} < {needed:.4f} (paired interval, "
                       f"{seeds} seeds)")  # fmt: skip
    return misfits
