"""The DARTS second-order architecture gradient, as pure functions of a bare supernet.

DARTS (Liu et al., ICLR 2019), Sec. 2.3:

- eq. (6), one virtual weight step. As in the official code it is the weight optimiser's own
  SGD step, momentum and weight decay included: ``w' = w - xi (mu m + grad_w L_train(w, a) + lambda w)``.
- eq. (7), the approximate architecture gradient:
  ``grad_a L_val(w', a) - xi grad2_{a,w} L_train(w, a) grad_w' L_val(w', a)``.
- eq. (8), the Hessian-vector product by central finite differences:
  ``(grad_a L_train(w+, a) - grad_a L_train(w-, a)) / (2 eps)``, ``w+- = w +- eps v`` with
  ``v = grad_w' L_val(w', a)`` and ``eps = 0.01 / ||v||``.

Forward passes go through ``torch.func.functional_call`` with substituted weights and copies of
the buffers, so the module's parameters and BatchNorm statistics are never modified.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

Batch = tuple[Tensor, Tensor]  # (inputs, integer labels)


class FunctionalLoss:
    """Cross-entropy of ``model`` on a batch with its parameters replaced by ``values`` (in the
    order of :attr:`params`); returns ``(loss, logits)``."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        named = list(model.named_parameters())
        self.names = [name for name, _ in named]
        self.params = [param for _, param in named]
        self.buffers = dict(model.named_buffers())

    def __call__(self, values: Sequence[Tensor], batch: Batch) -> tuple[Tensor, Tensor]:
        inputs, labels = batch
        state = dict(zip(self.names, values, strict=True))
        state.update((name, buffer.clone()) for name, buffer in self.buffers.items())
        logits = functional_call(self.model, state, (inputs,))
        return F.cross_entropy(logits, labels), logits


def virtual_step(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    momentum_buffers: Sequence[Tensor | None],
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
) -> list[Tensor]:
    """DARTS eq. (6) as the official code takes it: the next SGD step of the weight optimiser,
    ``w - lr (momentum m + g + weight_decay w)`` (a missing buffer ``m`` counts as zero)."""
    unrolled = []
    for w, g, m in zip(params, grads, momentum_buffers, strict=True):
        step = g + weight_decay * w
        if m is not None:
            step = step + momentum * m
        unrolled.append(w - lr * step)
    return unrolled


def finite_difference_hvp(
    loss_at: Callable[[Sequence[Tensor]], Tensor],
    params: Sequence[Tensor],
    arch: Sequence[Tensor],
    vector: Sequence[Tensor],
    *,
    epsilon_scale: float = 0.01,
) -> list[Tensor]:
    """DARTS eq. (8): ``grad2_{a,w} L(w, a) v`` by central differences of ``grad_a L`` at
    ``w +- eps v`` with ``eps = epsilon_scale / ||v||`` (``loss_at(weights)`` evaluates L)."""
    norm = float(
        torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(v) for v in vector]))
    )
    if norm == 0.0:
        return [torch.zeros_like(a) for a in arch]
    eps = epsilon_scale / norm
    plus, minus = (
        torch.autograd.grad(
            loss_at([w + sign * eps * v for w, v in zip(params, vector, strict=True)]),
            arch,
            materialize_grads=True,
        )
        for sign in (1.0, -1.0)
    )
    return [(p - m) / (2.0 * eps) for p, m in zip(plus, minus, strict=True)]


def second_order_arch_gradients(
    model: nn.Module,
    arch: Sequence[Tensor],
    train_batch: Batch,
    val_batch: Batch,
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
    momentum_buffers: Sequence[Tensor | None] | None = None,
    epsilon_scale: float = 0.01,
) -> tuple[list[Tensor], Tensor, Tensor]:
    """DARTS eq. (7) with eq. (6) unrolling and the eq. (8) finite difference.

    ``arch`` are the architecture tensors the model uses; ``lr`` is xi (the current weight
    learning rate, as the official code uses). Returns the gradients w.r.t. ``arch`` and the
    validation loss and logits at the unrolled weights w'.
    """
    loss = FunctionalLoss(model)
    train_loss, _ = loss(loss.params, train_batch)
    grads = torch.autograd.grad(train_loss, loss.params, materialize_grads=True)
    weights = [p.detach() for p in loss.params]
    buffers = momentum_buffers if momentum_buffers is not None else [None] * len(weights)
    unrolled = [
        w.requires_grad_()
        for w in virtual_step(
            weights, grads, buffers, lr=lr, momentum=momentum, weight_decay=weight_decay
        )
    ]
    val_loss, val_logits = loss(unrolled, val_batch)
    found = torch.autograd.grad(val_loss, [*arch, *unrolled], materialize_grads=True)
    d_arch, d_unrolled = found[: len(arch)], found[len(arch) :]
    hvp = finite_difference_hvp(
        lambda values: loss(values, train_batch)[0],
        weights,
        arch,
        d_unrolled,
        epsilon_scale=epsilon_scale,
    )
    gradients = [g - lr * h for g, h in zip(d_arch, hvp, strict=True)]
    return gradients, val_loss.detach(), val_logits.detach()
