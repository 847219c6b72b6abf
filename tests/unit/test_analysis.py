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
    assert summary.splitlines()[0] == (  # no random search, no reference: vs the first searcher
        "gain over hyperband (no reference schedule ran): s2e +3.00 points [n/a], p = n/a (1 seed)"
    )
    assert "| s2e | searcher | 1 | 0.8100 | n/a | 0.4100 | +3.00 [n/a] | n/a |" in summary
    assert "p = n/a (only 1 paired seed): s2e vs hyperband." in summary  # one seed: no test ...
    assert "Warning: fewer than 5 seeds in every row (1)" in summary  # ... and a warning
    assert pd.read_csv(results / "best_so_far.csv")["incumbent_test_acc"].max() == 0.81


def _synthetic_trials(searchers, seeds=5, trials=4, references=None, seed_effect=0.0):
    """Trial rows as ``load_compare_dir`` returns them; ``searchers`` (and ``references``, one
    trial per seed) map a name to the test accuracy its trials reach, plus ``seed_effect`` x
    seed, the same for every row of a seed (val_acc = test_acc - 0.4, all full-length)."""
    rng = np.random.default_rng(1)
    rows = []
    streams = [(n, level, "searcher", trials) for n, level in searchers.items()]
    streams += [(n, level, "reference", 1) for n, level in (references or {}).items()]
    for searcher, level, role, count in streams:
        for seed in range(seeds):
            for order in range(1, count + 1):
                test = level + seed_effect * seed + rng.normal(0, 0.004) - 0.01 * (count - order)
                rows.append({"searcher": searcher, "seed": seed, "role": role, "trial_order": order,
                             "epochs_trained": EPOCHS, "val_acc": test - 0.4, "test_acc": test,
                             "label_precision": 0.9, **SCHEDULE_COLUMNS})  # fmt: skip
    return pd.DataFrame(rows)


def test_summary_has_bootstrap_intervals_and_a_small_p_when_a_searcher_dominates(tmp_path):
    trials = _synthetic_trials({"random": 0.80, "s2e": 0.85, "tpe": 0.80})
    table = summary_table(trials, EPOCHS)
    best = best_trials(trials, EPOCHS)
    assert table.loc["s2e", "mean"] == pytest.approx(best[best.searcher == "s2e"].test_acc.mean())
    assert ((table.ci_low <= table["mean"]) & (table["mean"] <= table.ci_high)).all()
    assert table.loc["s2e", "p_vs_random"] == pytest.approx(1 / 32)  # above on all 5 seeds
    assert 0.05 < table.loc["tpe", "p_vs_random"] <= 1 and np.isnan(
        table.loc["random", "p_vs_random"]
    )
    assert (table["seeds"] == 5).all() and (table["trials_run"] == 20).all()
    assert (table["role"] == "searcher").all()
    text = summary_markdown(table)
    assert text.splitlines()[0].startswith(
        "gain over random search (no reference schedule ran): s2e +5."
    )
    assert text.splitlines()[2] == (
        "| searcher | role | seeds | test_acc mean | 95 % CI | val_acc mean [95 % CI] "
        "| Δ vs random (points) [95 % CI] | p vs random | label_precision (mean ± std) "
        "| trials_run |"
    )
    assert "Warning" not in text and "Mann-Whitney" not in text
    no_random = summary_table(trials[trials.searcher != "random"], EPOCHS)
    assert "p_vs_s2e" in no_random  # the first searcher is the baseline when random did not run
    write_compare_report(trials, EPOCHS, tmp_path)
    assert (tmp_path / "best_so_far.png").stat().st_size > 0
    assert list(pd.read_csv(tmp_path / "summary.csv").columns[:9]) == [
        "searcher", "role", "seeds", "mean", "ci_low", "ci_high",
        "pairs_vs_random", "diff_vs_random", "diff_vs_random_low",
    ]  # fmt: skip


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


REFERENCES = {"standard": 0.78, "coteaching": 0.80}


def _final_best(trials, name):
    """Per seed, the test accuracy of ``name``'s trial with the highest val_acc (by hand)."""
    rows = trials[trials.searcher == name]
    return rows.loc[rows.groupby("seed")["val_acc"].idxmax()].set_index("seed")["test_acc"]


