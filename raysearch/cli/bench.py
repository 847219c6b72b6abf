"""``raysearch bench`` subcommands: ``tabulate`` trains the schedule benchmark's table as real Tune
trials; ``run`` compares searchers against the surrogate fitted to it (no training)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from raysearch.cli.checks import at_least, check_out_folder


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _tabulate(args: argparse.Namespace) -> int:
    from raysearch.bench.tabulate import TabulateSettings

    settings = TabulateSettings(
        tasks=_comma_list(args.tasks), seeds=args.seeds, sobol=args.sobol, grids=not args.no_grids,
        max_batches_per_epoch=args.max_batches_per_epoch, cpus_per_trial=args.cpus_per_trial,
        out=args.out,
    )  # fmt: skip
    check_out_folder(args.out)
    from raysearch.bench.tabulate import run_tabulate  # imports Ray only after validation

    command = ["raysearch", *sys.argv[1:]]
    tables = run_tabulate(settings, command=command, address=args.address, resume=args.resume)
    print(f"tables: {tables}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from raysearch.bench.run import BenchRun, run_bench
    from raysearch.bench.surrogate import check_models

    searchers = () if args.searchers.strip() == "all" else _comma_list(args.searchers)
    run = BenchRun(
        task=args.task, searchers=searchers, trials=args.trials, seeds=args.seeds,
        epochs=args.epochs, samples_per_iter=args.samples_per_iter,
        concurrency=args.concurrency, space=args.space,
    )  # fmt: skip
    run.compare_settings()  # unknown searchers, task or values: an error before any work
    if args.model not in (None, "auto"):
        check_models([args.model])
    at_least("--processes", args.processes, 1)
    out = check_out_folder(args.out)
    command = ["raysearch", *sys.argv[1:]]
    print(run_bench(run, out=out, tables=args.tables, model=args.model,
                    processes=args.processes, command=command))  # fmt: skip
    print(f"results: {out} (best_so_far.csv, trials.csv, summary.csv, summary.md, run.json)")
    return 0


def add_bench_parser(commands: Any) -> None:
    """Add ``bench tabulate`` and ``bench run`` to the ``raysearch`` subparsers ``commands``."""
    from raysearch.bench.surrogate import CANDIDATES
    from raysearch.bench.tasks import TABULATED, TASKS

    bench = commands.add_parser(
        "bench", help="the schedule benchmark: tabulate real runs, compare searchers on them"
    )
    sub = bench.add_subparsers(dest="bench_command", required=True)
    tabulate = sub.add_parser(
        "tabulate", help="train the benchmark's schedules as Tune trials and write its tables"
    )
    tabulate.add_argument("--tasks", default=",".join(TABULATED), help=f"of {', '.join(TASKS)}")
    tabulate.add_argument("--seeds", type=int, default=2, help="training seeds 0 .. S-1")
    tabulate.add_argument("--sobol", type=int, default=512, help="Sobol points of the s2e family")
    tabulate.add_argument(
        "--no-grids", action="store_true", help="leave out the family grids (references stay)"
    )
    tabulate.add_argument(
        "--max-batches-per-epoch", type=int, default=None, help="smoke-sized epochs (tests)"
    )
    tabulate.add_argument("--cpus-per-trial", type=float, default=1.0)
    tabulate.add_argument("--address", default=None, help="Ray address (default: a local Ray)")
    tabulate.add_argument("--resume", action="store_true", help="continue an interrupted run")
    tabulate.add_argument("--out", default="runs/bench-tabulate", help="results folder")
    tabulate.set_defaults(func=_tabulate)
    run = sub.add_parser(
        "run", help="compare searchers on a task's surrogate (no training)",
    )  # fmt: skip
    run.add_argument("--task", default=TABULATED[0], help="a tabulated task")
    run.add_argument(
        "--searchers", default="all", help="comma-separated registry names, or all (every one)"
    )
    run.add_argument("--trials", type=int, default=100, help="N: networks per searcher and seed")
    run.add_argument("--seeds", type=int, default=30, help="seeds 0 .. S-1")
    run.add_argument("--epochs", type=int, default=None, help="E (default: the task's)")
    run.add_argument("--samples-per-iter", type=int, default=4, help="K of S2E")
    run.add_argument("--concurrency", type=int, default=1, help="as in compare")
    run.add_argument("--space", default="s2e", help="schedule family searched")
    run.add_argument(
        "--model", default=None,
        help=f"surrogate model: {', '.join(CANDIDATES)} or auto (default: the task's chosen one)",
    )  # fmt: skip
    run.add_argument(
        "--tables", default=None, help="folder of <task>.parquet (default: the shipped tables)"
    )
    run.add_argument("--processes", type=int, default=1, help="worker processes")
    run.add_argument("--out", default="runs/bench-run", help="results folder")
    run.set_defaults(func=_run)
