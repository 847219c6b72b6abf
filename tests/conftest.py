"""Shared test set-up: one torch thread (2-core machine) and small synthetic data."""

from __future__ import annotations

import os
import sys

import pytest
import torch

from raysearch.analysis.results_folder import sigint_handler_kept
from raysearch.data import ImageSplit

torch.set_num_threads(1)


def synthetic_split(
    n: int, *, classes: int = 4, channels: int = 1, size: int = 8, seed: int = 0
) -> ImageSplit:
    """A learnable toy split: each class is a bright square in its own corner, plus pixel noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    images = torch.randint(0, 60, (n, channels, size, size), generator=g)
    half = size // 2
    for cls in range(classes):
        r, c = divmod(cls % 4, 2)
        images[labels == cls, :, r * half : (r + 1) * half, c * half : (c + 1) * half] += 180
    return ImageSplit(images.clamp(0, 255).to(torch.uint8), labels)


@pytest.fixture(autouse=True)
def sigint_handler_restored():
    """Tests that call ``Tuner.fit`` directly leave Tune's SIGINT handler installed (raysearch
    puts its own back the same way): restore it so a later test's Ctrl-C works."""
    with sigint_handler_kept():
        yield


@pytest.fixture
def toy_split() -> ImageSplit:
    return synthetic_split(64)


@pytest.fixture(scope="module")
def local_ray():
    """A real local Ray (2 CPUs) for one test module; its workers see the test modules too."""
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        configure_logging=False,
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}},
    )
    yield
    ray.shutdown()
