"""The data of a reweighting run: long-tailed and/or noisy training labels, a small clean meta set.

LFM-DR learns its weights on a small clean, class-balanced validation set (LFM eq. (7), the
official scripts' ``--num_meta`` samples per class). It is carved out of the validation split
before that split gets label noise; the rest of the validation split keeps noisy labels (what a
user has, DESIGN.md "Trainable") and the test split stays clean.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from raysearch.data import DatasetSplits, ImageSplit
from raysearch.noisy import NoiseSpec, NoisyData, make_noisy
from raysearch.reweight.imbalance import check_imbalance, make_long_tailed


@dataclass(frozen=True)
class ReweightData:
    """``noisy``: train / val / test as Co-teaching sees them; ``meta``: the clean meta set;
    ``true_train_labels``: the clean labels of ``noisy.train`` (for per-class counts)."""

    noisy: NoisyData
    meta: ImageSplit
    true_train_labels: torch.Tensor

    def train_class_counts(self) -> list[int]:
        """Training samples per true class (the long-tailed profile)."""
        counts = torch.bincount(self.true_train_labels, minlength=self.noisy.num_classes)
        return [int(n) for n in counts]


def split_meta(
    split: ImageSplit, *, num_classes: int, per_class: int, seed: int
) -> tuple[ImageSplit, ImageSplit]:
    """``(meta, rest)``: ``per_class`` seeded samples of every class, and the remaining ones."""
    if per_class < 1:
        raise ValueError(f"num_meta (clean samples per class) must be >= 1, got {per_class}")
    labels = split.labels.numpy()
    rng = np.random.default_rng(seed)
    chosen = []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise ValueError(
                f"num_meta={per_class} but class {c} has only {len(members)} validation samples"
            )
        chosen.append(rng.permutation(members)[:per_class])
    meta = np.sort(np.concatenate(chosen))
    rest = np.setdiff1d(np.arange(len(split)), meta)
    return split.subset(meta), split.subset(rest)


def build_reweight_data(
    splits: DatasetSplits, *, imbalance: float, noise: NoiseSpec, num_meta: int, seed: int
) -> ReweightData:
    """Long-tail the training split (by clean labels), split off the meta set, then add noise."""
    check_imbalance(imbalance)
    noise.validate(splits.num_classes)
    train = make_long_tailed(
        splits.train, num_classes=splits.num_classes, imbalance=imbalance, seed=seed
    )
    meta, val = split_meta(
        splits.val, num_classes=splits.num_classes, per_class=num_meta, seed=seed
    )
    reduced = dataclasses.replace(splits, train=train, val=val)
    return ReweightData(
        noisy=make_noisy(reduced, noise, seed=seed, val="noisy"),
        meta=meta,
        true_train_labels=train.labels,
    )
