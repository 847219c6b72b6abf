"""``raysearch nas compare`` end to end on a real local Ray: 2 methods x 1 seed, tiny sizes."""

import math

import pandas as pd
import pytest

from raysearch.cli.nas import add_nas_parser
from search_spaces.darts import parse_genotype

pytestmark = pytest.mark.slow


def _args(out):
    import argparse

    parser = argparse.ArgumentParser()
    add_nas_parser(parser.add_subparsers(dest="command", required=True))
    argv = ["nas", "compare", "--methods", "darts-1st,asm", "--seeds", "0", "--epochs", "1"]
    argv += ["--C", "2", "--layers", "1", "--batch-size", "8", "--max-batches", "1"]
    argv += ["--eval-epochs", "1", "--eval-C", "4", "--eval-layers", "2"]
    argv += ["--eval-batch-size", "16", "--eval-max-batches", "1", "--out", str(out)]
    return parser.parse_args(argv)


def test_compare_searches_evaluates_and_resumes(local_ray, tmp_path, capsys):
    args = _args(tmp_path)
    assert args.func(args) == 0
    frame = pd.read_csv(tmp_path / "nas_compare.csv")
    assert list(frame["method"]) == ["darts-1st", "asm"]
    assert frame["error"].isna().all()
    for _, row in frame.iterrows():
        assert str(parse_genotype(row["genotype"])) == row["genotype"]
        assert 0.0 <= row["test_acc"] <= 1.0 and row["params_m"] > 0
        assert row["search_time_s"] > 0 and row["search_wall_s"] >= row["search_time_s"]
    table = (tmp_path / "nas_compare.md").read_text()
    assert "| darts-1st |" in table and "| asm |" in table
    assert (tmp_path / "nas_compare.png").stat().st_size > 0
    assert "| asm |" in capsys.readouterr().out
    # Resume: nothing is searched or evaluated again, the same rows come back.
    searches = sorted((tmp_path / "searches").iterdir())
    stamps = [p.stat().st_mtime_ns for p in searches]
    evaluations = (tmp_path / "evaluations.csv").read_text()
    assert args.func(args) == 0
    assert [p.stat().st_mtime_ns for p in searches] == stamps
    assert (tmp_path / "evaluations.csv").read_text() == evaluations
    again = pd.read_csv(tmp_path / "nas_compare.csv")
    pd.testing.assert_frame_equal(again, frame)
    assert math.isfinite(again["test_acc"].sum())
