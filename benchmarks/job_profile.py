"""Where the default job's core-time goes: a ``raysearch compare`` preset, profiled from Tune's results.

Runs the comparison of ``--preset`` (default: the default job; ``--set seeds=1`` overrides an
option, ``--set experiments-at-once=1`` runs one experiment at a time) as ``launchers/launch.py``
runs it (a fresh ``raysearch compare`` process starting its own Ray on every core), timed from
the process start to its exit, and splits its core-time, wall x cores, into

- ``training`` and ``evaluation``: the epochs the trials trained times the seconds of one
  epoch measured in this script before the job with every core training (one 1-thread process
  per core, outside Ray, same task: the job's best case),
  split by the share of an epoch that evaluation (clean val + test accuracy of both nets)
  takes: the work itself, not the time it took inside the job;
- ``slow-down inside trials``: the trials' ``time_this_iter_s`` beyond that (contention with
  drivers, actor start-up and checkpoints on the same cores, Ray's own threads);
- ``experiment tail``: free cores after an experiment's last trial has started (nothing is left
  to fill them until the next experiment starts);
- ``S2E batch wait``: free cores inside an S2E batch's span, from its first trial's start to
  its last trial's end (the searcher releases the next batch only when the whole batch is told;
  batch trials it releases one at a time leave a core free here too);
- ``Ray/Tune overhead in experiments``: other free cores while an experiment runs (trial
  start-up, checkpoints after every epoch, result handling, Hyperband's pauses);
- ``between experiments``: free cores outside every experiment's span (Ray start-up, experiment
  set-up and tear-down, the report).

Every iteration is placed on the timeline by the trainable's float ``step_end`` and its
``time_this_iter_s``. Writes ``job_profile.csv`` / ``.png`` and prints the shares and the load.

A second view counts CPU by process kind from ``/proc`` (``job_profile_processes.csv``), and
splits the trial actors' CPU beyond the epochs' best-case work by the phases the actors record
(:mod:`raysearch.tune.actor_phases`): actor start-up, trial set-up, checkpoint save, restore,
result reporting (Tune's ``train()`` beyond the epoch), contention (the epochs' own CPU beyond
the best case) and the rest (Ray's worker threads between calls).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from benchmarks._common import results_dir
from benchmarks.process_cpu import run_and_sample
from raysearch.analysis.experiments import load_trial_epochs
from raysearch.noisy.settings import TrialSettings
from raysearch.tune.actor_phases import ENV as PHASES_ENV

CATEGORIES = (
    "training",
    "evaluation",
    "slow-down inside trials",
    "experiment tail",
    "S2E batch wait",
    "Ray/Tune overhead in experiments",
    "between experiments",
)
GRID_S = 0.01


def _epoch_times(settings: TrialSettings, epochs: int) -> list[tuple[float, float]]:
    """(epoch seconds, evaluation seconds) of ``epochs`` epochs (1 thread) after a warm-up one,
    alternating keep-all and Co-teaching's default (an epoch's cost depends on the kept part)."""
    import torch

    from raysearch.noisy.coteaching import accuracy
    from raysearch.noisy.settings import build_run
    from search_spaces.schedules import default_config

    torch.set_num_threads(1)
    runs = [
        build_run(settings, default_config("constant")),
        build_run(settings, default_config("coteaching", noise_rate=0.5)),
    ]
    runs[0].train_epoch()
    times = []
    for epoch in range(epochs):
        run = runs[epoch % 2]
        start = time.perf_counter()
        run.train_epoch()  # trains, then evaluates both nets on val and test
        middle = time.perf_counter()
        for net in run.nets:
            for split in (run.data.val, run.data.test):
                accuracy(net, split, batch_size=run.config.eval_batch_size, device=run.device)
        times.append((middle - start, time.perf_counter() - middle))
    return times


def quiet_epoch(settings: TrialSettings, cores: int, epochs: int = 8) -> tuple[float, float]:
    """The job's best case, measured before it starts: seconds of one Co-teaching epoch while
    ``cores`` processes train side by side (1 thread each, outside Ray, nothing else running),
    as the median over their epochs, and the share of an epoch spent evaluating."""
    with ProcessPoolExecutor(cores) as pool:
        times = [t for part in pool.map(_epoch_times, [settings] * cores, [epochs] * cores)
                 for t in part]  # fmt: skip
    epoch_s = float(np.median([t[0] for t in times]))
    return epoch_s, float(np.median([t[1] / t[0] for t in times]))


def iterations(out: Path) -> pd.DataFrame:
    """One row per trained epoch: experiment, trial id, start and end on the wall clock."""
    frames = []
    for experiment in sorted((out / "tune").iterdir()):
        for trial_dir in sorted(p.parent for p in experiment.glob("*/result.json")):
            rows = load_trial_epochs(trial_dir)
            if rows.empty:
                continue
            frames.append(
                pd.DataFrame(
                    {
                        "experiment": experiment.name,
                        "trial": str(rows.trial_id.iloc[0]),
                        "start": rows.step_end - rows.time_this_iter_s,
                        "end": rows.step_end,
                        "seconds": rows.time_this_iter_s,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def core_time_shares(
    its: pd.DataFrame,
    *,
    wall: tuple[float, float],
    cores: int,
    epoch_s: float,
    eval_share: float,
    k: int,
) -> dict[str, float]:
    """Core-seconds per category (see the module docstring); they sum to wall x cores."""
    t0, t1 = wall
    grid = np.arange(t0, t1, GRID_S)
    busy = np.zeros_like(grid)
    for start, end in zip(its.start, its.end, strict=True):
        busy[(grid >= start) & (grid < end)] += 1
    free = np.clip(cores - busy, 0, None) * GRID_S
    label = np.full(grid.shape, "between experiments", dtype=object)
    for name, g in its.groupby("experiment"):
        starts = g.groupby("trial").start.min().sort_values()  # S2E batches start in order
        inside = (grid >= g.start.min()) & (grid < g.end.max())
        label[inside] = "Ray/Tune overhead in experiments"
        label[inside & (grid >= starts.max())] = "experiment tail"
        if str(name).startswith("s2e"):
            ends = g.groupby("trial").end.max()
            for batch in range(0, len(starts), k):
                members = starts.index[batch : batch + k]
                wait = (grid >= starts[members].min()) & (grid < ends[members].max())
                label[inside & wait & (grid < starts.max())] = "S2E batch wait"
    useful = len(its) * epoch_s
    shares = {
        "training": useful * (1 - eval_share),
        "evaluation": useful * eval_share,
        "slow-down inside trials": float(its.seconds.sum()) - useful,
    }
    for category in CATEGORIES[3:]:
        shares[category] = float(free[label == category].sum())
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small-s2e", help="a compare preset (the default job)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="OPTION=VALUE",
        help="override one of the preset's options, e.g. --set seeds=1",
    )  # fmt: skip
    parser.add_argument("--keep", default=None, help="keep the job's results folder here")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    from raysearch.cli.main import build_parser, compare_settings
    from raysearch.cli.presets import load_preset

    preset = load_preset(args.preset, Path(__file__).resolve().parents[1] / "launchers" / "presets")
    options = {**preset.options, **dict(item.split("=", 1) for item in args.set)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or Path(tmp) / "job").resolve()
        argv = ["compare", *(f"--{k}={v}" for k, v in options.items()), "--out", str(folder)]
        settings = compare_settings(build_parser().parse_args(argv))  # validates the options
        cores = os.cpu_count() or 1
        epoch_s, eval_share = quiet_epoch(settings.trial, cores)
        phases_dir = Path(tmp) / "phases"
        env = {**os.environ, "RAY_worker_niceness": "0", PHASES_ENV: str(phases_dir)}
        # the job as `launchers/launch.py` runs it (a fresh process and Ray), as a user runs it
        wall, cpu = run_and_sample([sys.executable, "-m", "raysearch.cli", *argv], env=env)
        its = iterations(folder)
        phases = actor_phases(phases_dir)
    title = f"{args.preset} {' '.join(args.set)}".strip()
    out = results_dir(args.out)
    report(its, wall=wall, cores=cores, epoch_s=epoch_s, eval_share=eval_share,
           k=settings.samples_per_iter, title=title, out=out)  # fmt: skip
    process_table(cpu, wall=wall[1] - wall[0], cores=cores, useful=len(its) * epoch_s,
                  phases=phases, out=out)  # fmt: skip


def actor_phases(folder: Path) -> dict[str, float]:
    """CPU seconds per phase summed over every trial actor's ``<pid>.jsonl``."""
    totals: dict[str, float] = {}
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            totals[event["phase"]] = totals.get(event["phase"], 0.0) + float(event["cpu"])
    return totals


