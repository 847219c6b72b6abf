"""Tables and figures of a schedule-search comparison (best-so-far curves, R(t), summary)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from raysearch.analysis.results_folder import write_atomic  # noqa: E402
from search_spaces.schedules import get_family  # noqa: E402


def schedule_config(row: pd.Series) -> dict[str, Any]:
    """The schedule config of a trial row (``config/schedule/*`` columns)."""
    prefix = "config/schedule/"
    return {k[len(prefix) :]: v for k, v in row.items() if k.startswith(prefix) and not pd.isna(v)}


def best_so_far(trials: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """Best validation accuracy of the full-length trials vs budget spent (in full-trial units).

    Budget spent after a trial = epochs trained by it and every trial that finished before it,
    divided by E; only trials that trained all E epochs can become the incumbent.
    """
    rows = []
    for (searcher, seed), group in trials.sort_values("trial_order").groupby(["searcher", "seed"]):
        spent, best = 0.0, np.nan
        for _, trial in group.iterrows():
            spent += trial["epochs_trained"] / epochs
            if trial["epochs_trained"] >= epochs and np.isfinite(trial["val_acc"]):
                best = trial["val_acc"] if np.isnan(best) else max(best, trial["val_acc"])
            rows.append(
                {"searcher": searcher, "seed": seed, "trials_spent": spent, "best_val_acc": best}
            )
    return pd.DataFrame(rows)


def best_trials(trials: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """Per (searcher, seed) the full-length trial with the highest validation accuracy."""
    full = trials[(trials["epochs_trained"] >= epochs) & trials["val_acc"].notna()]
    return full.loc[full.groupby(["searcher", "seed"])["val_acc"].idxmax()].reset_index(drop=True)


def summary_table(trials: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """Mean ± std over seeds of the best trial's val_acc, its clean test_acc and label precision."""
    best = best_trials(trials, epochs)
    stats = best.groupby("searcher")[["val_acc", "test_acc", "label_precision"]].agg(
        ["mean", "std"]
    )
    table = pd.DataFrame(index=stats.index)
    for metric in ("val_acc", "test_acc", "label_precision"):
        table[metric] = [
            f"{m:.4f} ± {0.0 if np.isnan(s) else s:.4f}"
            for m, s in stats[metric].itertuples(index=False)
        ]
    table["seeds"] = best.groupby("searcher").size()
    table["trials_run"] = trials.groupby("searcher").size()
    return table


def plot_best_so_far(curves: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    grid = np.linspace(0, curves["trials_spent"].max(), 100)
    for searcher, group in curves.groupby("searcher"):
        per_seed = [
            np.interp(grid, g["trials_spent"], g["best_val_acc"].ffill().to_numpy(), left=np.nan)
            for _, g in group.groupby("seed")
        ]
        stack = np.vstack(per_seed)
        with warnings.catch_warnings():  # all-NaN columns: budget spent before a full trial
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, low, high = (f(stack, axis=0) for f in (np.nanmean, np.nanmin, np.nanmax))
        ax.plot(grid, mean, label=searcher)
        ax.fill_between(grid, low, high, alpha=0.15)
    ax.set_xlabel("budget spent (full trials = epochs / E)")
    ax.set_ylabel("best validation accuracy (noisy labels)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_schedules(best: pd.DataFrame, epochs: int, path: Path) -> None:
    """R(t) of each strategy's best schedule, one line per seed."""
    fig, ax = plt.subplots(figsize=(6, 4))
    colours = dict(
        zip(
            sorted(best["searcher"].unique()),
            plt.rcParams["axes.prop_cycle"].by_key()["color"],
            strict=False,
        )
    )
    for _, row in best.iterrows():
        config = schedule_config(row)
        values = get_family(config["family"]).values(config, epochs)
        label = (
            row["searcher"]
            if row["seed"] == best[best.searcher == row["searcher"]]["seed"].min()
            else None
        )
        ax.plot(np.arange(epochs), values, color=colours[row["searcher"]], label=label, alpha=0.8)
    ax.set_xlabel("epoch t")
    ax.set_ylabel("R(t): fraction of the batch kept")
    ax.set_ylim(-0.02, 1.02)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown_table(table: pd.DataFrame) -> str:
    """A dataframe as a Markdown table (index first)."""
    header = [table.index.name or ""] + [str(c) for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [
        "| " + " | ".join([str(i)] + [str(v) for v in row]) + " |"
        for i, row in zip(table.index, table.itertuples(index=False), strict=True)
    ]
    return "\n".join(lines) + "\n"


def write_compare_report(trials: pd.DataFrame, epochs: int, out: Path) -> pd.DataFrame:
    """trials.csv/.parquet, best_so_far.png, schedules.png, summary.csv/.md in ``out``, each
    replaced atomically (a run killed mid-write leaves the previous file whole)."""
    write_atomic(out / "trials.csv", lambda p: trials.to_csv(p, index=False))
    write_atomic(out / "trials.parquet", lambda p: trials.to_parquet(p, index=False))
    curves = best_so_far(trials, epochs)
    write_atomic(out / "best_so_far.csv", lambda p: curves.to_csv(p, index=False))
    write_atomic(out / "best_so_far.png", lambda p: plot_best_so_far(curves, p))
    best = best_trials(trials, epochs)
    if not best.empty:
        write_atomic(out / "schedules.png", lambda p: plot_schedules(best, epochs, p))
    table = summary_table(trials, epochs)
    write_atomic(out / "summary.csv", lambda p: table.to_csv(p))
    write_atomic(out / "summary.md", markdown_table(table))
    return table
