import argparse

import pytest

from raysearch.nas_cli import add_nas_parser


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
