"""search -> genotype.txt -> evaluate, through the ``raysearch nas`` CLI on a real local Ray."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from raysearch.cli import main
from search_spaces.darts import parse_genotype

pytestmark = pytest.mark.slow


def test_search_then_evaluate_the_found_genotype(local_ray, tmp_path, capsys):
    search = ["nas", "search", "--method", "darts-1st", "--epochs", "1", "--C", "4"]
    search += ["--layers", "3", "--batch-size", "16", "--max-batches", "2"]
    assert main([*search, "--out", str(tmp_path / "search")]) == 0
    genotype_file = tmp_path / "search" / "genotype.txt"
    genotype = parse_genotype(genotype_file.read_text())

    evaluate = ["nas", "evaluate", "--genotype", str(genotype_file), "--seeds", "0"]
    evaluate += ["--epochs", "1", "--C", "4", "--layers", "3", "--batch-size", "16"]
    assert main([*evaluate, "--max-batches", "40", "--out", str(tmp_path / "eval")]) == 0
    printed = capsys.readouterr().out
    frame = pd.read_csv(tmp_path / "eval" / "evaluation.csv")
    with capsys.disabled():
        print(f"\nend-to-end genotype: {genotype}\ntest accuracy: {frame.test_acc[0]:.4f}")
    assert len(frame) == 1 and frame.genotype_name[0] == "search/genotype.txt"
    assert parse_genotype(frame.genotype[0]) == genotype
    assert math.isfinite(frame.test_acc[0]) and 0.0 <= frame.test_acc[0] <= 1.0
    assert frame.params_m[0] > 0 and "search/genotype.txt" in printed
