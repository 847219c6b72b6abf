"""The shared evaluation stage on Ray (DESIGN.md, "Evaluation stage"; issue 5 item 5).

Every (genotype, seed) pair is its own Ray Train ``TorchTrainer`` job (weights in DDP across
``budget.workers`` workers) training :class:`raysearch.nas.evaluation.Evaluation`; the jobs run
side by side as Ray Tune function trials. Train V2 cannot hand a trainer to ``Tuner``, so each
trial calls ``trainer.fit()`` itself. A trial only waits on its trainer, so it reserves no CPU
(Tune refuses an all-zero request, so it reserves 64 MiB of Ray's ``memory`` resource instead):
the CPUs go to the Train workers, and two 1-worker jobs really do run at once on 2 CPUs.
Workers report every epoch with a checkpoint; rerunning the same ``name`` under the same
``storage_path`` resumes each unfinished job from its last epoch. A job that crashes becomes
a row with NaN accuracy and its ``error``; the others finish. A run stopped early (Ctrl-C)
raises ``Interrupted`` instead of returning rows for jobs that never finished.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from raysearch.analysis.results_folder import Interrupted, sigint_handler_kept
from raysearch.nas.evaluation import EvalBudget, EvalJob, plan_evaluations
from raysearch.tune.checkpoint_state import load_state

COLUMNS = [
    "genotype_name", "genotype", "seed", "params_m", "test_acc", "wall_time_s",
    "epochs", "train_start", "train_end", "error",
]  # fmt: skip
TRIAL_MEMORY = 64 * 2**20  # what a trial reserves instead of a CPU (bytes)


def evaluate(
    genotypes: Sequence[str],
    seeds: Sequence[int],
    budget: EvalBudget,
    *,
    storage_path: str,
    name: str = "evaluate",
    max_concurrent: int | None = None,
) -> pd.DataFrame:
    """Evaluate every genotype (published name, genotype string or file) with every seed.

    Returns one row per (genotype, seed) in input order, with the columns ``COLUMNS``:
    ``params_m`` (auxiliary head excluded), ``test_acc``, ``wall_time_s`` (the whole Train job,
    start-up included), ``train_start``/``train_end`` (epoch time of the workers' loop) and
    ``error`` (missing when the job succeeded, else the innermost ``SomeError: message``). Input is checked before Ray starts.
    """
    jobs = plan_evaluations(genotypes, seeds, budget)
    if max_concurrent is not None and max_concurrent < 1:
        raise ValueError(f"max_concurrent must be >= 1 or None, got {max_concurrent}")
    return run_jobs(
        jobs, budget, storage_path=storage_path, name=name, max_concurrent=max_concurrent
    )


def run_jobs(
    jobs: Sequence[EvalJob],
    budget: EvalBudget,
    *,
    storage_path: str,
    name: str,
    max_concurrent: int | None = None,
) -> pd.DataFrame:
    """Run planned jobs (from :func:`plan_evaluations`) as Tune trials; see :func:`evaluate`."""
    import ray
    from ray import tune

    from raysearch.tune.preflight import plan_ran

    storage = Path(storage_path).expanduser().resolve()  # before any trial changes directory
    storage.mkdir(parents=True, exist_ok=True)
    if not ray.is_initialized():
        ray.init(include_dashboard=False, configure_logging=False)
    fits = fitting_jobs(ray.cluster_resources(), budget)
    max_concurrent = fits if max_concurrent is None else max_concurrent
    trainable = tune.with_resources(_trial, {"cpu": 0, "memory": TRIAL_MEMORY})
    tuner = tune.Tuner(
        trainable,
        param_space={
            "job": tune.grid_search([asdict(job) for job in jobs]),
            "budget": asdict(budget),
            "train_storage": str(storage / f"{name}_jobs"),
        },
        tune_config=tune.TuneConfig(
            max_concurrent_trials=max_concurrent,
            reuse_actors=True,
            trial_dirname_creator=lambda trial: f"job_{trial.config['job']['index']:03d}",
        ),
        run_config=tune.RunConfig(
            storage_path=str(storage),
            name=name,
            failure_config=tune.FailureConfig(max_failures=0),
            verbose=0,
        ),
    )
    with sigint_handler_kept():
        grid = tuner.fit()
    if not plan_ran(grid.experiment_path, len(jobs)):
        raise Interrupted(f"evaluation {name} stopped before its {len(jobs)} jobs finished")
    results = [grid[i] for i in range(len(grid))]
    rows = [_row((r.config or {})["job"], r.metrics or {}, r.error) for r in results]
    frame = pd.DataFrame(rows, columns=["index", *COLUMNS]).sort_values("index")
    return frame.drop(columns="index").reset_index(drop=True)


def fitting_jobs(resources: dict[str, float], budget: EvalBudget) -> int:
    """How many jobs the cluster ``resources`` hold at once (CPUs, and GPUs when the jobs use
    them); ``ValueError`` when not even one fits, instead of waiting forever."""
    fits = int(resources.get("CPU", 0) // budget.workers)
    if budget.gpus_per_worker > 0:
        per_job = budget.gpus_per_worker * budget.workers
        fits = min(fits, int(resources.get("GPU", 0) // per_job))
    if fits < 1:
        raise ValueError(
            f"one evaluation job needs {budget.workers} CPU(s) and "
            f"{budget.gpus_per_worker * budget.workers:g} GPU(s); the Ray cluster has "
            f"{resources.get('CPU', 0):g} CPU(s) and {resources.get('GPU', 0):g} GPU(s)"
        )
    return fits


def _row(job: dict[str, Any], metrics: dict[str, Any], error: BaseException | None) -> dict:
    failed = error is not None or "test_acc" not in metrics
    return {
        "index": job["index"],
        "genotype_name": job["label"],
        "genotype": job["genotype"],
        "seed": job["seed"],
        "params_m": metrics.get("params_m", math.nan),
        "test_acc": math.nan if failed else metrics["test_acc"],
        "wall_time_s": metrics.get("wall_time_s", math.nan),
        "epochs": metrics.get("epoch", 0),
        "train_start": metrics.get("train_start", math.nan),
        "train_end": metrics.get("train_end", math.nan),
        "error": _error_text(error) if error is not None else None,
    }


def _error_text(error: BaseException) -> str:
    """The innermost ``SomeError: message`` line of a (wrapped, remote) failure."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    causes = [line for line in lines if line.split(":")[0].endswith(("Error", "Exception"))]
    return (causes[-1] if causes else lines[-1] if lines else type(error).__name__)[:500]


def _trial(config: dict[str, Any]) -> None:
    """Tune function trial: run one job's TorchTrainer and report its last epoch."""
    from ray import train, tune
    from ray.train.torch import TorchTrainer

    job, budget = config["job"], EvalBudget(**config["budget"])
    gpus = budget.gpus_per_worker
    started = time.time()
    trainer = TorchTrainer(
        _train_loop,
        train_loop_config={"job": job, "budget": config["budget"]},
        scaling_config=train.ScalingConfig(
            num_workers=budget.workers,
            use_gpu=gpus > 0,
            resources_per_worker={"CPU": 1, "GPU": gpus} if gpus > 0 else {"CPU": 1},
        ),
        run_config=train.RunConfig(
            storage_path=config["train_storage"],
            name=f"job_{job['index']:03d}_seed{job['seed']}",
        ),
    )
    result = trainer.fit()  # raises when the job failed: Tune records the trial's error
    tune.report({**(result.metrics or {}), "wall_time_s": time.time() - started})


def _train_loop(config: dict[str, Any]) -> None:
    """Per-worker Ray Train loop: train, test (summed over workers), report with checkpoint."""
    import ray.train
    import torch.distributed as dist
    from ray.train.torch import get_device, prepare_model

    from raysearch.nas.evaluation import Evaluation, genotype_from_text, load_eval_data

    torch.set_num_threads(1)  # one CPU per worker
    job, budget = config["job"], EvalBudget(**config["budget"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    run = Evaluation(
        genotype_from_text(job["genotype"]),
        job["seed"],
        budget,
        load_eval_data(budget.dataset, budget.data_root),
        device=get_device(),
        rank=rank,
        world_size=world,
        wrap=prepare_model,
    )
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            run.load_state_dict(load_state(os.path.join(folder, "evaluation.pt"), run.device))
    started = time.time()
    epochs_left = max(budget.epochs - run.epoch, 0)
    for _ in range(max(epochs_left, 1)):  # a finished job reports its result once more
        metrics = run.train_epoch() if epochs_left else {"epoch": run.epoch}
        if world > 1:  # test with rank 0's BatchNorm statistics on every rank
            for buffer in run.net.buffers():
                dist.broadcast(buffer, 0)
        counts = run.test_counts()
        if world > 1:
            dist.all_reduce(counts)
        correct, total = counts.tolist()
        report = {
            **metrics,
            "test_acc": correct / total,
            "params_m": run.params_m,
            "train_start": started,
            "train_end": time.time(),
        }
        with tempfile.TemporaryDirectory() as tmp:
            saved = None
            if rank == 0:
                torch.save(run.state_dict(), os.path.join(tmp, "evaluation.pt"))
                saved = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(report, checkpoint=saved)
