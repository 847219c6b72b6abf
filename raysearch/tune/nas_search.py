"""Supernet search with any registered method as a Ray Train job (Train V2).

The method comes from the Ray-free registry (:func:`raysearch.nas.methods.build_method`): DARTS
(Liu et al. 2019, Alg. 1; 1st/2nd order), XNAS (Nayman et al. 2019, Alg. 1), ASM-NAS
(Sec. 4.3 derivation) and the wrappers that take ``base=``. Every network the method trains goes
through ``prepare_model`` (the worker's device, DDP across workers); what the architecture update
is computed from goes through ``arch_grad_hook``, an all-reduce average, so every rank holds the
same architecture (DARTS alpha, XNAS u, ASM-NAS mean attention). Each rank takes its own shard
of the weight half and of the architecture half of the whole training set (validation split
folded back: 25k/25k on CIFAR-10, as DARTS; :func:`raysearch.nas.search_split.search_shards`);
both halves get the training image recipe (``augment``, :mod:`raysearch.data.augment`). One report per epoch (losses, accuracy,
genotype, architecture entropy and digest; XNAS also ``alive_ops``; ASM-NAS also the per-cell
genotype list), with a checkpoint of ``method.state_dict()``; a restarted run resumes from it.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from raysearch.analysis.results_folder import Interrupted, sigint_handler_kept
from raysearch.data import (
    AUGMENTATIONS,
    ImageSplit,
    augmentation,
    check_dataset_files,
    iterate_batches,
    load_dataset,
)
from raysearch.nas.attention import AttentionNAS
from raysearch.nas.methods import SupernetMethod, build_method, method_names, takes_base
from raysearch.nas.search_split import alpha_digest, alpha_entropy, search_shards
from raysearch.tune.checkpoint_state import load_state
from search_spaces.darts import format_cell_genotypes


@dataclass(frozen=True)
class SearchSettings:
    """One search: method (and the ``base`` a wrapper method wraps), data, supernet size, budget.
    ``method_kwargs`` go to the method unchanged (e.g. ``{"a_lr": 0.01}``)."""

    method: str = "darts-1st"
    base: str | None = None
    dataset: str = "fashion-mnist-mini"
    data_root: str | None = None  # absolute; None: the data set's default location
    epochs: int = 2
    C: int = 4
    layers: int = 2
    batch_size: int = 16
    max_batches: int | None = None
    seed: int = 0
    augment: str = "standard"  # crop + flip + normalisation on both halves; "none": raw pixels
    method_kwargs: dict[str, Any] = field(default_factory=dict)
    fail_at_epoch: int | None = None  # raise once (first attempt only) at this epoch (tests)
    trace_dir: str | None = None  # every rank saves its architecture per epoch here (tests)

    def __post_init__(self) -> None:
        if self.method not in method_names():
            raise KeyError(f"unknown NAS method {self.method!r}; known: {method_names()}")
        if self.base is not None and not takes_base(self.method):
            wrappers = [m for m in method_names() if takes_base(m)]
            raise ValueError(f"base applies to the wrapper methods {wrappers}, not {self.method!r}")
        for name in ("epochs", "C", "layers", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_batches is not None and self.max_batches < 1:
            raise ValueError(f"max_batches must be >= 1 or None, got {self.max_batches}")
        if self.augment not in AUGMENTATIONS:
            raise ValueError(
                f"augment must be one of {', '.join(AUGMENTATIONS)}, got {self.augment!r}"
            )

    def method_options(self) -> dict[str, Any]:
        """Keywords for ``build_method`` beyond the uniform ones: ``base`` and ``method_kwargs``."""
        return {**self.method_kwargs, **({} if self.base is None else {"base": self.base})}


def steps_per_epoch(settings: SearchSettings, train_size: int, world_size: int) -> int:
    """Steps every rank takes per epoch: batches in the smallest shard, capped by max_batches."""
    half = min(train_size // 2, train_size - train_size // 2)
    steps = (half // world_size) // settings.batch_size
    if settings.max_batches is not None:
        steps = min(steps, settings.max_batches)
    if steps < 1:
        raise ValueError(
            f"{train_size} training examples give no batch of {settings.batch_size} per epoch "
            f"for {world_size} workers; lower batch_size or workers"
        )
    return steps


def scaling_kwargs(workers: int, gpus_per_worker: float) -> dict[str, Any]:
    """``ScalingConfig`` arguments: ``workers`` workers of 1 CPU and ``gpus_per_worker`` GPUs."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if not (math.isfinite(gpus_per_worker) and gpus_per_worker >= 0):
        raise ValueError(f"gpus_per_worker must be >= 0, got {gpus_per_worker}")
    return {
        "num_workers": workers,
        "use_gpu": gpus_per_worker > 0,
        "resources_per_worker": {"CPU": 1, "GPU": gpus_per_worker},
    }


