"""Search efficiency of every registered strategy on synthetic schedule targets (S2E Fig. 6).

S2E Sec. 4.3.2 / Fig. 6 plots accuracy against the number of Co-teaching runs for Newton, GD,
NG, random search, BO and Hyperband. This benchmark replaces the training by a synthetic
objective, so it can afford many seeds:

* **target**: one hidden schedule R*(t) per seed (T = 100 points), drawn by
  :func:`target_curve` from a distribution that is *no* searcher's prior: Co-teaching
  schedules with random τ, T_k, c (40 %), S2E-family schedules with sparse Dirichlet(0.3) mix
  weights and Beta-distributed (not uniform) basis parameters (35 %), and off-family shapes
  (25 %: a sigmoid drop, a dip that recovers, a staircase). The target seed stream
  (``TARGET_SEED_OFFSET + seed``) is disjoint from the searchers' seeds.
* **score** (maximised) = ``-RMSE(R, R*)`` + Gaussian noise σ = ``--noise`` (0.005, the size of
  seed noise on a real validation accuracy), one noise stream per seed shared by all
  strategies (common random numbers). The searchers only ever see noisy scores.
* **incumbent**: after n evaluations, the *noiseless* score of the trial with the best noisy
  full-fidelity score so far (what a user would pick); -1 before the first full trial.

Every strategy is built by the registry (:func:`raysearch.tune.searchers.make_search`) and driven
through the objects real runs use, without Ray trials (no cluster, no actors):

* **searchers** (S2E variants, TPE, Optuna, and ``random``, Tune's ``BasicVariantGenerator``):
  ``suggest`` / ``next_trial`` and ``on_trial_complete`` as Tune calls them, with at most
  ``--workers`` (2) trials in flight, the oldest finishing first; a trial reports its full score.
* **schedulers** (``hyperband``, ``asha``): the registry's random generator plus the real
  scheduler object, run one epoch at a time by
  :class:`raysearch.bench.simulate.SchedulerController`, a minimal stand-in for Tune's
  controller (``choose_trial_to_run``, ``on_trial_add`` / ``on_trial_result`` /
  ``on_trial_complete``, ``stop_trial``, ``pause_trial``). Budget equivalence: E = 3 epochs
  per full trial; after epoch e a trial reports the noisy RMSE over the first ``ceil(e T/E)``
  points (a learning curve); the run stops after N·E epochs in all, and "evaluations" are
  epochs spent / E. A paused trial resumes where it stopped (its epochs are paid once).

Per regime (``--regimes``, default N=40/K=4 -- the paper's -- and N=200/K=8) and strategy the
summary gives: evaluations to reach *random's* final median incumbent (on the median curve over
seeds) and its ratio to random's own, each with a 95 % bootstrap interval over seeds (seeds
resampled jointly for all strategies, 1000 resamples; ``inf`` = never within the budget); the
final median incumbent RMSE with its interval; one-sided Mann-Whitney p-values of the final
scores against random, TPE and Optuna (alternative: this strategy is better).

Outputs in ``--out``: ``searcher_efficiency.csv`` (the table), ``searcher_efficiency_curves.csv``
(incumbent per strategy, seed and evaluation), ``searcher_efficiency.png`` (median curves).
Heavy: run it under ``flock /tmp/raysearch-heavy.lock``; ``--processes 2`` splits the runs over
two processes. ``--quick`` is a seconds-long smoke run used by the unit tests.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._common import results_dir
from raysearch.bench.simulate import SchedulerController

METRIC, MODE = "score", "max"
CURVE_POINTS = 100  # T: points of R(t) the RMSE is taken over
EPOCHS = 3  # E: fidelity levels of a full trial (schedulers stop trials between them)
WORST_SCORE = -1.0  # R and R* lie in [0, 1], so -RMSE >= -1
TARGET_SEED_OFFSET = 100_000
TARGET_KINDS = ("coteaching", "s2e", "off")
TARGET_PROBS = (0.40, 0.35, 0.25)
OFF_SHAPES = ("sigmoid", "dip", "stairs")
SCHEDULERS = ("hyperband", "asha", "bohb")
COMPARE_TO = ("random", "tpe", "optuna")
BOOTSTRAP = 1000
NOISE_STREAM = 7  # second word of the noise generator's seed (first: the run seed)
MAX_PENDING = 200  # Tune's automatic cap on pending trials of its BasicVariantGenerator


@dataclass(frozen=True)
class Regime:
    trials: int  # N
    samples_per_iter: int  # K

    @property
    def name(self) -> str:
        return f"N{self.trials}_K{self.samples_per_iter}"


# --- targets and the objective (pure numpy) ----------------------------------------------------


def target_curve(seed: int, points: int = CURVE_POINTS) -> tuple[str, np.ndarray]:
    """The hidden schedule of run seed ``seed``: (kind, R*(t) for t = 0 .. points-1)."""
    from search_spaces.schedules import get_family

    rng = np.random.default_rng(TARGET_SEED_OFFSET + seed)
    kind = str(rng.choice(TARGET_KINDS, p=TARGET_PROBS))
    s = np.arange(points) / points
    if kind == "coteaching":
        config = {
            "tau": rng.uniform(0.05, 0.6),
            "t_k": rng.uniform(2, 60),
            "c": rng.uniform(0.5, 2),
        }
        return kind, get_family("coteaching").values(config, points)
    if kind == "s2e":
        family = get_family("s2e")
        weights = iter(rng.dirichlet(np.full(4, 0.3)))
        config = {
            p.name: next(weights) if p.simplex else p.from_unit(rng.beta(*rng.uniform(0.5, 4, 2)))
            for p in family.params
        }
        return kind, family.values(config, points)
    shape = str(rng.choice(OFF_SHAPES))
    tau = rng.uniform(0.1, 0.6)
    if shape == "sigmoid":
        curve = 1 - tau / (1 + np.exp(-(s - rng.uniform(0.05, 0.5)) / rng.uniform(0.02, 0.1)))
    elif shape == "dip":
        curve = 1 - tau * np.sin(np.pi * s) ** rng.uniform(0.5, 3)
    else:
        steps = int(rng.integers(2, 6))
        curve = 1 - tau * np.floor(s * steps + 1) / steps
    return f"off-{shape}", np.clip(curve, 0.0, 1.0)


def fidelity_points(epoch: int, epochs: int, points: int) -> int:
    """Curve points seen after ``epoch`` of ``epochs``: ceil(epoch * points / epochs)."""
    if not 1 <= epoch <= epochs:
        raise ValueError(f"epoch must be in 1..{epochs}, got {epoch}")
    return -(-epoch * points // epochs)


def partial_score(curve: np.ndarray, target: np.ndarray, epoch: int, epochs: int) -> float:
    """-RMSE between ``curve`` and ``target`` over the first ``fidelity_points`` points."""
    curve, target = np.asarray(curve, dtype=float), np.asarray(target, dtype=float)
    if curve.shape != target.shape:
        raise ValueError(f"curve shape {curve.shape} != target shape {target.shape}")
    n = fidelity_points(epoch, epochs, len(target))
    return -float(np.sqrt(np.mean((curve[:n] - target[:n]) ** 2)))


def schedule_curve(config: Mapping[str, Any], points: int) -> np.ndarray:
    """R(t) of a trial config (its ``schedule`` entry, an ``s2e``-family config)."""
    from search_spaces.schedules import get_family

    schedule = {k: v for k, v in config["schedule"].items() if k != "family"}
    return get_family("s2e").values(schedule, points)


# --- incumbents and the evaluations-to-reach statistics (pure) ---------------------------------


def incumbent_curve(observed: np.ndarray, true: np.ndarray, spent: np.ndarray, grid: int) -> np.ndarray:  # fmt: skip
    """Noiseless score of the best *observed* full trial after 1..``grid`` evaluations.

    ``observed`` / ``true``: noisy and noiseless full scores of the finished full trials in
    the order they finished; ``spent[i]``: evaluations spent when trial i finished.
    """
    out = np.full(grid, WORST_SCORE)
    best_obs, best_true = -np.inf, WORST_SCORE
    order = iter(range(len(observed)))
    i = next(order, None)
    for n in range(1, grid + 1):
        while i is not None and spent[i] <= n + 1e-9:
            if observed[i] > best_obs:
                best_obs, best_true = observed[i], true[i]
            i = next(order, None)
        out[n - 1] = best_true
    return out


def evaluations_to_reach(curve: np.ndarray, level: float) -> float:
    """First n (1-based) with ``curve[n-1] >= level``; inf if never."""
    hit = np.flatnonzero(np.asarray(curve) >= level - 1e-12)
    return float(hit[0] + 1) if len(hit) else math.inf


def reach_statistics(table: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(evaluations for the median curve of ``table`` (seeds x n) to reach the final median
    of ``reference``, the same divided by the reference's own)."""
    level = float(np.median(reference[:, -1]))
    own = evaluations_to_reach(np.median(reference, axis=0), level)
    reach = evaluations_to_reach(np.median(table, axis=0), level)
    return reach, reach / own


