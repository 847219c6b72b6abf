"""The table and the figure of a NAS comparison (one row per (method, seed)): search time and
parameters (mean ± std over seeds), the evaluated genotype's test accuracy (mean, 95 % bootstrap
interval) and its paired difference vs DARTS (seed s = the same data split and initial weights
for every method: mean difference, paired bootstrap interval, exact one-sided Wilcoxon p; the
Mann-Whitney p only for a method that shares no seed with DARTS), and accuracy vs search time."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from raysearch.analysis import stats  # noqa: E402

BASELINE = "darts"
COST_COLUMNS = (
    ("search_time_s", "search time (s)", 1),
    ("search_wall_s", "search wall (s)", 1),
    ("params_m", "params (M)", 4),
)
LEGEND = (
    "test acc: test accuracy of the evaluated genotype, mean over seeds; 95 % CI: percentile "
    "bootstrap interval of that mean; X = darts, the method every other one modifies or wraps "
    "(else the first method); Δ in percentage points of test accuracy. Costs: mean ± sample "
    "std over seeds."
)


def accuracy_table(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`stats.summary_table` of the test accuracy per method, with the paired rule against
    :data:`BASELINE` (the first method when DARTS did not run); a failed seed (NaN) is left out."""
    baseline = stats.pick_baseline(frame["method"], BASELINE)
    return stats.summary_table(frame, value="test_acc", group="method", baseline=baseline)


def nas_summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per method (in the order given): mean ± std over seeds (sample std; one seed: the value)
    of search time (in the job, and wall time with Ray start-up) and parameters, the seeds that
    finished, and the test accuracy as :func:`stats.display_table` shows :func:`accuracy_table`:
    mean, 95 % bootstrap interval, the paired difference vs :data:`BASELINE` in percentage
    points with its paired interval and Wilcoxon p."""
    table = pd.DataFrame(index=pd.Index(list(dict.fromkeys(frame["method"])), name="method"))
    groups = {m: g for m, g in frame.groupby("method", sort=False)}
    for column, label, digits in COST_COLUMNS:
        if column in frame:
            table[label] = [
                stats.mean_std_text(groups[m][column].mean(), groups[m][column].std(), digits)
                for m in table.index
            ]
    table["seeds ok"] = [
        f"{groups[m]['test_acc'].notna().sum()}/{len(groups[m])}" for m in table.index
    ]
    accuracy = stats.display_table(accuracy_table(frame), mean_label="test acc", points=True)
    return table.join(accuracy.drop(columns="seeds"))


def nas_summary_markdown(frame: pd.DataFrame) -> str:
    """:func:`nas_summary_table` as Markdown, its legend, the undefined paired tests and the
    few-seeds warning."""
    accuracy = accuracy_table(frame)
    legend = f"{LEGEND} {stats.paired_legend(accuracy)}".strip()
    table = stats.markdown_table(nas_summary_table(frame))
    return stats.with_notes(
        table, legend, stats.paired_notes(accuracy), stats.few_seeds_note(accuracy["seeds"])
    )


def plot_accuracy_vs_search_time(frame: pd.DataFrame, path: Path) -> None:
    """Each (method, seed) as a point; the method's mean with the 95 % bootstrap interval of
    the mean accuracy (vertical bar; none for one seed) and ± sample std of the search time."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, group in frame.groupby("method", sort=False):
        ok = group.dropna(subset=["search_time_s", "test_acc"])
        if ok.empty:
            continue
        points = ax.scatter(ok["search_time_s"], ok["test_acc"], alpha=0.5)
        mean = ok["test_acc"].mean()
        low, high = stats.bootstrap_ci(ok["test_acc"])
        ax.errorbar(
            ok["search_time_s"].mean(), mean, xerr=np.nan_to_num(ok["search_time_s"].std()),
            yerr=None if np.isnan(low) else [[mean - low], [high - mean]],
            fmt="o", color=points.get_facecolor()[0], label=str(method), capsize=3,
        )  # fmt: skip
    ax.set_xlabel("search time (s, in the Ray Train job)")
    ax.set_ylabel("test accuracy of the evaluated genotype (95 % CI)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
