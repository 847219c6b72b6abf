"""The searcher-efficiency benchmark's pieces: per-seed targets off every searcher's prior, the
noisy-incumbent accounting, the evaluations-to-reach statistics, the budget of the scheduler
simulation, and a --quick end-to-end run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks.searcher_efficiency import (
    EPOCHS,
    WORST_SCORE,
    Regime,
    evaluations_to_reach,
    fidelity_points,
    incumbent_curve,
    main,
    parse_regimes,
    partial_score,
    reach_statistics,
    run_strategy,
    summary_table,
    target_curve,
)


def test_targets_are_per_seed_reproducible_schedules_of_every_kind():
    kinds = set()
    for seed in range(60):
        kind, curve = target_curve(seed)
        kinds.add(kind.split("-")[0])
        assert curve.shape == (100,) and np.all((curve >= 0) & (curve <= 1))
        again = target_curve(seed)
        assert again[0] == kind and np.array_equal(again[1], curve)
    assert kinds == {"coteaching", "s2e", "off"}
    assert not np.array_equal(target_curve(0)[1], target_curve(1)[1])


def test_low_fidelity_is_the_rmse_over_the_curve_seen_so_far():
    assert [fidelity_points(e, 3, 100) for e in (1, 2, 3)] == [34, 67, 100]
    with pytest.raises(ValueError):
        fidelity_points(0, 3, 100)
    target = np.zeros(10)
    curve = np.r_[np.zeros(5), np.full(5, 0.5)]
    assert partial_score(curve, target, 1, 2) == 0.0
    assert math.isclose(partial_score(curve, target, 2, 2), -math.sqrt(0.125))


def test_incumbent_is_the_true_score_of_the_best_observed_trial():
    observed = np.array([-0.5, -0.2, -0.3, -0.1])
    true = np.array([-0.45, -0.35, -0.25, -0.15])  # trial 2 is truly better than 1, not seen
    spent = np.array([1.0, 2.0, 2.5, 4.0])  # trial 2 finished at 2.5 (a scheduler's epochs)
    curve = incumbent_curve(observed, true, spent, 5)
    np.testing.assert_allclose(curve, [-0.45, -0.35, -0.35, -0.15, -0.15])
    assert incumbent_curve(observed[:0], true[:0], spent[:0], 2).tolist() == [WORST_SCORE] * 2


def test_evaluations_to_reach_and_ratios_to_random():
    assert evaluations_to_reach(np.array([-0.9, -0.5, -0.2]), -0.5) == 2.0
    assert evaluations_to_reach(np.array([-0.9, -0.8]), -0.5) == math.inf
    random = np.array([[-0.9, -0.5, -0.3, -0.2], [-0.8, -0.6, -0.4, -0.2]])  # final median -0.2
    fast = np.array([[-0.5, -0.2, -0.1, -0.1], [-0.4, -0.2, -0.2, -0.1]])
    assert reach_statistics(random, random) == (4.0, 1.0)
    assert reach_statistics(fast, random) == (2.0, 0.5)


def test_summary_table_intervals_and_one_sided_p_values():
    rng = np.random.default_rng(0)
    random = -0.3 + 0.01 * rng.standard_normal((20, 10))
    random = np.maximum.accumulate(random - np.linspace(0.3, 0, 10), axis=1)
    better = random + 0.2
    table = summary_table({"random": random, "better": better}).set_index("strategy")
    assert table.loc["random", "ratio_to_random"] == 1.0
    assert table.loc["better", "ratio_to_random"] < 1.0
    better_row = table.loc["better"]
    assert better_row["ratio_lo"] <= better_row["ratio_to_random"] <= better_row["ratio_hi"]
    assert table.loc["better", "p_vs_random"] < 1e-6
    assert math.isnan(table.loc["random", "p_vs_random"])  # never tested against itself
    assert better_row["final_lo"] <= better_row["final_median_rmse"] <= better_row["final_hi"]


@pytest.mark.parametrize("name", ["asha", "hyperband", "random", "s2e"])
def test_every_strategy_spends_exactly_the_budget(name):
    frame = run_strategy(name, 0, Regime(12, 4), noise=0.005, workers=2)
    assert frame["spent"].max() <= 12 + 1e-9 and np.all(np.diff(frame["spent"]) >= 0)
    if name in ("random", "s2e"):
        assert len(frame) == 12 and frame["spent"].tolist() == list(range(1, 13))
    assert np.all(np.abs(frame["observed"] - frame["true"]) < 0.05)  # noise sigma 0.005


def test_parse_regimes_and_bad_arguments():
    assert parse_regimes("40x4,200x8") == [Regime(40, 4), Regime(200, 8)]
    with pytest.raises(ValueError, match="must look like NxK"):
        parse_regimes("40-4")
    with pytest.raises(ValueError, match="include it"):
        main(["--quick", "--strategies", "s2e,tpe"])


def test_quick_run_writes_table_curves_and_figure(tmp_path):
    summary = main(["--quick", "--processes", "1", "--out", str(tmp_path)])
    assert set(summary["strategy"]) == {"s2e", "s2e-paper", "random", "tpe", "asha"}
    saved = pd.read_csv(tmp_path / "searcher_efficiency_quick.csv")
    assert len(saved) == 5 and (saved["final_median_rmse"] > 0).all()
    curves = pd.read_csv(tmp_path / "searcher_efficiency_quick_curves.csv")
    assert len(curves) == 5 * 3 * 12  # strategies x seeds x N
    assert (tmp_path / "searcher_efficiency_quick.png").stat().st_size > 1000
    assert EPOCHS == 3