def bootstrap_interval(values: np.ndarray) -> tuple[float, float]:
    """2.5 % and 97.5 % quantiles without interpolation (inf-safe)."""
    lo, hi = np.quantile(values, [0.025, 0.975], method="inverted_cdf")
    return float(lo), float(hi)


def summary_table(curves: dict[str, np.ndarray], *, seed: int = 0) -> pd.DataFrame:
    """One row per strategy from ``curves[name]`` = (seeds x N) incumbent scores."""
    from raysearch.analysis.stats import mann_whitney_greater

    rng = np.random.default_rng(seed)
    reference = curves["random"]
    n_seeds = reference.shape[0]
    draws = rng.integers(0, n_seeds, size=(BOOTSTRAP, n_seeds))
    rows = []
    for name, table in curves.items():
        reach, ratio = reach_statistics(table, reference)
        boot = np.array([reach_statistics(table[idx], reference[idx]) for idx in draws])
        finals = -np.median(table[draws, -1], axis=1)
        row = {
            "strategy": name,
            "evals_to_random_final": reach,
            "evals_lo": bootstrap_interval(boot[:, 0])[0],
            "evals_hi": bootstrap_interval(boot[:, 0])[1],
            "ratio_to_random": ratio,
            "ratio_lo": bootstrap_interval(boot[:, 1])[0],
            "ratio_hi": bootstrap_interval(boot[:, 1])[1],
            "final_median_rmse": -float(np.median(table[:, -1])),
            "final_lo": bootstrap_interval(finals)[0],
            "final_hi": bootstrap_interval(finals)[1],
        }
        for other in COMPARE_TO:
            if other in curves and other != name:
                row[f"p_vs_{other}"] = mann_whitney_greater(table[:, -1], curves[other][:, -1])
        rows.append(row)
    return pd.DataFrame(rows)


