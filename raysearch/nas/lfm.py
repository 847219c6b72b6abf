"""LFM for NAS: learning from mistakes (Garg, Xie et al., LFM Sec. III-B/C/D) around a base method.

Two supernets share the architecture A (the base's alphas, or XNAS' u): W1 is the base method's
supernet, W2 a second one. One step, in the per-step order of the official ``Architect.step``:

1. A, V, r from the validation loss of W2' (eq. (8), top level; Sec. III-D): the unrolls
   W1' = W1 - xi_1 grad L(W1, A, D_tr) (stage I, eq. (1)); the mistakes u_j = CE of W1' on the
   validation batch (eq. (4)); the weights a_i = sigmoid((x_i * z_i * u)^T r) (eqs. (2)-(5), the
   shared :mod:`raysearch.reweight.lfm_weights`); W2' = W2 - xi_2 grad mean_i a_i l_i(W2, A)
   (stage II, eq. (6)). The hypergradient of L(W2', A, D_val) reaches A directly, through W2'
   (the Hessian term of eq. (6)'s unroll, kept for every base as the paper's eq. (8) needs and
   the official code computes with and without ``--unrolled``) and through a -> u -> W1' (second
   order only). u depends on A only through W1' ("a_i is a function of V, W1*(B) and r", Sec.
   III-B): its direct dependence is cut, as the official code's ``copy_arch_parameters`` does.
   V and r get their gradient through a. Every mixed second derivative is a central difference
   as in DARTS eq. (8) (eps = 0.01 / ||v||), so the V and r gradients carry the factor -xi_2 the
   official code multiplies them by. A first-order base (DARTS-1st, XNAS) holds W1' fixed in A.
2. W1: the base's weight step (plain cross-entropy).
3. W2: SGD on mean_i a_i l_i with a recomputed (detached) at the updated A, V, r and the
   stepped W1, as the official ``step_w2`` does (``w2_weights="recomputed"``, default);
   ``"reused"`` trains W2 on the a of step 1 (one unroll cheaper; the behaviour before).

Official defaults (``train_search_lfm.py``): W1, W2 SGD lr 1e-2, momentum 0.9, wd 1e-4; A Adam
1e-3, betas (0.5, 0.999), wd 1e-5 (set on a DARTS base by the registry builder); V and r Adam
1e-2, betas (0.5, 0.999), wd 1e-4; every cosine schedule to 2.5e-4; gradients clipped at 5 (A,
V, r jointly per variable). r is ``Linear(batch, 1)`` initialised to ones + 1e-3 noise: its
length is the validation batch size, fixed at the first step. The encoder V is a small conv net
by default (the official ImageNet ResNets are not available offline); pass a module and
optionally a ``torch.save``-d state_dict path.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from raysearch.nas.darts import Darts
from raysearch.nas.hypergrad import BaseArch, ModuleWrapper, clip_, finite_difference_hvp, unroll
from raysearch.nas.supernet import SuperNet
from raysearch.nas.unrolled import Batch, FunctionalLoss
from raysearch.nas.weight_learner import SGDOptions, WeightLearner, accuracy
from raysearch.nas.xnas import XNAS
from raysearch.reweight.lfm_weights import example_weights, label_similarity, visual_similarity
from search_spaces.darts import Genotype

# The official A optimiser, for a DARTS base (the registry builder sets them unless given).
DARTS_BASE_DEFAULTS: dict[str, Any] = {"a_lr": 1e-3, "a_weight_decay": 1e-5}
OFFICIAL_SGD = SGDOptions(lr=1e-2, weight_decay=1e-4, lr_min=2.5e-4)  # W1 and W2
W2_WEIGHTS = ("recomputed", "reused")


def default_encoder(in_channels: int, features: int = 32) -> nn.Module:
    """The encoder V by default: two 3x3 conv-BN-ReLU layers and global average pooling."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, features, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(features),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


@dataclass
class LFMGradient:
    """Hypergradients of L(W2', A, D_val) and what the step reuses."""

    arch: list[Tensor]
    encoder: list[Tensor]
    r: Tensor
    a: Tensor  # the training-example weights of eq. (5), detached
    val_loss: Tensor
    val_logits: Tensor