def actor_breakdown(actor_cpu: float, phases: dict[str, float], useful: float) -> dict[str, float]:
    """The trial actors' CPU beyond ``useful`` (the epochs' best-case work), by phase; the
    parts sum to ``actor_cpu - useful``."""
    parts = {
        "actor start-up": phases.get("start-up", 0.0),
        "trial set-up": phases.get("set-up", 0.0),
        "checkpoint save": phases.get("save", 0.0),
        "restore": phases.get("restore", 0.0),
        "result reporting": phases.get("train", 0.0) - phases.get("epoch", 0.0),
        "contention (epochs beyond the best case)": phases.get("epoch", 0.0) - useful,
    }
    parts["other actor CPU (Ray worker threads)"] = actor_cpu - useful - sum(parts.values())
    return parts


def process_table(
    cpu: dict[str, float], *, wall: float, cores: int, useful: float, out: Path,
    phases: dict[str, float] | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Core-time by process kind (``job_profile_processes.csv``): the epochs' work at the best
    case, the rest of the trial actors' CPU (split by :func:`actor_breakdown` when the actors
    recorded their ``phases``), drivers, Ray, other processes and idle cores."""
    total = wall * cores
    rows = {"training + evaluation (best case)": useful}
    actors = cpu.get("trial actors", 0.0)
    if phases:
        rows.update(
            {f"trial actors: {k}": v for k, v in actor_breakdown(actors, phases, useful).items()}
        )
    else:
        rows["trial actors beyond that"] = actors - useful
    rows.update({kind: seconds for kind, seconds in cpu.items() if kind != "trial actors"})
    rows["idle"] = total - sum(cpu.values())
    table = pd.DataFrame({"core_seconds": rows})
    table["share"] = table.core_seconds / total
    table.to_csv(out / "job_profile_processes.csv", index_label="category")
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    return table


def report(
    its: pd.DataFrame,
    *,
    wall: tuple[float, float],
    cores: int,
    epoch_s: float,
    eval_share: float,
    k: int,
    title: str,
    out: Path,
) -> pd.DataFrame:
    """Write ``job_profile.csv`` / ``.png`` (and the iterations) and print the shares."""
    t0, t1 = wall
    shares = core_time_shares(
        its, wall=wall, cores=cores, epoch_s=epoch_s, eval_share=eval_share, k=k
    )
    total = (t1 - t0) * cores
    table = pd.DataFrame(
        {"core_seconds": shares, "share": {c: v / total for c, v in shares.items()}}
    )
    table.loc["(unaccounted)"] = [total - sum(shares.values()), 1 - sum(shares.values()) / total]
    its.assign(start=its.start - t0, end=its.end - t0).to_csv(
        out / "job_profile_iterations.csv", index=False
    )
    table.to_csv(out / "job_profile.csv", index_label="category")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh(table.index, table.share)
    ax.set_xlabel(f"share of core-time ({cores} cores x {t1 - t0:.0f} s wall)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out / "job_profile.png", dpi=120)
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    busy = shares["training"] + shares["evaluation"]
    print(
        f"wall {t1 - t0:.1f} s x {cores} cores; training+evaluation {busy / total:.1%}; "
        f"quiet epoch {epoch_s:.3f} s, eval share {eval_share:.3f}; load {os.getloadavg()[0]:.2f}"
    )
    return table


if __name__ == "__main__":
    main()
