"""Co-teaching driven by any schedule R(t) (Han et al. 2018; S2E Alg. 1).

Two networks see the same mini-batch; each ranks the batch by its own per-sample loss, keeps
the ``R(t)`` fraction with the smallest loss, and hands those samples to its *peer* for the
update. ``R(t) = 1`` for all t is standard training (of two independent networks).

Optimiser set-up of the papers: Adam, lr 1e-3; from ``decay_start`` (80 of 200 epochs) the
learning rate decays linearly to zero and Adam's beta1 drops from 0.9 to 0.1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from raysearch.data import ImageSplit, check_batch_limit, iterate_batches
from raysearch.models import build_model
from raysearch.noisy.noisy_data import NoisyData

Schedule = Callable[[int], float]


@dataclass(frozen=True)
class CoteachingConfig:
    """Training settings; defaults are the Co-teaching / S2E code's."""

    epochs: int
    batch_size: int = 128
    lr: float = 1e-3
    decay_start: int | None = None  # None: round(0.4 * epochs), i.e. epoch 80 of 200
    beta1: float = 0.9
    beta1_decayed: float = 0.1
    max_batches_per_epoch: int | None = None
    eval_batch_size: int = 1000

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        check_batch_limit(self.max_batches_per_epoch, "max_batches_per_epoch")
        if self.decay_start is not None and not 0 <= self.decay_start <= self.epochs:
            raise ValueError(
                f"decay_start must be in [0, epochs={self.epochs}], got {self.decay_start}"
            )

    @property
    def decay_epoch(self) -> int:
        return round(0.4 * self.epochs) if self.decay_start is None else self.decay_start

    def lr_and_beta1(self, epoch: int) -> tuple[float, float]:
        """Learning rate and beta1 for ``epoch`` (0-based): linear decay to 0 after ``decay_epoch``."""
        start = self.decay_epoch
        if epoch < start:
            return self.lr, self.beta1
        return self.lr * (self.epochs - epoch) / (self.epochs - start), self.beta1_decayed


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int  # epochs completed, 1-based
    keep_rate: float
    train_loss: float
    val_acc: float  # validation split: clean labels (S2E eq. (2), default) or noisy ones
    test_acc: float  # clean test labels
    label_precision: float  # share of selected samples whose label is clean

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def check_schedule(schedule: Schedule, epochs: int) -> list[float]:
    """R(t) for every epoch; ``ValueError`` naming t and R(t) if one is not in [0, 1]."""
    rates = []
    for t in range(epochs):
        r = float(schedule(t))
        if not (math.isfinite(r) and 0.0 <= r <= 1.0):
            raise ValueError(f"schedule gives R({t}) = {r}; a kept fraction must be in [0, 1]")
        rates.append(r)
    return rates


def num_kept(keep_rate: float, batch: int) -> int:
    """How many small-loss samples of a batch of ``batch`` to keep (at least one)."""
    return max(1, min(batch, int(math.floor(keep_rate * batch + 1e-9))))


