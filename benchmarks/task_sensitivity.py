"""Which task lets schedule searchers differ? Random S2E schedules vs seed noise, per candidate task.

For each candidate task (noise kind and rate, epochs, training-set size, model), outside Ray
(``build_run`` + ``train_epoch``, 1 torch thread per process, 2 processes):

- ``--schedules`` random schedules of the ``s2e`` family, drawn as the ``random`` searcher
  draws them (the family's Tune space), trained at seed 0: final clean test accuracy (median,
  p90, max) and the rank correlation (Spearman) between the reward and the clean test accuracy,
  for the clean-validation reward (the S2E paper's eq. (2)) and the noisy-validation one;
- three fixed schedules (keep-all R = 1, Co-teaching's default, the best schedule by reward)
  over ``--seeds`` seeds: their seed std, pooled;
- the cost of one schedule (seconds of one run, 1 thread).

A task suits the default comparison when (max - median) >= 3 x seed std, keep-all lies clearly
below Co-teaching, and Spearman(clean-val reward, clean test) >= 0.8. Runs are appended to
``task_sensitivity_runs.csv`` task by task (a finished task is not rerun), so the sweep can be
done in pieces: ``--tasks a,b`` runs some, ``--summary`` writes ``task_sensitivity.csv`` + PNG.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from benchmarks._common import results_dir
from raysearch.bench.tasks import TASKS

RUNS_FILE, SUMMARY_FILE = "task_sensitivity_runs.csv", "task_sensitivity.csv"


def random_schedules(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` s2e-family configs drawn from the family's Tune space (what ``random`` samples)."""
    from raysearch.tune.spaces import family_space
    from search_spaces.schedules import get_family

    family = get_family("s2e")
    space = family_space(family)
    rng = np.random.default_rng(seed)
    configs = []
    for _ in range(n):
        raw = {
            k: (v if isinstance(v, str) else v.sample(random_state=rng)) for k, v in space.items()
        }
        configs.append(family.validate(raw))
    return configs


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def train_one(task: str, label: str, schedule: dict[str, Any], seed: int) -> dict[str, Any]:
    """Train one schedule on ``task``; final-epoch accuracies, the noisy-val reward and the cost."""
    from raysearch.noisy import NoiseSpec
    from raysearch.noisy.coteaching import accuracy
    from raysearch.noisy.settings import TrialSettings, build_run

    settings = TrialSettings(**TASKS[task], seed=seed)
    start = time.perf_counter()
    run = build_run(settings, schedule)
    while not run.finished:
        metrics = run.train_epoch()
    seconds = time.perf_counter() - start
    spec = NoiseSpec.parse(settings.noise)
    noisy_val = run.data.val.with_labels(
        spec.apply(run.data.val.labels, seed=settings.noise_seed + 1, num_classes=10)
    )
    noisy_val_acc = sum(
        accuracy(net, noisy_val, batch_size=1000, device=run.device) for net in run.nets
    )
    return {
        "task": task, "label": label, "seed": seed, "schedule": str(schedule),
        "val_acc": metrics.val_acc, "noisy_val_acc": noisy_val_acc / 2,
        "test_acc": metrics.test_acc, "label_precision": metrics.label_precision,
        "seconds": seconds, "epochs": settings.epochs,
    }  # fmt: skip


