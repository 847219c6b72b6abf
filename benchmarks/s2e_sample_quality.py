"""Why S2E trails Optuna and ASHA on the schedule benchmark (issue 18): how good the schedules
are that each strategy trains, by when it trains them, on a tabulated task's surrogate.

Strategies: the registry's ``s2e``, ``s2e-ng``, ``optuna``, ``tpe``, ``random`` and ``asha``,
and three S2E regimes the registry does not hold (:data:`REGIMES`): K = 2 and K = 8 samples
per iteration (50 and 13 Newton steps in N = 100 networks instead of 25) and the importance-
weighted reuse of the last 3 batches (``pool`` = 3: a larger effective K at the same step
count). Per strategy, N networks x ``--seeds`` seeds (:func:`raysearch.bench.simulate.simulate`,
as ``raysearch bench run`` drives them), from the full-length trials:

* ``expected_<bin>``: mean seed-free (surrogate mean) final test accuracy of the trials in
  training order, N / 5 full-length trials per bin (ASHA, which trains about a third of N to
  full length, fills the first bins only);
* ``top10_<bin>``: the share of them at or above the table's 90th percentile of measured
  seed-mean final test accuracy (random's share stays near 10 %);
* ``incumbent_expected``, ``best_expected_seen`` and their gap ``selection_loss`` (the
  incumbent is the best by one noisy ``val_acc``, not the best trained);
* ``final_test_acc`` of the incumbent and the paired difference vs ``random``
  [95 % paired bootstrap], one-sided Wilcoxon p.

Output: ``s2e_sample_quality_<task>.csv`` in ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import pandas as pd

from benchmarks._common import results_dir

BINS = 5
REGIMES: dict[str, tuple[str, int, dict]] = {
    # label -> (registry strategy, K, S2E optimizer options replacing the registry's)
    "s2e": ("s2e", 4, {}),
    "s2e K=2": ("s2e", 2, {}),
    "s2e K=8": ("s2e", 8, {}),
    "s2e pool3": ("s2e", 4, {"pool": 3}),
    "s2e-ng": ("s2e-ng", 4, {}),
    "optuna": ("optuna", 4, {}),
    "tpe": ("tpe", 4, {}),
    "random": ("random", 4, {}),
    "asha": ("asha", 4, {}),
}


def _builder(strategy: str, options: dict) -> Callable | None:
    """The registry's S2E set-up with ``options`` merged in, or None (the registry's own)."""
    if not options:
        return None
    from raysearch.tune.searchers import S2E_DEFAULT, s2e_setup

    assert strategy == "s2e", strategy
    return partial(s2e_setup, **{**S2E_DEFAULT, **options})


def run_regime(label: str, task: str, trials: int, seeds: int, surrogate) -> pd.DataFrame:
    """Every seed's trials of one regime (``bench run``'s rows, tagged with the label)."""
    from raysearch.bench.run import BenchRun, run_one

    strategy, k, options = REGIMES[label]
    settings = BenchRun(task=task, searchers=(strategy,), trials=trials, seeds=seeds,
                        samples_per_iter=k).compare_settings()  # fmt: skip
    builder = _builder(strategy, options)
    builders = {strategy: builder} if builder else None
    return pd.concat(
        [run_one(settings, strategy, seed, surrogate, builders=builders).assign(searcher=label)
         for seed in range(seeds)], ignore_index=True,
    )  # fmt: skip


def quality_table(trials: pd.DataFrame, epochs: int, top_level: float) -> pd.DataFrame:
    """Per strategy the columns of the module docstring (``trials``: :func:`run_regime` rows)."""
    from raysearch.analysis import stats

    full = trials[trials["epochs_trained"] >= epochs].copy()
    order = full.groupby(["searcher", "seed"], sort=False).cumcount()
    full["bin"] = np.minimum(order * BINS // max(1, int(order.max()) + 1), BINS - 1)
    finals = {}
    rows = []
    for label, group in full.groupby("searcher", sort=False):
        row: dict = {"searcher": label, "full_trials_per_run": len(group) / group["seed"].nunique()}
        for b, in_bin in group.groupby("bin"):
            row[f"expected_{b + 1}"] = in_bin["test_acc_expected"].mean()
            row[f"top10_{b + 1}"] = (in_bin["test_acc_expected"] >= top_level).mean()
        incumbents = group.loc[group.groupby("seed")["val_acc"].idxmax()].set_index("seed")
        finals[label] = incumbents["test_acc"]
        row["incumbent_expected"] = incumbents["test_acc_expected"].mean()
        row["best_expected_seen"] = group.groupby("seed")["test_acc_expected"].max().mean()
        row["selection_loss"] = row["best_expected_seen"] - row["incumbent_expected"]
        row["final_test_acc"] = float(incumbents["test_acc"].mean())
        rows.append(row)
    table = pd.DataFrame(rows)
    for i, label in enumerate(table["searcher"]):
        if label != "random" and "random" in finals:
            paired = stats.paired_difference(finals[label], finals["random"])
            columns = ["diff_vs_random", "diff_low", "diff_high", "p_vs_random"]
            table.loc[i, columns] = [paired.mean, paired.ci_low, paired.ci_high, paired.p]
    return table


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="pair45-e20-n4000")
    parser.add_argument("--tables", default=None, help="folder of <task>.parquet tables")
    parser.add_argument("--regimes", default=",".join(REGIMES), help="comma list of REGIMES")
    parser.add_argument("--trials", type=int, default=100, help="N: networks per run")
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    labels = [r.strip() for r in args.regimes.split(",") if r.strip()]
    unknown = [r for r in labels if r not in REGIMES]
    if unknown or not labels:
        raise ValueError(f"unknown regimes {unknown}; allowed: {', '.join(REGIMES)}")
    if args.seeds < 2 or args.trials < 1:
        raise ValueError(f"need --seeds >= 2 and --trials >= 1, got {args.seeds}, {args.trials}")
    from raysearch.bench.surrogate import fit_surrogate
    from raysearch.bench.tables import TaskTable, load_table

    out = results_dir(args.out)
    table = TaskTable.from_frame(load_table(args.task, args.tables))
    surrogate = fit_surrogate(table)
    top_level = float(np.quantile(table.final("test_acc").mean(axis=1), 0.9))
    start = time.perf_counter()
    trials = pd.concat(
        [run_regime(r, args.task, args.trials, args.seeds, surrogate) for r in labels],
        ignore_index=True,
    )
    quality = quality_table(trials, table.epochs, top_level)
    path = out / f"s2e_sample_quality_{args.task}.csv"
    quality.to_csv(path, index=False, float_format="%.6g")
    print(f"{args.task}: table top-10 % level {top_level:.4f}; {args.trials} networks x "
          f"{args.seeds} seeds, {time.perf_counter() - start:.0f} s")  # fmt: skip
    print(quality.round(4).to_string(index=False))
    print(f"-> {path}")
    return quality


if __name__ == "__main__":
    main()
