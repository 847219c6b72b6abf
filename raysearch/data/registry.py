"""Data-set registry: ``load_dataset(name, ...)`` returns train / validation / test splits.

Names:

- ``fashion-mnist-mini`` (the embedded default): a class-balanced subset of the real
  Fashion-MNIST shipped inside the package (12,000 train, 2,000 test; MIT licence).
- ``fashion-mnist``, ``mnist``: IDX files from a local root (Debian's
  ``/usr/share/datasets/fashion-mnist`` is found by default) or torchvision's download.
- ``cifar10``, ``cifar100``: torchvision's CIFAR loaders on a local root holding the
  python-pickle folders, or torchvision's download.

The validation split is carved from the training split (``val_fraction``, seeded); the
training labels are corrupted later by :mod:`raysearch.noisy` (the validation labels only when
asked: by default they stay clean, the S2E paper's D_val), the test labels stay clean.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from raysearch.data.embedded_loader import load_embedded
from raysearch.data.splits import DatasetSplits, ImageSplit, carve_validation
from raysearch.data.torchvision_loaders import check_local_files, load_cifar, load_idx_dataset

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


def check_dataset_files(
    name: str, *, root: str | Path | None = None, download: bool = False
) -> None:
    """Raise ``FileNotFoundError`` naming where it looked if ``name`` cannot be loaded from
    ``root`` (nothing to check for the embedded set or with ``download``). Cheap: no loading."""
    check_dataset_name(name)
    if not download:
        check_local_files(name, Path(root).expanduser().resolve() if root is not None else None)


def num_classes(name: str) -> int:
    """Number of classes of a registered data set, without loading it."""
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
    check_dataset_name(name)
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    resolved = Path(root).expanduser().resolve() if root is not None else None
    return _load_cached(name, resolved, val_fraction, seed, download)


@lru_cache(maxsize=4)
def _load_cached(
    name: str, root: Path | None, val_fraction: float, seed: int, download: bool
) -> DatasetSplits:
    train_full, test, num_classes = _LOADERS[name](root, download)
    train, val = carve_validation(train_full, val_fraction=val_fraction, seed=seed)
    return DatasetSplits(name=name, train=train, val=val, test=test, num_classes=num_classes)
