"""LFM's training-example weights a_i (Learning from Mistakes, Sec. III-B, eqs. (2)-(5)).

Shared by LFM for data reweighting (:mod:`raysearch.reweight.lfm_dr`) and for NAS: every
function is plain differentiable torch, so gradients reach the encoder V, the coefficient
vector r and (through the mistakes u) the weights of the first learner W1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def visual_similarity(train_features: torch.Tensor, val_features: torch.Tensor) -> torch.Tensor:
    """``x[i, j] = softmax_j(V(d_i^tr) . V(d_j^val))``: dot-product attention, LFM eq. (2).

    ``train_features`` is ``[n_tr, K]``, ``val_features`` ``[n_val, K]``; rows of x sum to one.
    """
    return torch.softmax(train_features @ val_features.T, dim=1)


def label_similarity(train_labels: torch.Tensor, val_labels: torch.Tensor) -> torch.Tensor:
    """``z[i, j] = 1{y_i^tr = y_j^val}`` as floats, LFM eq. (3)."""
    return (train_labels[:, None] == val_labels[None, :]).to(torch.get_default_dtype())


def validation_mistakes(val_logits: torch.Tensor, val_labels: torch.Tensor) -> torch.Tensor:
    """``u_j = CE(f(d_j^val; W1), y_j^val)``, the per-example validation loss, LFM eq. (4)."""
    return F.cross_entropy(val_logits, val_labels, reduction="none")


def example_weights(
    x: torch.Tensor, z: torch.Tensor, u: torch.Tensor, r: torch.Tensor
) -> torch.Tensor:
    """``a_i = sigmoid((x_i ⊙ z_i ⊙ u)^T r)``, LFM eq. (5); ``r`` has one entry per val example."""
    if r.shape != u.shape:
        raise ValueError(
            f"coefficient vector r has shape {tuple(r.shape)}; it needs one entry per "
            f"validation example, shape {tuple(u.shape)}"
        )
    return torch.sigmoid((x * z.to(x.dtype) * u[None, :]) @ r)


def lfm_weights(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    val_features: torch.Tensor,
    val_labels: torch.Tensor,
    val_logits: torch.Tensor,
    r: torch.Tensor,
) -> torch.Tensor:
    """The weights ``a`` of a training batch from eqs. (2)-(5) in one call."""
    x = visual_similarity(train_features, val_features)
    z = label_similarity(train_labels, val_labels)
    u = validation_mistakes(val_logits, val_labels)
    return example_weights(x, z, u, r)
