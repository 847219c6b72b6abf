"""LFM-DR's example-weight table B and the two rules that update it.

``eq9`` (LFM eq. (9), the paper): B follows the validation loss of the unrolled W2',
``dL/db_i = -eta/n * h . grad_W1 l_i(W1)`` (:func:`raysearch.reweight.hypergrad.lfm_dr_hypergradients`);
one entry per training example, initialised at 1, plain SGD at ``lr_b``, kept non-negative.

``official`` (importZL/LFM @ dbda0257, ``DR/lfm-dr-label_noisy/train_WRN_noise.py`` and
``DR/lfm-dr-class_imbalance/dr-lfm-imbalance.py``): B's gradient is the finite difference of
``mean_i(b_i * l_i)`` w.r.t. b around the *old* W1 along the clipped (norm 5) gradient W1 has just
stepped with, ``dB_i = (1/n) grad_W1 l_i(W1_old) . clip(grad_W1 L_b(W1_old))`` (the scripts'
``_hessian_vector_product1``; nothing of the validation loss reaches B, since ``weight_b`` is
not in the graph of the meta loss and its gradient was zeroed just before). B is a
``batch_size x batches`` table indexed by (slot in the batch, batch number) of a shuffled loader,
so an entry is not tied to an example; it starts at 1.1 (the label-noise script; the imbalance
script starts at 1.0), its gradient is clipped to norm 5, and SGD with momentum 0.9, Nesterov,
weight decay 5e-4 steps the *whole* table every batch, learning rate 1e-2 cosine-annealed per
epoch to 1e-3 (the label-noise script; the imbalance script anneals to 1e-5). No clamp.

The table and its optimiser state are float64 so updates below float32 resolution (eq. (9)'s
steps are ~1e-8 on values ~1) accumulate instead of being rounded away; W1's float32 loss reads
``float32(b)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

B_UPDATES = ("eq9", "official")


def check_b_update(name: str) -> None:
    if name not in B_UPDATES:
        raise ValueError(f"unknown B update {name!r}; allowed: {', '.join(B_UPDATES)}")


@dataclass(frozen=True)
class BRecipe:
    """Initial value, optimiser and indexing of B under one update rule."""

    init: float
    final_lr_ratio: float  # cosine annealing to lr_b * final_lr_ratio (1: constant)
    momentum: float
    nesterov: bool
    weight_decay: float
    grad_clip: float | None
    non_negative: bool
    per_slot: bool  # index by (slot, batch number) instead of by example


RECIPES = {
    "eq9": BRecipe(
        init=1.0, final_lr_ratio=1.0, momentum=0.0, nesterov=False, weight_decay=0.0,
        grad_clip=None, non_negative=True, per_slot=False,
    ),
    "official": BRecipe(
        init=1.1, final_lr_ratio=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4,
        grad_clip=5.0, non_negative=False, per_slot=True,
    ),
}  # fmt: skip


def clip_by_total_norm(tensors: list[torch.Tensor], max_norm: float) -> list[torch.Tensor]:
    """Copies scaled by ``min(1, max_norm / (||tensors|| + 1e-6))``, as ``clip_grad_norm_``."""
    norm = math.sqrt(sum(float(t.double().pow(2).sum()) for t in tensors))
    scale = min(1.0, max_norm / (norm + 1e-6))
    return [t * scale for t in tensors]


class WeightTable:
    """B (float64) with its own SGD optimiser; ``entries`` maps a batch to its rows of B."""

    def __init__(
        self,
        rule: str,
        *,
        num_examples: int,
        batch_size: int,
        batches_per_epoch: int,
        lr: float,
        epochs: int,
        init: float | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        check_b_update(rule)
        self.rule, self.recipe = rule, RECIPES[rule]
        self.batch_size, self.lr, self.epochs = batch_size, lr, epochs
        size = batch_size * batches_per_epoch if self.recipe.per_slot else num_examples
        start = self.recipe.init if init is None else init
        self.values = torch.full((size,), start, dtype=torch.float64, device=device)
        self.values.requires_grad_()
        self.optimizer = torch.optim.SGD(
            [self.values], lr=lr, momentum=self.recipe.momentum,
            nesterov=self.recipe.nesterov, weight_decay=self.recipe.weight_decay,
        )  # fmt: skip

    def entries(self, example_index: torch.Tensor, batch_number: int) -> torch.Tensor:
        """Rows of B of a batch: its examples' ids, or (slot, batch number) under ``official``."""
        if not self.recipe.per_slot:
            return example_index
        start = batch_number * self.batch_size
        return torch.arange(start, start + len(example_index), device=self.values.device)

    def weights(self, entries: torch.Tensor) -> torch.Tensor:
        """The batch's weights as float32 constants for W1's loss."""
        return self.values.detach()[entries].float()

    def set_epoch(self, epoch: int) -> None:
        """Cosine annealing per epoch (``CosineAnnealingLR(T_max=epochs)``, stepped per epoch)."""
        low = self.lr * self.recipe.final_lr_ratio
        lr = low + (self.lr - low) * (1 + math.cos(math.pi * epoch / self.epochs)) / 2
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def step(self, entries: torch.Tensor, grad: torch.Tensor) -> None:
        """One optimiser step of the whole table with ``grad`` on the batch's rows, 0 elsewhere."""
        if self.recipe.grad_clip is not None:
            (grad,) = clip_by_total_norm([grad.double()], self.recipe.grad_clip)
        full = torch.zeros_like(self.values, requires_grad=False)
        full[entries] = grad.to(full.dtype)
        self.values.grad = full
        self.optimizer.step()
        if self.recipe.non_negative:
            with torch.no_grad():
                self.values.clamp_(min=0.0)

    def state_dict(self) -> dict[str, Any]:
        return {"values": self.values.detach().clone(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            self.values.copy_(state["values"])
        self.optimizer.load_state_dict(state["optimizer"])
