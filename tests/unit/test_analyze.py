"""``raysearch analyze`` and ``load_experiment`` on synthetic results folders of every kind (no Ray)."""

import json

import pandas as pd
import pytest

from raysearch.analysis import detect_kind, final_rows, load_experiment
from raysearch.analysis.experiments import load_compare_dir
from raysearch.analysis.nas_report import nas_summary_table
from raysearch.analysis.report import top_schedules
from raysearch.cli import main

EPOCHS = 3
SCHEDULE = {"family": "coteaching", "tau": 0.5, "t_k": 10.0, "c": 1.0}


def _trial(experiment, name, accs, *, seed=0, tau=0.5, start=0, extra_line=None, stream=None):
    folder = experiment / name
    folder.mkdir(parents=True)
    config = {
        "epochs": EPOCHS,
        "seed": seed,
        "schedule": {**SCHEDULE, "tau": tau},
        **(stream or {}),
    }
    (folder / "params.json").write_text(json.dumps(config))
    rows = [{"trial_id": name, "timestamp": start + ep, "epoch": ep, "val_acc": acc, "test_acc": acc + 0.3,
             "label_precision": 0.8, "config": config} for ep, acc in enumerate(accs, start=1)]  # fmt: skip
    lines = [json.dumps(r) for r in rows] + ([extra_line] if extra_line else [])
    (folder / "result.json").write_text("\n".join(lines))


@pytest.fixture
def compare_dir(tmp_path):
    s2e, rnd = tmp_path / "tune" / "s2e-seed0", tmp_path / "tune" / "random-seed1"
    _trial(s2e, "a", [0.3, 0.4, 0.5], tau=0.2, start=10)
    _trial(s2e, "b", [0.3, 0.6, 0.7], tau=0.6, start=20, extra_line='{"trial_id": "b", "epo')
    _trial(rnd, "c", [0.2, 0.2], seed=1, start=5)  # stopped after 2 of 3 epochs
    _trial(rnd, "d", [0.4, 0.45, 0.55], seed=1, start=0)
    _trial(rnd, "e", [], seed=1)  # created, never run
    (rnd / "e" / "params.json").write_text("")  # ... while the driver was killed
    return tmp_path


def test_compare_dir_is_one_long_frame_with_flattened_config(compare_dir):
    frame = load_experiment(compare_dir)
    assert frame.attrs["kind"] == "compare" == detect_kind(compare_dir)
    assert len(frame) == 3 + 3 + 2 + 3  # truncated last line of b and never-run e dropped
    assert {"searcher", "seed", "trial_id", "epoch", "config/schedule/tau"} <= set(frame.columns)
    a = frame[frame.trial_id == "a"]
    assert list(a["epoch"]) == [1, 2, 3] and set(a["config/schedule/tau"]) == {0.2}
    assert set(frame[frame.searcher == "random"]["seed"]) == {1}


def test_final_rows_keep_the_last_epoch_and_rank_trials_by_finishing_time(compare_dir):
    final = final_rows(load_experiment(compare_dir)).set_index("trial_id")
    assert sorted(final.index) == ["a", "b", "c", "d"]
    assert final.loc["b", "val_acc"] == 0.7 and final.loc["c", "epochs_trained"] == 2
    assert final.loc["a", "trial_order"] == 1 and final.loc["b", "trial_order"] == 2
    assert final.loc["d", "trial_order"] == 1 and final.loc["c", "trial_order"] == 2
    top = top_schedules(final.reset_index(), EPOCHS, k=2)
    assert list(top["trial_id"]) == ["b", "d"]  # c never trained all epochs
    legacy = load_compare_dir(compare_dir).set_index("trial_id")  # what `raysearch compare` uses
    for column in ("val_acc", "epochs_trained", "trial_order"):
        assert legacy[column].to_dict() == final[column].to_dict()


