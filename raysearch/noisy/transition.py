"""Label-noise transition matrices and label corruption (Co-teaching / S2E set-up).

``P[i, j]`` is the probability that a sample of true class ``i`` carries label ``j``; every
row sums to one. As in the Co-teaching and S2E code, each training (and validation) label is
redrawn from its row with a seeded generator; test labels are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

NOISE_KINDS = ("symmetric", "pair")


def max_rate(kind: str, num_classes: int) -> float:
    """The exclusive upper bound on the noise rate: past it the true class stops being the mode.

    symmetric: the true class keeps ``1 - r`` and every other class gets ``r / (C - 1)``, so
    ``r < (C - 1) / C``; pair: class ``i`` goes to ``i + 1`` with ``r``, so ``r < 0.5``.
    """
    if kind == "symmetric":
        return (num_classes - 1) / num_classes
    if kind == "pair":
        return 0.5
    raise ValueError(f"unknown noise kind {kind!r}; allowed: {', '.join(NOISE_KINDS)}")


def check_noise(kind: str, rate: float, num_classes: int) -> None:
    """Raise ``ValueError`` naming the bad value if ``(kind, rate)`` is not a valid noise."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    upper = max_rate(kind, num_classes)
    if not 0.0 <= rate < upper:
        raise ValueError(
            f"{kind} noise rate must be in [0, {upper:g}) for {num_classes} classes, got {rate}"
        )


def transition_matrix(kind: str, rate: float, num_classes: int) -> np.ndarray:
    """The ``C x C`` transition matrix of symmetric or pair flipping (Co-teaching Sec. 4)."""
    check_noise(kind, rate, num_classes)
    if kind == "symmetric":
        matrix = np.full((num_classes, num_classes), rate / (num_classes - 1))
        np.fill_diagonal(matrix, 1.0 - rate)
    else:
        matrix = np.eye(num_classes) * (1.0 - rate)
        matrix[np.arange(num_classes), (np.arange(num_classes) + 1) % num_classes] = rate
    return matrix


def corrupt_labels(
    labels: torch.Tensor | np.ndarray,
    *,
    kind: str,
    rate: float,
    seed: int,
    num_classes: int | None = None,
) -> torch.Tensor:
    """Redraw every label from its row of the transition matrix with ``seed``."""
    clean = np.asarray(labels, dtype=np.int64)
    classes = int(num_classes if num_classes is not None else clean.max() + 1)
    matrix = transition_matrix(kind, rate, classes)
    rng = np.random.default_rng(seed)
    cumulative = matrix.cumsum(axis=1)[clean]
    draws = rng.random(len(clean))[:, None]
    noisy = np.minimum((draws > cumulative).sum(axis=1), classes - 1)
    return torch.as_tensor(noisy, dtype=torch.long)


@dataclass(frozen=True)
class NoiseSpec:
    """A parsed ``kind:rate`` noise specification (``none`` means clean labels)."""

    kind: str | None
    rate: float

    @classmethod
    def parse(cls, text: str) -> NoiseSpec:
        """Parse ``symmetric:0.5``, ``pair:0.45`` or ``none``."""
        if text.strip().lower() in ("none", "clean"):
            return cls(None, 0.0)
        kind, sep, rate_text = text.partition(":")
        kind = kind.strip().lower()
        if not sep or kind not in NOISE_KINDS:
            raise ValueError(
                f"bad noise spec {text!r}; expected 'none' or KIND:RATE with KIND in {NOISE_KINDS}, e.g. symmetric:0.5"
            )
        try:
            rate = float(rate_text)
        except ValueError:
            raise ValueError(
                f"bad noise rate {rate_text!r} in {text!r}; expected a number"
            ) from None
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"noise rate must be in [0, 1), got {rate} in {text!r}")
        return cls(kind, rate)

    def validate(self, num_classes: int) -> None:
        if self.kind is not None:
            check_noise(self.kind, self.rate, num_classes)

    def apply(self, labels: torch.Tensor, *, seed: int, num_classes: int) -> torch.Tensor:
        """Corrupted copy of ``labels`` (or the labels themselves for clean data)."""
        if self.kind is None:
            return labels.clone()
        return corrupt_labels(
            labels, kind=self.kind, rate=self.rate, seed=seed, num_classes=num_classes
        )

    def __str__(self) -> str:
        return "none" if self.kind is None else f"{self.kind}:{self.rate:g}"
