"""``raysearch analyze DIR``: load any results folder, write its plots and summary table."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _analyze(args: argparse.Namespace) -> int:
    from raysearch.analysis import final_rows, load_experiment
    from raysearch.analysis.report import write_report

    frame = load_experiment(args.dir)
    out = Path(args.out).expanduser().resolve() if args.out else Path(frame.attrs["path"])
    if args.out is None:
        out = (out.parent if out.is_file() else out) / "analysis"
    final = final_rows(frame)
    print(
        f"{frame.attrs['kind']} results in {frame.attrs['path']}: {len(final)} trials, "
        f"{len(frame)} rows, searchers {', '.join(map(str, sorted(final['searcher'].unique())))}"
    )
    for path in write_report(frame, out):
        print(f"written: {path}")
    return 0


def add_analyze_parser(commands: Any) -> None:
    """Add ``analyze`` to the ``raysearch`` subparsers ``commands``."""
    analyze = commands.add_parser(
        "analyze", help="dataframes, plots and a summary table of a results folder"
    )
    analyze.add_argument(
        "dir", help="a compare output, a Tune experiment, a NAS search or a NAS compare table"
    )
    analyze.add_argument("--out", default=None, help="report folder (default: DIR/analysis)")
    analyze.set_defaults(func=_analyze)
