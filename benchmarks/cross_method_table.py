"""Cross-method table (issues 7 and 15): plain training, LFM-DR with B learned by eq. (9) and by
the official scripts' rule, Co-teaching with its own schedule and Co-teaching with the best S2E
schedule of the committed schedule-search comparison.

Two settings on ``fashion-mnist-mini``: symmetric 40 % label noise, and a long tail with
imbalance factor 100 (clean labels). Every method trains on the same data (one data seed; the
clean meta set LFM-DR learns from is carved from the validation split, so no method trains on
it) and runs in-process, one thread, no Ray. Reported: final-epoch clean test accuracy and the
rarest class's test accuracy over the training seeds: mean, 95 % bootstrap interval of the mean
and, paired by seed against plain training, the mean difference with its paired bootstrap
interval and the exact one-sided Wilcoxon p of "better than plain" (:mod:`raysearch.analysis.stats`;
Mann-Whitney only for a method that shares no seed with plain training); for LFM-DR also the
mean |ΔB| per epoch.

Runs are appended to ``cross_method_runs.csv`` as they finish and a rerun skips the finished
ones, so ``--time-budget`` splits the work into pieces (the table is written once all runs are
there). Writes ``cross_method_runs.csv`` (one row per run and network; ``seconds`` is the wall
time of the run, so the two rows of an LFM-DR run share one), ``cross_method_table.csv`` /
``.md`` and ``cross_method_table.png`` to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from benchmarks._common import RESULTS, results_dir
from raysearch.analysis import stats
from raysearch.data import iterate_batches
from raysearch.noisy import CoteachingConfig, CoteachingRun, NoiseSpec
from raysearch.reweight import ReweightData
from raysearch.reweight.settings import ReweightSettings, build_data, build_reweight_run
from search_spaces.schedules import default_config, family_of

SETTINGS = {
    "symmetric 40%": {"imbalance": 1.0, "noise": "symmetric:0.4"},
    "imbalance 100": {"imbalance": 100.0, "noise": "none"},
}
COMPARISON = RESULTS / "default_compare_trials.csv"
BASELINE = "plain"
B_UPDATES = ("eq9", "official")
METRICS = ("test_acc", "rare_class_acc")
LEGEND = (
    "test_acc: final-epoch clean test accuracy; rare_class_acc: the rarest class's. "
    "mean: over seeds; 95 % CI: percentile bootstrap interval of the mean; X = plain training; "
    "Δ in percentage points. "
)


def best_s2e_schedule(path: Path = COMPARISON) -> tuple[dict[str, Any], str]:
    """The S2E searcher's trial with the highest (noisy) validation accuracy, and its id."""
    trials = pd.read_csv(path)
    s2e = trials[trials.searcher == "s2e"]
    if s2e.empty:
        raise ValueError(f"no trials of searcher 's2e' in {path}")
    best = s2e.loc[s2e.val_acc.idxmax()]
    prefix = "config/schedule/"
    config = {k[len(prefix) :]: best[k] for k in trials.columns if k.startswith(prefix)}
    config = {k: (float(v) if k != "family" else v) for k, v in config.items()}
    return family_of(config).validate(config), str(best.trial_id)


def rarest_class(data: ReweightData) -> int:
    counts = data.train_class_counts()
    return max(range(len(counts)), key=lambda c: (-counts[c], c))


@torch.no_grad()
def _correct(net: torch.nn.Module, data: ReweightData) -> torch.Tensor:
    net.eval()
    preds = [net(x).argmax(1) for x, _, _ in iterate_batches(data.noisy.test, 1000, shuffle=False)]
    return (torch.cat(preds) == data.noisy.test.labels).float()


def run_coteaching(
    data: ReweightData, schedule: dict[str, Any], epochs: int, seed: int
) -> dict[str, Any]:
    """Co-teaching with ``schedule``; accuracies averaged over its two networks."""
    rates = family_of(schedule).values(schedule, epochs)
    run = CoteachingRun(
        data.noisy, family_of(schedule).schedule(schedule, epochs), CoteachingConfig(epochs=epochs),
        model="mlp", seed=seed,
    )  # fmt: skip
    while not run.finished:
        run.train_epoch()
    correct = torch.stack([_correct(net, data) for net in run.nets]).mean(0)
    rare = data.noisy.test.labels == rarest_class(data)
    return {
        "test_acc": float(correct.mean()),
        "rare_class_acc": float(correct[rare].mean()),
        "keep_rate_first": float(rates[0]),
        "keep_rate_last": float(rates[-1]),
    }