def test_a_single_tune_experiment_takes_the_seed_from_its_config(tmp_path):
    experiment = tmp_path / "trial"
    _trial(experiment, "x", [0.1, 0.2, 0.3], seed=7)
    frame = load_experiment(experiment)
    assert frame.attrs["kind"] == "tune"
    assert set(frame["searcher"]) == {"trial"} and set(frame["seed"]) == {7}
    assert load_experiment(tmp_path).attrs["kind"] == "tune"  # a storage folder of experiments


def test_nas_search_folder_rows_per_epoch_with_the_method(tmp_path):
    search = tmp_path / "search"
    search.mkdir()
    results = [{"metrics": {"epoch": e, "train_acc": 0.5 + e / 10, "val_acc": 0.4 + e / 10,
                            "genotype": f"g{e}"}} for e in (1, 2)]  # fmt: skip
    (search / "checkpoint_manager_snapshot.json").write_text(
        json.dumps({"checkpoint_results": results})
    )
    (tmp_path / "settings.json").write_text(json.dumps({"method": "darts-1st", "seed": 3}))
    frame = load_experiment(tmp_path)
    assert frame.attrs["kind"] == "nas-search"
    assert list(frame["epoch"]) == [1, 2] and set(frame["searcher"]) == {"darts-1st"}
    final = final_rows(frame)
    assert len(final) == 1 and final["genotype"].item() == "g2" and final["seed"].item() == 3


@pytest.fixture
def nas_csv(tmp_path):
    rows = [("darts", 0, 100.0, 0.80), ("darts", 1, 120.0, 0.84), ("xnas", 0, 60.0, 0.82),
            ("xnas", 1, 70.0, float("nan"))]  # fmt: skip
    records = [
        {"method": m, "seed": s, "search_time_s": t, "search_wall_s": t + 5, "genotype": "G",
         "params_m": 0.1, "test_acc": a, "eval_time_s": 9.0,
         "error": "evaluate: OOM" if a != a else None}
        for m, s, t, a in rows
    ]  # fmt: skip
    frame = pd.DataFrame(records)
    path = tmp_path / "nas" / "nas_compare.csv"
    path.parent.mkdir()
    frame.to_csv(path, index=False)
    # the evaluation stage's own table sits beside it (no method column): not the one to read
    frame[["genotype", "seed", "test_acc"]].to_csv(path.parent / "evaluations.csv", index=False)
    return path


def test_nas_compare_table_from_a_csv_or_its_folder(nas_csv):
    for source in (nas_csv, nas_csv.parent):
        frame = load_experiment(source)
        assert frame.attrs["kind"] == "nas-compare" and len(frame) == 4
        assert list(frame["trial_id"])[:3] == ["darts-seed0", "darts-seed1", "xnas-seed0"]
    table = nas_summary_table(final_rows(load_experiment(nas_csv)))
    assert table.loc["darts", "test acc"] == "0.8200"
    assert table.loc["darts", "95 % CI"] == "[0.8000, 0.8400]"  # resampled means: .80, .82, .84
    assert table.loc["darts", "p vs darts"] == "baseline"
    assert table.loc["darts", "search time (s)"] == "110.0 ± 14.1"  # sample std of 100, 120
    assert table.loc["xnas", "seeds ok"] == "1/2"
    assert table.loc["xnas", "test acc"] == "0.8200"  # the failed seed is NaN: one value left
    # paired by seed: xnas' one finished seed (0) against darts' seed 0, too few for a test
    assert table.loc["xnas", "Δ vs darts (points) [95 % CI]"] == "+2.00 [n/a]"
    assert table.loc["xnas", "p vs darts"] == "n/a"


