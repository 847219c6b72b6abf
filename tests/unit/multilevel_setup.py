"""Set-up shared by the LeaSE and LFM tests: the tiny supernet, batches, the smooth float64
networks the finite-difference checks need, the error measure and a virtual SGD step written
independently of raysearch.nas.unrolled."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from raysearch.nas.supernet import SuperNet
from raysearch.nas.unrolled import Batch
from raysearch.nas.weight_learner import WeightLearner
from search_spaces.darts import PRIMITIVES

TINY = {"in_channels": 3, "num_classes": 4, "C": 4, "layers": 2, "steps": 2, "multiplier": 2}
BATCH = 8


def batches(n: int, *, seed: int = 1, dtype: torch.dtype = torch.float32) -> list[Batch]:
    """``n`` random ``(inputs, labels)`` batches of 8 images 3x8x8, 4 classes."""
    g = torch.Generator().manual_seed(seed)
    return [
        (
            torch.randn(BATCH, 3, 8, 8, generator=g, dtype=dtype),
            torch.randint(0, 4, (BATCH,), generator=g),
        )
        for _ in range(n)
    ]


def indexed(data: Sequence[Batch], first: int = 0) -> list[tuple[Tensor, Tensor, Tensor]]:
    """The batches with the training-set indices of their examples (batch k: first + 8k ...)."""
    return [
        (x, y, torch.arange(first + BATCH * k, first + BATCH * (k + 1)))
        for k, (x, y) in enumerate(data)
    ]


def smooth_supernet(seed: int, *, alpha_seed: int | None = None) -> SuperNet:
    """Float64, ReLU -> Softplus, no max pooling: central differences assume a twice
    differentiable loss; ReLU kinks and max-pool switches on a tiny net dominate the quotient.
    Three layers so that both cell types exist (with two, both cells reduce). ``alpha_seed``
    draws alphas from N(0, 0.5^2) instead of the 1e-3 initialisation."""
    torch.manual_seed(seed)
    prims = tuple(p for p in PRIMITIVES if p != "max_pool_3x3")
    net = SuperNet(**{**TINY, "layers": 3}, primitives=prims).double()  # type: ignore[arg-type]
    for module in list(net.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.ReLU):
                setattr(module, name, nn.Softplus(beta=4.0))
    if alpha_seed is not None:
        with torch.no_grad():
            for alpha in net.arch_parameters():
                alpha.normal_(0, 0.5, generator=torch.Generator().manual_seed(alpha_seed))
    return net


def errors(approx: Sequence[Tensor], exact: Sequence[Tensor]) -> tuple[float, float]:
    """(max over entries |approx - exact| / max |exact|, max over tensors of the norm ratio)."""
    diff = max(float((a - e).abs().max()) for a, e in zip(approx, exact, strict=True))
    scale = max(float(e.abs().max()) for e in exact)
    norm = max(
        float(torch.linalg.vector_norm(a - e) / torch.linalg.vector_norm(e))
        for a, e in zip(approx, exact, strict=True)
    )
    return diff / scale, norm


def sgd_virtual(values: list[Tensor], grads: Sequence[Tensor], learner: WeightLearner) -> list:
    """w - lr (mu m + g + wd w), written out independently of raysearch.nas.unrolled."""
    return [
        w - learner.lr * (learner.momentum * m + g + learner.weight_decay * w)
        for w, g, m in zip(values, grads, learner.momentum_buffers(), strict=True)
    ]
