"""``benchmarks/s2e_sample_quality.py``: its per-strategy table against hand-computed values,
its S2E regimes against the registry, and a smoke run on a synthetic table. No Ray."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks.s2e_sample_quality import REGIMES, main, quality_table, run_regime
from raysearch.bench.surrogate import fit_surrogate
from raysearch.bench.synthetic import synthetic_table
from raysearch.bench.tables import TaskTable

TASK = "sym50-e20-n6000"


def _trials(searcher: str, seed: int, expected: list[float], val: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"searcher": searcher, "seed": seed, "epochs_trained": 20,
                         "test_acc_expected": expected, "val_acc": val,
                         "test_acc": [e + 0.01 for e in expected]})  # fmt: skip


def test_quality_table_bins_shares_selection_loss_and_pairing():
    # 10 full trials per run: bins of 2 in training order; one short trial is left out
    a = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    trials = pd.concat([
        _trials("random", 0, a, a), _trials("random", 1, a, a[::-1]),
        _trials("s2e", 0, a[::-1], a[::-1]), _trials("s2e", 1, a, a),
        _trials("s2e", 1, [0.99], [2.0]).assign(epochs_trained=3),
    ], ignore_index=True)  # fmt: skip
    table = quality_table(trials, epochs=20, top_level=0.85).set_index("searcher")
    random, s2e = table.loc["random"], table.loc["s2e"]
    assert random["full_trials_per_run"] == s2e["full_trials_per_run"] == 10
    assert random["expected_1"] == pytest.approx(0.15)
    assert random["expected_5"] == pytest.approx(0.95)
    assert s2e["expected_1"] == pytest.approx((0.95 + 0.15) / 2)
    assert random["top10_5"] == 1.0 and random["top10_1"] == 0.0 and s2e["top10_1"] == 0.5
    # random seed 1 picks its incumbent by val_acc: the first trial (expected 0.1)
    assert random["incumbent_expected"] == pytest.approx((1.0 + 0.1) / 2)
    assert random["selection_loss"] == pytest.approx(1.0 - 0.55)
    assert s2e["incumbent_expected"] == pytest.approx(1.0) and s2e["selection_loss"] == 0
    assert s2e["final_test_acc"] == pytest.approx(1.01)
    assert s2e["diff_vs_random"] == pytest.approx(1.01 - (1.01 + 0.11) / 2)
    assert math.isnan(random["diff_vs_random"])


def test_regimes_are_the_registry_strategy_with_their_k_and_options():
    from raysearch.tune.searchers import searcher_names

    assert set(REGIMES) >= {"s2e", "random", "optuna", "asha"}
    assert all(strategy in searcher_names() for strategy, _, _ in REGIMES.values())
    assert REGIMES["s2e K=2"][1] == 2 and REGIMES["s2e pool3"][2] == {"pool": 3}


def test_a_regime_runs_each_seed_and_k_sets_the_batch(tmp_path, capsys):
    table = TaskTable.from_frame(synthetic_table(TASK, sobol=32, seeds=2))
    surrogate = fit_surrogate(table, model="knn-3")
    rows = run_regime("s2e K=2", TASK, trials=6, seeds=2, surrogate=surrogate)
    assert sorted(rows["seed"].unique()) == [0, 1] and len(rows) == 12
    assert np.isfinite(rows["test_acc_expected"]).all()
    pooled = run_regime("s2e pool3", TASK, trials=6, seeds=2, surrogate=surrogate)
    assert len(pooled) == 12
    synthetic_table(TASK, sobol=32, seeds=2).to_parquet(tmp_path / f"{TASK}.parquet")
    out = tmp_path / "out"
    quality = main(["--task", TASK, "--tables", str(tmp_path), "--regimes", "s2e,random",
                    "--trials", "4", "--seeds", "2", "--out", str(out)])  # fmt: skip
    assert list(quality["searcher"]) == ["s2e", "random"]
    assert (out / f"s2e_sample_quality_{TASK}.csv").is_file()
    with pytest.raises(ValueError, match="unknown regimes \\['nope'\\]"):
        main(["--regimes", "s2e,nope"])
