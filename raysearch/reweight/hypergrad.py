"""One-step-unrolled hypergradients of LFM for data reweighting (LFM eq. (9), Sec. III-D).

With one step of the learners' own SGD optimiser (learning rate ``eta``, momentum ``mu`` with
buffer ``m``, weight decay ``lambda``; DARTS eq. (6) as :func:`raysearch.nas.unrolled.virtual_step`
takes it) in place of each inner argmin,

    W1' = W1 - eta * (grad_W1 mean_i(b_i * l_i(W1)) + lambda W1 + mu m1)   (Stage I, eq. (9))
    a   = sigmoid((x ⊙ z ⊙ u(W1'))^T r),  x from V                         (Stage II, eqs. (2)-(5))
    W2' = W2 - eta * (grad_W2 mean_i(a_i * l_i(W2)) + lambda W2 + mu m2)   (Stage II, eq. (6))
    L   = CE(f(D_val; W2'))                                                 (Stage III, eq. (7))

the chain rule gives, with ``g = dL/dW2'`` and ``h = dL/dW1'``,

    dL/da_i = -eta/n * g . grad_W2 l_i(W2)       dL/db_i = -eta/n * h . grad_W1 l_i(W1)

(the momentum and weight-decay terms do not depend on a or b) and dL/dV, dL/dr, h by
back-propagating ``dL/da`` through eqs. (2)-(5). Each ``v . grad l_i`` is a
Hessian-vector product of the mixed kind; as in DARTS (eq. (8)) it is approximated by a central
finite difference ``(l_i(W + eps v) - l_i(W - eps v)) / (2 eps)`` with ``eps = 0.01 / ||v||``
(the official LFM code's ``_hessian_vector_product``), or computed exactly by double
back-propagation (``hessian="exact"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from raysearch.nas.unrolled import virtual_step
from raysearch.reweight.lfm_weights import lfm_weights

Params = dict[str, torch.Tensor]
HESSIAN_MODES = ("finite-difference", "exact")


def check_hessian_mode(mode: str) -> None:
    if mode not in HESSIAN_MODES:
        raise ValueError(f"unknown hessian mode {mode!r}; allowed: {', '.join(HESSIAN_MODES)}")


def per_sample_loss(
    model: nn.Module, params: Params, images: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """``l_i(W)``: the cross-entropy of every example under the weights ``params``."""
    return F.cross_entropy(functional_call(model, params, (images,)), labels, reduction="none")


def sgd_unroll(
    model: nn.Module,
    params: Params,
    images: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    lr: float,
    *,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    momentum_buffers: dict[str, torch.Tensor | None] | None = None,
) -> Params:
    """The next step of the learner's SGD optimiser on ``mean_i(w_i * l_i(W))`` with the weights
    held fixed (detached): ``W' = W - lr (g + weight_decay W + momentum m)``; a missing buffer
    ``m`` (before the first real step) counts as zero, as in ``torch.optim.SGD``."""
    leaves = {k: p.detach().requires_grad_() for k, p in params.items()}
    loss = (weights.detach() * per_sample_loss(model, leaves, images, labels)).mean()
    grads = torch.autograd.grad(loss, list(leaves.values()))
    buffers = [(momentum_buffers or {}).get(k) for k in leaves]
    stepped = virtual_step(
        [p.detach() for p in leaves.values()], grads, buffers,
        lr=lr, momentum=momentum, weight_decay=weight_decay,
    )  # fmt: skip
    return {k: p.detach() for k, p in zip(leaves, stepped, strict=True)}


def example_gradient_dots(
    model: nn.Module,
    params: Params,
    images: torch.Tensor,
    labels: torch.Tensor,
    direction: list[torch.Tensor],
    *,
    hessian: str = "finite-difference",
    epsilon: float = 0.01,
) -> torch.Tensor:
    """``(1/n) v . grad_W l_i(W)`` for every example i of the batch (``v = direction``): exactly
    by double back-propagation, or by the central difference of DARTS eq. (8)."""
    check_hessian_mode(hessian)
    n = len(labels)
    if hessian == "exact":
        # d/dw_i of v . grad_W mean_i(w_i * l_i(W)), by double back-propagation
        leaves = {k: p.detach().requires_grad_() for k, p in params.items()}
        per_example = per_sample_loss(model, leaves, images, labels)
        probe = torch.ones_like(per_example).requires_grad_()
        grads = torch.autograd.grad(
            (probe * per_example).mean(), list(leaves.values()), create_graph=True
        )
        dot = torch.stack([(g * v).sum() for g, v in zip(grads, direction, strict=True)]).sum()
        (per_weight,) = torch.autograd.grad(dot, probe)
        return per_weight.detach()
    norm = math.sqrt(sum(float(v.pow(2).sum()) for v in direction))
    if norm == 0.0:
        return torch.zeros(n, dtype=images.dtype, device=images.device)
    eps = epsilon / norm
    with torch.no_grad():
        plus = {k: p + eps * v for (k, p), v in zip(params.items(), direction, strict=True)}
        minus = {k: p - eps * v for (k, p), v in zip(params.items(), direction, strict=True)}
        difference = per_sample_loss(model, plus, images, labels) - per_sample_loss(
            model, minus, images, labels
        )
    return difference / (2 * eps * n)


def weight_sensitivity(
    model: nn.Module,
    params: Params,
    images: torch.Tensor,
    labels: torch.Tensor,
    direction: list[torch.Tensor],
    lr: float,
    *,
    hessian: str = "finite-difference",
    epsilon: float = 0.01,
) -> torch.Tensor:
    """``-lr/n * v . grad_W l_i(W)`` for every example i: how a loss whose gradient at the
    unrolled weights is ``v`` moves with example i's weight (DARTS eq. (7), finite difference (8))."""
    dots = example_gradient_dots(
        model, params, images, labels, direction, hessian=hessian, epsilon=epsilon
    )
    return -lr * dots


