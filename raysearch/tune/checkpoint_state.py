"""Read a checkpoint file back without running code: ``torch.load(weights_only=True)``.

Every checkpoint raysearch writes is a state dict (tensors, numbers, strings and containers of
them, RNG states as byte tensors), so the restricted loader reads all of them; a crafted file
naming any other global is refused instead of executed.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch


def load_state(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """The state saved at ``path``; ``RuntimeError`` naming the file if it cannot be read or
    names a global (a crafted or corrupted file)."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
        raise RuntimeError(f"cannot read checkpoint {path}: {error}") from error
