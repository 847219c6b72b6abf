"""Per-trial cost of each searcher: a plain Python ask/tell loop vs the same searcher under Tune.

For every registered *searcher* (``s2e``, ``s2e-gd``, ``s2e-ng``, ``s2e-official``, ``random``,
``tpe``, ``optuna``, ``bohb`` where installed) on the ``s2e`` family's Tune space:

* **plain**: M x (``suggest`` + ``on_trial_complete``) in a Python loop, no Ray, each trial's
  "evaluation" a no-op (its score is one value of the config). The searcher is the one the
  registry builds (``make_search``, with its ``ConcurrencyLimiter``). ``random`` is Tune's
  ``BasicVariantGenerator``, which has no ``suggest``: its plain cost is the sampling it does
  per trial, ``generate_variants`` on the space.
* **tune**: the same strategy driving a Tune experiment of M trials of a no-op function trainable
  (one ``tune.report``), ``reuse_actors=True``, 2 trials at a time (the registry's limiter),
  ``verbose=0``; wall time of ``Tuner.fit`` (start-up included) / M, and the steady-state time
  per trial between the first trial start and the last trial end.

``hyperband`` and ``asha`` are left out: they are ``random`` plus a scheduler, and a one-report
no-op trial gives a scheduler nothing to decide.

M defaults to 2,000 for the S2E variants and ``random``, 200 for the model-based searchers
(``tpe``, ``optuna``, ``bohb``), whose per-suggest cost grows with the history (TPE refits its
densities on every suggest) -- their seconds per trial are therefore *not* comparable with the
others' at a different M; plain and Tune always use the same M. Writes
``searcher_overhead.csv`` (per searcher), ``searcher_overhead_plain.csv`` (each plain trial's
seconds) and ``searcher_overhead.png``, and prints a one-line summary with the Tune / plain
ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._common import results_dir

METRIC, MODE = "score", "max"
SEARCHERS = ("s2e", "s2e-gd", "s2e-ng", "s2e-official", "random", "tpe", "optuna", "bohb")
MODEL_BASED = ("tpe", "optuna", "bohb")
QUICK = {"trials": 100, "model_trials": 30}


def noop_score(config: dict[str, Any]) -> float:
    """The "evaluation" of a trial: one value of its config, no computation."""
    return float(config["schedule"]["f1_a1"])


def _request(trials: int, samples_per_iter: int, seed: int) -> Any:
    from raysearch.tune.searchers import SearchRequest
    from raysearch.tune.spaces import simplex_groups
    from search_spaces.schedules import get_family

    return SearchRequest(
        metric=METRIC, mode=MODE, trials=trials, epochs=1, seed=seed, concurrency=2,
        samples_per_iter=samples_per_iter, simplex_groups=simplex_groups(get_family("s2e")),
    )  # fmt: skip


def _space() -> dict[str, Any]:
    from raysearch.tune.spaces import SCHEDULE_KEY, family_space
    from search_spaces.schedules import get_family

    return {SCHEDULE_KEY: family_space(get_family("s2e"))}


def plain_loop(name: str, trials: int, *, samples_per_iter: int = 4, seed: int = 0) -> np.ndarray:
    """Seconds of suggest + on_trial_complete of each of ``trials`` no-op trials (no Ray)."""
    from ray.tune.search import Searcher
    from ray.tune.search.variant_generator import generate_variants

    from raysearch.tune.searchers import make_search

    space = _space()
    times = np.empty(trials)
    if name == "random":
        rng = np.random.default_rng(seed)
        for i in range(trials):
            start = time.perf_counter()
            _, config = next(generate_variants(space, random_state=rng))
            noop_score(config)
            times[i] = time.perf_counter() - start
        return times
    search_alg = make_search(name, _request(trials, samples_per_iter, seed)).search_alg
    if not isinstance(search_alg, Searcher):
        raise TypeError(f"{name} builds a {type(search_alg).__name__}, which has no suggest")
    search_alg.set_search_properties(METRIC, MODE, space)
    for i in range(trials):
        trial_id = f"t{i}"
        start = time.perf_counter()
        suggested = search_alg.suggest(trial_id)
        if not isinstance(suggested, dict):  # in a sequential loop a searcher must always answer
            raise RuntimeError(f"{name} suggested {suggested!r} for trial {i} in a sequential loop")
        search_alg.on_trial_complete(trial_id, {METRIC: noop_score(suggested), "epoch": 1})
        times[i] = time.perf_counter() - start
    return times


def noop_trainable(config: dict[str, Any]) -> None:
    from ray import tune

    tune.report({METRIC: noop_score(config), "epoch": 1})


def tune_run(
    name: str, trials: int, *, samples_per_iter: int, seed: int, storage: str
) -> dict[str, float]:
    """Wall time of a Tune experiment of ``trials`` no-op trials driven by strategy ``name``."""
    from ray import tune

    from raysearch.tune.searchers import make_search, tune_config

    request = _request(trials, samples_per_iter, seed)
    setup = make_search(name, request)
    marks: dict[str, list[float]] = {"start": [], "end": []}

    class Clock(tune.Callback):
        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            marks["start"].append(time.perf_counter())

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            marks["end"].append(time.perf_counter())

    tuner = tune.Tuner(
        tune.with_resources(noop_trainable, {"cpu": 1}),
        param_space=_space(),
        tune_config=tune_config(setup, request, reuse_actors=True),
        run_config=tune.RunConfig(
            name=f"{name}-overhead", storage_path=storage, callbacks=[Clock()], verbose=0
        ),
    )
    start = time.perf_counter()
    tuner.fit()
    wall = time.perf_counter() - start
    done = len(marks["end"])
    if done != trials:
        raise RuntimeError(f"{name}: Tune completed {done} of {trials} trials")
    return {"wall_s": wall, "steady_s": max(marks["end"]) - min(marks["start"])}


def plot(path: Path, frame: pd.DataFrame, plain_times: dict[str, np.ndarray], title: str) -> None:
    import matplotlib.pyplot as plt

    fig, (bars, growth) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = list(frame["searcher"])
    x = np.arange(len(names))
    for offset, column, label in ((-0.27, "plain_s_per_trial", "plain loop"),
                                  (0.0, "tune_s_per_trial", "Tune (fit wall / M)"),
                                  (0.27, "tune_steady_s_per_trial", "Tune (steady state)")):  # fmt: skip
        bars.bar(x + offset, frame[column], width=0.27, label=label)
    labels = [f"{r.searcher}\nM={r.trials}\n{r.tune_over_plain:.0f}x" for r in frame.itertuples()]
    bars.set_xticks(x, labels, fontsize=7)
    bars.set_yscale("log")
    bars.set_ylabel("seconds per trial")
    bars.set_title(
        "suggest + on_trial_complete: plain vs under Tune (ratio: Tune / plain)", fontsize=9
    )
    bars.legend(fontsize=8, loc="lower right")
    for name, times in plain_times.items():
        window = max(1, len(times) // 50)
        smooth = np.convolve(times, np.ones(window) / window, mode="valid")
        growth.plot(np.arange(len(smooth)) + window, smooth * 1e3, label=name)
    growth.set_yscale("log")
    growth.set_xlabel("trial")
    growth.set_ylabel("plain suggest + complete (ms, running mean)")
    growth.set_title("plain per-trial cost vs history length", fontsize=9)
    growth.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000, help="M for S2E variants and random")
    parser.add_argument("--model-trials", type=int, default=200, help="M for tpe/optuna/bohb")
    parser.add_argument("--samples-per-iter", type=int, default=4, help="K of S2E")
    parser.add_argument("--strategies", default=None, help="comma list (default: all searchers)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help=f"small M for CI: {QUICK}")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.model_trials = QUICK["trials"], QUICK["model_trials"]

    from raysearch.tune.searchers import check_searcher_names, searcher_names

    available = [n for n in SEARCHERS if n in searcher_names()]
    names = args.strategies.split(",") if args.strategies else available
    check_searcher_names(names)
    not_searchers = [n for n in names if n not in SEARCHERS]
    if not_searchers:
        raise ValueError(
            f"{not_searchers} are schedulers over random sampling (no suggest of their own); "
            f"measurable here: {', '.join(available)}"
        )
    for flag, value in (("trials", args.trials), ("model-trials", args.model_trials)):
        if value < 1:
            raise ValueError(f"--{flag} must be >= 1, got {value}")
    out = results_dir(args.out)
    stem = "searcher_overhead_quick" if args.quick else "searcher_overhead"

    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import logging

    import ray

    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    root = str(Path(__file__).resolve().parent.parent)
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, configure_logging=False,
                 runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([root, *filter(None, sys.path)])}})  # fmt: skip
    rows, plain_times = [], {}
    with tempfile.TemporaryDirectory() as storage:
        for name in names:
            m = args.model_trials if name in MODEL_BASED else args.trials
            times = plain_loop(name, m, samples_per_iter=args.samples_per_iter, seed=args.seed)
            plain_times[name] = times
            tuned = tune_run(name, m, samples_per_iter=args.samples_per_iter, seed=args.seed,
                             storage=storage)  # fmt: skip
            row = {
                "searcher": name,
                "trials": m,
                "plain_s_per_trial": times.sum() / m,
                "tune_s_per_trial": tuned["wall_s"] / m,
                "tune_steady_s_per_trial": tuned["steady_s"] / m,
                "tune_wall_s": tuned["wall_s"],
            }
            row["tune_over_plain"] = row["tune_s_per_trial"] / row["plain_s_per_trial"]
            row["tune_steady_over_plain"] = row["tune_steady_s_per_trial"] / row["plain_s_per_trial"]  # fmt: skip
            rows.append(row)
            print(f"{name}: M={m} plain {row['plain_s_per_trial'] * 1e3:.2f} ms/trial, Tune "
                  f"{row['tune_s_per_trial'] * 1e3:.1f} ms/trial (steady {row['tune_steady_s_per_trial'] * 1e3:.1f}), "
                  f"ratio {row['tune_over_plain']:.0f}x", flush=True)  # fmt: skip
    frame = pd.DataFrame(rows)
    frame.to_csv(out / f"{stem}.csv", index=False, float_format="%.6g")
    per_trial = pd.DataFrame(
        [(n, i, t) for n, times in plain_times.items() for i, t in enumerate(times)],
        columns=["searcher", "trial", "plain_s"],
    )
    per_trial.to_csv(out / f"{stem}_plain.csv", index=False, float_format="%.4g")
    title = (f"searcher_overhead: M={args.trials} (model-based {args.model_trials}), "
             f"K={args.samples_per_iter}, 2 CPUs, no-op trials")  # fmt: skip
    plot(out / f"{stem}.png", frame, plain_times, title)
    print(title + "; s/trial plain -> Tune (Tune/plain): " + ", ".join(
        f"{r.searcher}[M={r.trials}] {r.plain_s_per_trial:.2g} -> {r.tune_s_per_trial:.2g} "
        f"({r.tune_over_plain:.0f}x; steady {r.tune_steady_over_plain:.0f}x)"
        for r in frame.itertuples()))  # fmt: skip


if __name__ == "__main__":
    main()
