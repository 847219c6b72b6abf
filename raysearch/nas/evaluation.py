"""One evaluation run: train an architecture from scratch and measure its test accuracy.

The recipe is DARTS' evaluation (Liu et al., ICLR 2019, Sec. 3.2 and the official
``train.py``), scaled down by an :class:`EvalBudget`: SGD (lr 0.025, momentum 0.9, weight decay
3e-4) with a cosine schedule to 0 over the epochs, gradient-norm clipping at 5, the auxiliary
head's loss weighted 0.4, drop path ramped linearly as ``p * epoch / epochs``, and the image
recipe of :mod:`raysearch.data.augment` (``augment="standard"``: random crop with padding 4,
flip, per-channel normalisation; cutout of ``cutout_length``; test images only normalised).
One addition, on by default: before testing, the BatchNorm statistics are recomputed at the final
weights over ``bn_recalibration_batches`` training batches. DARTS tests with the running averages,
which after 600 epochs match the weights; after the few dozen steps of a small budget they lag
them (DARTS_V2, C=8, 4 cells, 40 batches of fashion-mnist-mini: test accuracy 0.39 with the
running averages, 0.70 recomputed). ``bn_recalibration_batches=0`` is DARTS' recipe exactly.
Every NAS method's genotype goes through this one path (DESIGN.md, "Evaluation stage"); the Ray
Train job in :mod:`raysearch.tune.nas_evaluate` only distributes :class:`Evaluation`.
Ray-free and device-agnostic; the same seed gives the same result on CPU, and the state after
any epoch (``state_dict``) resumes to exactly the uninterrupted run.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from raysearch.data import (
    AUGMENTATIONS,
    DatasetSplits,
    ImageSplit,
    augmentation,
    check_dataset_files,
    check_dataset_name,
    iterate_batches,
    load_dataset,
)
from raysearch.nas.eval_net import EvalNetwork, count_parameters_millions
from search_spaces.darts import (
    PUBLISHED_GENOTYPES,
    CellGenotype,
    Genotype,
    format_cell_genotypes,
    parse_cell_genotypes,
    parse_genotype,
    published_genotype,
)

AnyGenotype = Genotype | list[CellGenotype]

MOMENTUM = 0.9  # DARTS train.py
WEIGHT_DECAY = 3e-4
GRAD_CLIP = 5.0
TEST_BATCH = 256


@dataclass(frozen=True, kw_only=True)
class EvalBudget:
    """How big one evaluation is: data set, network size (C, layers), epochs and batches, the
    DARTS recipe's knobs, and the Ray Train job's workers / GPUs per worker."""

    dataset: str = "fashion-mnist-mini"
    data_root: str | None = None  # absolute; None: the data set's default location
    epochs: int = 1
    C: int = 8
    layers: int = 4
    batch_size: int = 64
    max_batches: int | None = None  # training batches per epoch per worker (None: all)
    auxiliary_weight: float = 0.4
    drop_path_prob: float = 0.2
    cutout_length: int = 0  # 0: no cutout (DARTS uses 16 on CIFAR-10)
    augment: str = "standard"  # crop + flip + normalisation (raysearch.data.augment); "none"
    lr: float = 0.025
    workers: int = 1
    gpus_per_worker: float = 0.0
    bn_recalibration_batches: int = 20  # 0: DARTS' recipe (test with the running statistics)

    def __post_init__(self) -> None:
        try:
            check_dataset_name(self.dataset)
        except KeyError as error:
            raise ValueError(f"EvalBudget.dataset: {error.args[0]}") from None
        for name, low in (("epochs", 1), ("C", 1), ("layers", 1), ("batch_size", 1)):
            _check_int(name, getattr(self, name), low)
        _check_int("workers", self.workers, 1)
        _check_int("cutout_length", self.cutout_length, 0)
        _check_int("bn_recalibration_batches", self.bn_recalibration_batches, 0)
        if self.augment not in AUGMENTATIONS:
            raise ValueError(
                f"EvalBudget.augment must be one of {', '.join(AUGMENTATIONS)}, got {self.augment!r}"
            )
        if self.max_batches is not None:
            _check_int("max_batches", self.max_batches, 1)
        _check_float("auxiliary_weight", self.auxiliary_weight, ">= 0", lambda v: v >= 0)
        _check_float("drop_path_prob", self.drop_path_prob, "in [0, 1)", lambda v: 0 <= v < 1)
        _check_float("lr", self.lr, "> 0", lambda v: v > 0)
        _check_float("gpus_per_worker", self.gpus_per_worker, ">= 0", lambda v: v >= 0)


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"EvalBudget.{name} must be an integer >= {low}, got {value!r}")


def _check_float(name: str, value: Any, allowed: str, ok: Callable[[float], bool]) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not ok(value)
    ):
        raise ValueError(f"EvalBudget.{name} must be a finite number {allowed}, got {value!r}")


# --------------------------------------------------------------------------- genotypes


def genotype_to_text(genotype: AnyGenotype) -> str:
    """The exact string form of a genotype or a per-cell genotype list."""
    return str(genotype) if isinstance(genotype, Genotype) else format_cell_genotypes(genotype)


def genotype_from_text(text: str) -> AnyGenotype:
    """Inverse of :func:`genotype_to_text` (a ``Genotype(...)`` or a ``[CellGenotype(...), ...]``)."""
    text = text.strip()
    return parse_cell_genotypes(text) if text.startswith("[") else parse_genotype(text)


def resolve_genotype(text: str) -> tuple[str, AnyGenotype]:
    """A published name (``DARTS_V2``, ``PC-DARTS``, ...), a genotype string, or the path of a
    file holding one (e.g. the ``genotype.txt`` that ``raysearch nas search`` writes) ->
    ``(label, genotype)``. Anything else: ``ValueError`` listing the published names."""
    try:
        published = published_genotype(text)
        return next(k for k, v in PUBLISHED_GENOTYPES.items() if v == published), published
    except KeyError:
        pass
    stripped = text.strip()
    genotype: AnyGenotype
    if stripped.startswith(("Genotype(", "[")):
        try:
            genotype = genotype_from_text(stripped)
        except ValueError as error:
            raise ValueError(f"bad genotype string: {error}") from None
        canonical = genotype_to_text(genotype).encode()  # one label however it is spelled
        return f"genotype-{hashlib.sha1(canonical).hexdigest()[:8]}", genotype
    path = Path(text).expanduser()
    if path.is_file():
        try:
            genotype = genotype_from_text(path.read_text())
        except ValueError as error:
            raise ValueError(f"genotype file {str(path)!r}: {error}") from None
        label = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
        return label, genotype
    raise ValueError(
        f"unknown genotype {text!r}: not a published name ({', '.join(PUBLISHED_GENOTYPES)}), "
        "not a 'Genotype(...)' or '[CellGenotype(...), ...]' string, and not an existing file"
    )


@dataclass(frozen=True)
class EvalJob:
    """One (genotype, seed) evaluation: ``index`` orders the rows and names the job's folder."""

    index: int
    label: str
    genotype: str  # genotype_to_text form
    seed: int