def test_references_are_rows_and_searchers_are_paired_with_them_seed_by_seed(tmp_path):
    trials = _synthetic_trials({"random": 0.80, "s2e": 0.805, "tpe": 0.80},
                               references=REFERENCES, seed_effect=0.01)  # fmt: skip
    table = summary_table(trials, EPOCHS)
    assert list(table.index) == ["random", "s2e", "tpe", "standard", "coteaching"]
    assert list(table["role"]) == ["searcher"] * 3 + ["reference"] * 2
    assert list(table["trials_run"]) == [20, 20, 20, 5, 5] and (table["seeds"] == 5).all()
    gain = _final_best(trials, "s2e") - _final_best(trials, "coteaching")
    assert (gain > 0).all()  # s2e beats Co-teaching's schedule on every seed
    s2e = table.loc["s2e"]
    assert s2e["diff_vs_coteaching"] == pytest.approx(gain.mean())
    assert s2e["pairs_vs_coteaching"] == 5 and s2e["p_vs_coteaching"] == pytest.approx(1 / 32)
    assert s2e["diff_vs_coteaching_low"] < gain.mean() < s2e["diff_vs_coteaching_high"]
    # the seed effect (1 point per seed) widens each row's own interval, not the paired one
    paired = s2e["diff_vs_coteaching_high"] - s2e["diff_vs_coteaching_low"]
    assert paired < (s2e["ci_high"] - s2e["ci_low"]) / 2
    assert table.loc["standard", "diff_vs_random"] < 0 and table.loc["standard", "p_vs_random"] == 1
    assert np.isnan(table.loc["coteaching", "p_vs_coteaching"])
    text = summary_markdown(table)
    low, high = 100 * s2e["diff_vs_coteaching_low"], 100 * s2e["diff_vs_coteaching_high"]
    assert text.splitlines()[0] == (
        f"search gain over Co-teaching's schedule: s2e {100 * gain.mean():+.2f} points "
        f"[{low:.2f}, {high:.2f}], p = 0.031 (5 seeds)"
    )
    assert "| coteaching | reference | 5 |" in text and "Δ vs coteaching (points)" in text
    assert "Mann-Whitney" not in text  # every row pairs
    curves = best_so_far(trials, EPOCHS)
    assert set(curves["searcher"]) == {"random", "s2e", "tpe"}  # references search nothing
    write_compare_report(trials, EPOCHS, tmp_path)
    assert (tmp_path / "summary.md").read_text() == text
    saved = pd.read_csv(tmp_path / "summary.csv", index_col="searcher")
    assert saved.loc["s2e", "p_vs_coteaching"] == pytest.approx(1 / 32)


def test_without_coteaching_the_gain_is_over_standard_training():
    trials = _synthetic_trials({"random": 0.80, "s2e": 0.81}, references={"standard": 0.78})
    text = summary_markdown(summary_table(trials, EPOCHS))
    assert text.startswith("search gain over standard training: s2e +3.")
    assert "p = 0.031 (5 seeds)" in text.splitlines()[0]


def test_a_single_seed_and_a_single_searcher_are_reported_without_tests():
    trials = _synthetic_trials({"random": 0.80, "s2e": 0.81}, seeds=1, references=REFERENCES)
    table = summary_table(trials, EPOCHS)
    text = summary_markdown(table)
    gain = 100 * table.loc["s2e", "diff_vs_coteaching"]
    assert text.splitlines()[0] == (
        f"search gain over Co-teaching's schedule: s2e {gain:+.2f} points [n/a], p = n/a (1 seed)"
    )
    assert "p = n/a (only 1 paired seed): " in text and "Warning: fewer than 5 seeds" in text
    alone = summary_markdown(summary_table(_synthetic_trials({"random": 0.8}), EPOCHS))
    mean = summary_table(_synthetic_trials({"random": 0.8}), EPOCHS).loc["random", "mean"]
    assert alone.startswith(f"final best test accuracy: random {mean:.4f} [")
    assert alone.splitlines()[0].endswith("(5 seeds); nothing to compare it with")


def test_best_so_far_draws_each_reference_as_a_line_with_its_band(tmp_path, monkeypatch):
    trials = _synthetic_trials({"random": 0.80}, references=REFERENCES)
    drawn = []
    monkeypatch.setattr(compare_report, "_plot_references",
                        lambda ax, refs, metric: drawn.append((metric, set(refs.searcher))))  # fmt: skip
    references = compare_report.reference_finals(trials, EPOCHS)
    assert len(references) == 10 and set(references["role"]) == {"reference"}
    plot_best_so_far(best_so_far(trials, EPOCHS), tmp_path / "curve.png", references)
    assert drawn == [
        ("val_acc", {"standard", "coteaching"}),
        ("test_acc", {"standard", "coteaching"}),
    ]
    monkeypatch.undo()
    plot_best_so_far(best_so_far(trials, EPOCHS), tmp_path / "curve.png", references)
    assert (tmp_path / "curve.png").stat().st_size > 0