def supernet_kwargs(settings: SearchSettings, in_channels: int, num_classes: int) -> dict[str, Any]:
    return {"in_channels": in_channels, "num_classes": num_classes, "C": settings.C,
            "layers": settings.layers}  # fmt: skip


def check_search(settings: SearchSettings, *, workers: int, gpus_per_worker: float) -> None:
    """Everything a worker will build, built once here (before Ray): bad scaling, a data set too
    small for the batch, an unknown ``base`` or method keyword raise now, naming the value."""
    scaling_kwargs(workers, gpus_per_worker)
    check_dataset_files(settings.dataset, root=settings.data_root)
    data = load_dataset(settings.dataset, root=settings.data_root, seed=settings.seed)
    augmentation(settings.dataset, settings.augment)
    steps = steps_per_epoch(settings, len(data.full_train()), workers)
    build_method(
        settings.method,
        supernet_kwargs(settings, data.in_channels, data.num_classes),
        epochs=settings.epochs,
        steps_per_epoch=steps,
        samples_per_step=settings.batch_size * workers,
        **settings.method_options(),
    )


def shard_rows(n: int, *, rank: int, world_size: int, seed: int) -> tuple[Tensor, Tensor]:
    """Row numbers of this rank's (weight, architecture) shards of an ``n``-example split:
    ``search_shards`` applied to a split whose labels are the row numbers."""
    rows = ImageSplit(torch.zeros((n, 1, 1, 1), dtype=torch.uint8), torch.arange(n))
    w, a = search_shards(rows, rank=rank, world_size=world_size, seed=seed)
    return w.labels, a.labels


def arch_entropy(tensors: Sequence[Tensor]) -> float:
    """Mean entropy of softmax over the architecture tensors; NaN when there are none yet."""
    return alpha_entropy(tensors) if tensors else math.nan


def average_hook(world_size: int) -> Callable[[list[Tensor]], None]:
    """All-reduce average, in place, of a list of tensors across the workers."""

    def hook(tensors: list[Tensor]) -> None:
        if world_size > 1:
            import torch.distributed as dist

            for t in tensors:
                dist.all_reduce(t)
                t /= world_size

    return hook


def _build(
    s: SearchSettings, data_shape: tuple[int, int], steps: int, world: int
) -> SupernetMethod:
    from ray.train.torch import prepare_model

    wrapped: list[nn.Module] = []

    def wrap(module: nn.Module) -> Callable[[Tensor], Tensor]:
        wrapped.append(module)
        return prepare_model(module, parallel_strategy_kwargs={"find_unused_parameters": True})

    method = build_method(
        s.method,
        supernet_kwargs(s, *data_shape),
        epochs=s.epochs,
        steps_per_epoch=steps,
        samples_per_step=s.batch_size * world,
        arch_grad_hook=average_hook(world),
        wrap_module=wrap,
        **s.method_options(),
    )
    if not any(m is method.supernet for m in wrapped):
        raise RuntimeError(f"the builder of {s.method!r} did not pass its supernet to wrap_module")
    return method


