"""In-memory image splits and the batching used by every training loop."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class ImageSplit:
    """Images as uint8 ``[N, C, H, W]`` and integer labels ``[N]`` (kept compact in memory)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(
                f"images must be uint8 [N, C, H, W], got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"labels shape {tuple(self.labels.shape)} does not match {self.images.shape[0]} images"
            )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def with_labels(self, labels: torch.Tensor) -> ImageSplit:
        """The same images with other labels (e.g. corrupted ones)."""
        return ImageSplit(self.images, labels.to(torch.long))

    def subset(self, index: np.ndarray | torch.Tensor) -> ImageSplit:
        index = torch.as_tensor(index, dtype=torch.long)
        return ImageSplit(self.images[index], self.labels[index])


@dataclass(frozen=True)
class DatasetSplits:
    """Train / validation / test splits of one data set (what ``load_dataset`` returns)."""

    name: str
    train: ImageSplit
    val: ImageSplit
    test: ImageSplit
    num_classes: int
    # rows of the data set's training part the train / val splits hold (``None``: unknown; val:
    # an explicit validation split); a label file (``--labels``) is indexed by them
    train_rows: np.ndarray | None = None
    val_rows: np.ndarray | None = None
    # False when the training labels are unknown (the user's data set has only noisy ones,
    # given by a label file): train / val labels are then -1
    clean_labels_known: bool = True

    def full_train(self) -> ImageSplit:
        """The training split with the validation split folded back in: the whole training
        set, as DARTS searches on (25k/25k of CIFAR-10's 50k) and evaluates on."""
        return ImageSplit(
            torch.cat([self.train.images, self.val.images]),
            torch.cat([self.train.labels, self.val.labels]),
        )

    @property
    def in_channels(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[2])

    def training_part_labels(self) -> torch.Tensor:
        """The labels of the data set's whole training part in its row order (train and a
        carved val put back where :attr:`train_rows` / :attr:`val_rows` took them)."""
        if self.train_rows is None:
            raise ValueError(f"the splits of {self.name} do not record their rows")
        rows = [(self.train_rows, self.train.labels)]
        if self.val_rows is not None:
            rows.append((self.val_rows, self.val.labels))
        labels = torch.full((sum(len(r) for r, _ in rows),), -1, dtype=torch.long)
        for index, part in rows:
            labels[torch.as_tensor(index, dtype=torch.long)] = part
        return labels


def to_float(images: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 pixels to floats in [0, 1] (the papers' ``ToTensor``, no normalisation)."""
    return images.to(device, non_blocking=True).float().div_(255.0)


def check_batch_limit(limit: int | None, name: str = "limit") -> None:
    """``ValueError`` unless ``limit`` (batches per epoch) is ``None`` (all) or >= 1."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"{name} must be an integer >= 1 (or unset: every batch), got {limit!r}")


def iterate_batches(
    split: ImageSplit,
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
    device: torch.device | str = "cpu",
    limit: int | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield ``(images, labels, indices)`` batches; indices point into ``split``. ``limit`` caps
    the number of batches (the first ``limit`` of the same order; ``None``: all)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    check_batch_limit(limit)
    n = len(split)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    if limit is not None:
        stop = min(stop, limit * batch_size)
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        yield to_float(split.images[idx], device), split.labels[idx].to(device), idx


def carve_validation(
    train_full: ImageSplit, *, val_fraction: float, seed: int
) -> tuple[ImageSplit, ImageSplit]:
    """Split a data set's *training* part into ``(train, val)``; ``val`` gets the seeded
    ``val_fraction`` share of the rows (at least one), ``train`` the rest, both in row order.

    This is the S2E paper's D_val (its eq. (2)): carved from the training part, never from the
    test set, so test accuracy stays an unbiased report.
    """
    train_rows, val_rows = carve_rows(len(train_full), val_fraction=val_fraction, seed=seed)
    return train_full.subset(train_rows), train_full.subset(val_rows)


def carve_rows(n: int, *, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The sorted ``(train, val)`` row indices :func:`carve_validation` takes of ``n`` rows."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(val_fraction * n)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def subsample_rows(n: int, size: int, *, seed: int) -> np.ndarray:
    """The sorted positions :func:`subsample` takes of a split of ``n`` rows."""
    if not 1 <= size <= n:
        raise ValueError(f"cannot take {size} rows of a split of {n}; allowed: 1..{n}")
    return np.sort(np.random.default_rng(seed).permutation(n)[:size])


def subsample(split: ImageSplit, size: int, *, seed: int) -> ImageSplit:
    """``size`` seeded random rows of ``split`` in row order; ``ValueError`` if it has fewer."""
    return split.subset(subsample_rows(len(split), size, seed=seed))


def as_split(images: np.ndarray, labels: np.ndarray) -> ImageSplit:
    """``[N, H, W]`` or ``[N, H, W, C]`` uint8 arrays to an :class:`ImageSplit`."""
    array = np.asarray(images, dtype=np.uint8)
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4:
        array = array.transpose(0, 3, 1, 2)
    else:
        raise ValueError(f"images must have 3 or 4 dimensions, got shape {array.shape}")
    return ImageSplit(
        torch.from_numpy(np.ascontiguousarray(array)),
        torch.as_tensor(np.asarray(labels), dtype=torch.long),
    )
