"""``raysearch bench run``: every registered searcher and scheduler against a task's surrogate,
through the searcher objects and search spaces of a real ``raysearch compare`` (no training).

A run is a :class:`~raysearch.tune.compare_settings.CompareSettings` for the task's trial
settings: seed s gets ``settings.request(s)`` and ``settings.param_space(s)``, as its stream or
scheduler experiment does in ``compare``, and the surrogate's runs at seed s
(:meth:`~raysearch.bench.surrogate.Surrogate.objective`); :func:`raysearch.bench.simulate.simulate`
drives the strategy. Per (searcher, seed), after n trained networks (epochs spent / E, the
clock of ``simulate``): the best ``val_acc`` of the full-length trials so far and the clean
``test_acc`` of that incumbent (:func:`best_so_far`), as ``compare``'s best-so-far curves do.
The summary compares the final incumbents, paired by seed, with ``random`` and with the
tabulated ``coteaching`` reference (:func:`summary_table`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from raysearch.analysis import stats
from raysearch.bench.simulate import simulate
from raysearch.bench.surrogate import Surrogate, fit_surrogate
from raysearch.bench.tables import TaskTable, load_table
from raysearch.bench.tasks import task_settings
from raysearch.tune.compare_settings import CompareSettings
from raysearch.tune.searchers import SearchRequest, SearchSetup, searcher_names

BASELINE = "random"
REFERENCE = "coteaching"
CURVE_COLUMNS = ["searcher", "seed", "trained_networks", "best_val_acc", "incumbent_test_acc",
                 "incumbent_expected_test_acc"]  # fmt: skip
TRIAL_COLUMNS = ["searcher", "seed", "order", "epochs_trained", "spent_epochs", "val_acc",
                 "test_acc", "test_acc_expected"]  # fmt: skip


@dataclass(frozen=True)
class BenchRun:
    """What ``bench run`` runs: ``searchers`` x seeds 0 .. ``seeds``-1 on ``task``, N =
    ``trials`` networks of E = the task's epochs each, ``samples_per_iter`` (S2E's K) and
    ``concurrency`` as in ``compare``."""

    task: str
    searchers: tuple[str, ...] = ()  # () = every registered strategy
    trials: int = 100
    seeds: int = 30
    epochs: int | None = None  # None = the task's
    samples_per_iter: int = 4
    concurrency: int = 1
    space: str = "s2e"

    def compare_settings(self) -> CompareSettings:
        """The ``compare`` settings whose requests and spaces the run uses (validates every
        value: unknown searchers raise ``KeyError`` listing the registry)."""
        trial = task_settings(self.task)
        if self.epochs is not None and self.epochs != trial.epochs:
            raise ValueError(
                f"--epochs {self.epochs}: task {self.task} was tabulated at {trial.epochs} epochs "
                f"(the surrogate knows those curves only); use --epochs {trial.epochs}"
            )
        return CompareSettings(
            trial=trial, space=self.space, searchers=self.searchers or tuple(searcher_names()),
            references=(), trials=self.trials, seeds=self.seeds,
            samples_per_iter=self.samples_per_iter, concurrency=self.concurrency,
        )  # fmt: skip


def run_one(
    settings: CompareSettings, name: str, seed: int, surrogate: Surrogate,
    *, builders: Mapping[str, Callable[[SearchRequest], SearchSetup]] | None = None,
) -> pd.DataFrame:  # fmt: skip
    """The trials of strategy ``name`` (or ``builders[name]``, as in ``simulate``) at ``seed``
    (``simulate``'s rows, tagged), with one OpenMP / BLAS thread: the surrogate predicts one
    schedule at a time, where more threads only contend (a trees model's predict took 0.67 s
    per schedule, not 4 ms, beside another busy process on 2 cores)."""
    from threadpoolctl import threadpool_limits  # scikit-learn's dependency

    with threadpool_limits(1):
        trials = simulate(name, settings.request(seed), settings.param_space(seed),
                          surrogate.objective(seed), builders=builders)  # fmt: skip
    return trials.assign(searcher=name, seed=seed, order=np.arange(len(trials)))


def _run_chunk(job: tuple[CompareSettings, str, Sequence[int], Surrogate]) -> pd.DataFrame:
    settings, name, seeds, surrogate = job
    return pd.concat([run_one(settings, name, s, surrogate) for s in seeds], ignore_index=True)


def run_all(run: BenchRun, surrogate: Surrogate, *, processes: int = 1) -> pd.DataFrame:
    """Every (searcher, seed) run, in ``processes`` processes (chunks of seeds per searcher)."""
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    settings = run.compare_settings()
    chunk = max(1, math.ceil(settings.seeds / (2 * processes)))
    jobs = [(settings, name, range(start, min(settings.seeds, start + chunk)), surrogate)
            for name in settings.searchers for start in range(0, settings.seeds, chunk)]  # fmt: skip
    if processes == 1:
        frames = [_run_chunk(job) for job in jobs]
    else:
        with ProcessPoolExecutor(processes) as pool:
            frames = list(pool.map(_run_chunk, jobs))
    return pd.concat(frames, ignore_index=True)


def best_so_far(trials: pd.DataFrame, epochs: int, networks: int) -> pd.DataFrame:
    """Per (searcher, seed) and n = 1 .. ``networks``: the incumbent (best ``val_acc`` of the
    full-length trials that ended by n x E epochs spent) and its ``test_acc``; NaN before the
    first full-length trial."""
    rows = []
    grid = np.arange(1, networks + 1)
    for (name, seed), group in trials.groupby(["searcher", "seed"], sort=False):
        full = group[group["epochs_trained"] >= epochs].sort_values("spent_epochs", kind="stable")
        val = full["val_acc"].to_numpy(float)
        best_index, current = [], -1  # the incumbent after each full trial (earliest of ties)
        for i, v in enumerate(val):
            if np.isfinite(v) and (current < 0 or v > val[current]):
                current = i
            best_index.append(current)
        ended = np.searchsorted(full["spent_epochs"].to_numpy(float), grid * epochs, side="right")
        for n, count in zip(grid, ended, strict=True):
            row = {"searcher": name, "seed": seed, "trained_networks": int(n),
                   "best_val_acc": math.nan, "incumbent_test_acc": math.nan,
                   "incumbent_expected_test_acc": math.nan}  # fmt: skip
            if count and best_index[count - 1] >= 0:
                best = full.iloc[best_index[count - 1]]
                row.update(best_val_acc=best["val_acc"], incumbent_test_acc=best["test_acc"],
                           incumbent_expected_test_acc=best["test_acc_expected"])  # fmt: skip
            rows.append(row)
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def reference_scores(table: TaskTable) -> dict[str, tuple[float, float]]:
    """``{reference: (mean, std over seeds)}`` of the tabulated references' final test accuracy."""
    out = {}
    for i, (design, kind) in enumerate(zip(table.design_ids, table.kinds, strict=True)):
        if kind == "reference":
            finals = table.final("test_acc")[i]
            std = float(finals.std(ddof=1)) if len(finals) > 1 else math.nan
            out[design.removeprefix("reference-")] = (float(finals.mean()), std)
    return out


def summary_table(curves: pd.DataFrame, references: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """Per searcher, from the last point of ``curves``: seeds, mean final incumbent test accuracy
    [95 % bootstrap interval], the paired difference vs ``random`` (seed s = the same surrogate
    runs for both: mean [paired bootstrap interval], one-sided Wilcoxon p) and the gain over the
    tabulated ``coteaching`` reference's mean [interval over seeds]; then the references."""
    last = curves[curves["trained_networks"] == curves["trained_networks"].max()]
    finals = {str(name): g.set_index("seed")["incumbent_test_acc"]
              for name, g in last.groupby("searcher", sort=False)}  # fmt: skip
    reference = references.get(REFERENCE, (math.nan, math.nan))[0]
    rows = []
    for name, values in finals.items():
        low, high = stats.bootstrap_ci(values)
        row = {"searcher": name, "kind": "searcher", "seeds": int(values.notna().sum()),
               "final_test_acc": float(values.mean()), "ci_low": low, "ci_high": high}  # fmt: skip
        if BASELINE in finals and name != BASELINE:
            paired = stats.paired_difference(values, finals[BASELINE])
            row.update(diff_vs_random=paired.mean, diff_low=paired.ci_low, diff_high=paired.ci_high,
                       p_vs_random=paired.p)  # fmt: skip
        gain_low, gain_high = stats.bootstrap_ci(values - reference)
        row.update(gain_vs_coteaching=float(values.mean()) - reference,
                   gain_low=gain_low, gain_high=gain_high)  # fmt: skip
        rows.append(row)
    for name, (mean, std) in references.items():
        rows.append({"searcher": name, "kind": "reference (tabulated)", "final_test_acc": mean,
                     "seed_std": std})  # fmt: skip
    return pd.DataFrame(rows)


def summary_markdown(table: pd.DataFrame, run: BenchRun, surrogate: Surrogate) -> str:
    """The summary as Markdown, its first line the answer in words."""

    def interval(v: float, lo: float, hi: float, scale: float = 1.0, digits: int = 4) -> str:
        if math.isnan(v):
            return ""
        return f"{scale * v:+.{digits}f} [{scale * lo:+.{digits}f}, {scale * hi:+.{digits}f}]"

    searchers = table[table["kind"] == "searcher"]
    best = searchers.loc[searchers["final_test_acc"].idxmax()]
    lines = [
        f"search gain over Co-teaching's schedule on {run.task} (surrogate): best {best.searcher} "
        f"{interval(best.gain_vs_coteaching, best.gain_low, best.gain_high, 100, 2)} points "
        f"after {run.trials} networks ({int(best.seeds)} seeds)", "",
        "| searcher | final test acc [95 % CI] | Δ vs random [paired CI], p | gain vs coteaching |",
        "|---|---|---|---|",
    ]  # fmt: skip
    for row in table.itertuples():
        if row.kind != "searcher":
            lines.append(f"| {row.searcher} (tabulated reference) | {row.final_test_acc:.4f} "
                         f"± {row.seed_std:.4f} (seed std) | | |")  # fmt: skip
            continue
        diff = getattr(row, "diff_vs_random", math.nan)
        paired = (f"{interval(diff, row.diff_low, row.diff_high)}, p = {row.p_vs_random:.3g}"
                  if isinstance(diff, float) and not math.isnan(diff) else "")  # fmt: skip
        lines.append(
            f"| {row.searcher} | {row.final_test_acc:.4f} [{row.ci_low:.4f}, {row.ci_high:.4f}] "
            f"| {paired} | {interval(row.gain_vs_coteaching, row.gain_low, row.gain_high)} |"
        )
    lines += ["", f"Surrogate: {surrogate.model_name} over R(t) at E = {surrogate.epochs} epochs "
              f"(raysearch.bench.surrogate); N = {run.trials} networks, K = {run.samples_per_iter}, "
              f"concurrency {run.concurrency}, space {run.space}."]  # fmt: skip
    return "\n".join(lines) + "\n"


def run_bench(
    run: BenchRun, *, out: Path, tables: str | Path | None = None, model: str | None = None,
    processes: int = 1, command: Sequence[str] = (),
) -> str:  # fmt: skip
    """``bench run``: fit the surrogate of the task's table (in ``tables``, default the shipped
    ones), run every strategy, write ``trials.csv``, ``best_so_far.csv``, ``summary.csv``,
    ``summary.md`` and ``run.json`` (settings, surrogate, wall time) in ``out``; return the
    summary's Markdown."""
    settings = run.compare_settings()
    table = TaskTable.from_frame(load_table(run.task, tables))
    start = time.perf_counter()
    surrogate = fit_surrogate(table, model=model)
    fitted = time.perf_counter()
    print(f"surrogate of {run.task}: {surrogate.model_name} ({fitted - start:.0f} s)", flush=True)
    trials = run_all(run, surrogate, processes=processes)
    wall = time.perf_counter() - fitted
    curves = best_so_far(trials, table.epochs, run.trials)
    summary = summary_table(curves, reference_scores(table))
    markdown = summary_markdown(summary, run, surrogate)
    out.mkdir(parents=True, exist_ok=True)
    trials[TRIAL_COLUMNS].to_csv(out / "trials.csv", index=False, float_format="%.6g")
    curves.to_csv(out / "best_so_far.csv", index=False, float_format="%.6g")
    summary.to_csv(out / "summary.csv", index=False, float_format="%.6g")
    (out / "summary.md").write_text(markdown)
    record = {"command": list(command), **asdict(run), "searchers": list(settings.searchers),
              "surrogate": surrogate.model_name, "selection_spearman": surrogate.scores,
              "processes": processes, "wall_s": round(wall, 1),
              "cpu_s": round(time.process_time(), 1)}  # fmt: skip
    (out / "run.json").write_text(json.dumps(record, indent=2))
    return markdown
