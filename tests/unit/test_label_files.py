"""Real noisy labels from a file (``--labels``): formats, the noise they carry, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from raysearch.cli import main
from raysearch.data import read_label_file
from raysearch.noisy.settings import (
    TrialSettings,
    build_run,
    load_trial_data,
    trial_noise_report,
    trial_noisy_data,
)
from search_spaces.schedules import default_config

ROWS, CLASSES = 60, 3
CLEAN = np.arange(ROWS) % CLASSES
NOISY = CLEAN.copy()
NOISY[::4] = (NOISY[::4] + 1) % CLASSES  # every 4th label flipped to the next class


def _npz(path, *, with_train_labels=True, **extra):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (ROWS, 8, 8), dtype=np.uint8),
        "y_train": CLEAN if with_train_labels else None,
        "x_test": rng.integers(0, 256, (12, 8, 8), dtype=np.uint8),
        "y_test": np.arange(12) % CLASSES,
        **extra,
    }
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return str(path)


def _settings(data, labels, **kw):
    return TrialSettings(
        dataset=data, labels=str(labels), noise="none", epochs=2, batch_size=8, **kw
    )


@pytest.fixture
def data(tmp_path):
    return _npz(tmp_path / "d.npz")


def test_npy_csv_and_pt_files_read_back_the_labels_written(tmp_path):
    np.save(tmp_path / "l.npy", NOISY)
    (tmp_path / "l.csv").write_text("label\n" + "\n".join(map(str, NOISY)) + "\n\n")
    torch.save({"clean_label": CLEAN, "worse_label": NOISY}, tmp_path / "numpy.pt")  # CIFAR-10N
    torch.save({"noisy_label": torch.as_tensor(NOISY)}, tmp_path / "tensor.pt")
    for path, key in [("l.npy", None), ("l.csv", None), ("numpy.pt", "worse_label"),
                      ("tensor.pt", "noisy_label")]:  # fmt: skip
        file = read_label_file(tmp_path / path, key=key)
        assert file.labels.tolist() == NOISY.tolist() and file.labels.dtype == np.int64
    assert (
        read_label_file(tmp_path / "numpy.pt", key="worse_label").clean.tolist() == CLEAN.tolist()
    )


def test_label_file_noise_is_measured_against_the_clean_labels(tmp_path, data):
    np.save(tmp_path / "l.npy", NOISY)
    settings = _settings(data, tmp_path / "l.npy", val_fraction=0.25)
    noisy = trial_noisy_data(settings)
    rows = load_trial_data(settings).train_rows
    assert noisy.train.labels.tolist() == NOISY[rows].tolist()  # the file's labels, row for row
    assert noisy.clean_labels.tolist() == CLEAN[rows].tolist()
    assert noisy.val.labels.tolist() == CLEAN[load_trial_data(settings).val_rows].tolist()  # clean
    report = trial_noise_report(settings)
    flipped = (NOISY[rows] != CLEAN[rows]).mean()
    assert report.rows == len(rows) == 45 and report.rate == pytest.approx(flipped)
    assert settings.noise_rate == pytest.approx(flipped)
    matrix = report.matrix
    assert np.allclose(matrix.sum(axis=1), 1.0)
    stored = json.loads(json.dumps(report.as_dict()))  # what noise_report.json holds
    assert np.allclose(stored["transition_matrix"], matrix, atol=1e-6)
    assert stored["noise_rate"] == report.rate and np.sum(stored["counts"]) == 45
    for i in range(CLASSES):  # only i -> i and i -> i+1 occur
        assert matrix[i, (i + 2) % CLASSES] == 0.0
        assert matrix[i, (i + 1) % CLASSES] == pytest.approx(
            ((CLEAN[rows] == i) & (NOISY[rows] != i)).sum() / (CLEAN[rows] == i).sum()
        )
    assert "noise rate present" in report.lines()[0] and len(report.lines()) == 2 + CLASSES


def test_noisy_validation_takes_the_file_labels_of_its_rows(tmp_path, data):
    np.save(tmp_path / "l.npy", NOISY)
    settings = _settings(data, tmp_path / "l.npy", val="noisy", val_fraction=0.25)
    val_rows = load_trial_data(settings).val_rows
    assert trial_noisy_data(settings).val.labels.tolist() == NOISY[val_rows].tolist()


def test_label_precision_counts_kept_rows_whose_file_label_is_clean(tmp_path, data):
    np.save(tmp_path / "l.npy", CLEAN)  # a file equal to the clean labels: no noise at all
    settings = _settings(data, tmp_path / "l.npy")
    assert trial_noise_report(settings).rate == 0.0
    run = build_run(settings, default_config("coteaching", noise_rate=0.0))
    assert run.train_epoch().label_precision == 1.0


def test_without_clean_labels_only_noisy_validation_runs(tmp_path):
    data = _npz(tmp_path / "d.npz", with_train_labels=False)
    np.save(tmp_path / "l.npy", NOISY)
    with pytest.raises(ValueError, match="--val clean needs clean labels.*use --val noisy"):
        _settings(data, tmp_path / "l.npy")
    settings = _settings(data, tmp_path / "l.npy", val="noisy")
    report = trial_noise_report(settings)
    assert report.rate is None and report.as_dict()["transition_matrix"] is None
    assert "noise rate unknown" in report.lines()[0]
    assert settings.noise_rate is None and settings.schedule_noise_rate == 0.5
    run = build_run(settings, default_config("coteaching", noise_rate=0.5))
    assert math.isnan(run.train_epoch().label_precision)
    with pytest.raises(ValueError, match="has no training labels; give them with --labels"):
        TrialSettings(dataset=data, val="noisy")


def test_a_clean_validation_split_of_its_own_scores_file_labels_without_clean_train(tmp_path):
    val = {"x_val": np.zeros((6, 8, 8), np.uint8), "y_val": np.arange(6) % CLASSES}
    data = _npz(tmp_path / "d.npz", with_train_labels=False, **val)
    np.save(tmp_path / "l.npy", NOISY)
    noisy = trial_noisy_data(_settings(data, tmp_path / "l.npy"))  # --val clean: y_val
    assert noisy.val.labels.tolist() == val["y_val"].tolist() and len(noisy.train) == ROWS
    with pytest.raises(ValueError, match="brings its own validation split; use --val clean"):
        _settings(data, tmp_path / "l.npy", val="noisy")


def test_registered_dataset_takes_a_label_file_of_its_training_rows(tmp_path):
    labels = TrialSettings(epochs=2)  # fashion-mnist-mini: 12,000 training rows
    clean = load_trial_data(labels).training_part_labels().numpy()
    noisy = np.where(np.arange(len(clean)) % 10 == 0, (clean + 1) % 10, clean)
    np.save(tmp_path / "l.npy", noisy)
    settings = TrialSettings(labels=str(tmp_path / "l.npy"), noise="none", epochs=2)
    assert settings.noise_rate == pytest.approx(0.1, abs=0.01)


def test_compare_references_use_the_measured_rate(tmp_path, data):
    from raysearch.tune.compare_settings import CompareSettings

    np.save(tmp_path / "l.npy", NOISY)
    trial = _settings(data, tmp_path / "l.npy")
    compare = CompareSettings(trial=trial, out=str(tmp_path / "out"))
    assert compare.reference_schedule("coteaching")["tau"] == pytest.approx(trial.noise_rate)


# -- bad input -----------------------------------------------------------------------------------


def test_row_count_and_label_range_are_checked(tmp_path, data):
    np.save(tmp_path / "short.npy", NOISY[:-1])
    with pytest.raises(ValueError, match="has 59 labels but the data set has 60 training rows"):
        _settings(data, tmp_path / "short.npy")
    np.save(tmp_path / "range.npy", NOISY + 1)
    with pytest.raises(ValueError, match=r"labels 1\.\.3, outside the data set's 3 classes 0\.\.2"):
        _settings(data, tmp_path / "range.npy")
    np.save(tmp_path / "float.npy", NOISY.astype(float))
    with pytest.raises(ValueError, match="must hold integer class indices"):
        _settings(data, tmp_path / "float.npy")


def test_pt_keys_are_listed_when_missing_or_wrong(tmp_path, data):
    path = tmp_path / "human.pt"
    torch.save({"clean_label": CLEAN, "worse_label": NOISY, "aggre_label": NOISY}, path)
    keys = "keys: clean_label, worse_label, aggre_label"
    with pytest.raises(ValueError, match=f"pick its labels with --labels-key; {keys}"):
        _settings(data, path)
    with pytest.raises(ValueError, match=f"--labels-key 'worst_label' is not in .*; {keys}"):
        _settings(data, path, labels_key="worst_label")
    assert _settings(data, path, labels_key="worse_label").noise_rate > 0


def test_pt_clean_label_must_match_the_data_set(tmp_path, data):
    torch.save({"clean_label": NOISY, "worse_label": NOISY}, tmp_path / "human.pt")
    with pytest.raises(
        ValueError, match="clean_label of .* differs from the data set's labels on 15 of 60"
    ):
        _settings(data, tmp_path / "human.pt", labels_key="worse_label")


_CALLED: list[str] = []


def _side_effect() -> dict:
    _CALLED.append("ran")
    return {}


class _Payload:
    def __reduce__(self):
        return (_side_effect, ())


def test_pt_with_code_is_refused_without_running_it(tmp_path, data):
    torch.save({"worse_label": _Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="is not a plain-data .pt file"):
        _settings(data, tmp_path / "evil.pt", labels_key="worse_label")
    assert _CALLED == []


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("l.csv", "0,1\n1,2\n", "line 1 has several fields"),
        ("l.csv", "0\n1\ntwo\n", "line 3: 'two' is not an integer label"),
        ("l.txt", "0\n", "unknown label file type '.txt'; allowed: .npy, .csv, .pt"),
    ],
)
def test_bad_label_file_content(tmp_path, data, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(ValueError, match=message):
        _settings(data, tmp_path / name)


def test_flags_that_do_not_go_together(tmp_path, data):
    np.save(tmp_path / "l.npy", NOISY)
    with pytest.raises(ValueError, match="--labels replaces synthetic noise"):
        TrialSettings(dataset=data, labels=str(tmp_path / "l.npy"), noise="symmetric:0.2")
    with pytest.raises(ValueError, match="--labels-key 'k' is for .pt label files"):
        _settings(data, tmp_path / "l.npy", labels_key="k")
    with pytest.raises(ValueError, match="--labels-key 'k' needs --labels"):
        TrialSettings(dataset=data, labels_key="k")
    with pytest.raises(FileNotFoundError, match="label file not found"):
        _settings(data, tmp_path / "missing.npy")


def test_cli_refuses_a_bad_label_file_before_ray(tmp_path, data, capsys):
    np.save(tmp_path / "short.npy", NOISY[:10])
    out = tmp_path / "out"
    argv = ["trial", "--dataset", data, "--labels", str(tmp_path / "short.npy"), "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "has 10 labels but the data set has 60 training rows" in err and "\n" not in err
    assert not out.exists()
