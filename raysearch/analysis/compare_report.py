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

from raysearch.analysis import stats  # noqa: E402
from search_spaces.schedules import get_family  # noqa: E402

BASELINE = "random"
BAND_RESAMPLES = 2000  # per budget point of a figure: enough for a band drawn at 120 dpi
CURVES = {
    "best_val_acc": "best validation accuracy (full-length trials)",
    "incumbent_test_acc": "clean test accuracy of that incumbent",
}
LEGEND = (
    "Final best per searcher: clean test accuracy of each seed's best-by-validation "
    "full-length trial, mean over seeds; 95 % CI: percentile bootstrap interval of that mean; "
    "p_vs_X: one-sided Mann-Whitney U p-value that the searcher's final best is "
    "greater than X's."
)


def schedule_config(row: pd.Series) -> dict[str, Any]:
    """The schedule config of a trial row (``config/schedule/*`` columns)."""
    prefix = "config/schedule/"
    return {k[len(prefix) :]: v for k, v in row.items() if k.startswith(prefix) and not pd.isna(v)}


def best_so_far(trials: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """Best validation accuracy of the full-length trials vs budget spent (in full-trial units),
    and the clean test accuracy of that incumbent (``incumbent_test_acc``).

    Budget spent after a trial = epochs trained by it and every trial that finished before it,
    divided by E; only trials that trained all E epochs can become the incumbent.
    """
    rows = []
    for (searcher, seed), group in trials.sort_values("trial_order").groupby(["searcher", "seed"]):
        spent, best, test = 0.0, np.nan, np.nan
        for _, trial in group.iterrows():
            spent += trial["epochs_trained"] / epochs
            full = trial["epochs_trained"] >= epochs and np.isfinite(trial["val_acc"])
            if full and (np.isnan(best) or trial["val_acc"] > best):
                best, test = trial["val_acc"], trial.get("test_acc", np.nan)
            rows.append({"searcher": searcher, "seed": seed, "trials_spent": spent,
                         "best_val_acc": best, "incumbent_test_acc": test})  # fmt: skip
    return pd.DataFrame(rows)


def best_trials(trials: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """Per (searcher, seed) the full-length trial with the highest validation accuracy."""
    full = trials[(trials["epochs_trained"] >= epochs) & trials["val_acc"].notna()]
    return full.loc[full.groupby(["searcher", "seed"])["val_acc"].idxmax()].reset_index(drop=True)


def summary_table(trials: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """Per searcher the final best: the clean ``test_acc`` of each seed's best-by-validation
    full-length trial, as :func:`stats.summary_table` (seeds, mean, 95 % bootstrap interval,
    one-sided Mann-Whitney p against :data:`BASELINE`, or against the first searcher when
    random search did not run); then mean and std over seeds of that trial's ``val_acc`` and
    ``label_precision``, and the trials run."""
    best = best_trials(trials, epochs)
    baseline = stats.pick_baseline(best["searcher"], BASELINE)
    table = stats.summary_table(best, value="test_acc", group="searcher", baseline=baseline)
    for metric in ("val_acc", "label_precision"):
        if metric in best:
            by_searcher = best.groupby("searcher")[metric]
            table[f"{metric}_mean"], table[f"{metric}_std"] = by_searcher.mean(), by_searcher.std()
    table["trials_run"] = trials.groupby("searcher").size()
    return table


def summary_markdown(table: pd.DataFrame) -> str:
    """:func:`summary_table` as Markdown with its legend (and the few-seeds warning)."""
    extra = pd.DataFrame(index=table.index)
    for metric in ("val_acc", "label_precision"):
        if f"{metric}_mean" in table:
            extra[f"{metric} (mean ± std)"] = [
                stats.mean_std_text(m, s)
                for m, s in zip(table[f"{metric}_mean"], table[f"{metric}_std"], strict=True)
            ]
    extra["trials_run"] = table["trials_run"]
    return stats.summary_markdown(table, mean_label="test_acc mean", legend=LEGEND, extra=extra)


def plot_best_so_far(curves: pd.DataFrame, path: Path) -> None:
    """Mean over seeds of each best-so-far curve, with the 95 % bootstrap interval of the mean
    over seeds at every budget point as a band."""
    metrics = [m for m in CURVES if m in curves]
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4), squeeze=False)
    grid = np.linspace(0, curves["trials_spent"].max(), 100)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for searcher, group in curves.groupby("searcher"):
            stack = np.vstack([
                np.interp(grid, g["trials_spent"], g[metric].ffill().to_numpy(), left=np.nan)
                for _, g in group.groupby("seed")
            ])  # fmt: skip
            with warnings.catch_warnings():  # all-NaN columns: budget spent before a full trial
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(stack, axis=0)
            low, high = stats.bootstrap_band(stack, n_resamples=BAND_RESAMPLES)
            (line,) = ax.plot(grid, mean, label=f"{searcher} ({len(stack)} seeds)")
            ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.15)
        ax.set_xlabel("budget spent (full trials = epochs / E)")
        ax.set_ylabel(CURVES[metric])
        ax.legend(fontsize=7)
    fig.suptitle("mean over seeds; band: 95 % bootstrap interval of the mean", fontsize=9)
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


def write_compare_report(trials: pd.DataFrame, epochs: int, out: Path) -> pd.DataFrame:
    """trials.csv/.parquet, best_so_far.png, schedules.png, summary.csv/.md in ``out``."""
    trials.to_csv(out / "trials.csv", index=False)
    trials.to_parquet(out / "trials.parquet", index=False)
    curves = best_so_far(trials, epochs)
    curves.to_csv(out / "best_so_far.csv", index=False)
    plot_best_so_far(curves, out / "best_so_far.png")
    best = best_trials(trials, epochs)
    if not best.empty:
        plot_schedules(best, epochs, out / "schedules.png")
    table = summary_table(trials, epochs)
    table.to_csv(out / "summary.csv")
    (out / "summary.md").write_text(summary_markdown(table))
    return table
