"""Supernet search (DARTS, Liu et al. 2019, Alg. 1) as a Ray Train job (Train V2).

Weights are wrapped in DDP; alpha gradients are all-reduced and averaged through Darts'
``arch_grad_hook`` so every rank holds the same alpha. Each rank gets its own shard of the
weight half and of the alpha half of the training set (``raysearch.nas.search_split``).
Per-epoch checkpoints (weights, alpha, optimiser states, epoch); a restarted run resumes from
ray.train.get_checkpoint(). Not yet: GPU (--gpus-per-worker) and a Tune wrapper.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch

from raysearch.nas.darts import Darts
from raysearch.nas.supernet import SuperNet

MethodFactory = Callable[..., Darts]
METHODS: dict[str, MethodFactory] = {}


def register_method(name: str, factory: MethodFactory) -> None:
    """Register a supernet method factory ``factory(supernet, *, epochs, model_forward, arch_grad_hook)``."""
    METHODS[name] = factory


def check_method(name: str) -> None:
    if name not in METHODS:
        raise KeyError(f"unknown NAS method {name!r}; known: {sorted(METHODS)}")


register_method("darts", lambda supernet, **kw: Darts(supernet, order=2, **kw))
register_method("darts-1st", lambda supernet, **kw: Darts(supernet, order=1, **kw))


@dataclass(frozen=True)
class SearchSettings:
    method: str = "darts-1st"
    dataset: str = "fashion-mnist-mini"
    epochs: int = 2
    C: int = 4
    layers: int = 2
    batch_size: int = 16
    max_batches: int | None = None
    seed: int = 0
    fail_at_epoch: int | None = None  # raise once (first attempt only) at this epoch (tests)
    digest_dir: str | None = None  # if set, every rank writes its alpha digest here (tests)

    def __post_init__(self) -> None:
        check_method(self.method)
        if self.epochs < 1 or self.C < 1 or self.layers < 1 or self.batch_size < 1:
            raise ValueError(f"epochs, C, layers and batch_size must be >= 1: {self}")


def train_loop(config: dict[str, Any]) -> None:
    """Per-worker Ray Train loop: one report per epoch with loss, accuracy, genotype, entropy."""
    import ray.train
    import torch.distributed as dist
    from ray.train.torch import prepare_model

    from raysearch.data import iterate_batches, load_dataset
    from raysearch.nas.search_split import alpha_digest, alpha_entropy, search_shards

    s = SearchSettings(**config)
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.manual_seed(s.seed)
    data = load_dataset(s.dataset, seed=s.seed)
    w_split, a_split = search_shards(data.train, rank=rank, world_size=world, seed=s.seed)
    supernet = SuperNet(
        in_channels=data.in_channels, num_classes=data.num_classes, C=s.C, layers=s.layers
    )
    ddp = prepare_model(supernet, parallel_strategy_kwargs={"find_unused_parameters": True})
    net: SuperNet = supernet if world == 1 else ddp.module  # type: ignore[assignment]

    def hook(grads: list[torch.Tensor]) -> list[torch.Tensor]:
        if world > 1:
            for g in grads:
                dist.all_reduce(g)
                g /= world
        return grads

    half = min(len(data.train) // 2, len(data.train) - len(data.train) // 2)
    steps = (half // world) // s.batch_size
    if s.max_batches is not None:
        steps = min(steps, s.max_batches)
    method = METHODS[s.method](net, epochs=s.epochs, model_forward=ddp, arch_grad_hook=hook)
    start = 0
    ckpt = ray.train.get_checkpoint()
    if ckpt is not None:  # resume: weights, alpha, optimiser states, epoch
        with ckpt.as_directory() as d:
            state = torch.load(os.path.join(d, "search.pt"), weights_only=False)
        net.load_state_dict(state["weights"])
        method.load_state_dict(state["method"])
        net.load_arch_state_dict(state["alpha"])
        start = int(state["epoch"])
    for epoch in range(start, s.epochs):
        g = torch.Generator().manual_seed(s.seed * 1000 + epoch)
        metrics: dict[str, float] = {}
        pairs = zip(
            iterate_batches(w_split, s.batch_size, shuffle=True, generator=g, drop_last=True),
            iterate_batches(a_split, s.batch_size, shuffle=True, generator=g, drop_last=True),
            strict=False,
        )
        for i, (tb, vb) in enumerate(pairs):
            if i >= steps:  # every rank must take the same number of collective steps
                break
            metrics = method.step((tb[0], tb[1]), (vb[0], vb[1]))
        method.epoch_end()
        alphas = net.arch_parameters()
        if s.digest_dir is not None:
            with open(f"{s.digest_dir}/alpha_rank{rank}_epoch{epoch + 1}.txt", "w") as f:
                f.write(alpha_digest(alphas))
        if s.fail_at_epoch is not None and epoch + 1 == s.fail_at_epoch and start == 0:
            raise RuntimeError(f"injected failure at epoch {epoch + 1}")
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = None
            if rank == 0:
                state = {
                    "weights": net.state_dict(),
                    "alpha": net.arch_state_dict(),
                    "method": method.state_dict(),
                    "epoch": epoch + 1,
                }
                torch.save(state, os.path.join(tmp, "search.pt"))
                checkpoint = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(
                {
                    **metrics,
                    "epoch": epoch + 1,
                    "rank": rank,
                    "genotype": str(net.genotype()),
                    "alpha_entropy": alpha_entropy(alphas),
                    "alpha_digest": alpha_digest(alphas),
                    "start_epoch": start,
                },
                checkpoint=checkpoint,
            )


def run_search(
    settings: SearchSettings,
    *,
    workers: int = 1,
    storage_path: str,
    name: str,
    max_failures: int = 0,
) -> Any:
    """Run the search as a TorchTrainer job; returns the ``ray.train.Result``."""
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    trainer = TorchTrainer(
        train_loop,
        train_loop_config=asdict(settings),
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=False),
        run_config=RunConfig(
            storage_path=os.path.abspath(storage_path),
            name=name,
            failure_config=FailureConfig(max_failures=max_failures),
        ),
    )
    return trainer.fit()
