"""``raysearch analyze`` on `nas evaluate` and `reweight` folders, failure without partial files,
and a failed lookup mid-run shown as an internal error (no Ray)."""

import json

import pandas as pd
import pytest

from raysearch.analysis import detect_kind, final_rows, load_experiment
from raysearch.analysis.report import write_report
from raysearch.cli import main
from raysearch.reweight.settings import ReweightSettings
from raysearch.tune.nas_evaluate import COLUMNS


@pytest.fixture
def evaluate_dir(tmp_path):
    """What `raysearch nas evaluate --out DIR` leaves: evaluation.csv beside Tune's trial folders."""
    rows = [{"genotype_name": name, "genotype": "Genotype(...)", "seed": seed, "params_m": 0.1,
             "test_acc": acc, "wall_time_s": 30.0, "epochs": 1, "train_start": 0.0,
             "train_end": 1.0, "error": None}
            for name, seed, acc in (("DARTS_V2", 0, 0.61), ("DARTS_V2", 1, 0.63), ("PC_DARTS", 0, 0.58))]  # fmt: skip
    pd.DataFrame(rows, columns=COLUMNS).to_csv(tmp_path / "evaluation.csv", index=False)
    trial = tmp_path / "evaluate" / "job_00000"
    trial.mkdir(parents=True)
    (trial / "params.json").write_text(json.dumps({"genotype": "DARTS_V2", "seed": 0}))
    (trial / "result.json").write_text(json.dumps({"trial_id": "00000", "test_acc": 0.61,
                                                   "timestamp": 1}) + "\n")  # fmt: skip
    return tmp_path


@pytest.fixture
def reweight_dir(tmp_path):
    """What `raysearch reweight --out DIR` leaves: Tune trials of ReweightSettings configs."""
    settings = ReweightSettings(method="lfm", imbalance=20, epochs=2)
    for seed in (0, 1):
        trial = tmp_path / "reweight-lfm" / f"ReweightTrainable_{seed:05d}"
        trial.mkdir(parents=True)
        config = {**settings.to_config(), "seed": seed}
        (trial / "params.json").write_text(json.dumps(config))
        lines = [json.dumps({"trial_id": f"t{seed}", "timestamp": 10 * seed + e, "epoch": e,
                             "val_acc": 0.5 + e / 10, "test_acc": 0.4 + e / 10 + seed / 100,
                             "rare_class_acc": 0.1 * e, "test_acc_w2": 0.45, "class_acc": {"0": 0.9},
                             "config": config}) for e in (1, 2)]  # fmt: skip
        (trial / "result.json").write_text("\n".join(lines) + "\n")
    pd.DataFrame({"seed": [0, 1], "test_acc": [0.6, 0.61]}).to_csv(
        tmp_path / "reweight_lfm.csv", index=False
    )
    return tmp_path


def test_a_nas_evaluate_folder_is_its_table_with_the_genotype_as_searcher(evaluate_dir, capsys):
    frame = load_experiment(evaluate_dir)
    assert frame.attrs["kind"] == "nas-evaluate" == detect_kind(evaluate_dir / "evaluation.csv")
    assert list(frame["trial_id"]) == ["DARTS_V2-seed0", "DARTS_V2-seed1", "PC_DARTS-seed0"]
    assert list(final_rows(frame)["test_acc"]) == [0.61, 0.63, 0.58]
    assert main(["analyze", str(evaluate_dir)]) == 0
    summary = (evaluate_dir / "analysis" / "summary.md").read_text()
    assert "| DARTS_V2 |" in summary and "0.63" in summary and "PC_DARTS" in summary


def test_a_reweight_folder_keeps_its_own_metrics(reweight_dir, capsys):
    frame = load_experiment(reweight_dir)
    assert frame.attrs["kind"] == "reweight"
    assert len(frame) == 4 and set(frame["seed"]) == {0, 1}
    assert "label_precision" not in frame and "rare_class_acc" in frame
    final = final_rows(frame).set_index("seed")
    assert final.loc[1, "test_acc"] == pytest.approx(0.61) and final.loc[0, "epochs_trained"] == 2
    assert main(["analyze", str(reweight_dir)]) == 0
    out = reweight_dir / "analysis"
    assert (out / "accuracy_per_epoch.png").stat().st_size > 0
    assert "rare_class_acc" in (out / "summary.md").read_text()


def test_a_report_that_fails_writes_no_file(reweight_dir, monkeypatch):
    frame = load_experiment(reweight_dir)

    def fail(table):  # the last step of the report, after the CSVs and the plot were written
        raise KeyError("val_acc")

    monkeypatch.setattr("raysearch.analysis.report.markdown_table", fail)
    out = reweight_dir / "report"
    with pytest.raises(KeyError):
        write_report(frame, out)
    assert not out.exists()
    assert [p.name for p in reweight_dir.iterdir() if p.name.startswith(".")] == []


def test_a_failed_lookup_mid_run_is_an_internal_error_with_its_traceback(reweight_dir, monkeypatch, capsys):  # fmt: skip
    def broken(frame, out):
        return frame["no_such_column"]

    monkeypatch.setattr("raysearch.analysis.report.write_report", broken)
    assert main(["analyze", str(reweight_dir)]) == 1
    error = capsys.readouterr().err
    assert "Traceback (most recent call last)" in error
    assert "raysearch: internal error in `raysearch analyze`: missing key 'no_such_column'" in error
    assert main(["trial", "--dataset", "imagenet"]) == 2  # a validation KeyError: one line
    assert capsys.readouterr().err.startswith("raysearch: error: unknown dataset 'imagenet'")
