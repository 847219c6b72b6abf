"""Comparison dataframes and summaries from a synthetic Tune-style results folder (no Ray)."""

import json

import numpy as np
import pandas as pd
import pytest

from raysearch.analysis import compare_report
from raysearch.analysis.compare_report import (
    BAND_RESAMPLES,
    best_so_far,
    best_trials,
    plot_best_so_far,
    summary_markdown,
    summary_table,
    write_compare_report,
)
from raysearch.analysis.experiments import load_compare_dir
from raysearch.analysis.stats import bootstrap_ci

EPOCHS = 2
SCHEDULE_COLUMNS = {"config/schedule/family": "coteaching", "config/schedule/tau": 0.5,
                    "config/schedule/t_k": 10.0, "config/schedule/c": 1.0}  # fmt: skip


def _trial(folder, name, schedule, rows, seed=0):
    trial = folder / name
    trial.mkdir(parents=True)
    (trial / "params.json").write_text(
        json.dumps({"epochs": EPOCHS, "seed": seed, "schedule": schedule})
    )
    lines = [json.dumps({"trial_id": name, "timestamp": ts, "epoch": ep, "val_acc": v, "test_acc": v + 0.4,
                         "label_precision": 0.9, "train_loss": 1.0, "keep_rate": 0.5}) for ts, ep, v in rows]  # fmt: skip
    (trial / "result.json").write_text("\n".join(lines))


@pytest.fixture
def results(tmp_path):
    schedule = {"family": "coteaching", "tau": 0.5, "t_k": 10.0, "c": 1.0}
    s2e = tmp_path / "tune" / "s2e-seed0"
    _trial(s2e, "a", schedule, [(10, 1, 0.30), (11, 2, 0.35)])
    _trial(
        s2e, "b", schedule, [(20, 1, 0.32), (21, 2, 0.41), (22, 2, 0.41)]
    )  # epoch 2 repeated by a resume
    hb = tmp_path / "tune" / "hyperband-seed0"
    _trial(hb, "c", schedule, [(5, 1, 0.50)])  # stopped early: never the incumbent
    _trial(hb, "d", schedule, [(8, 1, 0.31), (9, 2, 0.38)])
    _trial(hb, "e", schedule, [])  # created, then cut off by the epoch budget
    return tmp_path


def test_load_compare_dir_has_one_row_per_trial_that_ran_in_finishing_order(results):
    frame = load_compare_dir(results)
    assert sorted(frame["trial_dir"]) == ["a", "b", "c", "d"]
    s2e = frame[frame.searcher == "s2e"].set_index("trial_dir")
    assert s2e.loc["b", "epochs_trained"] == 2 and s2e.loc["b", "val_acc"] == 0.41
    assert list(frame[frame.searcher == "hyperband"].sort_values("trial_order")["trial_dir"]) == [
        "c",
        "d",
    ]
    assert frame.loc[frame.trial_dir == "a", "config/schedule/tau"].item() == 0.5


def test_best_so_far_counts_budget_in_full_trials_and_only_full_length_incumbents(results):
    curves = best_so_far(load_compare_dir(results), EPOCHS)
    hb = curves[curves.searcher == "hyperband"]
    assert list(hb["trials_spent"]) == [0.5, 1.5]
    assert np.isnan(hb["best_val_acc"].iloc[0]) and hb["best_val_acc"].iloc[1] == 0.38
    assert list(curves[curves.searcher == "s2e"]["best_val_acc"]) == [0.35, 0.41]


