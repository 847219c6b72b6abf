"""Tables and figures of a schedule-search comparison (best-so-far curves, R(t), summary).

Rows are the searchers (``role`` = ``searcher``) and the reference schedules a user would run
without search (``role`` = ``reference``: ``standard``, R = 1, and ``coteaching``, Co-teaching's
published schedule), trained on the same seeds. Every seed gives all of them the same split,
noisy labels and initial weights, so each searcher is compared with random search and with the
Co-teaching reference by the paired rule of :mod:`raysearch.analysis.stats`; the summary's first
line answers in words how much search gains over the hand-designed schedule (S2E Table 3).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from raysearch.analysis import stats  # noqa: E402
from raysearch.analysis.results_folder import write_atomic  # noqa: E402
from search_spaces.schedules import REFERENCES, get_family  # noqa: E402

BASELINE = "random"
REFERENCE_BASELINES = ("coteaching", "standard")  # the first present is the search gain's base
REFERENCE_TEXT = {"coteaching": "Co-teaching's schedule", "standard": "standard training"}
BAND_RESAMPLES = 2000  # per budget point of a figure: enough for a band drawn at 120 dpi
CURVES = {
    "best_val_acc": "best validation accuracy (full-length trials)",
    "incumbent_test_acc": "clean test accuracy of that incumbent",
}
REFERENCE_METRIC = {"best_val_acc": "val_acc", "incumbent_test_acc": "test_acc"}
LEGEND = (
    "Final best per row: clean test accuracy of each seed's best-by-validation full-length "
    "trial (a reference: its one trial per seed), mean over seeds; 95 % CI: percentile bootstrap "
    "interval of that mean; val_acc: that trial's validation accuracy, mean [95 % CI]. "
    "Seed s gives every searcher and reference the same split, noisy labels and initial "
    "weights, so they are compared seed by seed; Δ in percentage points of test accuracy."
)


def schedule_config(row: pd.Series) -> dict[str, Any]:
    """The schedule config of a trial row (``config/schedule/*`` columns)."""
    prefix = "config/schedule/"
    return {k[len(prefix) :]: v for k, v in row.items() if k.startswith(prefix) and not pd.isna(v)}


def with_roles(trials: pd.DataFrame) -> pd.DataFrame:
    """``trials`` with a ``role`` column (``searcher`` where a folder predates references)."""
    if "role" in trials:
        return trials.assign(role=trials["role"].fillna("searcher"))
    return trials.assign(role="searcher")


def best_so_far(trials: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """Best validation accuracy of the full-length trials vs budget spent (in full-trial units),
    and the clean test accuracy of that incumbent (``incumbent_test_acc``), per searcher and
    seed (references search nothing: they are left out).

    Budget spent after a trial = epochs trained by it and every trial that finished before it,
    divided by E; only trials that trained all E epochs can become the incumbent.
    """
    searchers = with_roles(trials)
    searchers = searchers[searchers["role"] == "searcher"]
    rows = []
    ordered = searchers.sort_values("trial_order").groupby(["searcher", "seed"])
    for (searcher, seed), group in ordered:
        spent, best, test = 0.0, np.nan, np.nan
        for _, trial in group.iterrows():
            spent += trial["epochs_trained"] / epochs
            full = trial["epochs_trained"] >= epochs and np.isfinite(trial["val_acc"])
            if full and (np.isnan(best) or trial["val_acc"] > best):
                best, test = trial["val_acc"], trial.get("test_acc", np.nan)
            rows.append({"searcher": searcher, "seed": seed, "trials_spent": spent,
                         "best_val_acc": best, "incumbent_test_acc": test})  # fmt: skip
    columns = ["searcher", "seed", "trials_spent", *CURVES]
    return pd.DataFrame(rows, columns=columns)


def best_trials(trials: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """Per (searcher or reference, seed) the full-length trial with the highest validation
    accuracy (a reference's one trial), with its ``role``."""
    trials = with_roles(trials)
    full = trials[(trials["epochs_trained"] >= epochs) & trials["val_acc"].notna()]
    return full.loc[full.groupby(["searcher", "seed"])["val_acc"].idxmax()].reset_index(drop=True)


def _row_order(best: pd.DataFrame) -> list[str]:
    """Searchers in order of first appearance, then the references in :data:`REFERENCES` order."""
    searchers = list(dict.fromkeys(best.loc[best["role"] == "searcher", "searcher"]))
    references = set(best.loc[best["role"] == "reference", "searcher"])
    return (
        searchers
        + [r for r in REFERENCES if r in references]
        + sorted(references - set(REFERENCES))
    )


def baselines(best: pd.DataFrame) -> tuple[str | None, str | None]:
    """(searcher baseline, reference baseline) of a comparison: random search (else the first
    searcher) and the first of :data:`REFERENCE_BASELINES` that ran (None where none did)."""
    searchers = best.loc[best["role"] == "searcher", "searcher"]
    references = set(best.loc[best["role"] == "reference", "searcher"])
    reference = next((r for r in REFERENCE_BASELINES if r in references), None)
    return stats.pick_baseline(searchers, BASELINE), reference


def summary_table(trials: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """One row per searcher, then per reference (``role``): the final best, i.e. the clean
    ``test_acc`` of each seed's best-by-validation full-length trial, as
    :func:`stats.summary_table` (seeds, mean, 95 % bootstrap interval) with the paired rule
    against random search (else the first searcher) and against the Co-teaching reference
    (else standard training; none without references); then that trial's ``val_acc`` (mean,
    95 % interval), ``label_precision`` (mean and std over seeds), and the trials run."""
    best = best_trials(trials, epochs)
    order = _row_order(best)
    best = best.assign(searcher=pd.Categorical(best["searcher"], order, ordered=True))
    best = best.sort_values(["searcher", "seed"]).assign(searcher=lambda f: f.searcher.astype(str))
    against = [b for b in baselines(best) if b is not None]
    table = stats.summary_table(best, value="test_acc", group="searcher", baseline=against)
    roles = best.groupby("searcher", sort=False)["role"].first()
    table.insert(0, "role", roles.reindex(table.index))
    val = stats.summary_table(best, value="val_acc", group="searcher", baseline=None)
    for column in ("mean", "ci_low", "ci_high"):
        table[f"val_acc_{column}"] = val[column]
    if "label_precision" in best:
        by_row = best.groupby("searcher")["label_precision"]
        table["label_precision_mean"], table["label_precision_std"] = by_row.mean(), by_row.std()
    table["trials_run"] = with_roles(trials).groupby("searcher").size()
    return table


def _seeds(n: int) -> str:
    return f"{n} seed{'s' if n != 1 else ''}"


def _gain_text(row: pd.Series, baseline: str) -> str:
    """``s2e +0.40 points [0.10, 0.70], p = 0.031 (5 seeds)`` from a summary row."""
    scaled = [100 * row[f"diff_vs_{baseline}{s}"] for s in ("", "_low", "_high")]
    p = row[f"p_vs_{baseline}"]
    shown_p = "n/a" if math.isnan(p) else f"{p:.2g}"
    difference = stats.difference_text(*scaled, digits=2).replace(" [", " points [", 1)
    return f"{row.name} {difference}, p = {shown_p} ({_seeds(int(row[f'pairs_vs_{baseline}']))})"


def headline(table: pd.DataFrame) -> str:
    """The answer in words: the best searcher's (by mean paired gain) search gain over
    Co-teaching's schedule (else over standard training, else over random search) in
    percentage points of test accuracy, its paired interval, Wilcoxon p and seeds; where no
    seed pairs, the unpaired comparison with random search; else the best final accuracy."""
    searchers = table[table["role"] == "searcher"]
    if searchers.empty:
        return "no searcher finished a full-length trial: no search gain to report"
    for reference in REFERENCE_BASELINES:
        gains = searchers.get(f"diff_vs_{reference}")
        if gains is not None and gains.notna().any():
            best = searchers.loc[gains.idxmax()]
            return f"search gain over {REFERENCE_TEXT[reference]}: {_gain_text(best, reference)}"
    base = next((c[len("p_vs_") :] for c in table if c.startswith("p_vs_")), None)
    others = searchers.drop(index=base) if base in searchers.index else searchers.iloc[:0]
    what = "random search" if base == BASELINE else base
    why = "no seed shared with a reference" if (table["role"] == "reference").any() else (
        "no reference schedule ran"
    )  # fmt: skip
    if not others.empty and others[f"diff_vs_{base}"].notna().any():
        best = others.loc[others[f"diff_vs_{base}"].idxmax()]
        return f"gain over {what} ({why}): {_gain_text(best, str(base))}"
    if not others.empty and f"p_mw_vs_{base}" in table:
        best = others.loc[others["mean"].idxmax()]
        p = best[f"p_mw_vs_{base}"]
        return (
            f"{best.name} vs {what}: no seed in common, so unpaired: test_acc "
            f"{best['mean']:.4f} ({_seeds(int(best['seeds']))}) vs {table.loc[base, 'mean']:.4f} "
            f"({_seeds(int(table.loc[base, 'seeds']))}), Mann-Whitney p = "
            + ("n/a" if math.isnan(p) else f"{p:.2g}")
        )
    best = searchers.loc[searchers["mean"].idxmax()]
    low, high = best["ci_low"], best["ci_high"]
    interval = "n/a" if math.isnan(low) else f"{low:.4f}, {high:.4f}"
    return (
        f"final best test accuracy: {best.name} {best['mean']:.4f} [{interval}] "
        f"({_seeds(int(best['seeds']))}); nothing to compare it with"
    )


def summary_markdown(table: pd.DataFrame) -> str:
    """:func:`headline`, then :func:`summary_table` as Markdown with its legend and notes
    (undefined paired tests, the few-seeds warning)."""
    shown = stats.display_table(table, mean_label="test_acc mean", points=True)
    shown.insert(0, "role", table["role"])
    shown.insert(
        shown.columns.get_loc("95 % CI") + 1,
        "val_acc mean [95 % CI]",
        [
            stats.mean_std_text(m, math.nan)
            + ("" if math.isnan(lo) else f" [{lo:.4f}, {hi:.4f}]")
            for m, lo, hi in zip(table["val_acc_mean"], table["val_acc_ci_low"],
                                 table["val_acc_ci_high"], strict=True)
        ],
    )  # fmt: skip
    if "label_precision_mean" in table:
        shown["label_precision (mean ± std)"] = [
            stats.mean_std_text(m, s)
            for m, s in zip(
                table["label_precision_mean"], table["label_precision_std"], strict=True
            )
        ]
    shown["trials_run"] = table["trials_run"]
    legend = f"{LEGEND} {stats.paired_legend(table)}".strip()
    body = stats.with_notes(
        stats.markdown_table(shown),
        legend,
        stats.paired_notes(table),
        stats.few_seeds_note(table["seeds"]),
    )
    return f"{headline(table)}\n\n{body}"


def reference_finals(trials: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """The references' full-length trials (one per reference and seed)."""
    best = best_trials(trials, epochs)
    return best[best["role"] == "reference"]


def _plot_references(ax: Any, references: pd.DataFrame, metric: str) -> None:
    """Each reference as a dashed horizontal line at its mean over seeds, with the 95 %
    bootstrap interval of that mean as a band."""
    colours = iter(["0.2", "tab:brown", "tab:pink", "tab:olive"])
    for name, group in references.groupby("searcher", sort=False):
        values = stats.finite(group[metric])
        if len(values) == 0:
            continue
        colour = next(colours, "0.5")
        ax.axhline(values.mean(), color=colour, linestyle="--", linewidth=1,
                   label=f"{name} (reference, {len(values)} seeds)")  # fmt: skip
        low, high = stats.bootstrap_ci(values, n_resamples=BAND_RESAMPLES)
        if not math.isnan(low):
            ax.axhspan(low, high, color=colour, alpha=0.12)


def plot_best_so_far(
    curves: pd.DataFrame, path: Path, references: pd.DataFrame | None = None
) -> None:
    """Mean over seeds of each best-so-far curve, with the 95 % bootstrap interval of the mean
    over seeds at every budget point as a band; the ``references`` (:func:`reference_finals`)
    as horizontal lines with their bands."""
    metrics = [m for m in CURVES if m in curves]
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4), squeeze=False)
    grid = np.linspace(0, curves["trials_spent"].max() if not curves.empty else 1.0, 100)
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
        if references is not None and REFERENCE_METRIC[metric] in references:
            _plot_references(ax, references, REFERENCE_METRIC[metric])
        ax.set_xlabel("budget spent (full trials = epochs / E)")
        ax.set_ylabel(CURVES[metric])
        ax.legend(fontsize=7)
    fig.suptitle("mean over seeds; band: 95 % bootstrap interval of the mean", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_schedules(best: pd.DataFrame, epochs: int, path: Path) -> None:
    """R(t) of each strategy's best schedule, one line per seed (references dashed)."""
    best = with_roles(best)
    fig, ax = plt.subplots(figsize=(6, 4))
    colours = dict(
        zip(
            sorted(best["searcher"].unique()),
            plt.rcParams["axes.prop_cycle"].by_key()["color"] * 2,
            strict=False,
        )
    )
    first_seed = best.groupby("searcher")["seed"].transform("min")
    for (_, row), first in zip(best.iterrows(), first_seed, strict=True):
        config = schedule_config(row)
        values = get_family(config["family"]).values(config, epochs)
        reference = row["role"] == "reference"
        label = (f"{row['searcher']}{' (reference)' if reference else ''}"
                 if row["seed"] == first else None)  # fmt: skip
        ax.plot(np.arange(epochs), values, color=colours[row["searcher"]], label=label,
                alpha=0.8, linestyle="--" if reference else "-")  # fmt: skip
    ax.set_xlabel("epoch t")
    ax.set_ylabel("R(t): fraction of the batch kept")
    ax.set_ylim(-0.02, 1.02)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_compare_report(trials: pd.DataFrame, epochs: int, out: Path) -> pd.DataFrame:
    """trials.csv/.parquet, best_so_far.csv/.png, schedules.png, summary.csv/.md in ``out``,
    each replaced atomically (a run killed mid-write leaves the previous file whole)."""
    write_atomic(out / "trials.csv", lambda p: trials.to_csv(p, index=False))
    write_atomic(out / "trials.parquet", lambda p: trials.to_parquet(p, index=False))
    curves = best_so_far(trials, epochs)
    references = reference_finals(trials, epochs)
    write_atomic(out / "best_so_far.csv", lambda p: curves.to_csv(p, index=False))
    write_atomic(out / "best_so_far.png", lambda p: plot_best_so_far(curves, p, references))
    best = best_trials(trials, epochs)
    if not best.empty:
        write_atomic(out / "schedules.png", lambda p: plot_schedules(best, epochs, p))
    table = summary_table(trials, epochs)
    write_atomic(out / "summary.csv", lambda p: table.to_csv(p))
    write_atomic(out / "summary.md", summary_markdown(table))
    return table
