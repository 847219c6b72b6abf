"""Long-tailed subsampling with an exponential per-class reduction (LFM Sec. IV-B 1; Cui et al.).

Class ``c`` of ``C`` keeps ``n_c = floor(n_max * imbalance^(-c / (C - 1)))`` samples, so class 0
keeps ``n_max`` and class ``C - 1`` keeps ``floor(n_max / imbalance)``; ``imbalance`` is the
paper's imbalance factor (largest class over smallest). The official LFM script's
``--imb_factor 0.01`` is the reciprocal: ``imbalance = 100``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from raysearch.data import ImageSplit


def check_imbalance(imbalance: float) -> None:
    """``ValueError`` naming ``imbalance`` unless it is a finite number >= 1."""
    if not (isinstance(imbalance, (int, float)) and math.isfinite(imbalance) and imbalance >= 1):
        raise ValueError(
            f"imbalance factor must be a finite number >= 1 (largest / smallest class), "
            f"got {imbalance!r}"
        )


def long_tailed_counts(n_max: int, num_classes: int, imbalance: float) -> list[int]:
    """Per-class sample counts ``n_c = floor(n_max * imbalance^(-c/(C-1)))`` (c = 0 .. C-1).

    Computed as ``n_max / imbalance^(c/(C-1))`` so that the last class is exactly
    ``floor(n_max / imbalance)`` (no rounding below an integer quotient).
    """
    check_imbalance(imbalance)
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if n_max < imbalance:
        raise ValueError(
            f"n_max={n_max} samples per class cannot make imbalance {imbalance}: "
            f"the rarest class would be empty"
        )
    return [
        int(math.floor(n_max / imbalance ** (c / (num_classes - 1)))) for c in range(num_classes)
    ]


def make_long_tailed(
    split: ImageSplit, *, num_classes: int, imbalance: float, seed: int
) -> ImageSplit:
    """Keep ``n_c`` seeded random samples of each class (by ``split.labels``, the clean labels).

    ``n_max`` is the size of the smallest class of ``split``, so every class can supply its
    count; with ``imbalance = 1`` that gives a balanced subset.
    """
    labels = split.labels.numpy()
    per_class = [np.flatnonzero(labels == c) for c in range(num_classes)]
    n_max = min(len(members) for members in per_class)
    counts = long_tailed_counts(n_max, num_classes, imbalance)
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(members)[:n] for members, n in zip(per_class, counts, strict=True)]
    return split.subset(torch.as_tensor(np.sort(np.concatenate(keep))))
