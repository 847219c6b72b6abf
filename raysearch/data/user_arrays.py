"""A user's own arrays as raysearch splits, checked up front (shapes, pixel range, labels).

Every check raises a one-line ``ValueError`` naming the array and what is wrong, so a bad
``--dataset`` fails before any Ray work. Images become uint8 ``[N, C, H, W]``: ``[N, H, W]``
(grey), ``[N, H, W, C]`` or ``[N, C, H, W]`` with C in 1, 3, 4 are read; uint8 and integer
pixels must lie in 0..255, float pixels in [0, 1] (torchvision's ``ToTensor``). Labels are
integers 0..C-1, with C the largest label + 1 over every split, at least 2, and every class
present in the labels the classes are counted from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from raysearch.data.splits import ImageSplit

CHANNELS = (1, 3, 4)
MIN_CLASSES = 2


@dataclass(frozen=True)
class UserData:
    """A user's data set before the validation split: the training part (labels ``None``
    when the user has no clean training labels), the test split, an optional explicit
    validation split, the class count and where it came from (for messages)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor | None
    test: ImageSplit
    val: ImageSplit | None
    num_classes: int
    source: str

    @property
    def train_rows(self) -> int:
        return int(self.train_images.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train_images.shape[1:]
        return int(c), int(h), int(w)


def _numpy(array: Any, name: str) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    result = np.asarray(array)
    if result.dtype == object:
        raise ValueError(f"{name} is an object array; expected numbers")
    return result


def as_images(array: Any, *, name: str, channels_first: bool) -> torch.Tensor:
    """``array`` as uint8 ``[N, C, H, W]``; ``channels_first`` breaks a tie when both axis 1
    and axis 3 could be channels (torch tensors: first, numpy arrays: last)."""
    images = _numpy(array, name)
    shape = tuple(images.shape)
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4:
        first, last = shape[1] in CHANNELS, shape[3] in CHANNELS
        if last and not (first and channels_first):
            images = images.transpose(0, 3, 1, 2)
        elif not first:
            raise ValueError(
                f"{name} has shape {shape}: no channel axis of size 1, 3 or 4; expected "
                "[N, H, W], [N, H, W, C] or [N, C, H, W]"
            )
    else:
        raise ValueError(
            f"{name} must be [N, H, W], [N, H, W, C] or [N, C, H, W], got shape {shape}"
        )
    if images.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    if images.shape[2] != images.shape[3]:
        raise ValueError(
            f"{name}: images must be square, got {images.shape[2]}x{images.shape[3]} px; "
            "resize them to one square size"
        )
    return torch.from_numpy(np.ascontiguousarray(_pixels(images, name)))


def _pixels(images: np.ndarray, name: str) -> np.ndarray:
    if images.dtype == np.uint8:
        return images
    if np.issubdtype(images.dtype, np.floating):
        low, high = float(images.min()), float(images.max())
        if not (np.isfinite(low) and np.isfinite(high) and 0.0 <= low and high <= 1.0):
            raise ValueError(
                f"{name}: float pixels must be in [0, 1], got [{low:g}, {high:g}]; "
                "pass uint8 for 0..255"
            )
        return np.rint(images * 255.0).astype(np.uint8)
    if np.issubdtype(images.dtype, np.integer) and images.dtype != np.bool_:
        low, high = int(images.min()), int(images.max())
        if low < 0 or high > 255:
            raise ValueError(f"{name}: integer pixels must be in 0..255, got [{low}, {high}]")
        return images.astype(np.uint8)
    raise ValueError(f"{name}: pixels must be uint8, integers or floats, got {images.dtype}")


def as_labels(array: Any, *, name: str, rows: int, rows_name: str) -> torch.Tensor:
    """``array`` as a long ``[rows]`` tensor of non-negative integers."""
    labels = _numpy(array, name)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per row), got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_:
        raise ValueError(f"{name} must hold integer class indices, got {labels.dtype}")
    if len(labels) != rows:
        raise ValueError(f"{name} has {len(labels)} labels but {rows_name} has {rows} rows")
    if len(labels) and int(labels.min()) < 0:
        raise ValueError(f"{name} has label {int(labels.min())}; labels must be 0..C-1")
    return torch.as_tensor(labels.astype(np.int64))


def count_classes(labels: Mapping[str, torch.Tensor], *, counted_from: str) -> int:
    """C = largest label + 1 over every split; ``ValueError`` unless C >= 2 and every class
    0..C-1 has a row in ``labels[counted_from]`` (catches 1-based labels)."""
    classes = 1 + max(int(v.max()) for v in labels.values() if len(v))
    if classes < MIN_CLASSES:
        raise ValueError(
            f"need at least {MIN_CLASSES} classes, got labels of class 0 only in "
            f"{', '.join(labels)}"
        )
    present = torch.bincount(labels[counted_from], minlength=classes) > 0
    missing = [int(c) for c in torch.nonzero(~present).flatten()]
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
        raise ValueError(
            f"{counted_from} has no row of class {shown} of 0..{classes - 1}; labels must be "
            "0..C-1 with every class present (1-based labels?)"
        )
    return classes


def _same_shape(images: torch.Tensor, reference: torch.Tensor, name: str, ref_name: str) -> None:
    if images.shape[1:] != reference.shape[1:]:
        c, h, w = images.shape[1:]
        rc, rh, rw = reference.shape[1:]
        raise ValueError(f"{name} images are {c}x{h}x{w} but {ref_name} ones are {rc}x{rh}x{rw}")


def user_data(arrays: Mapping[str, Any], *, source: str, channels_first: bool) -> UserData:
    """Check and convert ``x_train, y_train, x_test, y_test`` (optional ``x_val, y_val``;
    ``y_train`` may be ``None``/absent: no clean training labels) into :class:`UserData`."""
    missing = [k for k in ("x_train", "x_test", "y_test") if arrays.get(k) is None]
    if missing:
        raise ValueError(f"{source}: missing {', '.join(missing)}")
    if (arrays.get("x_val") is None) != (arrays.get("y_val") is None):
        raise ValueError(f"{source}: x_val and y_val come together, got only one of them")
    images = {
        k: as_images(arrays[k], name=k, channels_first=channels_first)
        for k in ("x_train", "x_test", "x_val")
        if arrays.get(k) is not None
    }
    for k in images:
        if k != "x_train":
            _same_shape(images[k], images["x_train"], k, "x_train")
    labels = {
        f"y{k[1:]}": as_labels(arrays[f"y{k[1:]}"], name=f"y{k[1:]}", rows=len(v), rows_name=k)
        for k, v in images.items()
        if arrays.get(f"y{k[1:]}") is not None
    }
    counted_from = "y_train" if "y_train" in labels else "y_test"
    classes = count_classes(labels, counted_from=counted_from)
    val = ImageSplit(images["x_val"], labels["y_val"]) if "x_val" in images else None
    return UserData(
        train_images=images["x_train"],
        train_labels=labels.get("y_train"),
        test=ImageSplit(images["x_test"], labels["y_test"]),
        val=val,
        num_classes=classes,
        source=source,
    )
