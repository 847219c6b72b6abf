"""Fixtures of the unit tests (the shared helpers live in tests/unit/multilevel_setup.py)."""

from __future__ import annotations

import pytest
import ray
import torch

from raysearch.nas.unrolled import Batch
from tests.unit.multilevel_setup import batches


@pytest.fixture
def float64_batches() -> tuple[Batch, Batch, Batch]:
    """(warm-up, train, val) float64 batches for the LeaSE/LFM hypergradient checks."""
    warm, train, val = batches(3, dtype=torch.float64)
    return warm, train, val


@pytest.fixture(autouse=True)
def no_ray_in_unit_tests():
    """Unit tests never start Ray; the shared cluster of the integration tests starts after them."""
    assert not ray.is_initialized(), "Ray is up before a unit test: run tests/unit first"
    yield
    assert not ray.is_initialized(), "this unit test started Ray"
