"""Ray-free helpers for distributed supernet search (DARTS, Liu et al. 2019, Sec. 2.3 / 3.1).

DARTS splits the training set in two halves (``train_portion`` 0.5): one half updates the
weights w, the other the architecture alpha. With ``world_size`` workers each rank takes a
disjoint shard of both halves, so the ranks together see each example once per epoch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from raysearch.data.splits import ImageSplit


def search_shards(
    split: ImageSplit,
    *,
    rank: int,
    world_size: int,
    train_portion: float = 0.5,
    seed: int = 0,
) -> tuple[ImageSplit, ImageSplit]:
    """This rank's (weight-step, arch-step) shards of ``split``.

    The permutation depends only on ``seed``, so every rank computes the same halves and takes
    its own strided slice of each; shards of different ranks are disjoint.
    """
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    if not 0.0 < train_portion < 1.0:
        raise ValueError(f"train_portion must be in (0, 1), got {train_portion}")
    n = len(split)
    order = np.random.default_rng(seed).permutation(n)
    cut = int(round(n * train_portion))
    w_half, a_half = order[:cut], order[cut:]
    w_idx, a_idx = w_half[rank::world_size], a_half[rank::world_size]
    if len(w_idx) == 0 or len(a_idx) == 0:
        raise ValueError(
            f"{n} examples are too few for {world_size} workers with train_portion {train_portion}"
        )
    return split.subset(w_idx), split.subset(a_idx)


def alpha_entropy(alphas: Sequence[Tensor]) -> float:
    """Mean entropy (nats) of softmax(alpha) over all edges: log(#ops) at init, 0 when one-hot."""
    total, count = 0.0, 0
    for alpha in alphas:
        p = torch.softmax(alpha.detach().float(), dim=-1)
        ent = -(p * torch.log(p.clamp_min(1e-12))).sum(dim=-1)
        total += float(ent.sum())
        count += int(ent.numel())
    if count == 0:
        raise ValueError("no architecture parameters given")
    return total / count


def alpha_digest(alphas: Sequence[Tensor]) -> str:
    """SHA-256 of the exact bytes of alpha: equal digests mean bit-identical alpha on two ranks."""
    h = hashlib.sha256()
    for alpha in alphas:
        h.update(alpha.detach().cpu().contiguous().float().numpy().tobytes())
    return h.hexdigest()
