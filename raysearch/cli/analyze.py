"""``raysearch analyze DIR``: load any results folder, write its plots and summary table."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _analyze(args: argparse.Namespace) -> int:
    from raysearch.analysis import final_rows, load_experiment
    from raysearch.analysis.report import with_stream_labels, write_report

    frame = load_experiment(args.dir)
    out = Path(args.out).expanduser().resolve() if args.out else Path(frame.attrs["path"])
    if args.out is None:
        out = (out.parent if out.is_file() else out) / "analysis"
    schedules = frame.attrs["kind"] in ("compare", "tune")
    final = final_rows(with_stream_labels(frame) if schedules else frame)
    roles = final["role"] if "role" in final else None
    searchers = final["searcher"] if roles is None else final.loc[roles != "reference", "searcher"]
    line = (
        f"{frame.attrs['kind']} results in {frame.attrs['path']}: {len(final)} trials, "
        f"{len(frame)} rows, searchers {', '.join(map(str, sorted(searchers.unique())))}"
    )
    if roles is not None and (roles == "reference").any():
        references = sorted(final.loc[roles == "reference", "searcher"].unique())
        line += f", references {', '.join(map(str, references))}"
    print(line)
    written = write_report(frame, out)
    for path in written:
        print(f"written: {path}")
    summary = out / "summary.md"
    if summary in written:
        print(summary.read_text(), end="")
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