def coteaching_losses(
    logits1: torch.Tensor, logits2: torch.Tensor, labels: torch.Tensor, keep: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cross-exchange of small-loss samples (Co-teaching Alg. 1, steps 4-6).

    Returns ``(loss1, loss2, picked_by_1, picked_by_2)``: net 1 is trained on the samples net 2
    picked and vice versa; each loss is the mean cross-entropy over the kept samples.
    """
    with torch.no_grad():
        picked_by_1 = torch.argsort(F.cross_entropy(logits1, labels, reduction="none"))[:keep]
        picked_by_2 = torch.argsort(F.cross_entropy(logits2, labels, reduction="none"))[:keep]
    loss1 = F.cross_entropy(logits1[picked_by_2], labels[picked_by_2])
    loss2 = F.cross_entropy(logits2[picked_by_1], labels[picked_by_1])
    return loss1, loss2, picked_by_1, picked_by_2


@torch.no_grad()
def accuracy(
    model: nn.Module, split: ImageSplit, *, batch_size: int, device: torch.device
) -> float:
    model.eval()
    correct = 0
    for images, labels, _ in iterate_batches(split, batch_size, shuffle=False, device=device):
        correct += int((model(images).argmax(dim=1) == labels).sum())
    return correct / max(1, len(split))


class CoteachingRun:
    """One Co-teaching run, advanced an epoch at a time, with an exact ``state_dict`` round trip."""

    def __init__(
        self,
        data: NoisyData,
        schedule: Schedule,
        config: CoteachingConfig,
        *,
        model: str = "mlp",
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        self.data, self.config, self.device = data, config, torch.device(device)
        self.keep_rates = check_schedule(schedule, config.epochs)
        torch.manual_seed(seed)
        shape = {
            "in_channels": data.in_channels,
            "num_classes": data.num_classes,
            "image_size": data.image_size,
        }
        self.nets = [build_model(model, **shape).to(self.device) for _ in range(2)]
        # fused Adam: one kernel per parameter group, 0.79x the epoch time of the default
        # (benchmarks/coteaching_step_savings.py); the update rule is the same Adam
        fused = self.device.type in ("cpu", "cuda")
        self.optimizers = [
            torch.optim.Adam(net.parameters(), lr=config.lr, fused=fused) for net in self.nets
        ]
        self.shuffle = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.last_metrics: EpochMetrics | None = None

    @property
    def finished(self) -> bool:
        return self.epoch >= self.config.epochs

    def _set_optimizer_plan(self) -> None:
        lr, beta1 = self.config.lr_and_beta1(self.epoch)
        for optimizer in self.optimizers:
            for group in optimizer.param_groups:
                group["lr"], group["betas"] = lr, (beta1, group["betas"][1])

    def train_epoch(self) -> EpochMetrics:
        """Train both networks for one epoch with R(epoch), then evaluate them."""
        if self.finished:
            raise RuntimeError(f"run already trained its {self.config.epochs} epochs")
        keep_rate = self.keep_rates[self.epoch]
        self._set_optimizer_plan()
        for net in self.nets:
            net.train()
        loss_sum, batches, kept_clean, kept_total = 0.0, 0, 0, 0
        clean = self.data.clean_train.to(self.device)
        for images, labels, index in iterate_batches(
            self.data.train,
            self.config.batch_size,
            shuffle=True,
            generator=self.shuffle,
            drop_last=True,
            device=self.device,
            limit=self.config.max_batches_per_epoch,
        ):
            logits1, logits2 = self.nets[0](images), self.nets[1](images)
            keep = num_kept(keep_rate, len(labels))
            loss1, loss2, picked1, picked2 = coteaching_losses(logits1, logits2, labels, keep)
            for optimizer, loss in zip(self.optimizers, (loss1, loss2), strict=True):
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            batch_clean = clean[index.to(self.device)]
            kept_clean += int(batch_clean[picked1].sum() + batch_clean[picked2].sum())
            kept_total += 2 * keep
            loss_sum += float(loss1.detach() + loss2.detach()) / 2
            batches += 1
        self.epoch += 1
        self.last_metrics = EpochMetrics(
            epoch=self.epoch,
            keep_rate=keep_rate,
            train_loss=loss_sum / max(1, batches),
            val_acc=self._mean_accuracy(self.data.val),
            test_acc=self._mean_accuracy(self.data.test),
            # NaN without clean labels (real noisy labels only): nothing to measure it by
            label_precision=kept_clean / max(1, kept_total) if self.data.clean_known else math.nan,
        )
        return self.last_metrics

    def _mean_accuracy(self, split: ImageSplit) -> float:
        """Mean accuracy of the two networks (the S2E code's reward averages both)."""
        bs = self.config.eval_batch_size
        return sum(accuracy(net, split, batch_size=bs, device=self.device) for net in self.nets) / 2

    def state_dict(self) -> dict[str, Any]:
        """Both networks, both optimisers, the shuffling and global RNG states, and the epoch."""
        state: dict[str, Any] = {
            "epoch": self.epoch,
            "last_metrics": None if self.last_metrics is None else self.last_metrics.as_dict(),
            "nets": [net.state_dict() for net in self.nets],
            "optimizers": [opt.state_dict() for opt in self.optimizers],
            "shuffle_rng": self.shuffle.get_state(),
            "torch_rng": torch.get_rng_state(),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        last = state.get("last_metrics")
        self.last_metrics = None if last is None else EpochMetrics(**last)
        for net, net_state in zip(self.nets, state["nets"], strict=True):
            net.load_state_dict(net_state)
        for opt, opt_state in zip(self.optimizers, state["optimizers"], strict=True):
            opt.load_state_dict(opt_state)
        self.shuffle.set_state(state["shuffle_rng"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