# --- driving the registry's strategies ----------------------------------------------------------


def _noise_rng(seed: int) -> np.random.Generator:
    """The score noise of run seed ``seed``: the same stream for every strategy (common random
    numbers), so two strategies that propose the same trials see the same scores."""
    return np.random.default_rng([seed, NOISE_STREAM])


def run_strategy(
    name: str, seed: int, regime: Regime, *, noise: float, workers: int,
    builders: Mapping[str, Callable[..., Any]] | None = None,
) -> pd.DataFrame:  # fmt: skip
    """One search run; its full trials in finishing order (noisy and true score, evals spent)."""
    from raysearch.tune.searchers import SearchRequest, make_search
    from raysearch.tune.spaces import SCHEDULE_KEY, family_space, simplex_groups
    from search_spaces.schedules import get_family

    family = get_family("s2e")
    _, target = target_curve(seed)
    request = SearchRequest(
        metric=METRIC, mode=MODE, trials=regime.trials, epochs=EPOCHS, seed=seed,
        concurrency=workers, samples_per_iter=regime.samples_per_iter,
        simplex_groups=simplex_groups(family),
    )  # fmt: skip
    setup = (builders or {}).get(name, lambda req: make_search(name, req))(request)
    space = {SCHEDULE_KEY: family_space(family)}
    rng = _noise_rng(seed)

    def scores(config: Mapping[str, Any], epoch: int) -> tuple[float, float]:
        curve = schedule_curve(config, CURVE_POINTS)
        true = partial_score(curve, target, epoch, EPOCHS)
        return true + noise * rng.standard_normal(), true

    if setup.scheduler is None:
        rows = _run_searcher(setup.search_alg, space, regime.trials, workers, scores)
    else:
        rows = _run_scheduled(setup.search_alg, setup.scheduler, space, regime.trials, scores)
    frame = pd.DataFrame(rows, columns=["observed", "true", "spent"])
    frame.insert(0, "strategy", name)
    frame.insert(1, "seed", seed)
    return frame


