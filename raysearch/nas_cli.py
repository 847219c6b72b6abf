"""``raysearch nas`` subcommands (hooked into raysearch/cli.py by ``add_nas_parser``).

Only ``search`` exists so far; ``evaluate`` (issue item 5) is not implemented yet.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _search(args: argparse.Namespace) -> int:
    from raysearch.data import check_dataset_name
    from raysearch.tune.nas_search import SearchSettings

    check_dataset_name(args.dataset)
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    settings = SearchSettings(
        method=args.method, dataset=args.dataset, epochs=args.epochs, C=args.C,
        layers=args.layers, batch_size=args.batch_size, max_batches=args.max_batches,
        seed=args.seed,
    )  # fmt: skip
    from raysearch.tune.nas_search import run_search  # Ray starts only after validation

    out = Path(args.out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    result = run_search(settings, workers=args.workers, storage_path=str(out), name="search")
    if result.error is not None:
        raise RuntimeError(f"search failed: {result.error}")
    genotype = str(result.metrics["genotype"])
    (out / "genotype.txt").write_text(genotype + "\n")
    print(f"genotype: {genotype}")
    print(f"written: {out / 'genotype.txt'}")
    return 0


def add_nas_parser(commands: Any) -> None:
    """Add ``nas search`` to the ``raysearch`` subparsers ``commands``."""
    nas = commands.add_parser("nas", help="differentiable architecture search on Ray Train")
    sub = nas.add_subparsers(dest="nas_command", required=True)
    search = sub.add_parser("search", help="run a supernet search as a Ray Train job")
    search.add_argument("--method", default="darts-1st", help="darts | darts-1st")
    search.add_argument("--dataset", default="fashion-mnist-mini")
    search.add_argument("--epochs", type=int, default=2)
    search.add_argument("--workers", type=int, default=1)
    search.add_argument("--C", type=int, default=8)
    search.add_argument("--layers", type=int, default=5)
    search.add_argument("--batch-size", type=int, default=32)
    search.add_argument("--max-batches", type=int, default=None)
    search.add_argument("--seed", type=int, default=0)
    search.add_argument("--out", required=True)
    search.set_defaults(func=_search)
