"""``raysearch bench tabulate``: train the benchmark's schedules as real Tune trials, then table them.

One Tune experiment per (task, seed) under ``OUT/tune/<task>-seed<s>``: the real
:class:`~raysearch.tune.trainable.CoteachingTrainable`, the design of
:func:`raysearch.bench.design.schedule_design` handed out in order by a
:class:`~raysearch.tune.fixed_configs.FixedConfigSearcher`, as many trials side by side as the
cluster has CPUs (``cpus_per_trial`` each). Trials keep no checkpoints: one trains in seconds, and
a trial cut off by a kill is trained again from its start on ``--resume`` (its results do not
change: a trial is reproducible for its seed). Only Tune's JSON logger runs (``result.json``).

When an experiment is complete it gets a ``DONE`` marker, and the tables are rewritten:
``OUT/tables/<task>.parquet``, one row per (seed, schedule, epoch) with ``val_acc``,
``test_acc``, ``label_precision``, ``train_loss`` and the ``keep_rate`` R(t) the epoch used, plus
``OUT/tables/manifest.json`` (the command, versions, machine and wall time that made them).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from ray import tune
from ray.tune.logger import JsonLoggerCallback
from ray.tune.search import ConcurrencyLimiter

from raysearch.analysis.experiments import load_trial_epochs, read_params
from raysearch.analysis.results_folder import (
    FolderState,
    Interrupted,
    claim_folder,
    mark_finished,
    sigint_handler_kept,
    write_atomic,
    write_fingerprint,
)
from raysearch.bench.design import schedule_design
from raysearch.bench.tasks import TABULATED, check_task, noise_rate, task_settings
from raysearch.tune.fixed_configs import FixedConfigSearcher
from raysearch.tune.preflight import check_ray_address, init_ray, plan_ran, restorable
from raysearch.tune.trainable import CoteachingTrainable

METRIC, MODE = "val_acc", "max"
DONE_MARKER = "DONE"
TABLE_COLUMNS = ["task", "seed", "design_id", "kind", "family", "schedule", "epoch", "keep_rate",
                 "val_acc", "test_acc", "label_precision", "train_loss"]  # fmt: skip


@dataclass(frozen=True)
class TabulateSettings:
    """What to tabulate: tasks, seeds and the size of the Sobol part of the design."""

    tasks: tuple[str, ...] = TABULATED
    seeds: int = 2
    sobol: int = 512
    grids: bool = True  # the coteaching, single and constant grids (always the references)
    design_seed: int = 0
    max_batches_per_epoch: int | None = None  # a smoke-sized run (tests); None: whole epochs
    cpus_per_trial: float = 1.0
    out: str = "runs/bench-tabulate"

    def __post_init__(self) -> None:
        for task in self.tasks:
            check_task(task)
        if not self.tasks:
            raise ValueError("no task given")
        if self.seeds < 1 or self.sobol < 1:
            raise ValueError(f"seeds and sobol must be >= 1, got {self.seeds} and {self.sobol}")
        if not self.cpus_per_trial > 0:
            raise ValueError(f"cpus_per_trial must be > 0, got {self.cpus_per_trial}")
        object.__setattr__(self, "out", str(Path(self.out).expanduser().resolve()))

    def fingerprint(self) -> dict[str, Any]:
        settings = dataclasses.asdict(self)
        settings.pop("out")
        return settings

    def design(self, task: str) -> list[dict[str, Any]]:
        design = schedule_design(
            sobol=self.sobol, noise_rate=noise_rate(task), seed=self.design_seed
        )
        return [d for d in design if self.grids or d["kind"] != "grid"]

    def trial_config(self, task: str, seed: int) -> dict[str, Any]:
        return task_settings(
            task, seed=seed, max_batches_per_epoch=self.max_batches_per_epoch
        ).to_config()


class _Progress(tune.Callback):
    """One line every ``every`` finished trials, with the time per trial and what is left."""

    def __init__(self, label: str, total: int, done: int, every: int = 25) -> None:
        self.label, self.total, self.every = label, total, every
        self.count, self.new, self.start = done, 0, time.monotonic()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.count += 1
        self.new += 1
        if self.count % self.every == 0 or self.count == self.total:
            rate = (time.monotonic() - self.start) / self.new
            left = (self.total - self.count) * rate / 60
            print(f"[{self.label}] {self.count}/{self.total} trials, {rate:.1f} s each, "
                  f"~{left:.0f} min left", flush=True)  # fmt: skip


def _finished_trials(path: Path) -> int:
    return sum(1 for p in path.glob("*/result.json") if p.stat().st_size > 0)


def _slots(settings: TabulateSettings) -> int:
    """Trials the cluster runs side by side. Tune keeps one pending trial for a custom searcher
    unless a ``ConcurrencyLimiter`` says more, which starves all but one trial slot."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1) // settings.cpus_per_trial))