def run_reweight(
    base: ReweightSettings, method: str, seed: int, b_update: str = "eq9"
) -> list[dict[str, Any]]:
    run = build_reweight_run(
        ReweightSettings(
            **{**base.to_config(), "method": method, "seed": seed, "b_update": b_update}
        )
    )
    moves = []
    while not run.finished:
        metrics = run.train_epoch()
        moves.append(metrics.b_mean_abs_change)
    if method == "none":
        return [{"method": BASELINE, "test_acc": metrics.test_acc,
                 "rare_class_acc": metrics.rare_class_acc}]  # fmt: skip
    b = {"b_mean_abs_change_per_epoch": sum(moves) / len(moves), "b_std": metrics.b_std,
         "rare_class_mean_b": metrics.rare_class_mean_weight}  # fmt: skip
    return [
        {"method": f"LFM-DR {b_update} (W1, B-weighted)", "test_acc": metrics.test_acc,
         "rare_class_acc": metrics.rare_class_acc, **b},
        {"method": f"LFM-DR {b_update} (W2, a-weighted)", "test_acc": metrics.test_acc_w2,
         "rare_class_acc": metrics.rare_class_acc_w2},
    ]  # fmt: skip


def summarize(runs: pd.DataFrame) -> dict[str, dict[str, pd.DataFrame]]:
    """Per setting and metric, :func:`stats.summary_table` over the seeds: per method the mean,
    its 95 % bootstrap interval and the paired rule against :data:`BASELINE` (the first method
    where plain training did not run): mean difference on the shared seeds, its paired
    bootstrap interval and the exact one-sided Wilcoxon p that the method beats it."""
    summaries = {}
    for setting, group in runs.groupby("setting", sort=False):
        baseline = stats.pick_baseline(group["method"], BASELINE)
        summaries[setting] = {
            m: stats.summary_table(group, value=m, group="method", baseline=baseline)
            for m in METRICS
        }
    return summaries


def _joined(tables: dict[str, pd.DataFrame], shown: bool) -> pd.DataFrame:
    """One setting's metric tables side by side (numbers, or :func:`stats.display_table`)."""
    parts = [
        (stats.display_table(t, points=True) if shown else t)
        .drop(columns="seeds")
        .add_prefix(f"{m} " if shown else f"{m}_")
        for m, t in tables.items()
    ]
    joined = pd.concat(parts, axis=1)
    joined.insert(0, "seeds", tables[METRICS[0]]["seeds"])
    return joined


def flat_table(summaries: dict[str, dict[str, pd.DataFrame]]) -> pd.DataFrame:
    """One row per (setting, method): seeds, then each metric's mean, ci_low, ci_high and the
    paired columns against plain training (pairs_vs_*, diff_vs_*, its interval, p_vs_*)."""
    frames = [
        _joined(tables, shown=False).reset_index().assign(setting=setting)
        for setting, tables in summaries.items()
    ]
    table = pd.concat(frames, ignore_index=True)
    return table[["setting", *table.columns.drop("setting")]]


def markdown(summaries: dict[str, dict[str, pd.DataFrame]]) -> str:
    """A Markdown table per setting (with the undefined paired tests and the few-seeds warning),
    then the legend."""
    parts = [
        f"### {setting}\n\n"
        + stats.with_notes(
            stats.markdown_table(_joined(tables, shown=True)),
            *(f"{m}: {n}" for m, t in tables.items() if (n := stats.paired_notes(t))),
            stats.few_seeds_note(tables[METRICS[0]]["seeds"]),
        )
        for setting, tables in summaries.items()
    ]
    tables = [t for by_metric in summaries.values() for t in by_metric.values()]
    paired = max((stats.paired_legend(t) for t in tables), key=len, default="")
    return "\n".join(parts) + f"\n{LEGEND}{paired}\n"


