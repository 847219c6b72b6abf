"""The papers' image recipe as tensor ops on a whole batch (no per-image Python loop).

DARTS ``train_search.py`` and ``train.py`` (Liu et al. 2019; XNAS App. 9.2 and ASM-NAS
Sec. 5.2 the same): training images are randomly cropped back to their size from a copy
zero-padded by 4 pixels, flipped horizontally with probability 1/2, normalised per channel
(``(x - mean) / std``), then, in evaluation with ``--cutout``, one ``length`` x ``length``
square (clipped at the border) centred on a uniform pixel is zeroed (DeVries & Taylor 2017, the
official ``utils.Cutout``, applied after normalisation). Test images are only normalised.
The search applies the training recipe to both halves (the weight and the architecture batches
come from one ``train_transform`` data set in ``train_search.py``).

Means and stds: CIFAR-10 as the official DARTS ``utils.py``; CIFAR-100 as the LFM scripts;
MNIST and Fashion-MNIST the usual full-training-set statistics (``fashion-mnist-mini`` is a
class-balanced subset of Fashion-MNIST and uses its constants). MNIST digits are not flipped
(a mirrored digit is another glyph). Every random draw comes from a CPU ``generator``, so a
seed fixes the batch whatever the device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

AUGMENTATIONS = ("standard", "none")
CROP_PADDING = 4  # RandomCrop(32, padding=4) in DARTS

CHANNEL_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "fashion-mnist-mini": ((0.2860,), (0.3530,)),
}
NO_FLIP = frozenset({"mnist"})


@dataclass(frozen=True, kw_only=True)
class Augmentation:
    """A training recipe (crop padding, flip, normalisation, cutout) and its test-time part."""

    crop_padding: int = 0
    flip: bool = False
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    cutout_length: int = 0

    def __post_init__(self) -> None:
        if self.crop_padding < 0 or self.cutout_length < 0:
            raise ValueError(
                f"crop_padding and cutout_length must be >= 0, got {self.crop_padding}, "
                f"{self.cutout_length}"
            )
        if len(self.mean) != len(self.std) or any(s <= 0 for s in self.std):
            raise ValueError(f"need one std > 0 per mean, got mean {self.mean}, std {self.std}")

    def train(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Crop, flip, normalise, cutout (in DARTS' order) a float ``[B, C, H, W]`` batch."""
        x = random_crop(images, self.crop_padding, generator) if self.crop_padding else images
        x = random_flip(x, generator) if self.flip else x
        x = self.test(x)
        return cutout(x, self.cutout_length, generator) if self.cutout_length else x

    def test(self, images: Tensor) -> Tensor:
        """Per-channel normalisation only (the test transform)."""
        if not self.mean:
            return images
        if images.shape[1] != len(self.mean):
            raise ValueError(f"{len(self.mean)}-channel statistics for {images.shape[1]} channels")
        mean = torch.tensor(self.mean, dtype=images.dtype, device=images.device)
        std = torch.tensor(self.std, dtype=images.dtype, device=images.device)
        return (images - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


def augmentation(dataset: str, name: str = "standard", *, cutout_length: int = 0) -> Augmentation:
    """``standard``: the papers' recipe for ``dataset`` (crop with padding 4, flip except on
    MNIST, normalisation, cutout of ``cutout_length`` if > 0); ``none``: raw [0, 1] pixels
    (cutout still applies if asked for)."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; allowed: {', '.join(AUGMENTATIONS)}")
    if name == "none":
        return Augmentation(cutout_length=cutout_length)
    if dataset not in CHANNEL_STATS:
        raise KeyError(f"no channel statistics for {dataset!r}; known: {sorted(CHANNEL_STATS)}")
    mean, std = CHANNEL_STATS[dataset]
    return Augmentation(
        crop_padding=CROP_PADDING,
        flip=dataset not in NO_FLIP,
        mean=mean,
        std=std,
        cutout_length=cutout_length,
    )


def _uniform_ints(high: int, size: int, generator: torch.Generator | None) -> Tensor:
    return torch.randint(high, (size,), generator=generator)


def random_crop(images: Tensor, padding: int, generator: torch.Generator | None = None) -> Tensor:
    """Each image: a window of its own size at a uniform offset in [0, 2 * padding] of the
    zero-padded image (``RandomCrop(size, padding)``)."""
    b, c, h, w = images.shape
    padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))
    dy = _uniform_ints(2 * padding + 1, b, generator).to(images.device)
    dx = _uniform_ints(2 * padding + 1, b, generator).to(images.device)
    rows = (dy.view(b, 1) + torch.arange(h, device=images.device)).view(b, 1, h, 1)
    cols = (dx.view(b, 1) + torch.arange(w, device=images.device)).view(b, 1, 1, w)
    batch = torch.arange(b, device=images.device).view(b, 1, 1, 1)
    channel = torch.arange(c, device=images.device).view(1, c, 1, 1)
    return padded[batch, channel, rows, cols]


def random_flip(images: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Mirror each image left-right with probability 1/2 (``RandomHorizontalFlip``)."""
    flip = (torch.rand(images.shape[0], generator=generator) < 0.5).to(images.device)
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)


def cutout(images: Tensor, length: int, generator: torch.Generator | None = None) -> Tensor:
    """Zero, per image, the square ``[y - length//2, y + length//2) x [x - ..., x + ...)``
    clipped to the image, centred on a uniform pixel (y, x): the official ``utils.Cutout``."""
    if length < 1:
        raise ValueError(f"cutout length must be >= 1, got {length}")
    b, _, h, w = images.shape
    y = _uniform_ints(h, b, generator).to(images.device).view(b, 1)
    x = _uniform_ints(w, b, generator).to(images.device).view(b, 1)
    half = length // 2
    ys, xs = torch.arange(h, device=images.device), torch.arange(w, device=images.device)
    in_rows = (ys >= y - half) & (ys < y + half)  # [b, h]
    in_cols = (xs >= x - half) & (xs < x + half)  # [b, w]
    hole = in_rows.view(b, 1, h, 1) & in_cols.view(b, 1, 1, w)
    return images.masked_fill(hole, 0.0)