def plan_evaluations(
    genotypes: Sequence[str], seeds: Sequence[int], budget: EvalBudget
) -> list[EvalJob]:
    """Resolve every genotype and check it fits ``budget`` (no Ray): one job per pair."""
    check_dataset_files(budget.dataset, root=budget.data_root)
    if not genotypes:
        raise ValueError("need at least one genotype")
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of integers >= 0, got {list(seeds)!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {list(seeds)!r}")
    jobs: list[EvalJob] = []
    for text in genotypes:
        label, genotype = resolve_genotype(text)
        check_fits(genotype, budget)
        for seed in seeds:
            jobs.append(EvalJob(len(jobs), label, genotype_to_text(genotype), int(seed)))
    return jobs


def check_fits(genotype: AnyGenotype, budget: EvalBudget) -> None:
    """A per-cell genotype list fixes the depth: it must hold ``budget.layers`` cells."""
    if not isinstance(genotype, Genotype) and len(genotype) != budget.layers:
        raise ValueError(
            f"the per-cell genotype has {len(genotype)} cells but the budget has "
            f"layers={budget.layers}; evaluate it with layers={len(genotype)}"
        )


# --------------------------------------------------------------------------- the recipe


def drop_path_at(epoch: int, epochs: int, drop_path_prob: float) -> float:
    """DARTS ``train.py``: ``drop_path_prob * epoch / epochs`` (0 in the first epoch)."""
    return drop_path_prob * epoch / epochs


def evaluation_loss(
    logits: Tensor, aux_logits: Tensor | None, labels: Tensor, auxiliary_weight: float
) -> Tensor:
    """Cross-entropy plus ``auxiliary_weight`` times the auxiliary head's cross-entropy."""
    loss = F.cross_entropy(logits, labels)
    if aux_logits is not None and auxiliary_weight > 0:
        loss = loss + auxiliary_weight * F.cross_entropy(aux_logits, labels)
    return loss


def build_network(genotype: AnyGenotype, budget: EvalBudget, data: DatasetSplits) -> EvalNetwork:
    """The evaluation network for ``data``'s images (auxiliary head iff its weight > 0)."""
    return EvalNetwork(
        genotype,
        in_channels=data.in_channels,
        num_classes=data.num_classes,
        C=budget.C,
        layers=budget.layers,
        auxiliary=budget.auxiliary_weight > 0,
        drop_path_prob=budget.drop_path_prob,
        image_size=data.image_size,
    )


def load_eval_data(name: str, root: str | None = None) -> DatasetSplits:
    """The data set with its validation part folded back into training (DARTS evaluation
    trains on the whole training set and reports the test set)."""
    data = load_dataset(name, root=root)
    return DatasetSplits(data.name, data.full_train(), data.val, data.test, data.num_classes)


def shard(split: ImageSplit, rank: int, world_size: int) -> ImageSplit:
    """Every ``world_size``-th example from ``rank``; all shards have the same size."""
    usable = len(split) - len(split) % world_size
    return split.subset(torch.arange(rank, usable, world_size))


class Evaluation:
    """The training state of one (genotype, seed, budget) run on one worker.

    ``wrap`` turns the network into what the training step calls (Ray Train passes
    ``prepare_model``, i.e. DDP across workers); the optimiser always holds ``self.net``'s
    parameters. Each epoch's randomness (shuffle, crop, flip, cutout, drop path) is seeded from
    ``(seed, epoch)``, so resuming from :meth:`state_dict` repeats the uninterrupted run.
    """

    def __init__(
        self,
        genotype: AnyGenotype,
        seed: int,
        budget: EvalBudget,
        data: DatasetSplits,
        *,
        device: torch.device | str = "cpu",
        rank: int = 0,
        world_size: int = 1,
        wrap: Callable[[nn.Module], nn.Module] | None = None,
    ) -> None:
        check_fits(genotype, budget)
        self.seed, self.budget, self.device = seed, budget, torch.device(device)
        torch.manual_seed(seed)
        self.net = build_network(genotype, budget, data).to(self.device)
        self.model = wrap(self.net) if wrap is not None else self.net
        self.augmentation = augmentation(
            budget.dataset, budget.augment, cutout_length=budget.cutout_length
        )
        self.params_m = count_parameters_millions(self.net)
        self.optimizer = torch.optim.SGD(
            self.net.parameters(), lr=budget.lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY
        )
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=budget.epochs, eta_min=0.0
        )
        self.train_split = shard(data.train, rank, world_size)
        self.test_split = shard(data.test, rank, world_size)
        self.steps = len(self.train_split) // budget.batch_size
        if budget.max_batches is not None:
            self.steps = min(self.steps, budget.max_batches)
        if self.steps < 1:
            raise ValueError(
                f"batch_size={budget.batch_size} exceeds the {len(self.train_split)} training "
                f"examples per worker"
            )
        self.epoch = 0

    def train_epoch(self) -> dict[str, float]:
        """One epoch of the DARTS evaluation recipe; returns loss, accuracy, lr, drop path."""
        b, e = self.budget, self.epoch
        torch.manual_seed(self.seed * 100_003 + e)  # drop-path masks
        g = torch.Generator().manual_seed(self.seed * 100_003 + e)
        self.net.drop_path_prob = drop_path_at(e, b.epochs, b.drop_path_prob)
        lr = float(self.optimizer.param_groups[0]["lr"])
        self.model.train()
        losses, hits, seen = 0.0, 0.0, 0
        batches = iterate_batches(
            self.train_split, b.batch_size, shuffle=True, generator=g, drop_last=True,
            limit=self.steps,
        )  # fmt: skip
        for x, y, _idx in batches:
            x = self.augmentation.train(x.to(self.device), g)
            y = y.to(self.device)
            logits, aux = self.model(x)
            loss = evaluation_loss(logits, aux, y, b.auxiliary_weight)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.net.parameters(), GRAD_CLIP)
            self.optimizer.step()
            losses += float(loss.detach()) * len(y)
            hits += float((logits.detach().argmax(1) == y).sum())
            seen += len(y)
        self.scheduler.step()
        self.epoch += 1
        return {
            "epoch": self.epoch,
            "train_loss": losses / seen,
            "train_acc": hits / seen,
            "lr": lr,
            "drop_path_prob": self.net.drop_path_prob,
        }

    @torch.no_grad()
    def recalibrate_batch_norm(self) -> None:
        """Set every BatchNorm's running mean/variance to the exact average over the first
        ``bn_recalibration_batches`` batches of a seeded pass over the training shard, at the
        current weights and without drop path (as the test-time forward runs). No-op at 0."""
        batches = self.budget.bn_recalibration_batches
        norms = [m for m in self.net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if batches == 0 or not norms:
            return
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        drop_path, self.net.drop_path_prob = self.net.drop_path_prob, 0.0
        self.net.train()
        g = torch.Generator().manual_seed(self.seed * 100_003 - 1)
        data = iterate_batches(self.train_split, self.budget.batch_size, shuffle=True, generator=g)
        for _, (x, _y, _idx) in zip(range(batches), data, strict=False):
            self.net(self.augmentation.test(x.to(self.device)))
        self.net.drop_path_prob = drop_path
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum

    @torch.no_grad()
    def test_counts(self) -> Tensor:
        """``[correct, total]`` on this worker's shard of the test set (sum over workers), after
        :meth:`recalibrate_batch_norm`."""
        self.recalibrate_batch_norm()
        self.net.eval()
        counts = torch.zeros(2, dtype=torch.float64, device=self.device)
        for x, y, _ in iterate_batches(self.test_split, TEST_BATCH, shuffle=False):
            logits, _aux = self.net(self.augmentation.test(x.to(self.device)))
            counts[0] += (logits.argmax(1) == y.to(self.device)).sum()
            counts[1] += len(y)
        return counts

    def state_dict(self) -> dict[str, Any]:
        return {
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch = int(state["epoch"])


@dataclass(frozen=True)
class EvalResult:
    """What one evaluation produced (one row of the evaluation table)."""

    params_m: float
    test_acc: float
    wall_time_s: float
    history: list[dict[str, float]] = field(default_factory=list)


def run_evaluation(
    genotype: AnyGenotype,
    seed: int,
    budget: EvalBudget,
    *,
    data: DatasetSplits | None = None,
    device: torch.device | str | None = None,
) -> EvalResult:
    """The whole run in this process (no Ray): train ``budget.epochs`` epochs, then test."""
    start = time.perf_counter()
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    run = Evaluation(
        genotype,
        seed,
        budget,
        data or load_eval_data(budget.dataset, budget.data_root),
        device=device,
    )
    history = [run.train_epoch() for _ in range(budget.epochs)]
    correct, total = run.test_counts().tolist()
    return EvalResult(run.params_m, correct / total, time.perf_counter() - start, history)
