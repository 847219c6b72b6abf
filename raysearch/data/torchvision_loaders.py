"""MNIST-family and CIFAR loaders over local roots, with torchvision's download on request.

torchvision is imported only where it is used (CIFAR, downloads): its import takes ~1.3 s,
which every trial actor and driver would otherwise pay just to read the IDX files.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from raysearch.data.idx_format import find_idx_pair, read_idx
from raysearch.data.splits import ImageSplit, as_split

if TYPE_CHECKING:
    import torchvision

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DOWNLOAD_ROOT = Path("~/.cache/raysearch/data").expanduser()

_IDX = {
    # name: (torchvision class name, default local root or None)
    "fashion-mnist": ("FashionMNIST", DEBIAN_FASHION_MNIST),
    "mnist": ("MNIST", None),
}

_HOW_TO_GET = {
    "fashion-mnist": "`apt-get install dataset-fashion-mnist` (Debian), --data-root DIR, or --download",
    "mnist": "--data-root DIR holding the IDX files, or --download (torchvision)",
    "cifar10": "--data-root DIR holding cifar-10-batches-py/, or --download (torchvision)",
    "cifar100": "--data-root DIR holding cifar-100-python/, or --download (torchvision)",
}


def _torchvision_dataset(class_name: str) -> Any:
    """A torchvision dataset class, importing torchvision on first use."""
    return getattr(importlib.import_module("torchvision.datasets"), class_name)


def _missing(name: str, looked_in: list[Path]) -> FileNotFoundError:
    where = ", ".join(str(p) for p in looked_in) or "(no root given)"
    return FileNotFoundError(
        f"dataset {name!r} not found; looked in {where}. Get it with {_HOW_TO_GET[name]}."
    )


def load_idx_dataset(
    name: str, root: Path | None, download: bool
) -> tuple[ImageSplit, ImageSplit, int]:
    """Fashion-MNIST or MNIST from IDX files under ``root`` (torchvision's layout understood)."""
    if download:
        root = root or DOWNLOAD_ROOT
        tv_class = _torchvision_dataset(_IDX[name][0])
        for is_train in (True, False):
            tv_class(str(root), train=is_train, download=True)
    train_pair, test_pair = _idx_pairs(name, root)
    train = as_split(read_idx(train_pair[0]), read_idx(train_pair[1]))
    test = as_split(read_idx(test_pair[0]), read_idx(test_pair[1]))
    return train, test, 10


def _idx_pairs(name: str, root: Path | None) -> tuple[tuple[Path, Path], tuple[Path, Path]]:
    """The (images, labels) files of the train and test parts; FileNotFoundError if absent."""
    class_name, default_root = _IDX[name]
    root = root or default_root
    candidates = [] if root is None else [root, root / class_name / "raw"]
    for folder in candidates:
        train_pair, test_pair = find_idx_pair(folder, "train"), find_idx_pair(folder, "t10k")
        if train_pair and test_pair:
            return train_pair, test_pair
    raise _missing(name, candidates)


def _local_cifar_class(
    base: type[torchvision.datasets.CIFAR10],
) -> type[torchvision.datasets.CIFAR10]:
    """torchvision's CIFAR loader that checks a local folder's files exist, not their md5.

    torchvision verifies checksums meant for its own download; a local copy (or the tiny
    CIFAR-format folder the tests write) is read by the very same unpickling code.
    """

    class LocalCIFAR(base):  # type: ignore[valid-type, misc]
        train_list = [[name, None] for name, _ in base.train_list]
        test_list = [[name, None] for name, _ in base.test_list]
        meta = {**base.meta, "md5": None}

    return LocalCIFAR


def load_cifar(
    num_classes: int, root: Path | None, download: bool
) -> tuple[ImageSplit, ImageSplit, int]:
    """CIFAR-10 or CIFAR-100 through torchvision from ``root`` (or its download)."""
    base = _torchvision_dataset("CIFAR10" if num_classes == 10 else "CIFAR100")
    if download:
        root = root or DOWNLOAD_ROOT
        loader = base
    else:
        root = _cifar_root(num_classes, root)
        loader = _local_cifar_class(base)
    splits = []
    for train in (True, False):
        ds = loader(str(root), train=train, download=download)
        splits.append(as_split(np.asarray(ds.data), np.asarray(ds.targets)))
    return splits[0], splits[1], num_classes


def _cifar_root(num_classes: int, root: Path | None) -> Path:
    """The folder holding ``cifar-10-batches-py/`` (or CIFAR-100's); FileNotFoundError if absent."""
    name = f"cifar{num_classes}"
    base = _torchvision_dataset("CIFAR10" if num_classes == 10 else "CIFAR100")
    if root is None:
        raise _missing(name, [])
    if root.name == base.base_folder:  # the user pointed at the pickle folder itself
        root = root.parent
    if not (root / base.base_folder).is_dir():
        raise _missing(name, [root / base.base_folder])
    return root


def check_local_files(name: str, root: Path | None) -> None:
    """Raise the loader's FileNotFoundError (naming where it looked) if ``name``'s files are
    not under ``root``: a cheap check a driver runs before starting any trial."""
    if name in _IDX:
        _idx_pairs(name, root)
    elif name in ("cifar10", "cifar100"):
        _cifar_root(int(name.removeprefix("cifar")), root)