def test_summary_reports_the_best_full_trial_and_writes_every_artifact(results):
    trials = load_compare_dir(results)
    table = summary_table(trials, EPOCHS)
    assert table.loc["s2e", "val_acc_mean"] == 0.41 and table.loc["s2e", "mean"] == 0.81
    assert table.loc["hyperband", "val_acc_mean"] == 0.38
    assert list(table["trials_run"]) == [2, 2]  # hyperband's c ran, but is not full-length
    write_compare_report(trials, EPOCHS, results)
    for name in (
        "trials.csv",
        "trials.parquet",
        "best_so_far.png",
        "schedules.png",
        "summary.md",
        "summary.csv",
    ):
        assert (results / name).stat().st_size > 0
    summary = (results / "summary.md").read_text()
    assert "| s2e | 1 | 0.8100 | n/a |" in summary  # one seed: no interval ...
    assert "Warning: fewer than 5 seeds in every row (1)" in summary  # ... and a warning
    assert pd.read_csv(results / "best_so_far.csv")["incumbent_test_acc"].max() == 0.81


def _synthetic_trials(searchers, seeds=5, trials=4):
    """Trial rows as ``load_compare_dir`` returns them; ``searchers`` maps a name to the test
    accuracy its trials reach (val_acc = test_acc - 0.4, every trial full-length)."""
    rng = np.random.default_rng(1)
    rows = []
    for searcher, level in searchers.items():
        for seed in range(seeds):
            for order in range(1, trials + 1):
                test = level + rng.normal(0, 0.004) - 0.01 * (trials - order)
                rows.append({"searcher": searcher, "seed": seed, "trial_order": order,
                             "epochs_trained": EPOCHS, "val_acc": test - 0.4, "test_acc": test,
                             "label_precision": 0.9, **SCHEDULE_COLUMNS})  # fmt: skip
    return pd.DataFrame(rows)


def test_summary_has_bootstrap_intervals_and_a_small_p_when_a_searcher_dominates(tmp_path):
    trials = _synthetic_trials({"random": 0.80, "s2e": 0.85, "tpe": 0.80})
    table = summary_table(trials, EPOCHS)
    best = best_trials(trials, EPOCHS)
    assert table.loc["s2e", "mean"] == pytest.approx(best[best.searcher == "s2e"].test_acc.mean())
    assert ((table.ci_low <= table["mean"]) & (table["mean"] <= table.ci_high)).all()
    assert table.loc["s2e", "p_vs_random"] == pytest.approx(1 / 252)  # all 5 above all 5
    assert 0.05 < table.loc["tpe", "p_vs_random"] <= 1 and np.isnan(
        table.loc["random", "p_vs_random"]
    )
    assert (table["seeds"] == 5).all() and (table["trials_run"] == 20).all()
    text = summary_markdown(table)
    assert (
        "| test_acc mean | 95 % CI | p_vs_random |" in text.splitlines()[0]
        and "Warning" not in text
    )
    no_random = summary_table(trials[trials.searcher != "random"], EPOCHS)
    assert "p_vs_s2e" in no_random  # the first searcher is the baseline when random did not run
    write_compare_report(trials, EPOCHS, tmp_path)
    assert (tmp_path / "best_so_far.png").stat().st_size > 0
    assert list(pd.read_csv(tmp_path / "summary.csv").columns[:6]) == [
        "searcher",
        "seeds",
        "mean",
        "ci_low",
        "ci_high",
        "p_vs_random",
    ]


def test_best_so_far_band_is_the_bootstrap_interval_over_seeds(tmp_path, monkeypatch):
    trials = _synthetic_trials({"random": 0.80}, seeds=5)
    bands = []
    real = compare_report.stats.bootstrap_band

    def record(stack, **kwargs):
        bands.append((np.array(stack), real(stack, **kwargs)))
        return bands[-1][1]

    monkeypatch.setattr(compare_report.stats, "bootstrap_band", record)
    plot_best_so_far(best_so_far(trials, EPOCHS), tmp_path / "curve.png")
    assert len(bands) == 2  # best val_acc and the incumbent's test_acc, one searcher each
    stack, (low, high) = bands[1]
    assert stack.shape == (5, 100)
    mean = np.nanmean(stack[:, -1])
    assert low[-1] < mean < high[-1]
    assert (low[-1], high[-1]) == bootstrap_ci(stack[:, -1], n_resamples=BAND_RESAMPLES)
