"""The searcher benchmarks' pure pieces: the synthetic schedule objective and its low fidelity,
best-so-far accounting in full-trial units, and the evaluations-to-reach ratio."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks.searcher_efficiency import (
    WORST_SCORE,
    best_so_far,
    evaluations_to_reach,
    fidelity_points,
    partial_score,
    reach_ratios,
    schedule_curve,
    target_config,
    target_curve,
)
from search_spaces.schedules import get_family


def test_target_is_a_valid_s2e_config_and_scores_zero_against_itself() -> None:
    config = target_config("space", 2020)
    assert config == target_config("space", 2020)  # fixed seed: the same hidden target
    assert config != target_config("space", 2021)
    family = get_family("s2e")
    assert family.validate(config) == config
    assert math.isclose(sum(config[f"alpha{i}"] for i in range(1, 5)), 1.0)
    target = target_curve("space", 2020)
    assert target.shape == (100,) and target[0] == 1.0 and 0 <= target.min() < target.max() <= 1
    schedule = {k: v for k, v in config.items() if k != "family"}
    assert partial_score(schedule_curve({"schedule": schedule}, 100), target, 3, 3) == 0.0


def test_coteaching_target_is_co_teachings_schedule() -> None:
    curve = target_curve("coteaching")
    # R(t) = 1 - 0.5 min(t / T_k, 1), T_k = 10 of 200 reference epochs = 5 of 100 points
    assert np.allclose(curve[:6], [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]) and np.all(curve[5:] == 0.5)
    with pytest.raises(ValueError, match="unknown target"):
        target_config("rbf")


def test_low_fidelity_is_the_rmse_over_the_curve_seen_so_far() -> None:
    assert [fidelity_points(e, 3, 100) for e in (1, 2, 3)] == [34, 67, 100]
    assert fidelity_points(1, 1, 100) == 100
    with pytest.raises(ValueError):
        fidelity_points(0, 3, 100)
    target = np.zeros(10)
    curve = np.r_[np.zeros(5), np.full(5, 0.5)]  # right on the first half, off by 0.5 after
    assert partial_score(curve, target, 1, 2) == 0.0
    assert math.isclose(partial_score(curve, target, 2, 2), -math.sqrt(0.125))
    with pytest.raises(ValueError, match="shape"):
        partial_score(curve, np.zeros(9), 1, 2)


def test_best_so_far_counts_epochs_once_and_only_full_trials_as_incumbents() -> None:
    results = pd.DataFrame(
        [  # (trial, epoch, score) in arrival order, E = 2
            ("a", 1, -0.01),  # partial score: better than anything, but never an incumbent
            ("b", 1, -0.5),
            ("a", 2, -0.3),
            ("b", 1, -0.5),  # b restarted (no checkpoint): its epoch 1 is not paid twice
            ("b", 2, -0.2),
            ("c", 1, -0.1),
            ("c", 2, -0.4),
        ],
        columns=["trial", "epoch", "score"],
    )
    assert best_so_far(results, 2, 6).tolist() == [WORST_SCORE, WORST_SCORE, -0.3, -0.2, -0.2, -0.2]
    assert best_so_far(results, 2, 4).tolist() == [WORST_SCORE, WORST_SCORE, -0.3, -0.2]
    # a run that spent less than the budget keeps its last incumbent
    assert best_so_far(results, 2, 8).tolist()[-2:] == [-0.2, -0.2]


def test_evaluations_to_reach_and_ratios_relative_to_newton() -> None:
    evaluations = np.arange(1, 6, dtype=float)
    medians = {
        "s2e": np.array([-0.5, -0.3, -0.1, -0.1, -0.1]),  # reaches its final -0.1 after 3
        "fast": np.array([-0.1, -0.1, -0.05, -0.05, -0.05]),  # after 1
        "slow": np.array([-0.9, -0.5, -0.3, -0.2, -0.1]),  # after 5
        "never": np.array([-0.9, -0.8, -0.7, -0.6, -0.5]),
    }
    assert evaluations_to_reach(evaluations, medians["slow"], -0.2) == 4.0
    assert evaluations_to_reach(evaluations, medians["never"], -0.1) == math.inf
    ratios = reach_ratios(evaluations, medians, "s2e")
    assert ratios["s2e"] == 1.0
    assert math.isclose(ratios["fast"], 1 / 3) and math.isclose(ratios["slow"], 5 / 3)
    assert ratios["never"] == math.inf
