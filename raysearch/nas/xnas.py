"""XNAS (Nayman et al., NeurIPS 2019) as a supernet method.

Every edge is a forecaster over the ops (experts). The mixed op uses the normalised EG weights
u_{t,i} = v_{t,i} / sum_{l in I_t} v_{t,l} (XNAS eq. (1), Algorithm 1 line 5) through the
``SuperNet.edge_weights`` provider, one :class:`XNASExperts` per cell type (normal, reduce).
The architecture update (Algorithm 1 lines 6-12) takes the loss gradient on a validation batch
w.r.t. u (eq. (35)), clips it to [-L, L] (eq. (20)), and applies v <- v exp(eta R) with R = -grad
(line 9), then wipes experts with v < theta_t (eq. (21), lines 11-12). Wiped ops are marked
``alive=False`` and are never run. No momentum, no weight decay on the architecture. The
weights are trained as in DARTS (SGD with momentum, cosine annealing, gradient clipping), and
Algorithm 1 updates them first (line 4), then the experts (``order="weights-first"``).

Horizon (``horizon="paper"``, Sec. 3.1 "Multiple Learning Rates"): a round is the gradient
feedback of one validation sample through one of the r_c cells sharing cell type c's experts, so
T_c = d * E * r_c (d: validation samples per epoch, ``steps_per_epoch * samples_per_step``) and
eta*_c = sqrt(2 ln N / T_c) / L (eq. (4)) per cell type: 7.4e-4 for normal and 1.3e-3 for
reduction cells on CIFAR-10's 25k with 50 epochs, 6 + 2 cells (Sec. 3.2.2 prints 7.5e-4, 1.3e-3).
A step aggregates ``samples_per_step * r_c`` rounds with the per-round mean gradient (the
batch-mean gradient w.r.t. the shared u, divided by r_c), clipped to [-L, L] per round.
``horizon="steps"`` is the earlier rule: one round per step (T = E * steps, one eta for both
types), the gradient summed over a type's cells clipped as one round.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from raysearch.nas.supernet import EdgeWeights, SuperNet, derive_genotype
from raysearch.nas.unrolled import Batch
from raysearch.nas.weight_learner import SGDOptions, WeightLearner
from raysearch.nas.xnas_experts import XNASExperts, effective_horizon
from search_spaces.darts import Genotype

ArchGradHook = Callable[[list[Tensor]], None]
HORIZONS = ("paper", "steps")
ORDERS = ("weights-first", "arch-first")


class XNAS:
    """XNAS method: ``step(train_batch, val_batch) -> metrics`` (Algorithm 1 + DARTS weight step)."""

    def __init__(
        self,
        supernet: SuperNet,
        *,
        epochs: int = 50,
        steps_per_epoch: int = 1,
        samples_per_step: int = 1,
        horizon: str = "paper",
        order: str = "weights-first",
        grad_bound: float = 1.0,
        eta: float | None = None,
        zeta: float = 1.0,
        wipeout: bool = True,
        weight_options: SGDOptions | Mapping[str, float] | None = None,
        model_forward: Callable[[Tensor], Tensor] | None = None,
        arch_grad_hook: ArchGradHook | None = None,
    ) -> None:
        if min(epochs, steps_per_epoch, samples_per_step) < 1:
            raise ValueError(
                f"epochs, steps_per_epoch and samples_per_step must be >= 1, got {epochs}, "
                f"{steps_per_epoch}, {samples_per_step}"
            )
        if horizon not in HORIZONS or order not in ORDERS:
            raise ValueError(
                f"horizon must be one of {HORIZONS} and order one of {ORDERS}, got "
                f"{horizon!r}, {order!r}"
            )
        self.supernet = supernet
        self.arch_grad_hook = arch_grad_hook
        self.order, self.horizon = order, horizon
        edges, ops = supernet.alpha_normal.shape
        device = supernet.alpha_normal.device
        # r_c: cells sharing a type's experts (at least 1: a type without cells gets no gradient)
        self.replicas = {red: max(1, supernet.reductions.count(red)) for red in (False, True)}
        self.rounds = {
            red: samples_per_step * r if horizon == "paper" else 1
            for red, r in self.replicas.items()
        }
        self.experts = {
            red: XNASExperts(
                int(edges),
                int(ops),
                horizon=(
                    effective_horizon(
                        steps_per_epoch * samples_per_step, epochs, self.replicas[red]
                    )
                    if horizon == "paper"
                    else epochs * steps_per_epoch
                ),
                grad_bound=grad_bound,
                eta=eta,
                zeta=zeta,
                wipeout=wipeout,
                device=device,
            )  # fmt: skip
            for red in (False, True)
        }
        self._u: dict[bool, Tensor] = {}
        self._refresh(requires_grad=False)
        supernet.edge_weights = self.provider
        self.weights = WeightLearner(
            supernet.weights(),
            model_forward if model_forward is not None else supernet,
            SGDOptions.of(weight_options),
            epochs=epochs,
        )
        self.num_steps = 0

    def provider(self, cell_index: int, reduction: bool) -> EdgeWeights:
        """Edge weights u (eq. (1)) of the cell type and its alive mask I_t (eq. (21))."""
        return EdgeWeights(self._u[reduction], self.experts[reduction].alive_mask().cpu())

    def _refresh(self, *, requires_grad: bool) -> None:
        dtype = self.supernet.alpha_normal.dtype
        for red, ex in self.experts.items():
            self._u[red] = ex.weights().to(dtype).detach().requires_grad_(requires_grad)

    @property
    def lr(self) -> float:
        return self.weights.lr

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, float]:
        """Algorithm 1: the weight step on ``train_batch`` (line 4), then the EG step on
        ``val_batch`` (lines 5-12); ``order="arch-first"`` swaps them."""
        self.supernet.train()
        self.supernet.edge_weights = self.provider
        device = self.supernet.alpha_normal.device
        train_batch = (train_batch[0].to(device), train_batch[1].to(device))
        val_batch = (val_batch[0].to(device), val_batch[1].to(device))
        lr = self.lr
        if self.order == "weights-first":
            train_loss, train_acc = self.weight_step(train_batch)
            val_loss, val_acc = self.arch_step(val_batch)
        else:
            val_loss, val_acc = self.arch_step(val_batch)
            train_loss, train_acc = self.weight_step(train_batch)
        self.num_steps += 1
        return {
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": lr,
            "alive_ops": float(
                self.experts[False].alive_mask().sum() + self.experts[True].alive_mask().sum()
            ),
            "alive_ops_normal": float(self.experts[False].alive_mask().sum()),
            "alive_ops_reduce": float(self.experts[True].alive_mask().sum()),
        }

    def arch_inputs(self) -> list[Tensor]:
        """The u tensors (normal, reduce) the supernet reads, as fresh leaves with gradients on:
        a wrapper (LeaSE, LFM) differentiates its own losses w.r.t. them."""
        self._refresh(requires_grad=True)
        return [self._u[False], self._u[True]]

    def arch_gradients(self, val_batch: Batch) -> tuple[list[Tensor], Tensor, Tensor]:
        """Gradient of L_val w.r.t. u (eq. (35)), the validation loss and logits."""
        u = self.arch_inputs()
        logits = self.supernet(val_batch[0])
        loss = F.cross_entropy(logits, val_batch[1])
        grads = list(torch.autograd.grad(loss, u, materialize_grads=True))
        return grads, loss.detach(), logits.detach()

    def apply_arch_gradients(self, grads: list[Tensor]) -> None:
        """Algorithm 1 lines 8-12 with ``grads`` w.r.t. u: ``arch_grad_hook``, EG update, wipeout."""
        grads = [g.detach().clone() for g in grads]
        if self.arch_grad_hook is not None:
            self.arch_grad_hook(grads)
        for red, g in zip((False, True), grads, strict=True):
            per_round = g / self.replicas[red] if self.horizon == "paper" else g
            self.experts[red].update(per_round, rounds=self.rounds[red])
        self._refresh(requires_grad=False)
        for p in self.supernet.weights():
            p.grad = None

    def arch_step(self, val_batch: Batch) -> tuple[float, float]:
        """Algorithm 1 lines 6-12: grad of L_val w.r.t. u (eq. (35)), EG update and wipeout."""
        grads, loss, logits = self.arch_gradients(val_batch)
        self.apply_arch_gradients(grads)
        acc = float((logits.argmax(1) == val_batch[1]).float().mean())
        return float(loss), acc

    def weight_step(self, batch: Batch) -> tuple[float, float]:
        """DARTS weight step: SGD on L_train(w, u) with gradient clipping."""
        return self.weights.step(batch)

    def epoch_end(self) -> None:
        self.weights.epoch_end()

    def arch_tensors(self) -> list[Tensor]:
        """log u per cell type: its softmax is the experts' normalised weights (eq. (1));
        wiped-out experts have log u = -inf."""
        return [self.experts[red].weights().log() for red in (False, True)]

    def genotype(self) -> Genotype:
        """DARTS Sec. 2.4 derivation from the experts' weights u."""
        return derive_genotype(
            self.experts[False].weights(),
            self.experts[True].weights(),
            primitives=self.supernet.primitives,
            steps=self.supernet.steps,
            multiplier=self.supernet.multiplier,
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "weights": self.supernet.state_dict(),
            "experts_normal": self.experts[False].state_dict(),
            "experts_reduce": self.experts[True].state_dict(),
            "weight_learner": self.weights.state_dict(),
            "num_steps": self.num_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.supernet.load_state_dict(state["weights"])
        self.experts[False].load_state_dict(state["experts_normal"])
        self.experts[True].load_state_dict(state["experts_reduce"])
        self.weights.load_state_dict(state["weight_learner"])
        self.num_steps = int(state["num_steps"])
        self._refresh(requires_grad=False)