def run_experiment(settings: TabulateSettings, task: str, seed: int, *, resume: bool) -> Path:
    """Train the design of ``task`` at ``seed`` (or resume it, or skip it when finished)."""
    name = f"{task}-seed{seed}"
    path = Path(settings.out) / "tune" / name
    if (path / DONE_MARKER).exists():
        print(f"[{name}] finished earlier, skipped", flush=True)
        return path
    design = settings.design(task)
    trainable = tune.with_resources(CoteachingTrainable, {"cpu": settings.cpus_per_trial})
    param_space = settings.trial_config(task, seed)
    callbacks = [JsonLoggerCallback(), _Progress(name, len(design), _finished_trials(path))]
    if resume and restorable(path):
        print(f"[{name}] resuming from {path}", flush=True)
        tuner = tune.Tuner.restore(
            str(path), trainable=trainable, param_space=param_space, resume_errored=True
        )
    else:
        configs = [{"schedule": d["schedule"], "design_id": d["design_id"], "kind": d["kind"],
                    "task": task} for d in design]  # fmt: skip
        tuner = tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune.TuneConfig(
                search_alg=ConcurrencyLimiter(
                    FixedConfigSearcher(configs), max_concurrent=_slots(settings)
                ),
                num_samples=len(configs),
                metric=METRIC,
                mode=MODE,
                reuse_actors=True,
            ),  # fmt: skip
            run_config=tune.RunConfig(
                name=name,
                storage_path=str(Path(settings.out) / "tune"),
                callbacks=callbacks,
                checkpoint_config=tune.CheckpointConfig(
                    checkpoint_frequency=0, checkpoint_at_end=False
                ),
                failure_config=tune.FailureConfig(max_failures=1),
                verbose=0,
            ),  # fmt: skip
        )
    start = time.monotonic()
    with sigint_handler_kept():
        tuner.fit()
    if not plan_ran(path, len(design)):
        raise Interrupted(f"[{name}] stopped before every schedule was trained; state in {path}")
    write_atomic(path / DONE_MARKER, json.dumps({"task": task, "seed": seed,
                                                 "wall_s": time.monotonic() - start}))  # fmt: skip
    return path


def experiment_table(path: Path) -> pd.DataFrame:
    """One row per (schedule, epoch) of a tabulation experiment folder."""
    frames = []
    for trial_dir in sorted(p.parent for p in path.glob("*/params.json")):
        config, epochs = read_params(trial_dir), load_trial_epochs(trial_dir)
        if config is None or epochs.empty:
            continue
        schedule = config["schedule"]
        frames.append(epochs.assign(
            task=config["task"], seed=int(config["seed"]), design_id=config["design_id"],
            kind=config["kind"], family=schedule["family"],
            schedule=json.dumps(schedule, sort_keys=True),
        ))  # fmt: skip
    if not frames:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    table = pd.concat(frames, ignore_index=True)[TABLE_COLUMNS]
    return table.sort_values(["seed", "design_id", "epoch"]).reset_index(drop=True)


def _git_commit() -> str:
    try:
        here = Path(__file__).resolve().parent
        return subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count()}


def write_tables(settings: TabulateSettings, command: list[str]) -> Path:
    """Rewrite ``OUT/tables``: one parquet per task from its finished experiments, and the
    manifest naming what made them."""
    import numpy
    import ray
    import torch

    tables = Path(settings.out) / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    experiments = []
    for task in settings.tasks:
        done = [Path(settings.out) / "tune" / f"{task}-seed{s}" for s in range(settings.seeds)]
        done = [p for p in done if (p / DONE_MARKER).exists()]
        if not done:
            continue
        table = pd.concat([experiment_table(p) for p in done], ignore_index=True)
        write_atomic(tables / f"{task}.parquet", partial(table.to_parquet, index=False))
        experiments += [json.loads((p / DONE_MARKER).read_text()) for p in done]
    manifest = {
        "command": command,
        "settings": dataclasses.asdict(settings) | {"out": None},
        "tasks": {task: check_task(task) for task in settings.tasks},
        "experiments": experiments,
        "raysearch_commit": _git_commit(),
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                     "ray": ray.__version__, "numpy": numpy.__version__, "pandas": pd.__version__},
        "machine": _machine(),
        "written": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }  # fmt: skip
    write_atomic(tables / "manifest.json", json.dumps(manifest, indent=2))
    return tables


def run_tabulate(
    settings: TabulateSettings, *, command: list[str], address: str | None = None,
    resume: bool = False,
) -> Path:  # fmt: skip
    """Every (task, seed) experiment, then the tables; ``Interrupted`` when stopped early."""
    out = Path(settings.out)
    state = claim_folder(out, "bench tabulate", settings.fingerprint(), resume=resume)
    if state is FolderState.FINISHED:
        print(f"{out} finished earlier with these settings; nothing to run", flush=True)
        return out / "tables"
    check_ray_address(address)
    write_fingerprint(out, "bench tabulate", settings.fingerprint())
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # JSON only (added above)
    init_ray(address)
    for task in settings.tasks:
        for seed in range(settings.seeds):
            run_experiment(settings, task, seed, resume=resume)
            write_tables(settings, command)
    mark_finished(out)
    return out / "tables"
