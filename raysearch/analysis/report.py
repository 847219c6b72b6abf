"""The standard report of any results folder: CSVs, plots and a Markdown summary.

Schedule searches (``compare``/``tune``): best-so-far vs budget with the reference schedules
as horizontal lines, R(t) of the top schedules, accuracy per epoch, and the summary
:func:`compare_report.summary_markdown` writes for ``raysearch compare`` (the search gain in
words, then per searcher and reference: mean, 95 % bootstrap interval, paired difference vs
random search and vs Co-teaching's schedule with its paired interval and Wilcoxon p). NAS
searches: accuracy per epoch. NAS comparisons: test accuracy vs search time and the per-method
summary of :func:`nas_report.nas_summary_table` (the same paired statistics vs DARTS). NAS
evaluations: the table of (genotype, seed) rows. Reweighting: accuracy per epoch and each
seed's final metrics. The files appear only when all of them were written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from raysearch.analysis.compare_report import (  # noqa: E402
    best_so_far,
    plot_best_so_far,
    reference_finals,
    schedule_config,
    summary_markdown,
    summary_table,
)
from raysearch.analysis.experiment_frame import final_rows  # noqa: E402
from raysearch.analysis.nas_report import (  # noqa: E402
    nas_summary_markdown,
    plot_accuracy_vs_search_time,
)
from raysearch.analysis.stats import markdown_table  # noqa: E402
from search_spaces.schedules import get_family  # noqa: E402

TOP_SCHEDULES = 5
NAS_EVALUATE_COLUMNS = ("genotype_name", "seed", "params_m", "test_acc", "wall_time_s", "error")
REWEIGHT_METRICS = ("val_acc", "test_acc", "rare_class_acc", "test_acc_w2", "rare_class_acc_w2")


def with_stream_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """A schedule search's long frame with each trial labelled by its stream: the shared
    experiment of ``raysearch compare`` runs every searcher and reference of every seed, and its
    trials carry ``config/searcher`` and ``config/role``; folders without them keep their
    experiment's label with ``role`` = ``searcher``."""
    labelled = frame.copy()
    if "config/searcher" in frame:
        labelled["searcher"] = frame["config/searcher"].fillna(frame["searcher"])
    if "config/role" in frame:
        labelled["role"] = frame["config/role"].fillna("searcher")
    elif "role" not in frame:
        labelled["role"] = "searcher"
    return labelled


def full_epochs(final: pd.DataFrame) -> int:
    """E of a schedule search: the trials' configured epochs, else the most any trial trained."""
    if "config/epochs" in final and final["config/epochs"].notna().any():
        return int(final["config/epochs"].max())
    return int(final["epochs_trained"].max())


def top_schedules(final: pd.DataFrame, epochs: int, k: int = TOP_SCHEDULES) -> pd.DataFrame:
    """The ``k`` full-length trials with the highest validation accuracy, best first."""
    full = final[(final["epochs_trained"] >= epochs) & final["val_acc"].notna()]
    return full.sort_values("val_acc", ascending=False).head(k)


def plot_top_schedules(top: pd.DataFrame, epochs: int, path: Path) -> None:
    """R(t) = ``get_family(family).schedule(config, E)(t)`` of each top trial."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for _, row in top.iterrows():
        config = schedule_config(row)
        keep = get_family(config["family"]).schedule(config, epochs)
        label = f"{row['searcher']} seed {row['seed']}: val_acc {row['val_acc']:.3f}"
        ax.plot(range(epochs), [keep(t) for t in range(epochs)], label=label)
    ax.set(xlabel="epoch t", ylabel="R(t): fraction of the batch kept", ylim=(-0.02, 1.02))
    ax.set_title(f"top {len(top)} schedules by validation accuracy")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_accuracy_per_epoch(epochs: pd.DataFrame, metrics: list[str], path: Path) -> None:
    """Mean of each metric per epoch and searcher (a band from min to max over trials)."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for searcher, group in epochs.groupby("searcher"):
            stats = group.groupby("epoch")[metric].agg(["mean", "min", "max"])
            ax.plot(stats.index, stats["mean"], marker=".", label=str(searcher))
            ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.15)
        ax.set(xlabel="epoch", ylabel=metric)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _schedule_report(epochs: pd.DataFrame, final: pd.DataFrame, out: Path) -> list[Path]:
    final = final.assign(seed=final["seed"].fillna(0))  # compare_report groups by seed
    e = full_epochs(final)
    written = [out / "best_so_far.png", out / "accuracy_per_epoch.png", out / "summary.md"]
    plot_best_so_far(best_so_far(final, e), written[0], reference_finals(final, e))
    metrics = [m for m in ("val_acc", "test_acc", "label_precision") if m in epochs]
    plot_accuracy_per_epoch(epochs, metrics, written[1])
    written[2].write_text(summary_markdown(summary_table(final, e)))
    top = top_schedules(final, e)
    if not top.empty and "config/schedule/family" in top:
        written.append(out / "schedules_top.png")
        plot_top_schedules(top, e, written[-1])
    return written


