"""The label noise actually present in a trial's training labels, against the clean ones.

The rate is the share of training labels that differ from the clean label; the transition
matrix ``P[i, j]`` is the share of clean-class-``i`` rows labelled ``j`` (the empirical
counterpart of :func:`raysearch.noisy.transition.transition_matrix`, rows summing to one;
a class without rows has a zero row). Without clean labels neither can be measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from raysearch.noisy.noisy_data import NoisyData

SHOWN_MATRIX_CLASSES = 10  # larger matrices print their largest flips only
SHOWN_FLIPS = 5


@dataclass(frozen=True)
class NoiseReport:
    """Training rows, classes, where the labels came from, and the measured noise."""

    rows: int
    num_classes: int
    source: str
    rate: float | None
    counts: np.ndarray | None  # C x C: clean class (row) x given label (column)

    @property
    def matrix(self) -> np.ndarray | None:
        if self.counts is None:
            return None
        totals = self.counts.sum(axis=1, keepdims=True)
        return np.divide(self.counts, totals, out=np.zeros(self.counts.shape), where=totals > 0)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON: ``rows``, ``num_classes``, ``source``, ``noise_rate`` (``None``: unknown),
        ``transition_matrix`` and ``counts`` (``None`` without clean labels)."""
        matrix = self.matrix
        return {
            "rows": self.rows,
            "num_classes": self.num_classes,
            "source": self.source,
            "noise_rate": self.rate,
            "transition_matrix": None if matrix is None else matrix.round(6).tolist(),
            "counts": None if self.counts is None else self.counts.tolist(),
        }

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_dict(), indent=1) + "\n")
        return path

    def lines(self, *, matrix: bool = True) -> list[str]:
        """What a run prints at its start: one summary line, then (``matrix``) the transition
        matrix, or its largest off-diagonal entries for more than 10 classes."""
        head = f"labels: {self.rows} training rows, {self.num_classes} classes, {self.source}"
        if self.rate is None or self.counts is None:
            return [f"{head}; noise rate unknown (no clean training labels to compare with)"]
        differ = self.counts.sum() - np.trace(self.counts)
        lines = [f"{head}; noise rate present {self.rate:.4f} ({differ} of {self.rows} labels "
                 "differ from the clean ones)"]  # fmt: skip
        if not matrix:
            return lines
        p = self.matrix
        assert p is not None
        if self.num_classes <= SHOWN_MATRIX_CLASSES:
            lines.append("transition matrix P[clean class, given label]:")
            lines += [f"  {i}: " + " ".join(f"{v:.3f}" for v in row) for i, row in enumerate(p)]
        else:
            off = p.copy()
            np.fill_diagonal(off, 0.0)
            order = np.argsort(off, axis=None)[::-1][:SHOWN_FLIPS]
            flips = [
                f"{i}->{j} {off[i, j]:.3f}"
                for i, j in zip(*np.unravel_index(order, off.shape), strict=True)
            ]
            lines.append("largest flips P[clean, given]: " + ", ".join(flips))
        return lines


def noise_report(data: NoisyData, source: str) -> NoiseReport:
    """The noise in ``data``'s training labels (``source``: where they came from)."""
    rows, classes = len(data.train), data.num_classes
    if not data.clean_known or data.clean_labels is None:
        return NoiseReport(rows, classes, source, None, None)
    clean = data.clean_labels.numpy()
    given = data.train.labels.numpy()
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (clean, given), 1)
    rate = float((clean != given).mean()) if rows else 0.0
    return NoiseReport(rows, classes, source, rate, counts)
