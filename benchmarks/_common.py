"""Helpers shared by the benchmark scripts: the results folder and figure saving."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

RESULTS = Path(__file__).resolve().parent / "results"


def results_dir(out: str | None) -> Path:
    """``out`` (or ``benchmarks/results``) as an absolute, existing folder."""
    path = Path(out).expanduser().resolve() if out else RESULTS
    path.mkdir(parents=True, exist_ok=True)
    return path
