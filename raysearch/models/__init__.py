"""Model registry: the small nets of the S2E / Co-teaching papers and a ResNet-18."""

from __future__ import annotations

from collections.abc import Callable

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


def default_model(dataset: str) -> str:
    """The S2E code's model for ``dataset`` (``mlp`` for unknown, MNIST-sized data)."""
    return DEFAULT_MODEL.get(dataset, "mlp")


__all__ = [
    "CNN9",
    "MLP",
    "CNNLarge",
    "LeNet",
    "ResNet18",
    "build_model",
    "check_model_name",
    "default_model",
    "model_names",
]
