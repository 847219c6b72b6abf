"""Tiny stand-ins of the file-based data sets, in the formats their loaders read.

A dry run (``launchers/launch.py --dry-run``) needs the preset's data set *shape* (channels,
image size, classes, file layout) without the real files: CIFAR-10/100 as torchvision's
python-pickle folders, MNIST and Fashion-MNIST as IDX files in torchvision's ``raw/`` layout.
Pixels are seeded random bytes; labels cycle through the classes so every class is present.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torchvision

from raysearch.data.registry import check_dataset_name, num_classes


def _write_idx(path: Path, array: np.ndarray) -> None:
    """One uncompressed uint8 IDX file (the inverse of ``read_idx``)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _write_cifar(root: Path, classes: int, train: int, test: int, rng: np.random.Generator) -> None:
    base = torchvision.datasets.CIFAR10 if classes == 10 else torchvision.datasets.CIFAR100
    folder = root / base.base_folder
    folder.mkdir(parents=True, exist_ok=True)
    label_key = "labels" if classes == 10 else "fine_labels"
    train_files = [name for name, _ in base.train_list]
    parts = [(name, train // len(train_files)) for name in train_files]
    parts += [(name, test) for name, _ in base.test_list]
    for name, n in parts:
        data = rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)
        with open(folder / name, "wb") as fh:
            pickle.dump({"data": data, label_key: (np.arange(n) % classes).tolist()}, fh)
    names_key = "label_names" if classes == 10 else "fine_label_names"
    with open(folder / base.meta["filename"], "wb") as fh:
        pickle.dump({names_key: [f"class{i}" for i in range(classes)]}, fh)


def write_tiny_dataset(
    name: str, root: str | Path, *, train: int = 500, test: int = 100, seed: int = 0
) -> Path:
    """Write about ``train`` training and ``test`` test images of data set ``name`` under
    ``root`` in its loader's format; returns ``root`` (pass it as ``data_root``).
    ``ValueError`` for a data set that needs no files (the embedded one)."""
    check_dataset_name(name)
    root = Path(root)
    rng = np.random.default_rng(seed)
    if name in ("cifar10", "cifar100"):
        _write_cifar(root, num_classes(name), train, test, rng)
    elif name in ("mnist", "fashion-mnist"):
        tv_class = (
            torchvision.datasets.MNIST if name == "mnist" else torchvision.datasets.FashionMNIST
        )
        raw = root / tv_class.__name__ / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for prefix, n in (("train", train), ("t10k", test)):
            _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
            _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    else:
        raise ValueError(f"data set {name!r} needs no files (it is embedded); nothing to write")
    return root
