"""A CIFAR-10 stand-in with CIFAR-10N-style human labels through ``raysearch trial`` on Ray."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from raysearch.cli import main
from raysearch.data.tiny import write_tiny_dataset
from raysearch.data.torchvision_loaders import load_cifar

pytestmark = pytest.mark.slow


def test_trial_on_cifar_stand_in_with_human_label_file(local_ray, tmp_path, capsys):
    root = write_tiny_dataset("cifar10", tmp_path / "cifar", train=500, test=100)
    clean = load_cifar(10, root, False)[0].labels.numpy()
    worse = clean.copy()
    worse[::3] = (worse[::3] + 3) % 10  # a third of the labels moved three classes on
    human = {"clean_label": clean, "worse_label": worse, "aggre_label": clean.copy()}
    torch.save(human, tmp_path / "CIFAR-10_human.pt")  # numpy arrays, as CIFAR-10N ships them
    out = tmp_path / "runs"
    code = main([
        "trial", "--dataset", "cifar10", "--data-root", str(root),
        "--labels", str(tmp_path / "CIFAR-10_human.pt"), "--labels-key", "worse_label",
        "--epochs", "2", "--batch-size", "32", "--out", str(out),
    ])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    report = json.loads((out / "trial" / "noise_report.json").read_text())
    rows = report["rows"]
    assert (rows, report["num_classes"]) == (450, 10)  # 500 less the 10 % validation split
    assert 0.28 < report["noise_rate"] < 0.39
    matrix = np.asarray(report["transition_matrix"])
    assert np.allclose(matrix.sum(axis=1), 1.0)
    off = matrix - np.diag(np.diag(matrix))
    assert np.array_equal(np.argmax(off, axis=1), (np.arange(10) + 3) % 10)  # i -> i + 3 only
    assert f"labels: {rows} training rows, 10 classes" in printed
    assert f"noise rate present {report['noise_rate']:.4f}" in printed
    assert "transition matrix P[clean class, given label]:" in printed
    assert f'"tau": {report["noise_rate"]}' in printed  # the default schedule takes the rate
    assert "epoch=2" in printed and "final: test_acc=" in printed
