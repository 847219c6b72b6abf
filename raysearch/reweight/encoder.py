"""The default image encoder V of LFM (eq. (2)): a small CNN with a K-dimensional output.

The paper and the official code use an ImageNet-pretrained ResNet-18 with its classifier
removed; pretrained weights are not available offline, so the default is a small randomly
initialised CNN learned with the rest of LFM. Any module mapping ``[N, C, H, W]`` images to
``[N, K]`` features can be passed instead.
"""

from __future__ import annotations

import torch
from torch import nn


class SmallEncoder(nn.Module):
    """Two stride-2 3x3 conv + ReLU stages, global average pooling, a linear map to K."""

    def __init__(self, *, in_channels: int, feature_dim: int = 32, width: int = 16) -> None:
        super().__init__()
        if feature_dim < 1:
            raise ValueError(f"feature_dim must be >= 1, got {feature_dim}")
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(2 * width, feature_dim),
        )  # fmt: skip

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)
