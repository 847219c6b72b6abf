"""The table and the figure of a NAS comparison (one row per (method, seed)): search time,
parameters and accuracy of the evaluated genotype, mean ± std over seeds, and accuracy vs time."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

SUMMARY_COLUMNS = (
    ("search_time_s", "search time (s)", 1),
    ("search_wall_s", "search wall (s)", 1),
    ("params_m", "params (M)", 4),
    ("test_acc", "test acc", 4),
)


def _mean_std(values: pd.Series, digits: int) -> str:
    v = values.dropna()
    if v.empty:
        return "n/a"
    if len(v) == 1:
        return f"{v.iloc[0]:.{digits}f}"
    return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}"


def nas_summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per method (in the order given): mean ± std over seeds (sample std; one seed: the value)
    of search time (in the job, and wall time with Ray start-up), parameters and accuracy."""
    table = pd.DataFrame(index=pd.Index(list(dict.fromkeys(frame["method"])), name="method"))
    groups = {m: g for m, g in frame.groupby("method", sort=False)}
    for column, label, digits in SUMMARY_COLUMNS:
        if column in frame:
            table[label] = [_mean_std(groups[m][column], digits) for m in table.index]
    table["seeds ok"] = [
        f"{groups[m]['test_acc'].notna().sum()}/{len(groups[m])}" for m in table.index
    ]
    return table


def _std(values: pd.Series) -> float:
    """The table's sample std; 0 for one value."""
    return float(values.std()) if len(values) > 1 else 0.0


def plot_accuracy_vs_search_time(frame: pd.DataFrame, path: Path) -> None:
    """Each (method, seed) as a point; the method's mean with ± (sample) std error bars."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, group in frame.groupby("method", sort=False):
        ok = group.dropna(subset=["search_time_s", "test_acc"])
        if ok.empty:
            continue
        points = ax.scatter(ok["search_time_s"], ok["test_acc"], alpha=0.5)
        ax.errorbar(
            ok["search_time_s"].mean(), ok["test_acc"].mean(),
            xerr=_std(ok["search_time_s"]), yerr=_std(ok["test_acc"]),
            fmt="o", color=points.get_facecolor()[0], label=str(method), capsize=3,
        )  # fmt: skip
    ax.set_xlabel("search time (s, in the Ray Train job)")
    ax.set_ylabel("test accuracy of the evaluated genotype")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
