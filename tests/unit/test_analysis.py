"""Comparison dataframes and summaries from a synthetic Tune-style results folder (no Ray)."""

import json

import numpy as np
import pytest

from raysearch.analysis.compare_report import best_so_far, summary_table, write_compare_report
from raysearch.analysis.experiments import load_compare_dir

EPOCHS = 2


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
    assert table.loc["s2e", "val_acc"].startswith("0.4100") and table.loc[
        "s2e", "test_acc"
    ].startswith("0.8100")
    assert table.loc["hyperband", "val_acc"].startswith("0.3800")
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
    assert "| s2e |" in (results / "summary.md").read_text()