def plot(table: pd.DataFrame, path: Path, title: str) -> None:
    """Bars: mean over seeds; error bars: its 95 % bootstrap interval (none for one seed)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    settings = list(dict.fromkeys(table.setting))
    methods = list(dict.fromkeys(table.method))
    width = 0.8 / len(methods)
    for ax, column, label in zip(axes, METRICS,
                                 ("clean test accuracy", "rarest-class test accuracy"), strict=True):  # fmt: skip
        for k, method in enumerate(methods):
            rows = table[table.method == method].set_index("setting").reindex(settings)
            mean = rows[f"{column}_mean"]
            yerr = [mean - rows[f"{column}_ci_low"], rows[f"{column}_ci_high"] - mean]
            xs = [i + (k - (len(methods) - 1) / 2) * width for i in range(len(settings))]
            ax.bar(xs, mean, width, yerr=np.nan_to_num(yerr), label=method)
        ax.set_xticks(range(len(settings)), settings)
        ax.set_ylabel(f"{label} (95 % CI)")
        ax.set_ylim(0, 1)
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def b_movement(runs: pd.DataFrame) -> str:
    """Markdown: how far LFM-DR's B moved, per setting and B rule (mean over seeds)."""
    moved = runs.dropna(subset=["b_mean_abs_change_per_epoch"])
    columns = ["b_mean_abs_change_per_epoch", "b_std", "rare_class_mean_b"]
    table = moved.groupby(["method", "setting"], sort=False)[columns].mean().reset_index("setting")
    table[columns] = table[columns].map(lambda v: f"{v:.3g}")
    return stats.markdown_table(table) + (
        "\nmean |ΔB| per epoch, B's final spread and the mean weight W1 gave the rarest class "
        "in the last epoch, averaged over the seeds.\n"
    )


def planned_runs(seeds: int) -> list[tuple[str, int, str]]:
    """(setting, seed, job) of every run; a job is plain, lfm:<rule> or a Co-teaching schedule."""
    jobs = ["none", *(f"lfm:{rule}" for rule in B_UPDATES), "coteaching", "s2e"]
    return [(setting, seed, job) for seed in range(seeds) for setting in SETTINGS for job in jobs]


def run_job(
    setting: str, seed: int, job: str, epochs: int, s2e: tuple[dict[str, Any], str]
) -> list[dict[str, Any]]:
    base = ReweightSettings(epochs=epochs, **SETTINGS[setting])
    start = time.perf_counter()
    if job == "none" or job.startswith("lfm:"):
        method, _, rule = job.partition(":")
        rows = run_reweight(base, "lfm" if method == "lfm" else "none", seed, rule or "eq9")
    else:
        schedule, name = (
            (default_config("coteaching", noise_rate=NoiseSpec.parse(base.noise).rate),
             "Co-teaching (its schedule)")
            if job == "coteaching"
            else (s2e[0], f"Co-teaching (best S2E, trial {s2e[1]})")
        )  # fmt: skip
        rows = [{"method": name, **run_coteaching(build_data(base), schedule, epochs, seed)}]
    seconds = time.perf_counter() - start
    return [
        {"setting": setting, "seed": seed, "job": job, **row, "seconds": seconds} for row in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--time-budget", type=float, default=math.inf,
                        help="seconds; start no new run after this (rerun to continue)")  # fmt: skip
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    s2e = best_s2e_schedule()
    out = results_dir(args.out)
    runs_csv = out / "cross_method_runs.csv"
    runs = pd.read_csv(runs_csv) if runs_csv.exists() else pd.DataFrame()
    done = set() if runs.empty or "job" not in runs else set(
        zip(runs.setting, runs.seed, runs.job, strict=True)
    )  # fmt: skip
    if done and int(runs.epochs.iloc[0]) != args.epochs:
        raise ValueError(f"{runs_csv} holds {runs.epochs.iloc[0]}-epoch runs, not {args.epochs}")
    started = time.perf_counter()
    for setting, seed, job in planned_runs(args.seeds):
        if (setting, seed, job) in done:
            continue
        if time.perf_counter() - started > args.time_budget:
            print("time budget spent; rerun to continue", flush=True)
            return
        rows = pd.DataFrame(
            [
                {**row, "epochs": args.epochs}
                for row in run_job(setting, seed, job, args.epochs, s2e)
            ]
        )
        runs = pd.concat([runs, rows], ignore_index=True)
        runs.to_csv(runs_csv, index=False)
        print(f"{setting} seed {seed} {job}: {rows.seconds.iloc[0]:.0f} s", flush=True)
    runs = runs[runs.seed < args.seeds]
    summaries = summarize(runs)
    table = flat_table(summaries)
    table.to_csv(out / "cross_method_table.csv", index=False)
    text = markdown(summaries) + "\n" + b_movement(runs)
    (out / "cross_method_table.md").write_text(text)
    plot(table, out / "cross_method_table.png",
         f"fashion-mnist-mini, MLP, {args.epochs} epochs, {args.seeds} seeds")  # fmt: skip
    print(text)
    print(f"best S2E schedule (trial {s2e[1]}): {s2e[0]}")
    print(f"written: {out / 'cross_method_table.csv'} and .md, .png, cross_method_runs.csv")


if __name__ == "__main__":
    main()
