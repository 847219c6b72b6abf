"""Data-set registry: ``load_dataset(name, ...)`` returns train / validation / test splits.

Names:

- ``fashion-mnist-mini`` (the embedded default): a class-balanced subset of the real
  Fashion-MNIST shipped inside the package (12,000 train, 2,000 test; MIT licence).
- ``fashion-mnist``, ``mnist``: IDX files from a local root (Debian's
  ``/usr/share/datasets/fashion-mnist`` is found by default) or torchvision's download.
- ``cifar10``, ``cifar100``: torchvision's CIFAR loaders on a local root holding the
  python-pickle folders, or torchvision's download.
- a user's own data set: a folder in ``ImageFolder`` layout, an ``.npz`` file or
  ``module:function`` (:mod:`raysearch.data.user_sources`); an explicit validation split of
  its own (``x_val, y_val`` or ``val/``) is used as it is, ``val_fraction`` is then unused.

The validation split is carved from the training split (``val_fraction``, seeded); the
training labels are corrupted later by :mod:`raysearch.noisy` (the validation labels only when
asked: by default they stay clean, the S2E paper's D_val), the test labels stay clean.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from raysearch.data.embedded_loader import load_embedded
from raysearch.data.splits import DatasetSplits, ImageSplit, carve_rows
from raysearch.data.torchvision_loaders import check_local_files, load_cifar, load_idx_dataset
from raysearch.data.user_sources import FORMS, load_user_data, resolve_user_spec, user_kind

RawLoader = Callable[[Path | None, bool], tuple[ImageSplit, ImageSplit, int]]

_LOADERS: dict[str, RawLoader] = {
    "fashion-mnist-mini": lambda root, download: load_embedded(),
    "fashion-mnist": lambda root, download: load_idx_dataset("fashion-mnist", root, download),
    "mnist": lambda root, download: load_idx_dataset("mnist", root, download),
    "cifar10": lambda root, download: load_cifar(10, root, download),
    "cifar100": lambda root, download: load_cifar(100, root, download),
}
DEFAULT_DATASET = "fashion-mnist-mini"
NUM_CLASSES = {
    "fashion-mnist-mini": 10,
    "fashion-mnist": 10,
    "mnist": 10,
    "cifar10": 10,
    "cifar100": 100,
}


def dataset_names() -> list[str]:
    """Registered data-set names."""
    return list(_LOADERS)


def check_dataset_name(name: str) -> None:
    """Raise ``KeyError`` naming ``name`` and the registered names if it is unknown."""
    if name not in _LOADERS:
        raise KeyError(f"unknown dataset {name!r}; registered datasets: {', '.join(_LOADERS)}")


def is_user_dataset(spec: str) -> bool:
    """Whether ``spec`` names a user's own data set (a folder, ``.npz`` or ``module:function``)."""
    return spec not in _LOADERS and user_kind(spec) is not None


def resolve_dataset(spec: str, root: str | None) -> tuple[str, str | None]:
    """``(spec, root)`` as trials must see them (paths absolute); ``KeyError`` naming ``spec``
    and the allowed forms if it is neither registered nor a user data set."""
    if spec in _LOADERS:
        return spec, None if root is None else str(Path(root).expanduser().resolve())
    if user_kind(spec) is None:
        raise KeyError(
            f"unknown dataset {spec!r}; registered datasets: {', '.join(_LOADERS)}; or your "
            f"own: {FORMS} (no folder or file {spec!r} exists)"
        )
    return resolve_user_spec(spec, root)


def check_dataset_files(
    name: str, *, root: str | Path | None = None, download: bool = False
) -> None:
    """Raise ``FileNotFoundError`` naming where it looked if ``name`` cannot be loaded from
    ``root`` (nothing to check for the embedded set or with ``download``). Cheap: no loading.
    A user data set is checked when it is resolved (:func:`resolve_dataset`)."""
    if is_user_dataset(name):
        return
    check_dataset_name(name)
    if not download:
        check_local_files(name, Path(root).expanduser().resolve() if root is not None else None)


def num_classes(name: str, root: str | None = None) -> int:
    """Number of classes of a data set: registered ones without loading, a user's own from its
    labels (loaded and checked, cached)."""
    if is_user_dataset(name):
        return load_user_data(*resolve_dataset(name, root)).num_classes
    check_dataset_name(name)
    return NUM_CLASSES[name]


def load_dataset(
    name: str,
    *,
    root: str | Path | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    download: bool = False,
) -> DatasetSplits:
    """Load ``name`` and split its training part into train / validation (``val_fraction``)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if is_user_dataset(name):
        return _user_splits(*resolve_dataset(name, None if root is None else str(root)),
                            val_fraction=val_fraction, seed=seed)  # fmt: skip
    check_dataset_name(name)
    resolved = Path(root).expanduser().resolve() if root is not None else None
    return _load_cached(name, resolved, val_fraction, seed, download)


def _user_splits(spec: str, root: str | None, *, val_fraction: float, seed: int) -> DatasetSplits:
    """A user data set's splits: its own validation split, or one carved like the registered
    ones'; unknown training labels are -1 (``clean_labels_known=False``)."""
    data = load_user_data(spec, root)
    known = data.train_labels is not None
    labels = torch.full((data.train_rows,), -1, dtype=torch.long)
    if data.train_labels is not None:
        labels = data.train_labels
    train_full = ImageSplit(data.train_images, labels)
    if data.val is not None:
        train_rows, val_rows, val = np.arange(data.train_rows), None, data.val
        train = train_full
    else:
        train_rows, val_rows = carve_rows(data.train_rows, val_fraction=val_fraction, seed=seed)
        train, val = train_full.subset(train_rows), train_full.subset(val_rows)
    return DatasetSplits(
        name=spec, train=train, val=val, test=data.test, num_classes=data.num_classes,
        train_rows=train_rows, val_rows=val_rows, clean_labels_known=known,
    )  # fmt: skip


@lru_cache(maxsize=4)
def _load_cached(
    name: str, root: Path | None, val_fraction: float, seed: int, download: bool
) -> DatasetSplits:
    train_full, test, num_classes = _LOADERS[name](root, download)
    train_rows, val_rows = carve_rows(len(train_full), val_fraction=val_fraction, seed=seed)
    return DatasetSplits(
        name=name, train=train_full.subset(train_rows), val=train_full.subset(val_rows),
        test=test, num_classes=num_classes, train_rows=train_rows, val_rows=val_rows,
    )  # fmt: skip