def lfm_hypergradients(
    *,
    w1: FunctionalLoss,
    w1_learner: WeightLearner,
    w2: FunctionalLoss,
    w2_learner: WeightLearner,
    arch: Sequence[Tensor],
    encoder: nn.Module,
    r: Tensor,
    train_batch: Batch,
    val_batch: Batch,
    second_order: bool = True,
    epsilon_scale: float = 0.01,
) -> LFMGradient:
    """d L(W2'(W1'(A), V, r, A), A, D_val) / d(A, V, r) through the one-step unrolls of LFM
    Sec. III-D, mixed second derivatives by central differences (DARTS eq. (8))."""
    arch = list(arch)
    k = len(arch)
    (x_tr, y_tr), (x_val, y_val) = train_batch, val_batch
    w1_now, w2_now = [p.detach() for p in w1.params], [p.detach() for p in w2.params]
    w1_next = unroll(w1(w1.params, train_batch)[0], w1.params, w1_learner)
    u = F.cross_entropy(w1(w1_next, val_batch)[1], y_val, reduction="none")  # eq. (4)
    u_leaf = u.detach().requires_grad_()
    x = visual_similarity(encoder(x_tr), encoder(x_val))
    a = example_weights(x, label_similarity(y_tr, y_val), u_leaf, r)
    a_leaf = a.detach().requires_grad_()

    def weighted_loss(values: Sequence[Tensor], weights: Tensor) -> Tensor:  # eq. (6)
        logits = w2(values, train_batch)[1]
        return (weights * F.cross_entropy(logits, y_tr, reduction="none")).mean()

    w2_next = unroll(weighted_loss(w2.params, a_leaf.detach()), w2.params, w2_learner)
    val_loss, val_logits = w2(w2_next, val_batch)
    found = torch.autograd.grad(val_loss, [*arch, *w2_next], materialize_grads=True)
    h = finite_difference_hvp(
        lambda w: weighted_loss(w, a_leaf), w2_now, [*arch, a_leaf], found[k:],
        epsilon_scale=epsilon_scale,
    )  # fmt: skip
    xi2 = w2_learner.lr
    d_arch = [g - xi2 * x for g, x in zip(found[:k], h[:k], strict=True)]  # through W2'
    v_a = -xi2 * h[k]
    encoder_params = list(encoder.parameters())
    through_a = torch.autograd.grad(
        a, [*encoder_params, r, u_leaf], grad_outputs=v_a, materialize_grads=True
    )
    d_encoder, d_r, v_u = list(through_a[:-2]), through_a[-2], through_a[-1]
    if second_order:  # a -> u -> W1' -> A; u's direct dependence on A is cut (see above)
        through_u = torch.autograd.grad(u, w1_next, grad_outputs=v_u, materialize_grads=True)
        h1 = finite_difference_hvp(
            lambda w: w1(w, train_batch)[0], w1_now, arch, through_u,
            epsilon_scale=epsilon_scale,
        )  # fmt: skip
        d_arch = [g - w1_learner.lr * x for g, x in zip(d_arch, h1, strict=True)]
    return LFMGradient(d_arch, d_encoder, d_r, a.detach(), val_loss.detach(), val_logits.detach())


def current_example_weights(
    *,
    w1: FunctionalLoss,
    w1_learner: WeightLearner,
    encoder: nn.Module,
    r: Tensor,
    train_batch: Batch,
    val_batch: Batch,
) -> Tensor:
    """a of eq. (5), detached, at the current W1 (unrolled one step, eq. (1)), A, V and r: what
    W2 trains on in the official ``step_w2``."""
    w1_next = unroll(w1(w1.params, train_batch)[0], w1.params, w1_learner)
    with torch.no_grad():
        u = F.cross_entropy(w1(w1_next, val_batch)[1], val_batch[1], reduction="none")
        x = visual_similarity(encoder(train_batch[0]), encoder(val_batch[0]))
        return example_weights(x, label_similarity(train_batch[1], val_batch[1]), u, r)


def second_supernet(supernet: SuperNet) -> SuperNet:
    """W2: a copy of ``supernet`` with its own weights, reading the same architecture tensors."""
    provider, supernet.edge_weights = supernet.edge_weights, None
    try:
        twin = copy.deepcopy(supernet)
    finally:
        supernet.edge_weights = provider
    share_architecture(twin, supernet)
    return twin


def share_architecture(twin: SuperNet, supernet: SuperNet) -> None:
    """Make ``twin`` read ``supernet``'s alphas and edge-weight provider (XNAS' u)."""
    twin.alpha_normal, twin.alpha_reduce = supernet.alpha_normal, supernet.alpha_reduce
    twin.edge_weights = supernet.edge_weights


