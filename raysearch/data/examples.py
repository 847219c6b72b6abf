"""Small example files of every user-data and label-file form, for docs/data-and-labels.md.

``python -m raysearch.data.examples [DIR]`` writes under ``DIR`` (default ``my-data``):

* ``images/train/<class>/*.png``, ``images/test/<class>/*.png``: an ImageFolder (3 classes,
  16x16 RGB, 60 + 15 images);
* ``digits.npz``: ``x_train`` (240 grey 12x12), ``y_train``, ``x_test``, ``y_test`` (4 classes);
  ``digits-noisy.npy`` and ``digits-noisy.csv``: noisy labels of its 240 training rows (a
  quarter moved to the next class); ``digits-unlabelled.npz``: the same without ``y_train``;
* ``my_data.py``: an entry point ``my_data:load`` returning tensors (``--data-root DIR``);
* ``cifar10/``: a CIFAR-10 stand-in in torchvision's python-pickle layout (500 + 100 images)
  and ``CIFAR-10_human.pt``: a CIFAR-10N-style dict of numpy arrays (``clean_label``,
  ``worse_label``, ``aggre_label``, ``random_label1..3``) over its 500 training rows.

Pixels are seeded: each class is a bright square in its own corner, so a model can learn it.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from raysearch.data.tiny import write_tiny_dataset

CIFAR_N_KEYS = {  # CIFAR-10N entry: share of labels moved to the next class
    "worse_label": 0.4,
    "aggre_label": 0.09,
    "random_label1": 0.17,
    "random_label2": 0.18,
    "random_label3": 0.18,
}


def _images(labels: np.ndarray, size: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """``[N, size, size(, channels)]`` uint8: noise plus a bright corner square per class."""
    shape = (len(labels), size, size) + ((channels,) if channels > 1 else ())
    images = rng.integers(0, 60, shape)
    half = size // 2
    for cls in np.unique(labels):
        r, c = divmod(int(cls) % 4, 2)
        images[labels == cls, r * half : (r + 1) * half, c * half : (c + 1) * half] += 180
    return np.clip(images, 0, 255).astype(np.uint8)


def _flip(labels: np.ndarray, share: float, classes: int, rng: np.random.Generator) -> np.ndarray:
    noisy = labels.copy()
    moved = rng.random(len(labels)) < share
    noisy[moved] = (noisy[moved] + 1) % classes
    return noisy


def _write_image_folder(root: Path, rng: np.random.Generator) -> None:
    for part, per_class in (("train", 20), ("test", 5)):
        labels = np.repeat(np.arange(3), per_class)
        for i, (image, label) in enumerate(zip(_images(labels, 16, 3, rng), labels, strict=True)):
            folder = root / part / ("circle", "square", "star")[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{i:03d}.png")


def write_examples(folder: str | Path, *, seed: int = 0) -> Path:
    """Write every example file under ``folder`` (see the module docstring); returns it."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    _write_image_folder(root / "images", rng)
    y_train, y_test = np.arange(240) % 4, np.arange(60) % 4
    arrays: dict[str, Any] = {"x_train": _images(y_train, 12, 1, rng), "y_train": y_train,
              "x_test": _images(y_test, 12, 1, rng), "y_test": y_test}  # fmt: skip
    np.savez(root / "digits.npz", **arrays)
    np.savez(root / "digits-unlabelled.npz", **{k: v for k, v in arrays.items() if k != "y_train"})
    noisy = _flip(y_train, 0.25, 4, rng)
    np.save(root / "digits-noisy.npy", noisy)
    (root / "digits-noisy.csv").write_text("label\n" + "\n".join(map(str, noisy)) + "\n")
    (root / "my_data.py").write_text(textwrap.dedent('''\
        """An entry point for raysearch: --dataset my_data:load --data-root THIS_FOLDER."""
        import torch


        def load():
            g = torch.Generator().manual_seed(0)
            y_train, y_test = torch.arange(200) % 2, torch.arange(40) % 2
            x_train = torch.rand(200, 1, 10, 10, generator=g) * 0.3
            x_test = torch.rand(40, 1, 10, 10, generator=g) * 0.3
            x_train[y_train == 1, :, :5] += 0.7  # class 1: bright top half
            x_test[y_test == 1, :, :5] += 0.7
            return x_train, y_train, x_test, y_test
        '''))  # fmt: skip
    write_tiny_dataset("cifar10", root / "cifar10", train=500, test=100, seed=seed)
    clean = _cifar_train_labels(root / "cifar10")
    human = {"clean_label": clean}
    human.update({key: _flip(clean, share, 10, rng) for key, share in CIFAR_N_KEYS.items()})
    torch.save(human, root / "CIFAR-10_human.pt")
    return root


def _cifar_train_labels(root: Path) -> np.ndarray:
    from raysearch.data.torchvision_loaders import load_cifar

    train, _, _ = load_cifar(10, root, False)
    return train.labels.numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder", nargs="?", default="my-data", help="where to write them (default: my-data)"
    )
    folder = write_examples(parser.parse_args().folder)
    print(f"example data written to {folder}")


if __name__ == "__main__":
    main()
