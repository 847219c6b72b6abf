"""The table and the figure of a NAS comparison (one row per (method, seed)): search time and
parameters (mean ± std over seeds), the evaluated genotype's test accuracy (mean, 95 % bootstrap
interval, one-sided Mann-Whitney p vs DARTS), and accuracy vs search time."""

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
    "bootstrap interval of that mean; p_vs_X: one-sided Mann-Whitney U p-value that the method's "
    "test accuracy is greater than X's (X = darts, the method every other one modifies or wraps, "
    "else the first method). Costs: mean ± sample std over seeds."
)


def nas_summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per method (in the order given): mean ± std over seeds (sample std; one seed: the value)
    of search time (in the job, and wall time with Ray start-up) and parameters, the seeds that
    finished, and the test accuracy as :func:`stats.summary_table` shows it: mean, 95 % bootstrap
    interval, one-sided Mann-Whitney p against :data:`BASELINE` (the first method when DARTS did
    not run); a failed seed (NaN) is left out."""
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
    baseline = stats.pick_baseline(frame["method"], BASELINE)
    accuracy = stats.summary_table(frame, value="test_acc", group="method", baseline=baseline)
    accuracy = stats.display_table(accuracy, mean_label="test acc")
    return table.join(accuracy.drop(columns="seeds"))


def nas_summary_markdown(frame: pd.DataFrame) -> str:
    """:func:`nas_summary_table` as Markdown, its legend and the few-seeds warning."""
    seeds = frame.groupby("method", sort=False)["test_acc"].count()
    table = stats.markdown_table(nas_summary_table(frame))
    return stats.with_notes(table, LEGEND, stats.few_seeds_note(seeds))


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
