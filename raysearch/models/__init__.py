"""Model registry: the small nets of the S2E / Co-teaching papers and a ResNet-18."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from raysearch.models.resnet import ResNet18
from raysearch.models.small_nets import CNN9, MLP, CNNLarge, LeNet

MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": MLP,
    "lenet": LeNet,
    "cnn-large": CNNLarge,
    "cnn9": CNN9,
    "resnet18": ResNet18,
}
# The net the S2E code trains on each data set (MNIST-like: MLP, CIFAR-10: LeNet, CIFAR-100: CNN_large).
DEFAULT_MODEL = {
    "fashion-mnist-mini": "mlp",
    "fashion-mnist": "mlp",
    "mnist": "mlp",
    "cifar10": "lenet",
    "cifar100": "cnn-large",
}


def model_names() -> list[str]:
    return list(MODELS)


def check_model_name(name: str) -> None:
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; registered models: {', '.join(MODELS)}")


def build_model(name: str, *, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """Build a registered model for images of ``in_channels x image_size x image_size``."""
    check_model_name(name)
    return MODELS[name](in_channels=in_channels, num_classes=num_classes, image_size=image_size)


# The smallest square image each net takes (its pooling and unpadded convolutions shrink it).
MIN_IMAGE_SIZE = {"mlp": 1, "lenet": 16, "cnn-large": 8, "cnn9": 28, "resnet18": 1}


def default_model(dataset: str, *, in_channels: int | None = None) -> str:
    """The S2E code's model for ``dataset``; for a user's data set (``in_channels`` known)
    the same rule by shape: grey images the MLP (MNIST-like), colour ones LeNet (CIFAR-10-like)."""
    if dataset in DEFAULT_MODEL or in_channels is None:
        return DEFAULT_MODEL.get(dataset, "mlp")
    return "mlp" if in_channels == 1 else "lenet"


def check_model_input(name: str, *, in_channels: int, num_classes: int, image_size: int) -> None:
    """``ValueError`` naming the model and the image shape if ``name`` cannot take
    ``in_channels x image_size x image_size`` images (a forward pass of one zero image)."""
    check_model_name(name)
    minimum = MIN_IMAGE_SIZE[name]
    if image_size < minimum:
        raise ValueError(
            f"model {name!r} needs images of at least {minimum}x{minimum} px, got "
            f"{in_channels}x{image_size}x{image_size}; pick another --model (mlp and resnet18 "
            "take any size)"
        )
    net = build_model(name, in_channels=in_channels, num_classes=num_classes, image_size=image_size)
    with torch.no_grad():
        logits = net.eval()(torch.zeros(1, in_channels, image_size, image_size))
    if logits.shape != (1, num_classes):
        raise ValueError(
            f"model {name!r} gives {tuple(logits.shape)} logits, not (1, {num_classes})"
        )


__all__ = [
    "CNN9",
    "MLP",
    "CNNLarge",
    "LeNet",
    "ResNet18",
    "MIN_IMAGE_SIZE",
    "build_model",
    "check_model_input",
    "check_model_name",
    "default_model",
    "model_names",
]
