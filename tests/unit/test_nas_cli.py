import argparse

import pytest

from raysearch.cli.nas import add_nas_parser


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_nas_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_unknown_method_fails_before_ray(tmp_path) -> None:
    args = _parse(["nas", "search", "--method", "nope", "--out", str(tmp_path)])
    with pytest.raises(KeyError, match="darts-1st"):
        args.func(args)


def test_bad_workers_and_dataset(tmp_path) -> None:
    args = _parse(["nas", "search", "--workers", "0", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="workers"):
        args.func(args)
    args = _parse(["nas", "search", "--dataset", "nope", "--out", str(tmp_path)])
    with pytest.raises((KeyError, ValueError)):
        args.func(args)


def test_search_gpus_and_base_validated_before_ray(tmp_path) -> None:
    args = _parse(["nas", "search", "--gpus-per-worker", "-1", "--out", str(tmp_path)])
    assert args.gpus_per_worker == -1.0
    with pytest.raises(ValueError, match="gpus_per_worker"):
        args.func(args)
    args = _parse(["nas", "search", "--method", "darts", "--base", "xnas", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="lease"):
        args.func(args)


def test_compare_rejects_bad_methods_seeds_and_base(tmp_path) -> None:
    args = _parse(["nas", "compare", "--methods", "darts,nope", "--out", str(tmp_path)])
    with pytest.raises(KeyError, match="darts-1st"):
        args.func(args)
    args = _parse(["nas", "compare", "--seeds", "0,x", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="seeds"):
        args.func(args)
    args = _parse(
        ["nas", "compare", "--methods", "darts", "--base", "xnas", "--out", str(tmp_path)]
    )
    with pytest.raises(ValueError, match="wrapper"):
        args.func(args)
    args = _parse(["nas", "compare", "--eval-epochs", "0", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="epochs"):
        args.func(args)
    assert not (tmp_path / "searches").exists()  # nothing ran
