"""S2E Fig. 6 on the schedule benchmark: every registered searcher and scheduler against the
surrogates of the tabulated tasks (``raysearch bench run``'s machinery; no training).

Per task (``--tasks``, default every shipped table):

* **surrogate check**: :func:`raysearch.bench.surrogate.validate` of every candidate model
  (held-out Spearman of predicted vs measured final test accuracy, error on the best 10 %),
  and the task measure of :mod:`raysearch.bench.task_measure` (issue 18, item 6);
* **Fig. 6**: best-so-far clean test accuracy of the incumbent (best by validation) vs trained
  networks n = 1 .. N (default 100), mean over ``--seeds`` (30) with its 95 % bootstrap band;
  the tabulated ``coteaching`` and ``standard`` references as lines with their seed-std bands;
* **efficiency**: the networks each searcher's median curve needs to reach random's final
  median, and the ratio to random's own, each with a 95 % bootstrap interval with seeds
  resampled jointly for all searchers (:func:`benchmarks.searcher_efficiency.reach_statistics`,
  as the synthetic searcher-efficiency benchmark does); ``inf`` = not within N;
* **search gain** over the tabulated ``coteaching`` reference: final mean less the reference's
  seed mean, with its bootstrap interval over seeds; and the paired difference vs random.

Outputs in ``--out`` (default ``benchmarks/results``): ``schedule_bench_<task>.csv`` (the table),
``schedule_bench_<task>_curves.csv`` (mean and band per searcher and n),
``schedule_bench_<task>.png`` (Fig. 6), ``schedule_bench_surrogate.csv`` and
``schedule_bench_task_measure.csv`` (all tasks). ``--quick``: a seconds-long smoke run on a
synthetic table (``--tables`` ignored).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._common import results_dir
from benchmarks.searcher_efficiency import BOOTSTRAP, bootstrap_interval, reach_statistics

BAND_RESAMPLES = 2000
QUICK = {"trials": 8, "seeds": 3, "searchers": "s2e,random,tpe,asha", "models": "knn-3"}


def incumbent_tables(curves: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per searcher the (seeds x N) incumbent test accuracy; 0 before the first full trial
    (the worst accuracy, so a curve without an incumbent reaches no level)."""
    out = {}
    for name, group in curves.groupby("searcher", sort=False):
        wide = group.pivot(index="seed", columns="trained_networks", values="incumbent_test_acc")
        out[str(name)] = wide.sort_index().to_numpy(float)
    return {name: np.nan_to_num(table, nan=0.0) for name, table in out.items()}


def efficiency_table(
    tables: Mapping[str, np.ndarray], reference: float, *, seed: int = 0
) -> pd.DataFrame:
    """Per searcher: networks to reach random's final median and the ratio to random's own, with
    joint-seed bootstrap intervals; the final mean [interval] and its gain over ``reference``;
    the paired difference vs random (mean, interval, one-sided Wilcoxon p)."""
    from raysearch.analysis import stats

    base = tables["random"]
    draws = np.random.default_rng(seed).integers(0, base.shape[0], size=(BOOTSTRAP, base.shape[0]))
    rows = []
    for name, table in tables.items():
        reach, ratio = reach_statistics(table, base)
        boot = np.array([reach_statistics(table[idx], base[idx]) for idx in draws])
        final = table[:, -1]
        low, high = stats.bootstrap_ci(final)
        paired = stats.paired_difference(pd.Series(final), pd.Series(base[:, -1]))
        rows.append({
            "searcher": name, "seeds": len(final), "networks_to_random_final": reach,
            "networks_lo": bootstrap_interval(boot[:, 0])[0],
            "networks_hi": bootstrap_interval(boot[:, 0])[1], "ratio_to_random": ratio,
            "ratio_lo": bootstrap_interval(boot[:, 1])[0],
            "ratio_hi": bootstrap_interval(boot[:, 1])[1],
            "final_mean": float(final.mean()), "final_lo": low, "final_hi": high,
            "gain_vs_coteaching": float(final.mean()) - reference,
            "gain_lo": low - reference, "gain_hi": high - reference,
            "diff_vs_random": paired.mean, "diff_lo": paired.ci_low, "diff_hi": paired.ci_high,
            "p_vs_random": paired.p,
        })  # fmt: skip
    return pd.DataFrame(rows)