def _searcher_trials(search_alg: Any, space: dict[str, Any], trials: int) -> Callable[[str], Any]:
    """``suggest(trial_id) -> config | None | 'FINISHED'`` for a Searcher or Tune's generator."""
    from ray.tune.search import BasicVariantGenerator, Searcher

    search_alg.set_search_properties(METRIC, MODE, space)
    if isinstance(search_alg, Searcher):
        return search_alg.suggest
    assert isinstance(search_alg, BasicVariantGenerator)
    search_alg.add_configurations(
        {"bench": {"run": _noop_trainable, "config": space, "num_samples": trials}}
    )
    made: dict[str, Any] = {}

    def suggest(trial_id: str) -> Any:
        trial = search_alg.next_trial()
        if trial is None:
            return Searcher.FINISHED if search_alg.is_finished() else None
        made[trial_id] = trial
        return trial.config

    search_alg._bench_ids = made  # type: ignore[attr-defined]
    return suggest


def _noop_trainable(config: dict[str, Any]) -> None:
    """Never run: Tune's generator needs a trainable to create trials."""


def _run_searcher(search_alg: Any, space: dict[str, Any], trials: int, workers: int, scores: Callable) -> list[tuple]:  # fmt: skip
    """N trials, at most ``workers`` in flight, the oldest finishing first."""
    from ray.tune.search import Searcher

    suggest = _searcher_trials(search_alg, space, trials)
    made = getattr(search_alg, "_bench_ids", None)
    live: list[tuple[str, Any]] = []
    rows: list[tuple] = []
    started = 0
    while len(rows) < trials:
        while started < trials and len(live) < workers:
            config = suggest(f"t{started}")
            if config is None or config == Searcher.FINISHED:
                break
            live.append((f"t{started}", config))
            started += 1
        if not live:
            break
        trial_id, config = live.pop(0)
        observed, true = scores(config, EPOCHS)
        result = {METRIC: observed, "epoch": EPOCHS}
        search_id = made[trial_id].trial_id if made is not None else trial_id
        search_alg.on_trial_complete(search_id, result)
        rows.append((observed, true, float(len(rows) + 1)))
    return rows


def _run_scheduled(search_alg: Any, scheduler: Any, space: dict[str, Any], trials: int, scores: Callable) -> list[tuple]:  # fmt: skip
    """Random trials under a real Tune scheduler, one epoch at a time, for N·E epochs. As in
    Tune, the generator is asked for a new trial while fewer than ``MAX_PENDING`` wait to start
    (it may refuse: ASHA's generator keeps 2 in flight); the scheduler picks what runs."""
    from ray.tune.schedulers import TrialScheduler
    from ray.tune.search import Searcher

    scheduler.set_search_properties(METRIC, MODE)
    suggest = _searcher_trials(search_alg, space, trials * EPOCHS)
    made = search_alg._bench_ids
    progress: dict[Any, int] = {}
    last: dict[Any, dict[str, Any]] = {}
    rows: list[tuple] = []
    spent = 0

    def finish(trial: Any) -> None:
        search_alg.on_trial_complete(trial.trial_id, last.get(trial))

    controller = SchedulerController(scheduler, finish)
    while spent < trials * EPOCHS:
        unstarted = sum(1 for t in controller.trials if progress[t] == 0)
        if unstarted < MAX_PENDING:
            config = suggest(f"t{len(made)}")
            if config is not None and config != Searcher.FINISHED:
                added = made[f"t{len(made) - 1}"]
                controller.trials.append(added)
                progress[added] = 0
                scheduler.on_trial_add(controller, added)
                continue
        trial = scheduler.choose_trial_to_run(controller)
        if trial is None:
            break
        trial.set_status("RUNNING")
        progress[trial] += 1
        spent += 1
        epoch = progress[trial]
        observed, true = scores(trial.config, epoch)
        last[trial] = result = {METRIC: observed, "epoch": epoch, "training_iteration": epoch}
        if epoch == EPOCHS:
            rows.append((observed, true, spent / EPOCHS))
            trial.set_status("TERMINATED")
            scheduler.on_trial_complete(controller, trial, result)
            finish(trial)
            continue
        action = scheduler.on_trial_result(controller, trial, result)
        if action == TrialScheduler.STOP:
            trial.set_status("TERMINATED")
            scheduler.on_trial_complete(controller, trial, result)
            finish(trial)
        elif action == TrialScheduler.PAUSE:
            trial.set_status("PAUSED")
        else:
            trial.set_status("PENDING")
    return rows