def train_loop(config: dict[str, Any]) -> None:
    """Per-worker Ray Train loop: one report (and checkpoint) per epoch."""
    import ray.train
    from ray.train.torch import get_device

    s = SearchSettings(**config)
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = get_device()
    torch.manual_seed(s.seed)  # same initial architecture on every rank
    data = load_dataset(s.dataset, root=s.data_root, seed=s.seed)
    train = data.full_train()
    w_rows, a_rows = shard_rows(len(train), rank=rank, world_size=world, seed=s.seed)
    w_split, a_split = train.subset(w_rows), train.subset(a_rows)
    steps = steps_per_epoch(s, len(train), world)
    recipe = augmentation(s.dataset, s.augment)
    method = _build(s, (data.in_channels, data.num_classes), steps, world)
    start, search_time = 0, 0.0
    ckpt = ray.train.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            state = load_state(os.path.join(d, "search.pt"))
        method.load_state_dict(state["method"])
        start, search_time = int(state["epoch"]), float(state["search_time_s"])
    elif s.trace_dir is not None:
        _trace(s.trace_dir, rank, 0, method, {"w_rows": w_rows, "a_rows": a_rows})

    def batches(split: ImageSplit, rows: Tensor, g: torch.Generator | None) -> Any:
        """(images, labels, row numbers in the training set, the same on every rank);
        augmented for training (``g`` given), only normalised for ASM-NAS' selection pass."""
        it = iterate_batches(split, s.batch_size, shuffle=g is not None, generator=g,
                             drop_last=True, device=device, limit=steps)  # fmt: skip
        for x, y, idx in it:  # same step count on every rank
            yield (recipe.train(x, g) if g is not None else recipe.test(x)), y, rows[idx]

    for epoch in range(start, s.epochs):
        t0 = time.perf_counter()
        g = torch.Generator().manual_seed(s.seed * 1000 + epoch)
        metrics: dict[str, Any] = {}
        for tb, vb in zip(batches(w_split, w_rows, g), batches(a_split, a_rows, g), strict=True):
            metrics = method.step(tb, vb)
        method.epoch_end()
        if isinstance(method, AttentionNAS):  # ASM-NAS Sec. 4.3 on this rank's val shard
            metrics["cell_genotypes"] = format_cell_genotypes(
                method.derive(batches(a_split, a_rows, None))
            )
        search_time += time.perf_counter() - t0
        arch = method.arch_tensors()
        metrics.update(
            epoch=epoch + 1, rank=rank, start_epoch=start, search_time_s=search_time,
            genotype=str(method.genotype()), arch_entropy=arch_entropy(arch),
            arch_digest=alpha_digest(arch),
        )  # fmt: skip
        if s.trace_dir is not None:
            _trace(s.trace_dir, rank, epoch + 1, method, metrics)
        if s.fail_at_epoch is not None and epoch + 1 == s.fail_at_epoch and start == 0:
            raise RuntimeError(f"injected failure at epoch {epoch + 1}")
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = None
            if rank == 0:
                state = {"method": method.state_dict(), "epoch": epoch + 1,
                         "search_time_s": search_time}  # fmt: skip
                torch.save(state, os.path.join(tmp, "search.pt"))
                checkpoint = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(metrics, checkpoint=checkpoint)


def _trace(folder: str, rank: int, epoch: int, method: SupernetMethod, extra: dict) -> None:
    arch = [t.detach().cpu().clone() for t in method.arch_tensors()]
    record = {**extra, "arch": arch, "digest": alpha_digest(arch)}
    torch.save(record, os.path.join(folder, f"rank{rank}_epoch{epoch}.pt"))


def run_search(
    settings: SearchSettings,
    *,
    workers: int = 1,
    gpus_per_worker: float = 0.0,
    storage_path: str,
    name: str,
    max_failures: int = 0,
) -> Any:
    """Validate (:func:`check_search`), then run the search as a ``TorchTrainer`` job; returns
    the ``ray.train.Result`` (its ``metrics`` are rank 0's last report). ``Interrupted`` when
    the run was aborted (Ctrl-C) before its last epoch; rerunning the same ``name`` in the same
    ``storage_path`` resumes it from its checkpoint."""
    check_search(settings, workers=workers, gpus_per_worker=gpus_per_worker)
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    trainer = TorchTrainer(
        train_loop,
        train_loop_config=asdict(settings),
        scaling_config=ScalingConfig(**scaling_kwargs(workers, gpus_per_worker)),
        run_config=RunConfig(
            storage_path=os.path.abspath(storage_path),
            name=name,
            failure_config=FailureConfig(max_failures=max_failures),
        ),
    )
    with sigint_handler_kept():  # Train installs its own (Ctrl-C: abort gracefully)
        result = trainer.fit()
    if int((result.metrics or {}).get("epoch", 0)) < settings.epochs:  # aborted by a Ctrl-C
        raise Interrupted(f"search {name} stopped before epoch {settings.epochs}")
    return result
