"""LFM for data reweighting (LFM-DR, LFM eq. (9) and Algorithm 1) and its plain baseline.

A fixed network W1 is trained on the per-example weighted loss ``mean_i(b_i * l_i)`` (eq. (9),
lowest level) with a learnable weight table B. A second copy W2 relearns on the LFM weights
``a`` (eqs. (2)-(6)); the encoder V and the coefficient vector r follow the validation loss of
the one-step-unrolled W2' on a small clean meta set (eq. (7), :mod:`raysearch.reweight.hypergrad`;
the unrolled steps are the learners' SGD steps, momentum and weight decay included). B follows
``b_update`` (:mod:`raysearch.reweight.b_update`): ``eq9``, the same eq. (7) hypergradient (the
paper, default), or ``official``, the official DR scripts' rule. Per mini-batch, Algorithm 1's
three updates run as in the official code's ``Architect.step``: B (under ``eq9``), V, r first,
then W1, then W2; under ``official`` B steps right after W1's gradient, from that gradient.

``method="none"`` is the baseline: the same loop with every ``b_i = 1`` and no W2, V, r.
Reported accuracy is W1's (the official DR scripts evaluate ``model``, the B-weighted net);
W2's test accuracy is reported beside it as ``test_acc_w2``.

Optimisers follow the official DR scripts where they fit small runs: SGD with momentum 0.9 and
weight decay 5e-4 for W1 and W2 (the unrolled steps use the same learning rate), learning rate
divided by 10 at 80 % and 90 % of the epochs; B's optimiser is part of its rule; Adam on V and
r (the official SGD at 1e-5 barely moves them in a short run).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from raysearch.data import ImageSplit, check_batch_limit, iterate_batches, to_float
from raysearch.models import build_model
from raysearch.reweight.b_update import WeightTable, check_b_update, clip_by_total_norm
from raysearch.reweight.data import ReweightData
from raysearch.reweight.encoder import SmallEncoder
from raysearch.reweight.hypergrad import (
    check_hessian_mode,
    example_gradient_dots,
    lfm_dr_hypergradients,
)
from raysearch.reweight.lfm_weights import lfm_weights

METHODS = ("lfm", "none")


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown reweighting method {method!r}; allowed: {', '.join(METHODS)}")


@dataclass(frozen=True, kw_only=True)
class LFMDRConfig:
    """Training settings of one reweighting run."""

    method: str = "lfm"
    epochs: int
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    b_update: str = "eq9"
    lr_b: float = 1e-2
    lr_encoder: float = 1e-3
    lr_r: float = 1e-2
    b_init: float | None = None  # None: the rule's own (eq9 1.0, official 1.1)
    feature_dim: int = 32
    hessian: str = "finite-difference"
    epsilon: float = 0.01
    max_batches_per_epoch: int | None = None
    eval_batch_size: int = 1000

    def __post_init__(self) -> None:
        check_method(self.method)
        check_hessian_mode(self.hessian)
        check_b_update(self.b_update)
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2, got {self.batch_size}")
        for name in ("lr", "lr_b", "lr_encoder", "lr_r", "epsilon"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.b_init is not None and self.b_init < 0:
            raise ValueError(f"b_init must be >= 0, got {self.b_init}")
        check_batch_limit(self.max_batches_per_epoch, "max_batches_per_epoch")

    def lr_at(self, epoch: int) -> float:
        """Learning rate of W1 and W2 in ``epoch`` (0-based): /10 at 80 % and 90 % of training."""
        return self.lr * 0.1 ** (epoch >= 0.8 * self.epochs) * 0.1 ** (epoch >= 0.9 * self.epochs)


@dataclass(frozen=True)
class ReweightMetrics:
    epoch: int  # epochs completed, 1-based
    train_loss: float  # mean b-weighted training loss of W1
    val_acc: float  # W1 on the (noisy) validation split
    test_acc: float  # W1 on the clean test split
    rare_class_acc: float  # W1's test accuracy on the class with the fewest training examples
    class_acc: dict[str, float]  # W1's test accuracy per class
    test_acc_w2: float | None = None  # LFM only: the relearning network W2
    rare_class_acc_w2: float | None = None  # LFM only: W2 on the rarest class
    meta_loss: float | None = None  # LFM only: mean validation loss of the unrolled W2'
    rare_class_mean_weight: float | None = None  # LFM only: mean b W1 gave the rarest class
    b_mean_abs_change: float | None = None  # LFM only: mean |B_end - B_start| of the epoch
    b_std: float | None = None  # LFM only: spread of B's entries at the end of the epoch

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _buffers(net: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor | None]:
    """The SGD momentum buffers of ``net`` by parameter name (None before its first step)."""
    return {
        name: optimizer.state.get(p, {}).get("momentum_buffer")
        for name, p in net.named_parameters()
    }


@torch.no_grad()
def _predictions(
    model: nn.Module, split: ImageSplit, *, batch_size: int, device: torch.device
) -> torch.Tensor:
    model.eval()
    out = [
        model(images).argmax(dim=1).cpu()
        for images, _, _ in iterate_batches(split, batch_size, shuffle=False, device=device)
    ]
    model.train()
    return torch.cat(out)


class ReweightRun:
    """One LFM-DR (or plain) run, advanced an epoch at a time, with an exact state round trip."""

    def __init__(
        self,
        data: ReweightData,
        config: LFMDRConfig,
        *,
        model: str = "mlp",
        seed: int = 0,
        device: str | torch.device = "cpu",
        encoder: nn.Module | None = None,
    ) -> None:
        self.data, self.config, self.device = data, config, torch.device(device)
        train = data.noisy.train
        shape = {
            "in_channels": data.noisy.in_channels,
            "num_classes": data.noisy.num_classes,
            "image_size": data.noisy.image_size,
        }
        torch.manual_seed(seed)
        self.net1 = build_model(model, **shape).to(self.device)
        self.opt1 = self._sgd(self.net1)
        self.lfm = config.method == "lfm"
        self.official_b = config.b_update == "official"
        if self.lfm:
            batches = len(train) // config.batch_size
            if config.max_batches_per_epoch is not None:
                batches = min(batches, config.max_batches_per_epoch)
            self.b = WeightTable(
                config.b_update, num_examples=len(train), batch_size=config.batch_size,
                batches_per_epoch=batches, lr=config.lr_b, epochs=config.epochs,
                init=config.b_init, device=self.device,
            )  # fmt: skip
            self.net2 = build_model(model, **shape).to(self.device)
            self.opt2 = self._sgd(self.net2)
            self.encoder = (
                encoder
                if encoder is not None
                else SmallEncoder(in_channels=shape["in_channels"], feature_dim=config.feature_dim)
            ).to(self.device)
            self.r = torch.ones(len(data.meta), device=self.device, requires_grad=True)
            self.opt_v = torch.optim.Adam(self.encoder.parameters(), lr=config.lr_encoder)
            self.opt_r = torch.optim.Adam([self.r], lr=config.lr_r)
        self.meta_images = to_float(data.meta.images, self.device)
        self.meta_labels = data.meta.labels.to(self.device)
        counts = data.train_class_counts()
        # the rarest class; ties go to the highest index (the tail of the long-tailed order)
        self.rare_class = max(range(len(counts)), key=lambda c: (-counts[c], c))
        self.rare_members = (data.true_train_labels == self.rare_class).to(self.device)
        self.shuffle = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.last_metrics: ReweightMetrics | None = None

    def _sgd(self, net: nn.Module) -> torch.optim.SGD:
        c = self.config
        return torch.optim.SGD(
            net.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay
        )

    @property
    def finished(self) -> bool:
        return self.epoch >= self.config.epochs

    def _weights_a(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """LFM eqs. (2)-(5) with the current W1, V and r (no gradient: W2's own update)."""
        with torch.no_grad():
            return lfm_weights(
                self.encoder(images), labels, self.encoder(self.meta_images), self.meta_labels,
                self.net1(self.meta_images), self.r,
            )  # fmt: skip

    def _hyper_step(
        self, images: torch.Tensor, labels: torch.Tensor, entries: torch.Tensor, lr: float
    ) -> float:
        """Stage III: update V, r (and B under ``eq9``) from the unrolled W2' (eq. (7))."""
        c = self.config
        grads = lfm_dr_hypergradients(
            learner=self.net1,
            w1=dict(self.net1.named_parameters()),
            w2=dict(self.net2.named_parameters()),
            encoder=self.encoder, r=self.r, b=self.b.weights(entries),
            images=images, labels=labels,
            meta_images=self.meta_images, meta_labels=self.meta_labels,
            lr=lr, momentum=c.momentum, weight_decay=c.weight_decay,
            momentum_buffers=(_buffers(self.net1, self.opt1), _buffers(self.net2, self.opt2)),
            hessian=c.hessian, epsilon=c.epsilon, with_b=not self.official_b,
        )  # fmt: skip
        for param, grad in zip(self.encoder.parameters(), grads.encoder, strict=True):
            param.grad = grad
        self.r.grad = grads.r
        self.opt_v.step()
        self.opt_r.step()
        if not self.official_b:
            self.b.step(entries, grads.b)
        return grads.val_loss

    def _official_b_step(
        self, images: torch.Tensor, labels: torch.Tensor, entries: torch.Tensor
    ) -> None:
        """The official scripts' B step, taken before W1 steps (``net1``'s ``.grad`` hold
        ``grad L_b(W1_old)``): ``dB_i = (1/n) grad l_i(W1_old) . clip_5(grad L_b(W1_old))``."""
        c, params = self.config, dict(self.net1.named_parameters())
        grads = [
            torch.zeros_like(p) if p.grad is None else p.grad.detach() for p in params.values()
        ]
        direction = clip_by_total_norm(grads, 5.0)
        dots = example_gradient_dots(
            self.net1, {k: p.detach() for k, p in params.items()}, images, labels, direction,
            hessian=c.hessian, epsilon=c.epsilon,
        )  # fmt: skip
        self.b.step(entries, dots)

    def train_epoch(self) -> ReweightMetrics:
        """One epoch of Algorithm 1 (or of plain training), then evaluation."""
        if self.finished:
            raise RuntimeError(f"run already trained its {self.config.epochs} epochs")
        lr = self.config.lr_at(self.epoch)
        for opt in [self.opt1] + ([self.opt2] if self.lfm else []):
            for group in opt.param_groups:
                group["lr"] = lr
        if self.lfm:
            self.b.set_epoch(self.epoch)
            b_start = self.b.values.detach().clone()
        loss_sum, meta_sum, batches = 0.0, 0.0, 0
        rare_weight, rare_count = 0.0, 0
        for images, labels, index in iterate_batches(
            self.data.noisy.train,
            self.config.batch_size,
            shuffle=True,
            generator=self.shuffle,
            drop_last=True,
            device=self.device,
            limit=self.config.max_batches_per_epoch,
        ):
            index = index.to(self.device)
            if self.lfm:
                entries = self.b.entries(index, batches)
                meta_sum += self._hyper_step(images, labels, entries, lr)
            # Stage I: W1 on the B-weighted loss (eq. (9), lowest level)
            per_example = F.cross_entropy(self.net1(images), labels, reduction="none")
            if self.lfm:
                weights = self.b.weights(entries)
                rare = self.rare_members[index]
                rare_weight += float(weights[rare].sum())
                rare_count += int(rare.sum())
                per_example = per_example * weights
            loss = per_example.mean()
            self.opt1.zero_grad(set_to_none=True)
            loss.backward()
            if self.lfm and self.official_b:
                self._official_b_step(images, labels, entries)
            self.opt1.step()
            if self.lfm:
                # Stage II: W2 on the a-weighted loss (eq. (6))
                a = self._weights_a(images, labels)
                loss2 = (a * F.cross_entropy(self.net2(images), labels, reduction="none")).mean()
                self.opt2.zero_grad(set_to_none=True)
                loss2.backward()
                self.opt2.step()
            loss_sum += float(loss.detach())
            batches += 1
        self.epoch += 1
        b_stats = {}
        if self.lfm:
            values = self.b.values.detach()
            b_stats = {
                "rare_class_mean_weight": rare_weight / rare_count if rare_count else float("nan"),
                "b_mean_abs_change": float((values - b_start).abs().mean()),
                "b_std": float(values.std()),
            }
        self.last_metrics = self._evaluate(
            loss_sum / max(1, batches), meta_sum / max(1, batches), b_stats
        )
        return self.last_metrics

    def _evaluate(
        self, train_loss: float, meta_loss: float, b_stats: dict[str, float]
    ) -> ReweightMetrics:
        bs, data = self.config.eval_batch_size, self.data.noisy
        val_pred = _predictions(self.net1, data.val, batch_size=bs, device=self.device)
        test_pred = _predictions(self.net1, data.test, batch_size=bs, device=self.device)
        correct = (test_pred == data.test.labels).float()
        class_acc = {
            str(c): float(correct[data.test.labels == c].mean()) for c in range(data.num_classes)
        }
        extra: dict[str, Any] = {}
        if self.lfm:
            w2_pred = _predictions(self.net2, data.test, batch_size=bs, device=self.device)
            w2_correct = (w2_pred == data.test.labels).float()
            extra = {
                "test_acc_w2": float(w2_correct.mean()),
                "rare_class_acc_w2": float(w2_correct[data.test.labels == self.rare_class].mean()),
                "meta_loss": meta_loss,
                **b_stats,
            }
        return ReweightMetrics(
            epoch=self.epoch,
            train_loss=train_loss,
            val_acc=float((val_pred == data.val.labels).float().mean()),
            test_acc=float(correct.mean()),
            rare_class_acc=class_acc[str(self.rare_class)],
            class_acc=class_acc,
            **extra,
        )

    def state_dict(self) -> dict[str, Any]:
        """Networks, optimisers, B, V, r, the shuffling and global RNG states, and the epoch."""
        state: dict[str, Any] = {
            "epoch": self.epoch,
            "last_metrics": None if self.last_metrics is None else asdict(self.last_metrics),
            "net1": self.net1.state_dict(),
            "opt1": self.opt1.state_dict(),
            "shuffle_rng": self.shuffle.get_state(),
            "torch_rng": torch.get_rng_state(),
        }
        if self.lfm:
            state.update(
                b=self.b.state_dict(), net2=self.net2.state_dict(), opt2=self.opt2.state_dict(),
                encoder=self.encoder.state_dict(), r=self.r.detach().clone(),
                opt_v=self.opt_v.state_dict(), opt_r=self.opt_r.state_dict(),
            )  # fmt: skip
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        last = state.get("last_metrics")
        self.last_metrics = None if last is None else ReweightMetrics(**last)
        self.net1.load_state_dict(state["net1"])
        self.opt1.load_state_dict(state["opt1"])
        if self.lfm:
            self.b.load_state_dict(state["b"])
            self.net2.load_state_dict(state["net2"])
            self.opt2.load_state_dict(state["opt2"])
            self.encoder.load_state_dict(state["encoder"])
            with torch.no_grad():
                self.r.copy_(state["r"])
            self.opt_v.load_state_dict(state["opt_v"])
            self.opt_r.load_state_dict(state["opt_r"])
        self.shuffle.set_state(state["shuffle_rng"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
