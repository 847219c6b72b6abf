"""Search efficiency of every registered strategy on a synthetic schedule objective (S2E Fig. 6).

S2E Sec. 4.3.2 / Fig. 6 plots test accuracy against the number of Co-teaching runs (calls of
Alg. 1) for Newton, GD, NG, random search, BO and Hyperband. Training is what makes that figure
expensive, so this benchmark replaces it by a synthetic objective with no training at all:

* **target**: a hidden schedule R*(t) = ``family.values(target_config, T)`` with ``T = 100``
  points, where ``target_config`` is an ``s2e``-family config drawn from the family's Tune
  space (the space every strategy searches: each parameter uniform on its range, raw mix
  weights uniform on [0, 1], normalised) with ``numpy.random.default_rng(target_seed)``
  (default 2020, which must differ from the run seeds: random search seeded with the same
  integer draws the very same config first). The target is *realisable* (best score 0).
  ``--target coteaching`` uses Co-teaching's ``1 - 0.5 min(t / 10, 1)`` (of 200 reference
  epochs) instead, which the s2e family can only approximate.
* **score** (maximised) of a trial = ``-RMSE(R, R*)`` over the T points, where R is the trial
  config's ``schedule`` evaluated by the family.
* **low fidelity**: a trial "trains" E epochs and after epoch e reports ``-RMSE`` over the first
  ``ceil(e T / E)`` points of the curve only: like a real learning curve, epoch e only shows
  how the schedule did so far. At e = E it is the full score. Hyperband / ASHA stop trials on
  these partial scores. (Ray's synchronous ``HyperBandScheduler`` never does here: the
  registry's random searcher creates trials two at a time, a finished trial leaves its
  bracket, so the first bracket -- 2 trials at full budget -- never fills and takes every new
  trial; ray-project/ray#12536. ``hyperband`` then *is* random search, trial for trial; the
  summary prints the share of trials each scheduler stopped early.)

Budget: every strategy gets N full trials x E epochs (Hyperband / ASHA: N E epochs in all, via
the registry's ``EpochBudget``). "Evaluations" are epochs spent / E (full-trial units, each
(trial, epoch) counted once, as the budget stopper does). The incumbent of a run is its best
*full-fidelity* score so far (a partial score is never an incumbent); before the first full
trial it is -1, the worst possible score.

Outputs in ``--out`` (default ``benchmarks/results``): ``searcher_efficiency.csv`` (best-so-far
vs evaluations per strategy and seed), ``searcher_efficiency_trials.csv`` (every reported
result), ``searcher_efficiency.png`` (median and interquartile band per strategy), and a
one-line summary: for each strategy the ratio of evaluations it needs to reach S2E-Newton's
final median over the evaluations Newton needs (``inf`` = not reached within the budget).

Run time: the default (9 strategies x 10 seeds = 90 Tune experiments of 40 x 3) is dominated by
Tune's start-up of each experiment (new trial actors import ``ray.tune``: 2-8 s each, depending
on the load), not by the trials (~0.05 s each): about 6-12 min on 2 shared cores.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._common import results_dir

METRIC, MODE = "score", "max"
NEWTON = "s2e"
CURVE_POINTS = 100  # T: points of R(t) the RMSE is taken over
WORST_SCORE = -1.0  # R and R* lie in [0, 1], so -RMSE >= -1
TARGETS = ("space", "coteaching")
SCHEDULERS = ("hyperband", "asha", "bohb")  # random (BOHB: TPE-like) sampling + early stopping


# --- the synthetic objective (pure numpy; no Ray) ----------------------------------------------


def target_config(kind: str = "space", seed: int = 2020) -> dict[str, Any]:
    """The hidden schedule's config, drawn with ``numpy.random.default_rng(seed)``.

    ``space``: an ``s2e``-family config drawn the way its Tune space ``family_space`` declares
    it (what every strategy searches): every parameter uniform on its range, the four raw mix
    weights uniform on [0, 1] and normalised by the family. ``coteaching``: Co-teaching's
    schedule with tau = 0.5, T_k = 10 (of 200 reference epochs), c = 1 (``seed`` unused).
    """
    from search_spaces.schedules import get_family

    if kind not in TARGETS:
        raise ValueError(f"unknown target {kind!r}; allowed: {list(TARGETS)}")
    if kind == "coteaching":
        return get_family("coteaching").validate({"tau": 0.5, "t_k": 10.0, "c": 1.0})
    family = get_family("s2e")
    rng = np.random.default_rng(seed)
    return family.validate({p.name: p.from_unit(rng.uniform()) for p in family.params})


def target_curve(kind: str = "space", seed: int = 2020, points: int = CURVE_POINTS) -> np.ndarray:
    """R*(t), t = 0 .. points-1."""
    from search_spaces.schedules import get_family

    config = target_config(kind, seed)
    return get_family(config["family"]).values(config, points)


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


def schedule_curve(config: Mapping[str, Any], points: int, family: str = "s2e") -> np.ndarray:
    """R(t) of a trial config (its ``schedule`` entry), t = 0 .. points-1."""
    from search_spaces.schedules import get_family

    schedule = {k: v for k, v in config["schedule"].items() if k != "family"}
    return get_family(family).values(schedule, points)


# --- best-so-far curves and the evaluations-to-reach ratio (pure) ------------------------------


def best_so_far(results: pd.DataFrame, epochs: int, budget_epochs: int) -> np.ndarray:
    """Incumbent after each of the first ``budget_epochs`` epochs spent.

    ``results``: one run's reported results in arrival order, columns ``trial``, ``epoch`` and
    ``score``. A (trial, epoch) reported twice (a trial restarted by Hyperband) is counted once.
    Only full-fidelity results (``epoch == epochs``) can become the incumbent; before the first
    one the incumbent is ``WORST_SCORE``. If the run spent fewer epochs, the last value repeats.
    """
    unique = results.drop_duplicates(["trial", "epoch"], keep="first")
    full = np.where(unique["epoch"].to_numpy() == epochs, unique["score"].to_numpy(), -np.inf)
    best = np.maximum.accumulate(np.concatenate([[WORST_SCORE], full]))[1:]
    best = best[:budget_epochs]
    if len(best) < budget_epochs:
        fill = best[-1] if len(best) else WORST_SCORE
        best = np.concatenate([best, np.full(budget_epochs - len(best), fill)])
    return best


def evaluations_to_reach(evaluations: np.ndarray, curve: np.ndarray, level: float) -> float:
    """First evaluation count at which a non-decreasing ``curve`` is >= ``level``; inf if never."""
    hit = np.flatnonzero(np.asarray(curve) >= level - 1e-12)
    return float(evaluations[hit[0]]) if len(hit) else math.inf


def reach_ratios(
    evaluations: np.ndarray, medians: Mapping[str, np.ndarray], reference: str
) -> dict[str, float]:
    """For each strategy: evaluations to reach ``reference``'s final median / the reference's own.

    < 1 means the strategy gets there sooner than the reference, inf that it never does.
    """
    level = float(medians[reference][-1])
    own = evaluations_to_reach(evaluations, medians[reference], level)
    return {
        name: evaluations_to_reach(evaluations, curve, level) / own
        for name, curve in medians.items()
    }


# --- the Tune experiments ---------------------------------------------------------------------


def objective(
    config: dict[str, Any], *, target: Sequence[float], epochs: int, family: str = "s2e"
) -> None:
    """Function trainable: "trains" ``epochs`` epochs, reporting the partial score after each."""
    from ray import tune

    target_arr = np.asarray(target, dtype=float)
    curve = schedule_curve(config, len(target_arr), family)
    full = partial_score(curve, target_arr, epochs, epochs)
    for epoch in range(1, epochs + 1):
        score = partial_score(curve, target_arr, epoch, epochs)
        tune.report({METRIC: score, "epoch": epoch, "full_score": full})


def run_strategy(
    name: str, seed: int, *, target: np.ndarray, trials: int, epochs: int, samples_per_iter: int,
    concurrency: int, storage: str,
) -> pd.DataFrame:  # fmt: skip
    """One Tune experiment of strategy ``name``; its reported results in arrival order."""
    from ray import tune

    from raysearch.tune.searchers import SearchRequest, make_search, tune_config
    from raysearch.tune.spaces import SCHEDULE_KEY, family_space, simplex_groups
    from search_spaces.schedules import get_family

    family = get_family("s2e")
    request = SearchRequest(
        metric=METRIC, mode=MODE, trials=trials, epochs=epochs, seed=seed, concurrency=concurrency,
        samples_per_iter=samples_per_iter, simplex_groups=simplex_groups(family),
    )  # fmt: skip
    setup = make_search(name, request)
    rows: list[dict[str, Any]] = []

    class Recorder(tune.Callback):
        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:  # fmt: skip
            rows.append({"trial": trial.trial_id, "epoch": int(result["epoch"]),
                         "score": float(result[METRIC]), "full_score": float(result["full_score"])})  # fmt: skip

    trainable = tune.with_parameters(objective, target=target.tolist(), epochs=epochs)
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space={SCHEDULE_KEY: family_space(family)},
        tune_config=tune_config(setup, request, reuse_actors=True),
        run_config=tune.RunConfig(
            name=f"{name}-seed{seed}",
            storage_path=storage,
            stop=setup.budget,
            callbacks=[Recorder()],
            verbose=0,
        ),
    )
    tuner.fit()
    frame = pd.DataFrame(rows, columns=["trial", "epoch", "score", "full_score"])
    frame.insert(0, "strategy", name)
    frame.insert(1, "seed", seed)
    return frame


# --- aggregation, figure, summary --------------------------------------------------------------


def curves_frame(results: pd.DataFrame, epochs: int, budget_epochs: int) -> pd.DataFrame:
    """Best-so-far vs evaluations (epochs spent / E) for every (strategy, seed) of ``results``."""
    frames = []
    for (name, seed), run in results.groupby(["strategy", "seed"], sort=False):
        best = best_so_far(run, epochs, budget_epochs)
        spent = np.arange(1, budget_epochs + 1)
        frames.append(pd.DataFrame({"strategy": name, "seed": seed, "epochs_spent": spent,
                                    "evaluations": spent / epochs, "best_score": best}))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def median_curves(curves: pd.DataFrame) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:  # fmt: skip
    """Evaluation grid, per-strategy median and (25 %, 75 %) quantile curves over seeds."""
    evaluations = np.sort(curves["evaluations"].unique())
    medians, quartiles = {}, {}
    for name, group in curves.groupby("strategy", sort=False):
        table = group.pivot(index="seed", columns="evaluations", values="best_score").to_numpy()
        medians[name] = np.median(table, axis=0)
        quartiles[name] = np.percentile(table, [25, 75], axis=0)
    return evaluations, medians, quartiles


def early_stopped_share(results: pd.DataFrame, epochs: int) -> dict[str, float]:
    """Per strategy, the share of trials that stopped before epoch E (0 for plain searchers)."""
    last = results.groupby(["strategy", "seed", "trial"], sort=False)["epoch"].max()
    return (last < epochs).groupby(level="strategy", sort=False).mean().to_dict()


def plot(path: Path, evaluations: np.ndarray, medians: dict, quartiles: dict, title: str) -> None:
    import matplotlib.pyplot as plt

    s2e_names = [n for n in medians if n.startswith("s2e")]
    tune_names = [NEWTON] + [n for n in medians if not n.startswith("s2e")]
    panels = [("S2E update rules (+ random)", s2e_names + [n for n in ("random",) if n in medians]),
              ("S2E-Newton vs Tune's searchers and schedulers", tune_names)]  # fmt: skip
    colors = {name: f"C{i}" for i, name in enumerate(medians)}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, (panel_title, names) in zip(axes, panels, strict=True):
        for name in names:
            if name not in medians:
                continue
            rmse, (q25, q75) = -medians[name], -quartiles[name]
            ax.step(evaluations, rmse, where="post", color=colors[name],
                    label=f"{name} (Newton)" if name == NEWTON else name,
                    linestyle="--" if name in SCHEDULERS else "-",
                    linewidth=2.2 if name == NEWTON else 1.3)  # fmt: skip
            ax.fill_between(evaluations, q75, q25, step="post", color=colors[name], alpha=0.15)
        if NEWTON in medians:
            ax.axhline(-medians[NEWTON][-1], color=colors[NEWTON], linestyle=":", linewidth=1)
        ax.set_yscale("log")
        ax.set_xlabel("evaluations (epochs spent / E = full-trial units)")
        ax.set_title(panel_title, fontsize=10)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("RMSE(R, R*) of the incumbent (median, IQR band)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _ratio(value: float) -> str:
    return "not reached" if math.isinf(value) else f"{value:.2f}x"


def summarize(
    curves: pd.DataFrame, results: pd.DataFrame, *, epochs: int, header: str
) -> tuple[str, dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    from scipy.stats import mannwhitneyu

    evaluations, medians, quartiles = median_curves(curves)
    ratios = reach_ratios(evaluations, medians, NEWTON)
    final = curves[curves["epochs_spent"] == curves["epochs_spent"].max()]
    finals = {
        n: g.set_index("seed")["best_score"] for n, g in final.groupby("strategy", sort=False)
    }
    parts = [header]
    parts.append("final median RMSE " + ", ".join(f"{n} {-m[-1]:.4f}" for n, m in medians.items()))
    parts.append(
        f"evals to reach s2e-newton's final median, relative to newton's own ({evaluations_to_reach(evaluations, medians[NEWTON], medians[NEWTON][-1]):g}): "
        + ", ".join(f"{n} {_ratio(r)}" for n, r in ratios.items() if n != NEWTON)
    )  # fmt: skip
    if "random" in medians:
        level = medians["random"][-1]
        own = evaluations_to_reach(evaluations, medians["random"], level)
        newton = evaluations_to_reach(evaluations, medians[NEWTON], level)
        share = newton / own
        parts.append(
            f"newton never reaches random's final median (random: {own:g} evals; <= half: no)"
            if math.isinf(share)
            else f"newton reaches random's final median after {newton:g} of random's {own:g} "
            f"evals ({share:.2f}; <= half: {'yes' if share <= 0.5 else 'no'})"
        )
    tests = []
    for other in ("s2e-gd", "s2e-ng", "random"):
        if other in finals and len(finals[NEWTON]) > 1:
            p = mannwhitneyu(finals[NEWTON], finals[other], alternative="greater").pvalue
            verdict = "better" if medians[NEWTON][-1] > medians[other][-1] else "not better"
            tests.append(f"{other}: {verdict} (one-sided Mann-Whitney p={p:.2f})")
    if tests:
        parts.append("newton vs " + ", ".join(tests))
    stopped = early_stopped_share(results, epochs)
    sched = {n: v for n, v in stopped.items() if n in SCHEDULERS}
    if sched:
        parts.append("trials stopped early " + ", ".join(f"{n} {v:.0%}" for n, v in sched.items()))
    return "; ".join(parts), medians, quartiles, evaluations


QUICK = {"seeds": 2, "trials": 8, "strategies": "s2e,random,tpe,asha"}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="run seeds 0 .. S-1")
    parser.add_argument("--trials", type=int, default=40, help="N full trials per run")
    parser.add_argument("--epochs", type=int, default=3, help="E epochs per full trial")
    parser.add_argument("--samples-per-iter", type=int, default=4, help="K of S2E")
    parser.add_argument("--concurrency", type=int, default=2, help="trials at a time (= CPUs)")
    parser.add_argument("--strategies", default=None, help="comma list (default: all registered)")
    parser.add_argument("--target", choices=TARGETS, default="space")
    parser.add_argument("--target-seed", type=int, default=2020)
    parser.add_argument("--quick", action="store_true", help=f"tiny run for CI: {QUICK}")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.trials = QUICK["seeds"], QUICK["trials"]
        args.strategies = args.strategies or QUICK["strategies"]

    from raysearch.tune.searchers import check_searcher_names, searcher_names

    strategies = args.strategies.split(",") if args.strategies else searcher_names()
    check_searcher_names(strategies)
    if NEWTON not in strategies:
        raise ValueError(f"the ratios are relative to {NEWTON!r}: include it in --strategies")
    for name, value, low in (("seeds", args.seeds, 1), ("trials", args.trials, 1),
                             ("epochs", args.epochs, 1), ("concurrency", args.concurrency, 1),
                             ("samples-per-iter", args.samples_per_iter, 2)):  # fmt: skip
        if value < low:
            raise ValueError(f"--{name} must be >= {low}, got {value}")
    if args.target == "space" and 0 <= args.target_seed < args.seeds:
        raise ValueError(
            f"--target-seed {args.target_seed} is one of the run seeds 0..{args.seeds - 1}: random "
            "search with that seed would draw the target itself; pick another"
        )
    target = target_curve(args.target, args.target_seed)
    out = results_dir(args.out)
    stem = "searcher_efficiency_quick" if args.quick else "searcher_efficiency"

    # no per-trial result files (we record results with a callback), no progress tables
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import logging

    import ray

    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    root = str(Path(__file__).resolve().parent.parent)
    if not ray.is_initialized():
        ray.init(num_cpus=args.concurrency, include_dashboard=False, configure_logging=False,
                 runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([root, *filter(None, sys.path)])}})  # fmt: skip
    runs, walls = [], {n: 0.0 for n in strategies}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as storage:
        for seed in range(args.seeds):  # seeds outer: machine noise hits all strategies alike
            for name in strategies:
                t0 = time.perf_counter()
                frame = run_strategy(name, seed, target=target, trials=args.trials,
                                     epochs=args.epochs, samples_per_iter=args.samples_per_iter,
                                     concurrency=args.concurrency, storage=storage)  # fmt: skip
                walls[name] += time.perf_counter() - t0
                runs.append(frame)
                best = best_so_far(frame, args.epochs, args.trials * args.epochs)[-1]
                print(f"[seed {seed}] {name}: {frame['trial'].nunique()} trials, "
                      f"{len(frame)} results, final RMSE {-best:.4f}, {time.perf_counter() - t0:.1f} s",
                      flush=True)  # fmt: skip
    wall = time.perf_counter() - start
    results = pd.concat(runs, ignore_index=True)
    curves = curves_frame(results, args.epochs, args.trials * args.epochs)
    results.to_csv(out / f"{stem}_trials.csv", index=False, float_format="%.6g")
    curves.to_csv(out / f"{stem}.csv", index=False, float_format="%.6g")
    header = (f"searcher_efficiency: N={args.trials} x E={args.epochs}, {args.seeds} seeds, "
              f"K={args.samples_per_iter}, target={args.target}({args.target_seed}), "
              f"{wall:.0f} s on {args.concurrency} CPUs")  # fmt: skip
    line, medians, quartiles, evaluations = summarize(curves, results, epochs=args.epochs, header=header)  # fmt: skip
    plot(out / f"{stem}.png", evaluations, medians, quartiles, title=header)
    print("wall seconds per strategy (all seeds): " + ", ".join(f"{n} {w:.0f}" for n, w in walls.items()))  # fmt: skip
    print(line)


if __name__ == "__main__":
    main()
