"""Fixtures of the unit tests (the shared helpers live in tests/unit/multilevel_setup.py)."""

from __future__ import annotations

import pytest
import torch

from raysearch.nas.unrolled import Batch
from tests.unit.multilevel_setup import batches


@pytest.fixture
def float64_batches() -> tuple[Batch, Batch, Batch]:
    """(warm-up, train, val) float64 batches for the LeaSE/LFM hypergradient checks."""
    warm, train, val = batches(3, dtype=torch.float64)
    return warm, train, val
