"""Cutout (DeVries & Taylor, 2017), used by the DARTS evaluation (``--cutout``, length 16)."""

from __future__ import annotations

import torch
from torch import Tensor


class Cutout:
    """Zero one ``length`` x ``length`` square (clipped at the border) centred on a uniformly
    drawn pixel of a ``[..., H, W]`` image tensor, as the official DARTS ``utils.Cutout``.
    Pass a seeded ``generator`` for reproducible holes."""

    def __init__(self, length: int = 16, *, generator: torch.Generator | None = None) -> None:
        if length < 1:
            raise ValueError(f"cutout length must be >= 1, got {length}")
        self.length = length
        self.generator = generator

    def __call__(self, image: Tensor) -> Tensor:
        h, w = image.shape[-2:]
        y = int(torch.randint(h, (1,), generator=self.generator))
        x = int(torch.randint(w, (1,), generator=self.generator))
        half = self.length // 2
        out = image.clone()
        out[..., max(0, y - half) : min(h, y + half), max(0, x - half) : min(w, x + half)] = 0
        return out

    def __repr__(self) -> str:
        return f"Cutout(length={self.length})"