def curve_frame(tables: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Mean incumbent test accuracy per searcher and n, with its 95 % bootstrap band."""
    from raysearch.analysis.stats import bootstrap_band

    frames = []
    for name, table in tables.items():
        low, high = bootstrap_band(table, n_resamples=BAND_RESAMPLES)
        n = np.arange(1, table.shape[1] + 1)
        frames.append(pd.DataFrame({"searcher": name, "trained_networks": n,
                                    "mean": table.mean(axis=0), "band_lo": low, "band_hi": high,
                                    "median": np.median(table, axis=0)}))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def plot(path: Path, curves: pd.DataFrame, references: Mapping[str, tuple[float, float]], title: str) -> None:  # fmt: skip
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    floor = math.inf
    for i, (name, group) in enumerate(curves.groupby("searcher", sort=False)):
        shown = group[group["mean"] > 0.05]  # before every seed has an incumbent: off the plot
        style = "--" if name in ("hyperband", "asha", "bohb") else "-"
        ax.plot(shown.trained_networks, shown["mean"], style, color=f"C{i % 10}", label=name,
                linewidth=2.2 if name == "s2e" else 1.2)  # fmt: skip
        ax.fill_between(shown.trained_networks, shown.band_lo, shown.band_hi,
                        color=f"C{i % 10}", alpha=0.12)  # fmt: skip
        floor = min(floor, float(shown["mean"].quantile(0.1)) if len(shown) else floor)
    for name, (mean, std) in references.items():
        ax.axhline(mean, color="black", linestyle=":" if name == "standard" else "-.",
                   linewidth=1, label=f"{name} (tabulated)")  # fmt: skip
        ax.axhspan(mean - std, mean + std, color="grey", alpha=0.12)
        floor = min(floor, mean - std)
    ax.set_ylim(bottom=floor - 0.005)
    ax.set_xlabel("trained networks (full-trial units)")
    ax.set_ylabel("clean test accuracy of the incumbent")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def format_table(table: pd.DataFrame) -> str:
    lines = []
    for r in table.itertuples():
        lines.append(
            f"{r.searcher:>13}  networks {r.networks_to_random_final:>4.0f} [{r.networks_lo:.0f}, "
            f"{r.networks_hi:.0f}]  ratio {r.ratio_to_random:.2f} [{r.ratio_lo:.2f}, {r.ratio_hi:.2f}]"
            f"  final {r.final_mean:.4f} [{r.final_lo:.4f}, {r.final_hi:.4f}]  gain vs coteaching "
            f"{100 * r.gain_vs_coteaching:+.2f} pts [{100 * r.gain_lo:+.2f}, {100 * r.gain_hi:+.2f}]"
            f"  Δ vs random {100 * r.diff_vs_random:+.2f} pts, p = {r.p_vs_random:.2g}"
        )  # fmt: skip
    return "\n".join(lines)


def bench_task(
    task: str, *, tables: str | Path | None, searchers: Sequence[str], trials: int, seeds: int,
    models: Sequence[str], processes: int, out: Path, stem: str,
) -> tuple[pd.DataFrame, list[dict], dict]:  # fmt: skip
    """One task: validation, task measure, Fig. 6 run and its files; returns (efficiency
    table, validation rows, measure)."""
    from raysearch.bench.run import BenchRun, best_so_far, reference_scores, run_all
    from raysearch.bench.surrogate import fit_surrogate, validate
    from raysearch.bench.tables import TaskTable, load_table
    from raysearch.bench.task_measure import measure_task

    table = TaskTable.from_frame(load_table(task, tables))
    validation = [validate(table, model=m) for m in models]
    best_model = max(validation, key=lambda v: v["spearman"])["model"]
    measure = measure_task(table).as_dict()
    surrogate = fit_surrogate(table, model=best_model)
    run = BenchRun(task=task, searchers=tuple(searchers), trials=trials, seeds=seeds)
    start = time.perf_counter()
    trial_rows = run_all(run, surrogate, processes=processes)
    wall = time.perf_counter() - start
    incumbents = incumbent_tables(best_so_far(trial_rows, table.epochs, trials))
    references = reference_scores(table)
    summary = efficiency_table(incumbents, references["coteaching"][0])
    curves = curve_frame(incumbents)
    summary.to_csv(out / f"{stem}_{task}.csv", index=False, float_format="%.6g")
    curves.to_csv(out / f"{stem}_{task}_curves.csv", index=False, float_format="%.6g")
    title = (f"{task}: surrogate {best_model} (held-out Spearman "
             f"{max(v['spearman'] for v in validation):.3f}), {seeds} seeds, {wall:.0f} s wall, "
             f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    plot(out / f"{stem}_{task}.png", curves, references, title)
    print(title, flush=True)
    print(format_table(summary), flush=True)
    return summary, validation, {**measure, "surrogate": best_model, "run_wall_s": round(wall)}


def main(argv: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=None, help="comma list (default: every shipped table)")
    parser.add_argument("--tables", default=None, help="folder of <task>.parquet tables")
    parser.add_argument("--searchers", default=None, help="comma list (default: every one)")
    parser.add_argument("--trials", type=int, default=100, help="N: networks per run")
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--models", default=None, help="surrogate models to validate and pick from")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--stem", default="schedule_bench")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK}")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    from raysearch.bench.surrogate import CANDIDATES, check_models
    from raysearch.bench.tables import tabulated_tasks
    from raysearch.tune.searchers import check_searcher_names, searcher_names

    scratch = None
    if args.quick:
        from raysearch.bench.synthetic import synthetic_table

        scratch = tempfile.TemporaryDirectory()
        synthetic_table(sobol=32).to_parquet(Path(scratch.name) / "sym50-e20-n6000.parquet")
        args.tables, args.tasks = scratch.name, "sym50-e20-n6000"
        args.trials, args.seeds = QUICK["trials"], QUICK["seeds"]
        args.searchers, args.models = QUICK["searchers"], QUICK["models"]
        args.stem = f"{args.stem}_quick"
    searchers = args.searchers.split(",") if args.searchers else searcher_names()
    check_searcher_names(searchers)
    if "random" not in searchers:
        raise ValueError(
            "the efficiency ratios are relative to 'random': include it in --searchers"
        )
    models = args.models.split(",") if args.models else list(CANDIDATES)
    check_models(models)
    tasks = args.tasks.split(",") if args.tasks else tabulated_tasks(args.tables)
    if not tasks:
        raise ValueError("no tabulated task: run raysearch bench tabulate, or pass --tables")
    if args.seeds < 2 or args.trials < 1:
        raise ValueError(f"need --seeds >= 2 and --trials >= 1, got {args.seeds}, {args.trials}")
    out = results_dir(args.out)
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    summaries, validations, measures = {}, [], []
    for task in tasks:
        summary, validation, measure = bench_task(
            task, tables=args.tables, searchers=searchers, trials=args.trials, seeds=args.seeds,
            models=models, processes=args.processes, out=out, stem=args.stem,
        )  # fmt: skip
        summaries[task] = summary
        validations += validation
        measures.append(measure)
    pd.DataFrame(validations).to_csv(out / f"{args.stem}_surrogate.csv", index=False,
                                     float_format="%.6g")  # fmt: skip
    pd.DataFrame(measures).to_csv(out / f"{args.stem}_task_measure.csv", index=False,
                                  float_format="%.6g")  # fmt: skip
    if scratch is not None:
        scratch.cleanup()
    return summaries


if __name__ == "__main__":
    main()
