"""A data set with corrupted training labels; validation labels clean (default) or noisy,
test labels always clean."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
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
    ``clean_train`` marks train samples whose label is right. ``clean_labels``: the clean train
    labels when known (for :func:`noise_report`); ``clean_known=False``: no clean training
    labels exist (real noisy labels only), so ``clean_train`` and label precision mean nothing."""

    train: ImageSplit
    val: ImageSplit
    test: ImageSplit
    clean_train: torch.Tensor
    num_classes: int
    clean_labels: torch.Tensor | None = None
    clean_known: bool = True

    @property
    def in_channels(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[2])

    @property
    def actual_noise_rate(self) -> float:
        return 1.0 - float(self.clean_train.float().mean())


def _rows(rows: np.ndarray | None, what: str) -> torch.Tensor:
    if rows is None:
        raise ValueError(f"the {what} split records no rows of the training part")
    return torch.as_tensor(rows, dtype=torch.long)


def check_label_use(splits: DatasetSplits, *, val: str, from_file: bool) -> None:
    """``ValueError`` for a validation kind the labels cannot give: ``clean`` without any clean
    labels for the validation rows, ``noisy`` of an explicit validation split with file labels,
    and synthetic noise on a data set without training labels."""
    check_val_kind(val)
    carved = splits.val_rows is not None
    if not splits.clean_labels_known and not from_file:
        raise ValueError(f"{splits.name} has no training labels; give them with --labels PATH")
    if val == "clean" and carved and not splits.clean_labels_known:
        raise ValueError(
            f"--val clean needs clean labels, and {splits.name} has none for its training rows "
            "(the labels come from --labels only); use --val noisy, or give the data set its "
            "clean labels (y_train) or a clean validation split (x_val, y_val / val/)"
        )
    if val == "noisy" and from_file and not carved:
        raise ValueError(
            f"--val noisy with --labels scores on file labels of a validation split carved from "
            f"the training rows, but {splits.name} brings its own validation split; use --val clean"
        )


def make_noisy(
    splits: DatasetSplits,
    noise: NoiseSpec,
    *,
    seed: int = 0,
    val: str = "clean",
    labels: torch.Tensor | None = None,
) -> NoisyData:
    """Corrupt the train labels of ``splits`` with ``noise`` (seeded); the validation labels too
    when ``val == "noisy"``. ``labels`` (one per row of the data set's training part, from a
    label file) replace the synthetic noise: the train split gets its rows' file labels, a
    ``noisy`` validation split its rows' ones (see :func:`check_label_use`).

    ``val="clean"`` is the S2E paper's set-up: the schedule's reward (its eq. (2)) is the
    accuracy on a clean validation set D_val. ``"noisy"`` scores on validation labels corrupted
    like the training ones, for a user who has no clean labels at all.
    """
    check_label_use(splits, val=val, from_file=labels is not None)
    noise.validate(splits.num_classes)
    val_split = splits.val
    if labels is not None:
        if noise.kind is not None:
            raise ValueError(f"--labels replaces synthetic noise; got noise {noise} as well")
        train_labels = labels[_rows(splits.train_rows, "train")]
        if val == "noisy":
            val_split = splits.val.with_labels(labels[_rows(splits.val_rows, "val")])
    else:
        train_labels = noise.apply(splits.train.labels, seed=seed, num_classes=splits.num_classes)
        if val == "noisy":
            val_labels = noise.apply(
                splits.val.labels, seed=seed + 1, num_classes=splits.num_classes
            )
            val_split = splits.val.with_labels(val_labels)
    known = splits.clean_labels_known
    return NoisyData(
        train=splits.train.with_labels(train_labels),
        val=val_split,
        test=splits.test,
        clean_train=train_labels == splits.train.labels,
        num_classes=splits.num_classes,
        clean_labels=splits.train.labels if known else None,
        clean_known=known,
    )
