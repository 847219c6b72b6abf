"""The product distribution p_θ(x) = Π_b p_θb(x_b) of S2E's stochastic relaxation (eq. (6)).

θ is one flat vector, the concatenation of the blocks' parameters in block order. Its initial
value makes p_θ uniform (S2E Alg. 2 step 1: Dirichlet/Beta parameters 1, categorical logits 0).
Every method that takes ``theta`` uses the initial θ when it is ``None``.

A sample is a plain ``dict[str, float | int]`` keyed by the blocks' names: Python floats for
simplex and unit values, Python ints for categories, so it is JSON-able as is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.linalg import block_diag

from raysearch.relax.blocks import Block, CategoricalBlock, FloatArray, SimplexBlock, UnitBlock

Sample = dict[str, float | int]


class ProductDistribution:
    """Product of independent :mod:`~raysearch.relax.blocks` factors with a flat θ."""

    def __init__(self, blocks: Sequence[Block]) -> None:
        blocks = tuple(blocks)
        if not blocks:
            raise ValueError(
                "ProductDistribution needs at least one block "
                "(SimplexBlock, UnitBlock or CategoricalBlock), got none"
            )
        for block in blocks:
            if not isinstance(block, (SimplexBlock, UnitBlock, CategoricalBlock)):
                raise ValueError(
                    f"{block!r} is not a block; allowed: SimplexBlock, UnitBlock, CategoricalBlock"
                )
        names = [name for block in blocks for name in block.names]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"sample names must be unique across blocks; repeated: {duplicates}")
        self.blocks: tuple[Block, ...] = blocks
        self.names: tuple[str, ...] = tuple(names)
        offsets = np.cumsum([0] + [block.num_params for block in blocks])
        self.slices: tuple[slice, ...] = tuple(
            slice(int(a), int(b)) for a, b in zip(offsets[:-1], offsets[1:], strict=True)
        )
        self.num_params = int(offsets[-1])
        self.positive_mask: npt.NDArray[np.bool_] = np.concatenate(
            [np.full(block.num_params, block.positive) for block in blocks]
        )
        """True where θ must stay > 0 (Dirichlet and Beta parameters)."""

    def initial_theta(self) -> FloatArray:
        """θ of the uniform distribution (S2E Alg. 2 step 1)."""
        return np.concatenate([block.initial_theta() for block in self.blocks])

    def check_theta(self, theta: Any) -> FloatArray:
        """``theta`` as a float vector; ValueError if its size, finiteness or sign is wrong."""
        if theta is None:
            return self.initial_theta()
        arr = np.asarray(theta, dtype=np.float64)
        if arr.shape != (self.num_params,):
            raise ValueError(f"theta must have shape ({self.num_params},), got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"theta must be finite, got {arr.tolist()}")
        if np.any(arr[self.positive_mask] <= 0):
            raise ValueError(f"Dirichlet/Beta parameters in theta must be > 0, got {arr.tolist()}")
        return arr

    def spec(self) -> list[dict[str, Any]]:
        """A JSON-able description of the blocks (used to check a restored state)."""
        return [block.spec() for block in self.blocks]

    # -- sampling and encoding ---------------------------------------------------------------

    def sample(self, rng: np.random.Generator, n: int, theta: Any = None) -> list[Sample]:
        """``n`` independent draws from p_θ, each a plain dict (block by block from ``rng``)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"number of samples must be an int >= 1, got {n!r}")
        th = self.check_theta(theta)
        columns = [block.draw(rng, th[sl], int(n)) for block, sl in self._pairs()]
        samples: list[Sample] = [{} for _ in range(int(n))]
        for block, values in zip(self.blocks, columns, strict=True):
            for sample, row in zip(samples, values, strict=True):
                sample.update(block.decode(row))
        return samples

    def encode(self, samples: Sequence[Mapping[str, Any]]) -> list[FloatArray]:
        """Per block, the ``(K, d)`` array of the samples' values; ValueError for bad values."""
        if not samples:
            raise ValueError("need at least one sample")
        for sample in samples:
            if not isinstance(sample, Mapping):
                raise ValueError(f"a sample must be a dict, got {sample!r}")
            missing = [name for name in self.names if name not in sample]
            if missing:
                raise ValueError(f"sample {sample!r} lacks keys {missing}")
        return [block.encode(samples) for block in self.blocks]

    def _pairs(self) -> list[tuple[Block, slice]]:
        return list(zip(self.blocks, self.slices, strict=True))

    # -- log-density and its derivatives (batched) -------------------------------------------

    def log_probs(self, samples: Sequence[Mapping[str, Any]], theta: Any = None) -> FloatArray:
        """log p_θ(x_i) for each sample, shape ``(K,)``."""
        th = self.check_theta(theta)
        values = self.encode(samples)
        return np.asarray(
            sum(
                block.log_prob(v, th[sl])
                for (block, sl), v in zip(self._pairs(), values, strict=True)
            ),
            dtype=np.float64,
        )

    def scores(self, samples: Sequence[Mapping[str, Any]], theta: Any = None) -> FloatArray:
        """Score vectors p̄_θ(x_i) = ∇_θ log p_θ(x_i) (S2E eq. (7)), shape ``(K, P)``."""
        th = self.check_theta(theta)
        values = self.encode(samples)
        return np.concatenate(
            [block.grad(v, th[sl]) for (block, sl), v in zip(self._pairs(), values, strict=True)],
            axis=1,
        )

    def hessians(self, samples: Sequence[Mapping[str, Any]], theta: Any = None) -> FloatArray:
        """∇²_θ log p_θ(x_i), block diagonal, shape ``(K, P, P)`` (S2E Prop. 1)."""
        th = self.check_theta(theta)
        values = self.encode(samples)
        out = np.zeros((len(samples), self.num_params, self.num_params))
        for (block, sl), v in zip(self._pairs(), values, strict=True):
            out[:, sl, sl] = block.hess(v, th[sl])
        return out

    # -- single-sample conveniences ----------------------------------------------------------

    def log_prob(self, x: Mapping[str, Any], theta: Any = None) -> float:
        """log p_θ(x)."""
        return float(self.log_probs([x], theta)[0])

    def grad_log_prob(self, x: Mapping[str, Any], theta: Any = None) -> FloatArray:
        """∇_θ log p_θ(x) (digamma closed form for Dirichlet/Beta), shape ``(P,)``."""
        return self.scores([x], theta)[0]

    def hess_log_prob(self, x: Mapping[str, Any], theta: Any = None) -> FloatArray:
        """∇²_θ log p_θ(x) (trigamma closed form, block diagonal), shape ``(P, P)``."""
        return self.hessians([x], theta)[0]

    # -- distribution-level quantities -------------------------------------------------------

    def fisher(self, theta: Any = None) -> FloatArray:
        """Closed-form Fisher matrix E[p̄ p̄ᵀ] = -E[∇² log p], block diagonal (S2E eq. (8), NG)."""
        th = self.check_theta(theta)
        return np.asarray(
            block_diag(*[block.fisher(th[sl]) for block, sl in self._pairs()]), dtype=np.float64
        )

    def kl(self, theta: Any, other: Any) -> float:
        """Exact KL(p_θ ‖ p_θ'), the Bregman divergence of the blocks' log-partitions:
        Σ_b A_b(θ'_b) - A_b(θ_b) - (θ'_b - θ_b)·∇A_b(θ_b) (natural parameters affine in θ)."""
        th, ot = self.check_theta(theta), self.check_theta(other)
        return float(
            sum(
                block.log_partition(ot[sl])
                - block.log_partition(th[sl])
                - (ot[sl] - th[sl]) @ block.mean_statistic(th[sl])
                for block, sl in self._pairs()
            )
        )

    def best_guess(self, theta: Any = None) -> Sample:
        """A point summary of p_θ: Dirichlet/Beta means and categorical modes."""
        th = self.check_theta(theta)
        guess: Sample = {}
        for block, sl in self._pairs():
            guess.update(block.best_guess(th[sl]))
        return guess
