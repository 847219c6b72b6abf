"""A folder of images in torchvision's ``ImageFolder`` layout (one sub-folder per class).

Two layouts: ``ROOT/train/<class>/*`` and ``ROOT/test/<class>/*`` (optionally ``ROOT/val/<class>/*``,
an explicit validation split), with the same class folders in each; or ``ROOT/<class>/*`` alone,
split deterministically: every fifth image of each class in file-name order (positions 5, 10,
...) is the test set, the rest the training part. Classes are the sorted folder names
(ImageFolder's order), so label ``i`` is the ``i``-th name. Images must all have one square
size; they are read as grey when every file is grey (PIL mode ``L``/``1``), else as RGB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from raysearch.data.user_arrays import UserData, user_data

TEST_EVERY = 5
GREY_MODES = ("L", "1")


def _open(path: str) -> Image.Image:
    return Image.open(path)  # lazy: mode and size come from the header only


def _folder(root: Path) -> Any:
    """torchvision's ``ImageFolder`` of ``root`` (imported here: trial actors of registered
    data sets never import torchvision, see ``tests/unit/test_data.py``)."""
    from torchvision.datasets import ImageFolder

    try:
        return ImageFolder(str(root), loader=_open)
    except (FileNotFoundError, OSError) as error:
        raise ValueError(f"{root} is not an ImageFolder layout ({error})") from None


def _read(samples: list[tuple[str, int]], grey: bool) -> np.ndarray:
    mode = "L" if grey else "RGB"
    return np.stack([np.asarray(Image.open(p).convert(mode)) for p, _ in samples])


def _check_sizes(samples: list[tuple[str, int]]) -> bool:
    """``ValueError`` naming the first file of another size than the first (or not square);
    returns whether every file is grey."""
    grey, size = True, None
    for path, _ in samples:
        with Image.open(path) as image:
            if size is None:
                size = image.size
                if size[0] != size[1]:
                    raise ValueError(
                        f"{path}: images must be square, got {size[0]}x{size[1]} px; "
                        "resize them to one square size"
                    )
            elif image.size != size:
                raise ValueError(
                    f"{path} is {image.size[0]}x{image.size[1]} px but {samples[0][0]} is "
                    f"{size[0]}x{size[1]}; every image must have one size"
                )
            grey = grey and image.mode in GREY_MODES
    return grey


def load_image_folder(root: Path) -> UserData:
    """Read ``root`` (see the module docstring for the two layouts) into :class:`UserData`."""
    if (root / "train").is_dir() and (root / "test").is_dir():
        parts = {name: _folder(root / name) for name in ("train", "test", "val")
                 if (root / name).is_dir()}  # fmt: skip
        for name, folder in parts.items():
            if folder.classes != parts["train"].classes:
                raise ValueError(
                    f"{root / name} has classes {folder.classes} but {root / 'train'} has "
                    f"{parts['train'].classes}; the class folders must match"
                )
        samples = {name: folder.samples for name, folder in parts.items()}
    else:
        whole = _folder(root).samples
        position = np.zeros(len(whole), dtype=np.int64)
        seen: dict[int, int] = {}
        for i, (_, target) in enumerate(whole):  # ImageFolder lists files sorted per class
            seen[target] = position[i] = seen.get(target, 0) + 1
        is_test = position % TEST_EVERY == 0
        if not is_test.any():
            raise ValueError(
                f"{root}: too few images to split (a class needs {TEST_EVERY} images to give "
                f"one to the test set); use train/ and test/ sub-folders"
            )
        samples = {
            "train": [s for s, t in zip(whole, is_test, strict=True) if not t],
            "test": [s for s, t in zip(whole, is_test, strict=True) if t],
        }
    grey = _check_sizes([s for part in samples.values() for s in part])
    arrays: dict[str, object] = {}
    for name, part in samples.items():
        arrays[f"x_{name}"] = _read(part, grey)
        arrays[f"y_{name}"] = torch.tensor([target for _, target in part], dtype=torch.long)
    return user_data(arrays, source=str(root), channels_first=False)