def _nas_search_report(epochs: pd.DataFrame, out: Path) -> list[Path]:
    metrics = [m for m in ("train_acc", "val_acc") if m in epochs]
    plot_accuracy_per_epoch(epochs, metrics, out / "accuracy_per_epoch.png")
    shown = [c for c in ("searcher", "epoch", *metrics, "arch_entropy", "genotype") if c in epochs]
    last = epochs.sort_values("epoch").tail(1)[shown].set_index("searcher")
    (out / "summary.md").write_text(markdown_table(last))
    return [out / "accuracy_per_epoch.png", out / "summary.md"]


def _nas_compare_report(final: pd.DataFrame, out: Path) -> list[Path]:
    plot_accuracy_vs_search_time(final, out / "nas_acc_vs_search_time.png")
    (out / "summary.md").write_text(nas_summary_markdown(final))
    return [out / "nas_acc_vs_search_time.png", out / "summary.md"]


def _nas_evaluate_report(final: pd.DataFrame, out: Path) -> list[Path]:
    shown = [c for c in NAS_EVALUATE_COLUMNS if c in final]
    (out / "summary.md").write_text(markdown_table(final[shown].set_index("genotype_name")))
    return [out / "summary.md"]


def _reweight_report(epochs: pd.DataFrame, final: pd.DataFrame, out: Path) -> list[Path]:
    metrics = [m for m in REWEIGHT_METRICS if m in epochs]
    plot_accuracy_per_epoch(epochs, metrics, out / "accuracy_per_epoch.png")
    shown = [c for c in ("searcher", "seed", "epochs_trained", *metrics) if c in final]
    (out / "summary.md").write_text(markdown_table(final[shown].set_index("searcher")))
    return [out / "accuracy_per_epoch.png", out / "summary.md"]


def _write_all(frame: pd.DataFrame, out: Path) -> list[Path]:
    kind = frame.attrs.get("kind")
    if kind in ("compare", "tune"):
        frame = with_stream_labels(frame)
    final = final_rows(frame)
    written = [out / "epochs.csv", out / "trials.csv"]
    frame.to_csv(written[0], index=False)
    final.to_csv(written[1], index=False)
    if kind in ("compare", "tune"):
        written += _schedule_report(frame, final, out)
    elif kind == "nas-search":
        written += _nas_search_report(frame, out)
    elif kind == "nas-compare":
        written += _nas_compare_report(final, out)
    elif kind == "nas-evaluate":
        written += _nas_evaluate_report(final, out)
    elif kind == "reweight":
        written += _reweight_report(frame, final, out)
    else:
        raise ValueError(f"unknown experiment kind {kind!r}; load the frame with load_experiment")
    return written


def write_report(frame: pd.DataFrame, out: str | Path) -> list[Path]:
    """Write ``epochs.csv`` (long), ``trials.csv`` (final rows), plots and ``summary.md``.

    Everything is written into a temporary folder beside ``out`` first and moved into ``out``
    only when all of it succeeded, so a failure leaves no partial report behind."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        staged = _write_all(frame, staging)
        out.mkdir(exist_ok=True)
        for path in staged:
            os.replace(path, out / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [out / path.name for path in staged]