class LFM:
    """LFM-NAS around ``base`` (:class:`Darts` order 1/2 or :class:`XNAS`):
    ``step(train_batch, val_batch) -> metrics`` (LFM Algorithm 1 in the official order).
    ``KEYWORDS`` are LFM's own; ``epochs`` is shared with the base; ``grad_clip`` clips A, V and r."""

    KEYWORDS = (
        "second", "encoder", "encoder_checkpoint", "w2_options", "grad_clip", "v_lr", "r_lr",
        "betas", "v_weight_decay", "r_weight_decay", "lr_min", "w2_weights", "seed",
    )  # fmt: skip

    @staticmethod
    def base_defaults(base: str) -> dict[str, Any]:
        """The official optimiser settings for the base method named ``base``."""
        darts = base.startswith("darts")
        return {"weight_options": OFFICIAL_SGD, **(DARTS_BASE_DEFAULTS if darts else {})}

    def __init__(
        self,
        base: Darts | XNAS,
        *,
        second: SuperNet | None = None,
        encoder: nn.Module | None = None,
        encoder_checkpoint: str | Path | None = None,
        w2_options: SGDOptions | Mapping[str, float] | None = None,
        epochs: int = 50,
        grad_clip: float = 5.0,
        v_lr: float = 1e-2,
        r_lr: float = 1e-2,
        betas: tuple[float, float] = (0.5, 0.999),
        v_weight_decay: float = 1e-4,
        r_weight_decay: float = 1e-4,
        lr_min: float = 2.5e-4,
        w2_weights: str = "recomputed",
        seed: int = 0,
        wrap_module: ModuleWrapper | None = None,
    ) -> None:
        if w2_weights not in W2_WEIGHTS:
            raise ValueError(f"w2_weights must be one of {list(W2_WEIGHTS)}, got {w2_weights!r}")
        self.w2_weights = w2_weights
        self.arch = BaseArch(base)
        self.base = base
        self.weights: WeightLearner = base.weights  # W1: the base's weight learner
        alpha = base.supernet.alpha_normal
        if second is None:
            second = second_supernet(base.supernet)
        else:
            share_architecture(second, base.supernet)
        self.second = second.to(alpha.device)
        if encoder is None:
            stem = base.supernet.stem[0]
            assert isinstance(stem, nn.Conv2d)
            encoder = default_encoder(stem.in_channels).to(alpha.dtype)
        if encoder_checkpoint is not None:
            state = torch.load(Path(encoder_checkpoint), map_location="cpu", weights_only=True)
            encoder.load_state_dict(state)
        self.encoder = encoder.to(alpha.device)
        forward = wrap_module(self.second) if wrap_module is not None else self.second
        self.w2 = WeightLearner(
            self.second.weights(), forward,
            OFFICIAL_SGD if w2_options is None else SGDOptions.of(w2_options), epochs=epochs,
        )  # fmt: skip
        self.grad_clip = grad_clip
        self.v_optimizer = torch.optim.Adam(
            self.encoder.parameters(), lr=v_lr, betas=betas, weight_decay=v_weight_decay
        )
        self.r_settings = {"lr": r_lr, "betas": betas, "weight_decay": r_weight_decay}
        self.epochs, self.lr_min = epochs, lr_min
        self.v_scheduler = self._cosine(self.v_optimizer)
        self.r: Tensor | None = None  # created at the first step (its length is the batch size)
        self.r_optimizer: torch.optim.Adam | None = None
        self.r_scheduler: torch.optim.lr_scheduler.CosineAnnealingLR | None = None
        self.generator = torch.Generator().manual_seed(seed)
        self.num_steps = 0

    @property
    def supernet(self) -> SuperNet:
        """W1, the base's supernet (holding the shared architecture)."""
        return self.base.supernet

    def _cosine(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=self.epochs, eta_min=self.lr_min
        )

    def _make_r(self, size: int) -> Tensor:
        alpha = self.supernet.alpha_normal
        noise = torch.randn(size, generator=self.generator, dtype=alpha.dtype)
        self.r = (torch.ones(size, dtype=alpha.dtype) + 1e-3 * noise).to(alpha.device)
        self.r.requires_grad_()
        self.r_optimizer = torch.optim.Adam([self.r], **self.r_settings)  # type: ignore[arg-type]
        self.r_scheduler = self._cosine(self.r_optimizer)  # type: ignore[assignment]
        return self.r

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, float]:
        """A, V, r from L(W2', D_val); then W1 (plain) and W2 (a-weighted) SGD steps."""
        for net in (self.supernet, self.second, self.encoder):
            net.train()
        device = self.supernet.alpha_normal.device
        train_batch = (train_batch[0].to(device), train_batch[1].to(device))
        val_batch = (val_batch[0].to(device), val_batch[1].to(device))
        if train_batch[0].shape[0] != val_batch[0].shape[0]:
            raise ValueError(
                f"LFM needs equal train and val batch sizes (r is Linear(batch, 1)), got "
                f"{train_batch[0].shape[0]} and {val_batch[0].shape[0]}"
            )
        r = self.r if self.r is not None else self._make_r(int(val_batch[0].shape[0]))
        lr = self.base.lr
        self.second.edge_weights = self.supernet.edge_weights
        found = lfm_hypergradients(
            w1=FunctionalLoss(self.supernet),
            w1_learner=self.base.weights,
            w2=FunctionalLoss(self.second),
            w2_learner=self.w2,
            arch=self.arch.inputs(),
            encoder=self.encoder,
            r=r,
            train_batch=train_batch,
            val_batch=val_batch,
            second_order=self.arch.second_order,
        )
        for grads in (found.arch, found.encoder, [found.r]):
            clip_(grads, self.grad_clip)
        hook = self.base.arch_grad_hook
        if hook is not None:  # V and r are averaged across workers like the alphas
            hook([*found.encoder, found.r])
        self.arch.apply(found.arch)
        for p, g in zip(self.encoder.parameters(), found.encoder, strict=True):
            p.grad = g
        r.grad = found.r
        self.v_optimizer.step()
        assert self.r_optimizer is not None
        self.r_optimizer.step()
        self.encoder.zero_grad(set_to_none=True)
        r.grad = None
        train_loss, train_acc = self.base.weight_step(train_batch)
        a = found.a
        if self.w2_weights == "recomputed":
            a = current_example_weights(
                w1=FunctionalLoss(self.supernet), w1_learner=self.base.weights,
                encoder=self.encoder, r=r, train_batch=train_batch, val_batch=val_batch,
            )  # fmt: skip
        w2_loss, w2_acc = self.w2.step(train_batch, sample_weights=a)
        for alpha in self.supernet.arch_parameters():  # W2's backward reached the shared alphas
            alpha.grad = None
        self.num_steps += 1
        return {
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": float(found.val_loss),
            "val_acc": accuracy(found.val_logits, val_batch[1]),
            "lr": lr,
            "w2_train_loss": w2_loss,
            "w2_train_acc": w2_acc,
            "mean_example_weight": float(a.mean()),
        }

    def epoch_end(self) -> None:
        self.base.epoch_end()
        self.w2.epoch_end()
        self.v_scheduler.step()
        if self.r_scheduler is not None:
            self.r_scheduler.step()

    def genotype(self) -> Genotype:
        return self.base.genotype()

    def arch_tensors(self) -> list[Tensor]:
        return self.base.arch_tensors()

    def state_dict(self) -> dict[str, Any]:
        """The base's state, W2, V, r and their optimisers and schedules, the step counter."""
        r_state = None
        if self.r is not None and self.r_optimizer is not None and self.r_scheduler is not None:
            r_state = {
                "r": self.r.detach().clone(),
                "optimizer": self.r_optimizer.state_dict(),
                "scheduler": self.r_scheduler.state_dict(),
            }
        return {
            "base": self.base.state_dict(),
            "second": self.second.state_dict(),
            "w2": self.w2.state_dict(),
            "encoder": self.encoder.state_dict(),
            "v_optimizer": self.v_optimizer.state_dict(),
            "v_scheduler": self.v_scheduler.state_dict(),
            "r": r_state,
            "generator": self.generator.get_state(),
            "num_steps": self.num_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.base.load_state_dict(state["base"])
        self.second.load_state_dict(state["second"])
        self.w2.load_state_dict(state["w2"])
        self.encoder.load_state_dict(state["encoder"])
        self.v_optimizer.load_state_dict(state["v_optimizer"])
        self.v_scheduler.load_state_dict(state["v_scheduler"])
        if state["r"] is not None:
            r = self._make_r(int(state["r"]["r"].numel()))
            with torch.no_grad():
                r.copy_(state["r"]["r"])
            assert self.r_optimizer is not None and self.r_scheduler is not None
            self.r_optimizer.load_state_dict(state["r"]["optimizer"])
            self.r_scheduler.load_state_dict(state["r"]["scheduler"])
        self.generator.set_state(state["generator"])
        self.num_steps = int(state["num_steps"])