def run_task(task: str, pool: ProcessPoolExecutor, schedules: int, seeds: int) -> pd.DataFrame:
    from raysearch.noisy import NoiseSpec
    from search_spaces.schedules import default_config

    rate = NoiseSpec.parse(TASKS[task]["noise"]).rate
    randoms = random_schedules(schedules, seed=0)
    fixed = {
        "keep-all": default_config("constant"),
        "coteaching": default_config("coteaching", noise_rate=rate),
    }
    jobs = [(task, f"random{i}", s, 0) for i, s in enumerate(randoms)]
    jobs += [(task, label, s, seed) for label, s in fixed.items() for seed in range(seeds)]
    rows = list(pool.map(train_one, *zip(*jobs, strict=True)))
    frame = pd.DataFrame(rows)
    random_rows = frame[frame.label.str.startswith("random")]
    best = random_rows.loc[random_rows.val_acc.idxmax()]
    index = int(best.label.removeprefix("random"))
    extra = [(task, "best-by-val", randoms[index], seed) for seed in range(1, seeds)]
    best_rows = [{**best.to_dict(), "label": "best-by-val"}]
    best_rows += list(pool.map(train_one, *zip(*extra, strict=True)))
    return pd.concat([frame, pd.DataFrame(best_rows)], ignore_index=True)


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for task, g in runs.groupby("task", sort=False):
        rnd = g[g.label.str.startswith("random")]
        fixed = g[~g.label.str.startswith("random")]
        stds = fixed.groupby("label").test_acc.std(ddof=1)
        seed_std = float(np.sqrt((stds**2).mean()))
        means = fixed.groupby("label").test_acc.mean()
        median, p90, best = (float(rnd.test_acc.quantile(q)) for q in (0.5, 0.9, 1.0))
        rows.append({
            "task": task, "epochs": int(g.epochs.iloc[0]), "n_random": len(rnd),
            "random_median": median, "random_p90": p90, "random_max": best,
            "keep_all": means.get("keep-all"), "coteaching": means.get("coteaching"),
            "best_by_val": means.get("best-by-val"), "seed_std": seed_std,
            "ratio_best_minus_median_over_std": (best - median) / seed_std,
            "coteaching_minus_keep_all_over_std": (means["coteaching"] - means["keep-all"]) / seed_std,
            "spearman_clean_val": float(spearmanr(rnd.val_acc, rnd.test_acc).statistic),
            "spearman_noisy_val": float(spearmanr(rnd.noisy_val_acc, rnd.test_acc).statistic),
            "seconds_per_schedule": float(g.seconds.median()),
            "seconds_per_schedule_epoch": float((g.seconds / g.epochs).median()),
        })  # fmt: skip
    table = pd.DataFrame(rows)
    table["suitable"] = (
        (table.ratio_best_minus_median_over_std >= 3)
        & (table.coteaching_minus_keep_all_over_std >= 3)
        & (table.spearman_clean_val >= 0.8)
    )
    return table


def plot(runs: pd.DataFrame, path: Any) -> None:
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(runs.task))
    fig, ax = plt.subplots(figsize=(1.3 * len(tasks) + 2, 4.5))
    for i, task in enumerate(tasks):
        g = runs[runs.task == task]
        rnd = g[g.label.str.startswith("random")]
        ax.scatter(
            np.full(len(rnd), i) + np.linspace(-0.2, 0.2, len(rnd)), rnd.test_acc, s=8, c="grey"
        )
        fixed = (("keep-all", "v", "C0"), ("coteaching", "s", "C1"), ("best-by-val", "*", "C2"))
        for offset, (label, marker, color) in enumerate(fixed):
            f = g[g.label == label].test_acc
            ax.errorbar(
                i + 0.25 + 0.08 * offset,
                f.mean(),
                yerr=f.std(ddof=1),
                fmt=marker,
                color=color,
                capsize=3,
                label=label if i == 0 else None,
            )
    ax.set_xticks(range(len(tasks)), tasks, rotation=30, ha="right")
    ax.set_ylabel("final clean test accuracy")
    ax.set_title("random s2e schedules (grey, seed 0) vs fixed schedules (mean ± seed std)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tasks", default=",".join(TASKS), help=f"comma-separated: {', '.join(TASKS)}"
    )
    parser.add_argument("--schedules", type=int, default=32)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--summary", action="store_true", help="only write the summary CSV + PNG")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = results_dir(args.out)
    runs_path = out / RUNS_FILE
    runs = pd.read_csv(runs_path) if runs_path.exists() else pd.DataFrame()
    if not args.summary:
        unknown = [t for t in args.tasks.split(",") if t not in TASKS]
        if unknown:
            raise KeyError(f"unknown tasks {unknown}; known: {', '.join(TASKS)}")
        with ProcessPoolExecutor(args.workers, initializer=_init_worker) as pool:
            for task in args.tasks.split(","):
                if not runs.empty and task in set(runs.task):
                    continue
                start = time.perf_counter()
                frame = run_task(task, pool, args.schedules, args.seeds)
                runs = pd.concat([runs, frame], ignore_index=True)
                runs.to_csv(runs_path, index=False)
                print(
                    f"{task}: {time.perf_counter() - start:.0f} s wall, load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
    table = summarize(runs)
    table.to_csv(out / SUMMARY_FILE, index=False)
    plot(runs, out / "task_sensitivity.png")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
