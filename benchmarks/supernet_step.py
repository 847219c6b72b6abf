"""Supernet search step cost, side by side in one run (issue 5 item 7).

1. In process, on one fixed batch: a plain PyTorch loop (forward, backward and SGD on the
   supernet weights only, alphas frozen) vs one search step of DARTS first order and DARTS
   second order (``raysearch.nas.methods.build_method``) on the same model and data, stepped
   in turn (round robin) so that load on a shared machine hits all three alike.
2. Ray Train overhead: the DARTS first-order step timed inside a ``TorchTrainer`` job with 1 and
   2 workers (each worker steps on its own batch of the same size, weights in DDP) over the
   in-process step.
3. Peak memory of each variant: the process's peak RSS growth (``resource.getrusage``), and
   ``torch.cuda.max_memory_allocated`` on a GPU. In-process variants run in forked children so
   their peaks do not mix.
4. Phases of a ``run_search`` job (Ray start, trainer set-up until the workers' loop starts,
   each epoch, teardown, Ray shutdown), from timestamps taken in the driver and the workers.

Run from the repository root: ``python -m benchmarks.supernet_step [--out DIR]``.
Writes ``supernet_step.csv``, ``supernet_step_phases.csv`` and ``supernet_step.png``.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from benchmarks._common import results_dir
from raysearch.nas.methods import build_method


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _batch(cfg: dict[str, Any], seed: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(cfg["batch"], 1, cfg["size"], cfg["size"], generator=g)
    return x.to(device), torch.randint(0, 10, (cfg["batch"],), generator=g).to(device)


def make_step(variant: str, cfg: dict[str, Any], wrap: Any = None) -> Callable[[], None]:
    """One training step of ``variant``: "plain" (forward, backward and SGD of the supernet
    weights, alphas untouched; in process only), "darts-1st" or "darts" (second order)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    net_kwargs = {"in_channels": 1, "num_classes": 10, "C": cfg["C"], "layers": cfg["layers"]}
    kwargs = {"wrap_module": wrap} if wrap is not None else {}
    method = build_method(
        "darts-1st" if variant == "plain" else variant, net_kwargs, epochs=1, **kwargs
    )
    net = method.supernet.to(device)
    seed = 2 * cfg.get("rank", 0)  # each Ray Train worker steps on its own batch
    train, val = _batch(cfg, seed + 1, device), _batch(cfg, seed + 2, device)
    if variant != "plain":

        def search_step() -> None:
            method.step(train, val)

        return search_step
    opt = torch.optim.SGD(list(net.weights()), lr=0.025, momentum=0.9, weight_decay=3e-4)

    def step() -> None:
        loss = F.cross_entropy(net(train[0]), train[1])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _timed(step: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    step()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def time_steps(variant: str, cfg: dict[str, Any], wrap: Any = None) -> dict[str, float]:
    """Median seconds per step of ``variant`` after one warm-up step, and the peak memory
    growth from just before the warm-up."""
    step = make_step(variant, cfg, wrap)
    base_rss = _rss_mb()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    step()  # warm-up
    times = [_timed(step) for _ in range(cfg["steps"])]
    cuda = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0
    return {
        "step_s": statistics.median(times),
        "peak_rss_growth_mb": max(_peak_mb() - base_rss, 0.0),
        "cuda_peak_mb": cuda,
    }


def interleaved(variants: Sequence[str], cfg: dict[str, Any]) -> dict[str, float]:
    """Median step time of each variant, stepping them in turn (round robin) so that load
    changes on a shared machine hit every variant alike."""
    steps = {v: make_step(v, cfg) for v in variants}
    for step in steps.values():
        step()  # warm-up
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(cfg["steps"]):
        for v, step in steps.items():
            times[v].append(_timed(step))
    return {v: statistics.median(t) for v, t in times.items()}


def _child(target: Callable[..., Any], args: tuple, queue: Any) -> None:
    torch.set_num_threads(1)
    queue.put(target(*args))


def in_child(target: Callable[..., Any], *args: Any) -> Any:
    """``target(*args)`` in a forked child (its own peak memory; the parent never ran torch)."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(target, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def _ray_loop(config: dict[str, Any]) -> None:
    import ray.train
    from ray.train.torch import prepare_model

    torch.set_num_threads(1)
    rank = ray.train.get_context().get_world_rank()

    def wrap(module: torch.nn.Module) -> Any:
        return prepare_model(module, parallel_strategy_kwargs={"find_unused_parameters": True})

    result = time_steps(config["variant"], {**config["cfg"], "rank": rank}, wrap=wrap)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = None
        if rank == 0:  # Train V2 keeps the metrics of checkpointed reports in Result.metrics
            torch.save(result, os.path.join(tmp, "r.pt"))
            checkpoint = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report(result, checkpoint=checkpoint)


def in_ray_train(variant: str, cfg: dict[str, Any], workers: int, storage: str) -> dict:
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    gpu = torch.cuda.is_available()
    trainer = TorchTrainer(
        _ray_loop,
        train_loop_config={"variant": variant, "cfg": cfg},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=gpu),
        run_config=RunConfig(storage_path=storage, name=f"step_{variant}_{workers}w"),
    )
    return dict(trainer.fit().metrics)


def search_phases(storage: str, *, workers: int, epochs: int, max_batches: int) -> list[tuple]:
    """Wall-clock phases of one ``run_search`` (the README's ``raysearch nas search``)."""
    import ray

    from raysearch.tune import nas_search

    stamps = os.path.join(storage, "stamps")
    os.makedirs(stamps, exist_ok=True)
    settings = nas_search.SearchSettings(method="darts-1st", epochs=epochs, C=8, layers=5,
                                         batch_size=32, max_batches=max_batches)  # fmt: skip
    t_init = time.time()
    ray.init(num_cpus=max(2, workers), include_dashboard=False, configure_logging=False)
    t_ready = time.time()
    original = nas_search.train_loop

    def timed_loop(config: dict[str, Any]) -> None:
        import ray.train

        rank = ray.train.get_context().get_world_rank()
        report = ray.train.report
        marks = [time.time()]

        def stamped(metrics: dict, checkpoint: Any = None) -> None:
            marks.append(time.time())
            report(metrics, checkpoint=checkpoint)

        ray.train.report = stamped  # type: ignore[assignment]
        try:
            original(config)
        finally:
            ray.train.report = report  # type: ignore[assignment]
            with open(os.path.join(stamps, f"rank{rank}.txt"), "w") as f:
                f.write(" ".join(f"{m:.3f}" for m in marks))

    nas_search.train_loop = timed_loop
    try:
        t_fit = time.time()
        nas_search.run_search(settings, workers=workers, storage_path=storage, name="phases")
        t_done = time.time()
    finally:
        nas_search.train_loop = original
    ray.shutdown()
    t_down = time.time()
    marks = [float(v) for v in open(os.path.join(stamps, "rank0.txt")).read().split()]
    phases = [("ray_init", t_ready - t_init), ("trainer_setup", marks[0] - t_fit)]
    phases += [("epoch_1_with_data_and_build", marks[1] - marks[0])]
    phases += [(f"epoch_{k + 1}", marks[k + 1] - marks[k]) for k in range(1, len(marks) - 1)]
    phases += [("teardown", t_done - marks[-1]), ("ray_shutdown", t_down - t_done)]
    return phases


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=None)
    parser.add_argument("--C", type=int, default=8)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=28, help="image side (fashion-mnist: 28)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--phase-epochs", type=int, default=2)
    parser.add_argument("--phase-workers", type=int, default=2)
    parser.add_argument("--phase-max-batches", type=int, default=20)
    args = parser.parse_args()
    out = results_dir(args.out)
    cfg = {"C": args.C, "layers": args.layers, "batch": args.batch, "size": args.size,
           "steps": args.steps}  # fmt: skip
    rows: list[dict[str, Any]] = []
    variants = ("plain", "darts-1st", "darts")
    medians = in_child(interleaved, variants, cfg)
    local = {}
    for v in variants:  # memory: each variant alone in its own child (warm-up + 1 step)
        memory = in_child(time_steps, v, {**cfg, "steps": 1})
        local[v] = {**memory, "step_s": medians[v]}
        rows.append({"variant": v, "where": "in-process", "workers": 1, **local[v]})
    import ray

    with tempfile.TemporaryDirectory() as storage:
        ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
        for workers in (1, 2):
            r = in_ray_train("darts-1st", cfg, workers, storage)
            rows.append({"variant": "darts-1st", "where": "ray-train", "workers": workers,
                         **{k: r[k] for k in ("step_s", "peak_rss_growth_mb", "cuda_peak_mb")}})  # fmt: skip
        ray.shutdown()
        phases = search_phases(storage, workers=args.phase_workers, epochs=args.phase_epochs,
                               max_batches=args.phase_max_batches)  # fmt: skip
    plain, first = local["plain"]["step_s"], local["darts-1st"]["step_s"]
    for row in rows:
        row["ratio_vs_plain"] = row["step_s"] / plain
        row["ratio_vs_in_process_same_method"] = row["step_s"] / local[row["variant"]]["step_s"]
    with open(out / "supernet_step.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(out / "supernet_step_phases.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["phase", "seconds"])
        writer.writerows((p, f"{s:.2f}") for p, s in phases)
    _plot(rows, phases, out / "supernet_step.png")
    ray_rows = {r["workers"]: r["step_s"] for r in rows if r["where"] == "ray-train"}
    print(
        f"supernet step (C={args.C}, {args.layers} cells, batch {args.batch}, {args.size}px): "
        f"plain {plain:.3f}s, darts-1st x{first / plain:.2f}, "
        f"darts-2nd x{local['darts']['step_s'] / plain:.2f} of plain; "
        f"Ray Train overhead 1 worker x{ray_rows[1] / first:.2f}, "
        f"2 workers x{ray_rows[2] / first:.2f}; search phases "
        + ", ".join(f"{p} {s:.1f}s" for p, s in phases)
    )


def _plot(rows: list[dict[str, Any]], phases: list[tuple], path: Any) -> None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    labels = [
        f"{r['variant']}\n" + ("local" if r["where"] == "in-process" else f"Ray x{r['workers']}")
        for r in rows
    ]
    ax1.bar(labels, [r["step_s"] for r in rows])
    ax1.set_ylabel("median step time [s]")
    ax1.tick_params(axis="x", labelsize=7)
    ax2.barh([p for p, _ in phases], [s for _, s in phases])
    ax2.set_xlabel("run_search phase [s]")
    ax2.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
