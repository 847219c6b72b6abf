"""Supernet search as a Ray Train job on a real local Ray (2 CPU workers)."""

import pytest

from raysearch.tune.nas_search import SearchSettings, run_search

pytestmark = pytest.mark.slow


def test_two_workers_hold_identical_alpha(local_ray, tmp_path):
    settings = SearchSettings(
        method="darts-1st",
        epochs=1,
        C=4,
        layers=2,
        batch_size=8,
        max_batches=2,
        digest_dir=str(tmp_path),
    )
    result = run_search(settings, workers=2, storage_path=str(tmp_path), name="alpha_eq")
    assert result.error is None
    assert result.metrics["epoch"] == 1
    assert 0.0 < result.metrics["alpha_entropy"] <= 2.08
    for epoch in (1,):
        digests = [(tmp_path / f"alpha_rank{r}_epoch{epoch}.txt").read_text() for r in (0, 1)]
        assert digests[0] == digests[1]


def test_injected_failure_resumes_from_epoch_2(local_ray, tmp_path):
    settings = SearchSettings(
        method="darts-1st", epochs=3, C=4, layers=2, batch_size=8, max_batches=1, fail_at_epoch=2
    )
    result = run_search(
        settings, workers=1, storage_path=str(tmp_path), name="resume", max_failures=1
    )
    assert result.error is None
    assert result.metrics["epoch"] == 3
    assert result.metrics["start_epoch"] == 1  # resumed after the epoch-1 checkpoint, not 0


def test_cli_search_writes_a_parsable_genotype(local_ray, tmp_path):
    import argparse

    from raysearch.nas_cli import add_nas_parser
    from search_spaces.darts import parse_genotype

    parser = argparse.ArgumentParser()
    add_nas_parser(parser.add_subparsers(dest="command", required=True))
    argv = ["nas", "search", "--epochs", "1", "--C", "4", "--layers", "2", "--batch-size", "8"]
    args = parser.parse_args([*argv, "--max-batches", "1", "--out", str(tmp_path)])
    assert args.func(args) == 0
    text = (tmp_path / "genotype.txt").read_text().strip()
    assert str(parse_genotype(text)) == text
