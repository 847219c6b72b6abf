"""Shared test set-up: one torch thread (2-core machine) and small synthetic data."""

from __future__ import annotations

import os
import sys

import pytest
import torch

from raysearch.analysis.results_folder import sigint_handler_kept
from raysearch.data import ImageSplit

torch.set_num_threads(1)
# Ray Train jobs of the tests (and of the CLIs they start, which inherit this environment):
# the controller polls its workers every 0.2 s, not 2 s, and starts no preemption-watcher
# actor (spot-instance drains do not happen here); a tiny NAS search CLI takes 19.8 s, not 24.4
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")
os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")


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


@pytest.fixture(autouse=True)
def environment_restored():
    """The CLI and the benchmarks' ``main`` set process-wide variables for their own run
    (``RAY_AIR_NEW_OUTPUT``, ``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS``, which turns off the
    ``result.json`` every later Tune test reads): each test gets the environment back as it was."""
    before = dict(os.environ)
    yield
    for name in set(os.environ) - set(before):
        del os.environ[name]
    os.environ.update(before)


@pytest.fixture
def toy_split() -> ImageSplit:
    return synthetic_split(64)


@pytest.fixture(scope="session")
def local_ray():
    """One real local Ray (2 CPUs) shared by every test that needs one (starting Ray costs
    seconds; unit tests run first and never see it, see ``testpaths``); its workers see the
    test modules too. A test whose command connects to Ray itself finds it already up."""
    import ray

    if ray.is_initialized():
        yield
        return
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        configure_logging=False,
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}},
    )
    yield
    ray.shutdown()
