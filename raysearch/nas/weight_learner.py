"""The weight half of every supernet method (DARTS, Liu et al. 2019, Algorithm 1, step 2).

Optimiser as in the official DARTS ``train_search.py``: SGD (lr 0.025, momentum 0.9, weight
decay 3e-4), cosine annealing over ``epochs`` to 0.001, gradient-norm clipping at 5. DARTS,
XNAS, ASM-NAS, LeaSE and LFM all train their network weights with one of these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Batch = tuple[Tensor, Tensor]


class WeightLearner:
    """SGD + cosine schedule + clipping on ``params``; ``forward`` computes the logits (e.g. a
    DDP wrapper of the supernet, so that gradients are averaged across workers)."""

    def __init__(
        self,
        params: Sequence[nn.Parameter],
        forward: Callable[[Tensor], Tensor],
        *,
        lr: float = 0.025,
        momentum: float = 0.9,
        weight_decay: float = 3e-4,
        lr_min: float = 0.001,
        epochs: int = 50,
        grad_clip: float = 5.0,
    ) -> None:
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        self.params = list(params)
        self.forward = forward
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.optimizer = torch.optim.SGD(
            self.params, lr=lr, momentum=momentum, weight_decay=weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=epochs, eta_min=lr_min
        )

    @property
    def lr(self) -> float:
        """The current learning rate (xi of DARTS eq. (6))."""
        return float(self.optimizer.param_groups[0]["lr"])

    def step(self, batch: Batch, sample_weights: Tensor | None = None) -> tuple[float, float]:
        """One SGD step on the (optionally per-example weighted, mean-reduced) cross-entropy;
        returns the loss and the accuracy on ``batch``."""
        inputs, labels = batch
        logits = self.forward(inputs)
        losses = F.cross_entropy(logits, labels, reduction="none")
        loss = losses.mean() if sample_weights is None else (sample_weights * losses).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        self.optimizer.step()
        return float(loss.detach()), accuracy(logits.detach(), labels)

    def epoch_end(self) -> None:
        """Advance the cosine schedule by one epoch."""
        self.scheduler.step()

    def momentum_buffers(self) -> list[Tensor | None]:
        """SGD's momentum buffer of every parameter (None before its first step)."""
        return [self.optimizer.state.get(p, {}).get("momentum_buffer") for p in self.params]

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


def accuracy(logits: Tensor, labels: Tensor) -> float:
    """Top-1 accuracy of ``logits`` against ``labels``."""
    return float((logits.argmax(dim=1) == labels).float().mean())
