"""A data set with corrupted training and validation labels (test labels stay clean)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from raysearch.data import DatasetSplits, ImageSplit
from raysearch.noisy.transition import NoiseSpec


@dataclass(frozen=True)
class NoisyData:
    """``train`` and ``val`` carry noisy labels; ``clean_train`` marks train samples whose label is right."""

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


def make_noisy(splits: DatasetSplits, noise: NoiseSpec, *, seed: int = 0) -> NoisyData:
    """Corrupt the train and validation labels of ``splits`` with ``noise`` (seeded).

    The validation split gets noise too: a user of noisy data has no clean labels to validate
    on, so schedules are scored on noisy validation accuracy (DESIGN.md "Trainable").
    """
    noise.validate(splits.num_classes)
    train_labels = noise.apply(splits.train.labels, seed=seed, num_classes=splits.num_classes)
    val_labels = noise.apply(splits.val.labels, seed=seed + 1, num_classes=splits.num_classes)
    return NoisyData(
        train=splits.train.with_labels(train_labels),
        val=splits.val.with_labels(val_labels),
        test=splits.test,
        clean_train=train_labels == splits.train.labels,
        num_classes=splits.num_classes,
    )
