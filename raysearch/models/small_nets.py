"""The small networks of the S2E code (its Table 5) and Co-teaching's 9-layer CNN.

Every constructor takes ``in_channels``, ``num_classes`` and ``image_size`` so one net works
on 28-px grey and 32-px colour images alike (the flatten size is computed, not hard-coded).
"""

from __future__ import annotations

import torch
from torch import nn


def _flat_features(features: nn.Module, in_channels: int, image_size: int) -> int:
    with torch.no_grad():
        return int(features(torch.zeros(1, in_channels, image_size, image_size)).numel())


class MLP(nn.Module):
    """S2E's MLP for MNIST: ``784 -> 256 -> C`` with ReLU (Table 5, first column)."""

    def __init__(
        self, *, in_channels: int, num_classes: int, image_size: int, hidden: int = 256
    ) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * image_size * image_size, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class LeNet(nn.Module):
    """S2E's Model 1 (CIFAR-10): conv 6@5x5, pool, conv 16@5x5, pool, FC 120-84-C, ReLU."""

    def __init__(self, *, in_channels: int, num_classes: int, image_size: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(_flat_features(self.features, in_channels, image_size), 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _conv_bn(
    cin: int, cout: int, *, padding: int = 1, act: nn.Module | None = None
) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, 3, padding=padding),
        nn.BatchNorm2d(cout, momentum=0.1),
        act or nn.ReLU(),
    ]


class CNNLarge(nn.Module):
    """S2E's Model 2 (CIFAR-100): six 3x3 conv+BN+ReLU, channels 64,64|128,128|196,16, then FC.

    The paper's Table 5 lists 196,196 before the classifier but also ``Dense 256 -> 100``;
    the official code's last conv has 16 channels, which is what makes 16*4*4 = 256. We
    follow the code.
    """

    def __init__(self, *, in_channels: int, num_classes: int, image_size: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *_conv_bn(in_channels, 64), *_conv_bn(64, 64), nn.MaxPool2d(2),
            *_conv_bn(64, 128), *_conv_bn(128, 128), nn.MaxPool2d(2),
            *_conv_bn(128, 196), *_conv_bn(196, 16), nn.MaxPool2d(2),
        )  # fmt: skip
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(_flat_features(self.features, in_channels, image_size), num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class CNN9(nn.Module):
    """Co-teaching's 9-layer CNN (Han et al. 2018, Table 3; S2E Table 5, Model 3).

    3x(conv128) | pool, dropout .25 | 3x(conv256) | pool, dropout .25 | conv512, 256, 128
    (no padding) | global average pool | FC 128 -> C; BN and LeakyReLU(0.01) after each conv.
    """

    def __init__(
        self, *, in_channels: int, num_classes: int, image_size: int, dropout: float = 0.25
    ) -> None:
        super().__init__()
        leaky = lambda: nn.LeakyReLU(0.01)  # noqa: E731
        self.features = nn.Sequential(
            *_conv_bn(in_channels, 128, act=leaky()), *_conv_bn(128, 128, act=leaky()), *_conv_bn(128, 128, act=leaky()),
            nn.MaxPool2d(2, 2), nn.Dropout2d(dropout),
            *_conv_bn(128, 256, act=leaky()), *_conv_bn(256, 256, act=leaky()), *_conv_bn(256, 256, act=leaky()),
            nn.MaxPool2d(2, 2), nn.Dropout2d(dropout),
            *_conv_bn(256, 512, padding=0, act=leaky()), *_conv_bn(512, 256, padding=0, act=leaky()),
            *_conv_bn(256, 128, padding=0, act=leaky()),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
        self.classifier = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
