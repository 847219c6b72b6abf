"""DARTS: bilevel search by alternating architecture and weight steps.

DARTS (Liu et al., ICLR 2019), Algorithm 1: update alpha by descending eq. (7) on a validation
batch (``order=2``; ``order=1`` drops the second-order term, i.e. xi = 0), then w by descending
grad_w L_train(w, alpha) on a training batch. Defaults are the official ``train_search.py`` ones:
weights SGD(0.025, momentum 0.9, wd 3e-4) with cosine annealing to 0.001 over 50 epochs and
gradient clipping at 5; alphas Adam(3e-4, betas (0.5, 0.999), wd 1e-3).

Building blocks for wrapper methods (LeaSE, LFM): :meth:`Darts.arch_gradients` and
:meth:`Darts.apply_arch_gradients` (a wrapper supplies its own gradients); the weights are
trained by a :class:`~raysearch.nas.weight_learner.WeightLearner`, shared by every method.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from raysearch.nas.supernet import SuperNet
from raysearch.nas.unrolled import Batch, second_order_arch_gradients
from raysearch.nas.weight_learner import SGDOptions, WeightLearner, accuracy
from search_spaces.darts import Genotype

ArchGradHook = Callable[[list[Tensor]], None]  # modifies the alpha gradients in place


class Darts:
    """The DARTS supernet method: ``step(train_batch, val_batch) -> metrics``.

    ``model_forward`` (default: the supernet) runs the weight step, so a DDP-wrapped supernet
    can be passed; the architecture step always uses the bare supernet and hands the alpha
    gradients to ``arch_grad_hook`` (e.g. an all-reduce average) before the Adam step.
    """

    def __init__(
        self,
        supernet: SuperNet,
        *,
        order: int = 1,
        weight_options: SGDOptions | Mapping[str, float] | None = None,
        epochs: int = 50,
        a_lr: float = 3e-4,
        a_betas: tuple[float, float] = (0.5, 0.999),
        a_weight_decay: float = 1e-3,
        model_forward: Callable[[Tensor], Tensor] | None = None,
        arch_grad_hook: ArchGradHook | None = None,
    ) -> None:
        if order not in (1, 2):
            raise ValueError(f"order must be 1 (first-order) or 2 (DARTS eq. (7)), got {order}")
        self.supernet = supernet
        self.order = order
        self.arch_grad_hook = arch_grad_hook
        self.weights = WeightLearner(
            supernet.weights(),
            model_forward if model_forward is not None else supernet,
            SGDOptions.of(weight_options),
            epochs=epochs,
        )
        self.a_optimizer = torch.optim.Adam(
            supernet.arch_parameters(), lr=a_lr, betas=a_betas, weight_decay=a_weight_decay
        )
        self.num_steps = 0

    @property
    def lr(self) -> float:
        """The current weight learning rate (xi of DARTS eq. (6))."""
        return self.weights.lr

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, float]:
        """One DARTS iteration (Algorithm 1): the architecture step on ``val_batch``, then the
        weight step on ``train_batch``. ``val_loss``/``val_acc`` are those the architecture step
        saw (at w for order 1, at the unrolled w' for order 2)."""
        self.supernet.train()
        train_batch, val_batch = self._to_device(train_batch), self._to_device(val_batch)
        lr = self.lr
        val_loss, val_acc = self.arch_step(train_batch, val_batch)
        train_loss, train_acc = self.weight_step(train_batch)
        self.num_steps += 1
        return {
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": lr,
        }

    def epoch_end(self) -> None:
        """Advance the cosine schedule of the weight learning rate by one epoch."""
        self.weights.epoch_end()

    def genotype(self) -> Genotype:
        """DARTS Sec. 2.4: the top-2 strongest non-``none`` incoming edges of every node."""
        return self.supernet.genotype()

    def arch_tensors(self) -> list[Tensor]:
        """Logits of the architecture distribution (softmax gives the mixing weights)."""
        return self.supernet.arch_parameters()

    def arch_gradients(
        self, train_batch: Batch, val_batch: Batch
    ) -> tuple[list[Tensor], Tensor, Tensor]:
        """Alpha gradients, validation loss and logits on the bare supernet: grad_alpha
        L_val(w, alpha) for order 1, DARTS eq. (7)-(8) for order 2."""
        arch = self.supernet.arch_parameters()
        if self.order == 2:
            return second_order_arch_gradients(
                self.supernet,
                arch,
                train_batch,
                val_batch,
                lr=self.lr,
                momentum=self.weights.momentum,
                weight_decay=self.weights.weight_decay,
                momentum_buffers=self.weights.momentum_buffers(),
            )
        logits = self.supernet(val_batch[0])
        loss = F.cross_entropy(logits, val_batch[1])
        grads = torch.autograd.grad(loss, arch, materialize_grads=True)
        return list(grads), loss.detach(), logits.detach()

    def apply_arch_gradients(self, grads: list[Tensor]) -> None:
        """Set the alpha gradients, run ``arch_grad_hook`` on them, take the Adam step."""
        owned = [grad.detach().clone() for grad in grads]
        for alpha, grad in zip(self.supernet.arch_parameters(), owned, strict=True):
            alpha.grad = grad
        if self.arch_grad_hook is not None:
            self.arch_grad_hook(owned)  # the .grad tensors themselves: edits in place count
        self.a_optimizer.step()

    def arch_step(self, train_batch: Batch, val_batch: Batch) -> tuple[float, float]:
        """Update alpha (DARTS Algorithm 1, step 1); returns validation loss and accuracy."""
        grads, loss, logits = self.arch_gradients(train_batch, val_batch)
        self.apply_arch_gradients(grads)
        return float(loss), accuracy(logits, val_batch[1])

    def weight_step(self, batch: Batch) -> tuple[float, float]:
        """Update w by descending grad_w L_train(w, alpha) (DARTS Algorithm 1, step 2);
        returns loss and accuracy."""
        result = self.weights.step(batch)
        for alpha in self.supernet.arch_parameters():  # backward reached them too; not this step's
            alpha.grad = None
        return result

    def state_dict(self) -> dict[str, Any]:
        """Weights, alphas, both optimisers, the schedule and the step counter."""
        return {
            "weights": self.supernet.state_dict(),
            "alphas": self.supernet.arch_state_dict(),
            "weight_learner": self.weights.state_dict(),
            "a_optimizer": self.a_optimizer.state_dict(),
            "num_steps": self.num_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.supernet.load_state_dict(state["weights"])
        self.supernet.load_arch_state_dict(state["alphas"])
        self.weights.load_state_dict(state["weight_learner"])
        self.a_optimizer.load_state_dict(state["a_optimizer"])
        self.num_steps = int(state["num_steps"])

    def _to_device(self, batch: Batch) -> Batch:
        device = self.supernet.alpha_normal.device
        return batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
