"""Supernet search with every method as a Ray Train job on a real local Ray (2 CPU workers)."""

import math

import pytest
import torch

from raysearch.tune.nas_search import SearchSettings, run_search

pytestmark = pytest.mark.slow
EDGES_X_OPS = 2 * 14 * 8  # (normal, reduce) x 14 edges x 8 ops


def _traces(folder, epochs: int) -> dict[tuple[int, int], dict]:
    return {
        (r, e): torch.load(folder / f"rank{r}_epoch{e}.pt", weights_only=False)
        for r in (0, 1)
        for e in range(epochs + 1)
    }


@pytest.mark.parametrize(
    ("method", "kwargs"), [("darts-1st", {"a_lr": 0.05}), ("xnas", {}), ("asm", {})]
)
def test_two_workers_hold_identical_architecture(local_ray, tmp_path, method, kwargs):
    """(a) bit-identical architecture on both ranks after every epoch, (b) far from where it
    started (DARTS alpha, XNAS u with experts wiped out), (c) disjoint data shards."""
    settings = SearchSettings(
        method=method, epochs=2, C=4, layers=2, batch_size=8, max_batches=3,
        method_kwargs=kwargs, trace_dir=str(tmp_path),
    )  # fmt: skip
    result = run_search(settings, workers=2, storage_path=str(tmp_path), name=method)
    assert result.error is None
    assert result.metrics["epoch"] == 2
    t = _traces(tmp_path, 2)
    rows = [set(t[(r, 0)][k].tolist()) for r in (0, 1) for k in ("w_rows", "a_rows")]
    assert all(rows) and sum(map(len, rows)) == len(set().union(*rows))  # (c)
    for e in (1, 2):  # (a)
        assert t[(0, e)]["digest"] == t[(1, e)]["digest"]
        assert all(
            torch.equal(x, y) for x, y in zip(t[(0, e)]["arch"], t[(1, e)]["arch"], strict=True)
        )
        assert t[(0, e)]["genotype"] == t[(1, e)]["genotype"]
    assert 0.0 < result.metrics["arch_entropy"] <= math.log(8) + 1e-6
    assert result.metrics["arch_digest"] == t[(0, 2)]["digest"]
    if method == "asm":
        assert t[(0, 0)]["arch"] == []  # nothing derived before the first epoch
        assert t[(0, 2)]["cell_genotypes"] == t[(1, 2)]["cell_genotypes"]
        assert result.metrics["cell_genotypes"].count("CellGenotype") == 2
        return
    start, end = t[(0, 0)]["arch"], t[(0, 2)]["arch"]
    probs = [(torch.softmax(a, -1), torch.softmax(b, -1)) for a, b in zip(start, end, strict=True)]
    if method == "xnas":
        assert max(float((b - a).abs().max()) for a, b in probs) > 0.05  # (b), u moved
        assert result.metrics["alive_ops"] < EDGES_X_OPS  # some experts wiped out
        assert math.isinf(min(float(b.min()) for b in end))  # wiped: log u = -inf
    else:
        assert (
            max(float((b - a).abs().max()) for a, b in zip(start, end, strict=True)) > 0.05
        )  # (b)


def test_injected_failure_resumes_from_epoch_2(local_ray, tmp_path):
    settings = SearchSettings(
        method="xnas", epochs=3, C=4, layers=2, batch_size=8, max_batches=1, fail_at_epoch=2
    )
    result = run_search(
        settings, workers=1, storage_path=str(tmp_path), name="resume", max_failures=1
    )
    assert result.error is None
    assert result.metrics["epoch"] == 3
    assert result.metrics["start_epoch"] == 1  # resumed after the epoch-1 checkpoint, not 0
    assert result.metrics["alive_ops"] < EDGES_X_OPS  # the horizon T = 3 counted across resume


def test_cli_search_asm_writes_parsable_genotypes(local_ray, tmp_path):
    import argparse

    from raysearch.cli.nas import add_nas_parser
    from search_spaces.darts import parse_cell_genotypes, parse_genotype

    parser = argparse.ArgumentParser()
    add_nas_parser(parser.add_subparsers(dest="command", required=True))
    argv = ["nas", "search", "--method", "asm", "--epochs", "1", "--C", "4", "--layers", "2"]
    argv += ["--batch-size", "8", "--max-batches", "1", "--out", str(tmp_path)]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    text = (tmp_path / "genotype.txt").read_text().strip()
    assert str(parse_genotype(text)) == text
    cells = parse_cell_genotypes((tmp_path / "cell_genotypes.txt").read_text().strip())
    assert len(cells) == 2
