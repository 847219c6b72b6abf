"""Core-time use of ``raysearch compare``: experiments one after another vs side by side.

Core use = sum over every trial epoch of Tune's ``time_this_iter_s`` (training + evaluation)
divided by (wall time x cores). The same small comparison runs with ``--experiments-at-once 1``
and with N, alternately ``--repeats`` times, each in a fresh folder and a fresh local Ray;
writes ``compare_core_use.csv`` and prints a one-line summary (mean ratio of the two).
Run it alone (``flock /tmp/raysearch-heavy.lock``): other load inflates the epoch times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks._common import results_dir

COMPARISON = ["--searchers", "s2e,random", "--seeds", "2", "--trials", "4", "--samples-per-iter",
              "2", "--epochs", "3"]  # fmt: skip


def epoch_seconds(out: Path) -> float:
    """Sum of ``time_this_iter_s`` over every reported epoch of every trial under ``out``."""
    total = 0.0
    for result in (out / "tune").glob("*/*/result.json"):
        for line in result.read_text().splitlines():
            if line.strip():
                total += float(json.loads(line)["time_this_iter_s"])
    return total


def run_once(at_once: int, cores: int, batches: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        command = [sys.executable, "-m", "raysearch.cli", "compare", *COMPARISON,
                   "--max-batches-per-epoch", str(batches), "--experiments-at-once", str(at_once),
                   "--out", str(out)]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, timeout=1200)
        wall = time.perf_counter() - start
        busy = epoch_seconds(out)
    return {"experiments_at_once": at_once, "batches": batches, "wall_s": wall, "epoch_s": busy,
            "core_use": busy / (wall * cores), "load1": os.getloadavg()[0]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--at-once", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--batches", type=int, default=12, help="--max-batches-per-epoch")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    rows = [
        run_once(n, cores, args.batches) for _ in range(args.repeats) for n in (1, args.at_once)
    ]
    frame = pd.DataFrame(rows)
    frame.to_csv(results_dir(args.out) / "compare_core_use.csv", index=False)
    print(frame.to_string(index=False))
    means = frame.groupby("experiments_at_once")[["core_use", "wall_s"]].mean()
    print(f"core use {means.loc[1, 'core_use']:.2f} (one at a time) -> "
          f"{means.loc[args.at_once, 'core_use']:.2f} ({args.at_once} at once); wall "
          f"{means.loc[1, 'wall_s']:.0f} s -> {means.loc[args.at_once, 'wall_s']:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
