"""Entry point of ``ray submit launchers/cluster.yaml launchers/launch.py`` (and of local runs).

With no arguments it runs the default schedule-search comparison on the embedded
``fashion-mnist-mini`` (symmetric 50 % noise; S2E vs random, TPE and Hyperband) at a size that
fits a 2-core machine in about 10 minutes; ``--smoke-test`` shrinks it to a couple of minutes.
On a cluster, ``--address auto`` connects to the running Ray. Thin: builds the arguments of
``raysearch compare`` and calls it.
"""

from __future__ import annotations

import argparse
import sys

from raysearch.cli import main as raysearch_main

DEFAULT = ["--space", "s2e", "--searchers", "s2e,random,tpe,hyperband", "--dataset", "fashion-mnist-mini",
           "--noise", "symmetric:0.5", "--trials", "12", "--epochs", "6", "--seeds", "2", "--samples-per-iter", "4"]  # fmt: skip
SMOKE = [
    "--trials",
    "4",
    "--epochs",
    "2",
    "--seeds",
    "1",
    "--samples-per-iter",
    "2",
    "--max-batches-per-epoch",
    "20",
]


def build_args(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke-test", action="store_true", help="a tiny run (about 2 minutes)")
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted run in --out"
    )
    parser.add_argument("--address", default=None, help="Ray address, e.g. auto on a cluster")
    parser.add_argument("--out", default="runs/launch", help="results folder (made absolute)")
    args, passthrough = parser.parse_known_args(argv)
    command = [
        "compare",
        *DEFAULT,
        *(SMOKE if args.smoke_test else []),
        "--out",
        args.out,
        *passthrough,
    ]
    if args.resume:
        command.append("--resume")
    if args.address:
        command += ["--address", args.address]
    return command


def main(argv: list[str] | None = None) -> int:
    return raysearch_main(build_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