@dataclass(frozen=True)
class HyperGradients:
    """dL/db for the batch's entries of B, dL/dr, dL/dV (one tensor per encoder parameter),
    the weights ``a`` of the batch and the validation loss L of the unrolled W2'."""

    b: torch.Tensor
    r: torch.Tensor
    encoder: list[torch.Tensor]
    a: torch.Tensor
    val_loss: float


def lfm_dr_hypergradients(
    *,
    learner: nn.Module,
    w1: Params,
    w2: Params,
    encoder: nn.Module,
    r: torch.Tensor,
    b: torch.Tensor,
    images: torch.Tensor,
    labels: torch.Tensor,
    meta_images: torch.Tensor,
    meta_labels: torch.Tensor,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    momentum_buffers: tuple[dict[str, torch.Tensor | None], dict[str, torch.Tensor | None]]
    | None = None,
    hessian: str = "finite-difference",
    epsilon: float = 0.01,
    with_b: bool = True,
) -> HyperGradients:
    """Gradients of L(W2'(W1'(B), V, r), D_val) w.r.t. B, V and r through one-step unrolls
    of W1 and W2 (LFM eq. (9), Sec. III-D); ``learner`` is the architecture W1 and W2 share.

    ``momentum_buffers`` are the SGD buffers of W1 and W2 by parameter name; ``with_b=False``
    skips dL/dB (zeros), for a run that updates B by another rule."""
    check_hessian_mode(hessian)
    buffers1, buffers2 = momentum_buffers or ({}, {})
    sgd = {"momentum": momentum, "weight_decay": weight_decay}
    # Stage I: one step of W1 on the b-weighted training loss
    w1_next = sgd_unroll(learner, w1, images, labels, b, lr, momentum_buffers=buffers1, **sgd)
    w1_leaves = {k: p.requires_grad_() for k, p in w1_next.items()}
    # Stage II: weights a from the mistakes of W1' (eqs. (2)-(5)); one step of W2 (eq. (6))
    a = lfm_weights(
        encoder(images),
        labels,
        encoder(meta_images),
        meta_labels,
        functional_call(learner, w1_leaves, (meta_images,)),
        r,
    )
    w2_next = sgd_unroll(learner, w2, images, labels, a, lr, momentum_buffers=buffers2, **sgd)
    # Stage III: validation loss of W2' (eq. (7)) and its gradient g
    w2_leaves = {k: p.requires_grad_() for k, p in w2_next.items()}
    val_loss = F.cross_entropy(functional_call(learner, w2_leaves, (meta_images,)), meta_labels)
    g = list(torch.autograd.grad(val_loss, list(w2_leaves.values())))
    d_a = weight_sensitivity(learner, w2, images, labels, g, lr, hessian=hessian, epsilon=epsilon)
    # back through eqs. (2)-(5): to r, V and W1' (h = dL/dW1', via the mistakes u)
    encoder_params = [p for p in encoder.parameters() if p.requires_grad]
    grads = torch.autograd.grad(
        a, [r, *encoder_params, *w1_leaves.values()], grad_outputs=d_a, allow_unused=True
    )
    n_enc = len(encoder_params)
    d_r = _or_zeros(grads[0], r)
    d_encoder = [_or_zeros(d, p) for d, p in zip(grads[1 : 1 + n_enc], encoder_params, strict=True)]
    h = [_or_zeros(d, p) for d, p in zip(grads[1 + n_enc :], w1_leaves.values(), strict=True)]
    d_b = (
        weight_sensitivity(learner, w1, images, labels, h, lr, hessian=hessian, epsilon=epsilon)
        if with_b
        else torch.zeros_like(b)
    )
    return HyperGradients(
        b=d_b, r=d_r, encoder=d_encoder, a=a.detach(), val_loss=float(val_loss.detach())
    )


def _or_zeros(grad: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(like) if grad is None else grad.detach()