@pytest.mark.parametrize(
    ("kind", "files"),
    [
        ("compare", ["best_so_far.png", "accuracy_per_epoch.png", "schedules_top.png"]),
        ("nas-compare", ["nas_acc_vs_search_time.png"]),
    ],
)
def test_cli_writes_plots_and_summary_and_prints_paths(kind, files, compare_dir, nas_csv, capsys):
    source = compare_dir if kind == "compare" else nas_csv.parent
    out = source / "report"
    assert main(["analyze", str(source), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ["epochs.csv", "trials.csv", "summary.md", *files]:
        assert (out / name).stat().st_size > 0 and str(out / name) in printed
    summary = (out / "summary.md").read_text()
    assert summary in printed  # the report is printed, as `raysearch compare` prints it
    if kind == "compare":  # s2e's best: val_acc 0.7, test_acc 1.0; seeds 0 and 1: no pairs
        assert summary.splitlines()[0] == (
            "s2e vs random search: no seed in common, so unpaired: test_acc 1.0000 (1 seed) vs "
            "0.8500 (1 seed), Mann-Whitney p = 0.5"
        )
        assert "| s2e | searcher | 1 | 1.0000 | n/a | 0.7000 | n/a | n/a | 0.5 |" in summary
    else:
        xnas = next(line for line in summary.splitlines() if line.startswith("| xnas |"))
        assert xnas.endswith("| 1/2 | 0.8200 | n/a | +2.00 [n/a] | n/a |")
    assert "Warning: fewer than 5 seeds" in summary


def test_default_report_folder_is_dir_analysis(compare_dir):
    assert main(["analyze", str(compare_dir)]) == 0
    assert (compare_dir / "analysis" / "summary.md").is_file()


def test_unknown_or_empty_folder_names_the_path_and_what_was_expected(tmp_path, capsys):
    assert main(["analyze", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert str(tmp_path) in error and "params.json" in error and "NAS compare" in error
    assert main(["analyze", str(tmp_path / "missing")]) == 2
    assert "no such results folder" in capsys.readouterr().err


def test_a_corrupted_line_inside_result_json_names_the_file(compare_dir):
    result = compare_dir / "tune" / "s2e-seed0" / "a" / "result.json"
    lines = result.read_text().splitlines()
    result.write_text("\n".join([lines[0], "garbage", lines[1]]))
    with pytest.raises(ValueError, match=r"corrupted line 2 of .*s2e-seed0/a/result.json"):
        load_experiment(compare_dir)


def test_an_empty_params_json_of_a_trial_that_ran_falls_back_to_its_results(compare_dir):
    (compare_dir / "tune" / "s2e-seed0" / "a" / "params.json").write_text("")  # killed driver
    for frame in (load_experiment(compare_dir), load_compare_dir(compare_dir)):
        assert frame.loc[frame.trial_id == "a", "config/schedule/tau"].tolist()[-1] == 0.2


def test_a_shared_experiment_is_labelled_by_stream_and_reports_the_references(tmp_path, capsys):
    """`raysearch compare` runs every searcher and reference of every seed in one experiment,
    ``tune/searchers``; each trial's config names its stream."""
    shared = tmp_path / "tune" / "searchers"
    gains = {"random": 0.0, "s2e": 0.02, "coteaching": -0.01}
    for seed in range(5):
        for name, gain in gains.items():
            role = "reference" if name == "coteaching" else "searcher"
            for k in range(1 if role == "reference" else 2):
                accs = [
                    0.3,
                    0.4 + 0.01 * seed + gain + 0.005 * k,
                    0.5 + 0.01 * seed + gain + 0.005 * k,
                ]
                _trial(shared, f"{name}-{seed}-{k}", accs, seed=seed, start=100 * seed + 10 * k,
                       stream={"searcher": name, "role": role})  # fmt: skip
    out = tmp_path / "report"
    assert main(["analyze", str(tmp_path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "searchers random, s2e, references coteaching" in printed.splitlines()[0]
    summary = (out / "summary.md").read_text()
    # s2e's best (k = 1) minus Co-teaching's: 0.02 + 0.005 + 0.01 on every seed = +3.50 points
    assert summary.splitlines()[0] == (
        "search gain over Co-teaching's schedule: s2e +3.50 points [3.50, 3.50], p = 0.031 "
        "(5 seeds)"
    )
    assert "| coteaching | reference | 5 |" in summary and "| s2e | searcher | 5 |" in summary
    trials = pd.read_csv(out / "trials.csv")
    assert set(trials["searcher"]) == set(gains) and len(trials) == 25
    assert trials.groupby(["searcher", "seed"])["trial_order"].max().to_dict()[("s2e", 0)] == 2
