"""A data set with corrupted training labels; validation labels clean (default) or noisy,
test labels always clean."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from raysearch.data import DatasetSplits, ImageSplit
from raysearch.noisy.transition import NoiseSpec

# How trials are scored: on a clean validation split (the S2E paper's D_val, its eq. (2)), or on
# a noisy one (for users without any clean labels).
VAL_KINDS = ("clean", "noisy")


def check_val_kind(val: str) -> None:
    """``ValueError`` naming ``val`` and the allowed kinds if it is not one of them."""
    if val not in VAL_KINDS:
        raise ValueError(f"unknown validation kind {val!r}; allowed: {', '.join(VAL_KINDS)}")


@dataclass(frozen=True)
class NoisyData:
    """``train`` carries noisy labels, ``val`` clean or noisy ones (see :func:`make_noisy`);
    ``clean_train`` marks train samples whose label is right."""

    train: ImageSplit
    val: ImageSplit
    test: ImageSplit
    clean_train: torch.Tensor
    num_classes: int

    @property
    def in_channels(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[2])

    @property
    def actual_noise_rate(self) -> float:
        return 1.0 - float(self.clean_train.float().mean())


def make_noisy(
    splits: DatasetSplits, noise: NoiseSpec, *, seed: int = 0, val: str = "clean"
) -> NoisyData:
    """Corrupt the train labels of ``splits`` with ``noise`` (seeded); the validation labels too
    when ``val == "noisy"``.

    ``val="clean"`` is the S2E paper's set-up: the schedule's reward (its eq. (2)) is the
    accuracy on a clean validation set D_val. ``"noisy"`` scores on validation labels corrupted
    like the training ones, for a user who has no clean labels at all.
    """
    check_val_kind(val)
    noise.validate(splits.num_classes)
    train_labels = noise.apply(splits.train.labels, seed=seed, num_classes=splits.num_classes)
    val_split = splits.val
    if val == "noisy":
        val_labels = noise.apply(splits.val.labels, seed=seed + 1, num_classes=splits.num_classes)
        val_split = splits.val.with_labels(val_labels)
    return NoisyData(
        train=splits.train.with_labels(train_labels),
        val=val_split,
        test=splits.test,
        clean_train=train_labels == splits.train.labels,
        num_classes=splits.num_classes,
    )
