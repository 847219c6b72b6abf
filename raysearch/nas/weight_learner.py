"""The weight half of every supernet method (DARTS, Liu et al. 2019, Algorithm 1, step 2).

Optimiser as in the official DARTS ``train_search.py``: SGD (lr 0.025, momentum 0.9, weight
decay 3e-4), cosine annealing over ``epochs`` to 0.001, gradient-norm clipping at 5. DARTS,
XNAS, ASM-NAS, LeaSE and LFM all train their network weights with one of these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Batch = tuple[Tensor, Tensor]


@dataclass(frozen=True, kw_only=True)
class SGDOptions:
    """How a :class:`WeightLearner` trains: SGD learning rate (annealed by a cosine to
    ``lr_min``), momentum, weight decay and the gradient-norm clip. The defaults are DARTS'
    ``train_search.py``."""

    lr: float = 0.025
    momentum: float = 0.9
    weight_decay: float = 3e-4
    lr_min: float = 0.001
    grad_clip: float = 5.0

    def __post_init__(self) -> None:
        for name in ("lr", "momentum", "weight_decay", "lr_min", "grad_clip"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"SGDOptions.{name} must be a number >= 0, got {value!r}")

    @classmethod
    def of(cls, value: SGDOptions | Mapping[str, float] | None) -> SGDOptions:
        """``value`` itself, the defaults for None, or the options a (JSON) mapping names;
        an unknown key is a ``TypeError`` naming it."""
        if value is None:
            return cls()
        return value if isinstance(value, SGDOptions) else cls(**value)


class WeightLearner:
    """SGD + cosine schedule + clipping on ``params``; ``forward`` computes the logits (e.g. a
    DDP wrapper of the supernet, so that gradients are averaged across workers)."""

    def __init__(
        self,
        params: Sequence[nn.Parameter],
        forward: Callable[[Tensor], Tensor],
        options: SGDOptions | None = None,
        *,
        epochs: int = 50,
    ) -> None:
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        options = options or SGDOptions()
        self.params = list(params)
        self.forward = forward
        self.momentum = options.momentum
        self.weight_decay = options.weight_decay
        self.grad_clip = options.grad_clip
        self.optimizer = torch.optim.SGD(
            self.params, lr=options.lr, momentum=options.momentum,
            weight_decay=options.weight_decay,
        )  # fmt: skip
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=epochs, eta_min=options.lr_min
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
