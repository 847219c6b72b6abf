"""Shared pieces of the multilevel wrappers (LeaSE, LFM) around a base supernet method.

:class:`BaseArch` gives a wrapper the base method's architecture tensors (DARTS: the alphas;
XNAS: the normalised expert weights u), the base's own architecture gradient and its update.
:func:`unroll` is the one-step virtual SGD update of DARTS eq. (6) that both papers use for every
inner level (LeaSE eqs. (6)-(8), LFM Sec. III-D); :func:`finite_difference_hvp` (DARTS eq. (8),
LeaSE eq. (11)) supplies every mixed second derivative those unrolls need.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from raysearch.nas.darts import Darts
from raysearch.nas.supernet import SuperNet
from raysearch.nas.unrolled import Batch, finite_difference_hvp, virtual_step
from raysearch.nas.weight_learner import WeightLearner
from raysearch.nas.xnas import XNAS

BASES = ("darts", "darts-1st", "xnas")

__all__ = ["BASES", "BaseArch", "check_base", "clip_", "finite_difference_hvp", "unroll"]

ModuleWrapper = Callable[[nn.Module], Callable[[Tensor], Tensor]]  # e.g. a DDP wrapper


def check_base(name: str) -> None:
    """Raise ``KeyError`` for a base method a wrapper cannot wrap."""
    if name not in BASES:
        raise KeyError(f"unknown base method {name!r} for LeaSE/LFM; allowed: {list(BASES)}")


class BaseArch:
    """The architecture side of a base method (:class:`Darts` of order 1 or 2, :class:`XNAS`)."""

    def __init__(self, base: Darts | XNAS) -> None:
        if not isinstance(base, (Darts, XNAS)):
            raise TypeError(f"LeaSE/LFM wrap Darts or XNAS, got {type(base).__name__}")
        self.base = base

    @property
    def supernet(self) -> SuperNet:
        return self.base.supernet

    @property
    def second_order(self) -> bool:
        """True for DARTS order 2: hypergradients keep the Hessian terms through the weights'
        unroll w.r.t. the architecture; False (DARTS-1st, XNAS) treats those weights as fixed."""
        return isinstance(self.base, Darts) and self.base.order == 2

    def inputs(self) -> list[Tensor]:
        """The leaf tensors the supernet's forward reads: alphas (DARTS) or u (XNAS)."""
        if isinstance(self.base, XNAS):
            return self.base.arch_inputs()
        return self.base.supernet.arch_parameters()

    def gradients(
        self, train_batch: Batch, val_batch: Batch
    ) -> tuple[list[Tensor], Tensor, Tensor]:
        """The base's own architecture gradient, validation loss and logits (DARTS eq. (7) or
        first order; XNAS eq. (35))."""
        if isinstance(self.base, XNAS):
            return self.base.arch_gradients(val_batch)
        return self.base.arch_gradients(train_batch, val_batch)

    def apply(self, grads: list[Tensor]) -> None:
        """The base's own update with ``grads`` (Adam on alpha, or the EG step on u)."""
        self.base.apply_arch_gradients(grads)


def unroll(loss: Tensor, params: Sequence[Tensor], learner: WeightLearner) -> list[Tensor]:
    """One virtual step of ``learner``'s SGD on ``loss`` (DARTS eq. (6), momentum and weight
    decay included); returns fresh leaves that require grad."""
    grads = torch.autograd.grad(loss, list(params), materialize_grads=True)
    stepped = virtual_step(
        [p.detach() for p in params],
        [g.detach() for g in grads],
        learner.momentum_buffers(),
        lr=learner.lr,
        momentum=learner.momentum,
        weight_decay=learner.weight_decay,
    )
    return [w.requires_grad_() for w in stepped]


def clip_(grads: Sequence[Tensor], max_norm: float) -> None:
    """Scale ``grads`` in place so that their joint 2-norm is at most ``max_norm``."""
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale)