# --- the experiment ----------------------------------------------------------------------------


def _run_chunk(task: tuple[str, list[int], Regime, float, int]) -> pd.DataFrame:
    name, seeds, regime, noise, workers = task
    from benchmarks.s2e_ablation import ABLATION_BUILDERS  # variants outside the registry

    frames = [
        run_strategy(name, s, regime, noise=noise, workers=workers, builders=ABLATION_BUILDERS)
        for s in seeds
    ]
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "regime", regime.name)
    return out


def run_all(
    strategies: Sequence[str], regimes: Sequence[Regime], seeds: int, *, noise: float,
    workers: int, processes: int,
) -> pd.DataFrame:  # fmt: skip
    """Every (regime, strategy, seed) run, split into tasks over ``processes`` processes."""
    chunk = max(1, seeds // 3)
    tasks = [
        (name, list(range(start, min(seeds, start + chunk))), regime, noise, workers)
        for regime in regimes
        for name in strategies
        for start in range(0, seeds, chunk)
    ]
    if processes <= 1:
        return pd.concat([_run_chunk(t) for t in tasks], ignore_index=True)
    with ProcessPoolExecutor(processes) as pool:
        return pd.concat(pool.map(_run_chunk, tasks), ignore_index=True)


def curve_tables(trials: pd.DataFrame, regime: Regime) -> dict[str, np.ndarray]:
    """Per strategy, the (seeds x N) incumbent table of ``regime``."""
    out: dict[str, np.ndarray] = {}
    sub = trials[trials["regime"] == regime.name]
    for name, group in sub.groupby("strategy", sort=False):
        runs = [
            incumbent_curve(run["observed"].to_numpy(), run["true"].to_numpy(),
                            run["spent"].to_numpy(), regime.trials)
            for _, run in group.groupby("seed", sort=True)
        ]  # fmt: skip
        out[str(name)] = np.array(runs)
    return out


def plot(path: Path, tables: Mapping[str, Mapping[str, np.ndarray]], title: str) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tables), figsize=(6.5 * len(tables), 4.8), squeeze=False)
    for ax, (regime, curves) in zip(axes[0], tables.items(), strict=True):
        for i, (name, table) in enumerate(curves.items()):
            n = np.arange(1, table.shape[1] + 1)
            ax.step(n, -np.median(table, axis=0), where="post", color=f"C{i % 10}", label=name,
                    linestyle="--" if name in SCHEDULERS else ("-" if name.startswith(("s2e", "abl")) else ":"),
                    linewidth=2.2 if name == "s2e" else 1.2)  # fmt: skip
        ax.axhline(-np.median(curves["random"][:, -1]), color="grey", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_xlabel("evaluations (full-trial units)")
        ax.set_ylabel("median RMSE(R, R*) of the incumbent (noiseless)")
        ax.set_title(regime, fontsize=10)
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def format_table(table: pd.DataFrame) -> str:
    """The summary table as aligned text (one line per strategy)."""

    def cell(v: float, lo: float, hi: float, fmt: str) -> str:
        return f"{v:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"

    lines = []
    for row in table.itertuples():
        ps = " ".join(
            f"p>{o}={getattr(row, f'p_vs_{o}'):.3g}"
            for o in COMPARE_TO
            if f"p_vs_{o}" in table.columns and not pd.isna(getattr(row, f"p_vs_{o}"))
        )
        lines.append(
            f"{row.strategy:>16}  evals {cell(row.evals_to_random_final, row.evals_lo, row.evals_hi, '.0f'):>18}"
            f"  ratio {cell(row.ratio_to_random, row.ratio_lo, row.ratio_hi, '.2f'):>20}"
            f"  final RMSE {cell(row.final_median_rmse, row.final_lo, row.final_hi, '.4f'):>26}  {ps}"
        )  # fmt: skip
    return "\n".join(lines)


QUICK = {"seeds": 3, "regimes": "12x4", "strategies": "s2e,s2e-paper,random,tpe,asha"}


def parse_regimes(text: str) -> list[Regime]:
    """``"40x4,200x8"`` -> regimes N=40/K=4 and N=200/K=8."""
    out = []
    for part in text.split(","):
        try:
            n, k = (int(v) for v in part.split("x"))
        except ValueError as err:
            raise ValueError(f"regime {part!r} must look like NxK, e.g. 40x4") from err
        if n < k or k < 2:
            raise ValueError(f"regime {part!r}: need K >= 2 and N >= K")
        out.append(Regime(n, k))
    return out


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30, help="run seeds 0 .. S-1")
    parser.add_argument("--regimes", default="40x4,200x8", help="comma list of NxK")
    parser.add_argument("--strategies", default=None, help="comma list (default: all registered)")
    parser.add_argument("--noise", type=float, default=0.005, help="sigma of the score noise")
    parser.add_argument("--workers", type=int, default=2, help="trials in flight (Tune's CPUs)")
    parser.add_argument("--processes", type=int, default=2, help="benchmark processes (<= 2)")
    parser.add_argument("--stem", default="searcher_efficiency", help="output file stem")
    parser.add_argument("--quick", action="store_true", help=f"tiny smoke run: {QUICK}")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.regimes = QUICK["seeds"], QUICK["regimes"]
        args.strategies = args.strategies or QUICK["strategies"]
        args.stem = f"{args.stem}_quick"
    from benchmarks.s2e_ablation import ABLATION_BUILDERS
    from raysearch.tune.searchers import check_searcher_names, searcher_names

    strategies = args.strategies.split(",") if args.strategies else searcher_names()
    check_searcher_names([s for s in strategies if s not in ABLATION_BUILDERS])
    if "random" not in strategies:
        raise ValueError("the ratios are relative to 'random': include it in --strategies")
    for what, value, low in (("seeds", args.seeds, 2), ("workers", args.workers, 1),
                             ("processes", args.processes, 1)):  # fmt: skip
        if value < low:
            raise ValueError(f"--{what} must be >= {low}, got {value}")
    if not 0 <= args.noise < 1:
        raise ValueError(f"--noise must be in [0, 1), got {args.noise}")
    regimes = parse_regimes(args.regimes)
    out = results_dir(args.out)
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    start = time.perf_counter()
    trials = run_all(strategies, regimes, args.seeds, noise=args.noise, workers=args.workers,
                     processes=min(2, args.processes))  # fmt: skip
    wall = time.perf_counter() - start
    tables = {r.name: curve_tables(trials, r) for r in regimes}
    summary = pd.concat(
        [summary_table(tables[r.name]).assign(regime=r.name) for r in regimes], ignore_index=True
    )
    summary.to_csv(out / f"{args.stem}.csv", index=False, float_format="%.6g")
    long = [
        pd.DataFrame({"regime": regime, "strategy": name,
                      "seed": np.repeat(np.arange(table.shape[0]), table.shape[1]),
                      "evaluations": np.tile(np.arange(1, table.shape[1] + 1), table.shape[0]),
                      "incumbent_score": table.ravel()})
        for regime, curves in tables.items() for name, table in curves.items()
    ]  # fmt: skip
    pd.concat(long, ignore_index=True).to_csv(
        out / f"{args.stem}_curves.csv", index=False, float_format="%.6g"
    )
    load = os.getloadavg()[0]
    title = (f"searcher_efficiency: {args.seeds} seeds, noise {args.noise}, {args.workers} "
             f"workers, {wall:.0f} s wall, load {load:.1f}")  # fmt: skip
    plot(out / f"{args.stem}.png", tables, title)
    print(title)
    for regime in regimes:
        print(f"== {regime.name}: evals to reach random's final median [95% CI], ratio to "
              "random's own, final median RMSE, one-sided Mann-Whitney p (better than)")  # fmt: skip
        print(format_table(summary[summary["regime"] == regime.name]))
    return summary


if __name__ == "__main__":
    main()
