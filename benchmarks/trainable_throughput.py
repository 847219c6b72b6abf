"""Co-teaching throughput inside the Tune trainable vs plain PyTorch, and Tune's per-trial overhead.

1. samples/s of a Co-teaching epoch run by ``CoteachingTrainable`` under Tune vs the same
   ``CoteachingRun.train_epoch`` called in a plain loop (one torch thread each); ratio, aim >= 0.9.
2. per-trial start-up overhead of a 20-trial Tune run with and without actor reuse.

Ray starts its workers niced (``RAY_worker_niceness``, 15 by default); on a busy machine that
alone slows the trainable against a plain loop at normal priority, so both run at niceness 0
here. Writes ``trainable_throughput.csv`` / ``.png`` and prints a one-line summary.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import matplotlib.pyplot as plt
import pandas as pd
import ray
import torch
from ray import tune

from benchmarks._common import results_dir
from raysearch.noisy.settings import TrialSettings, build_run
from raysearch.tune.trainable import CoteachingTrainable
from search_spaces.schedules import default_config

SCHEDULE = default_config("coteaching", noise_rate=0.5)


def plain_samples_per_s(settings: TrialSettings) -> float:
    torch.set_num_threads(1)
    run = build_run(settings, SCHEDULE)
    samples = len(run.data.train) // settings.batch_size * settings.batch_size
    times = []
    while not run.finished:
        start = time.perf_counter()
        run.train_epoch()
        times.append(time.perf_counter() - start)
    return samples / statistics.median(times[1:] or times)


def tune_samples_per_s(settings: TrialSettings, storage: str) -> float:
    tuner = tune.Tuner(
        tune.with_resources(CoteachingTrainable, {"cpu": 1}),
        param_space={**settings.to_config(), "schedule": SCHEDULE},
        tune_config=tune.TuneConfig(num_samples=1),
        run_config=tune.RunConfig(name="throughput", storage_path=storage, verbose=0),
    )
    frame = tuner.fit()[0].metrics_dataframe
    samples = 10_800 // settings.batch_size * settings.batch_size
    return samples / statistics.median(frame["time_this_iter_s"].iloc[1:])


def per_trial_overhead(trials: int, reuse: bool, storage: str) -> float:
    """Seconds of wall time per trial beyond the trials' own compute."""
    settings = TrialSettings(epochs=1, max_batches_per_epoch=1)
    tuner = tune.Tuner(
        tune.with_resources(CoteachingTrainable, {"cpu": 1}),
        param_space={**settings.to_config(), "schedule": SCHEDULE, "seed": tune.randint(0, 10_000)},
        tune_config=tune.TuneConfig(
            num_samples=trials, reuse_actors=reuse, max_concurrent_trials=2
        ),
        run_config=tune.RunConfig(name=f"overhead-reuse-{reuse}", storage_path=storage, verbose=0),
    )
    start = time.perf_counter()
    grid = tuner.fit()
    wall = time.perf_counter() - start
    compute = sum(r.metrics["time_total_s"] for r in grid) / 2  # two trials run side by side
    return (wall - compute) / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = results_dir(args.out)
    storage = str(out / "ray_storage")
    os.environ.setdefault("RAY_worker_niceness", "0")  # same priority as the plain loop
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    settings = TrialSettings(epochs=args.epochs)
    plain = plain_samples_per_s(settings)
    under_tune = tune_samples_per_s(settings, storage)
    reuse = per_trial_overhead(args.trials, True, storage)
    fresh = per_trial_overhead(args.trials, False, storage)
    ray.shutdown()
    rows = [
        {"measure": "plain_samples_per_s", "value": plain},
        {"measure": "tune_samples_per_s", "value": under_tune},
        {"measure": "throughput_ratio", "value": under_tune / plain},
        {"measure": "overhead_s_per_trial_reuse", "value": reuse},
        {"measure": "overhead_s_per_trial_no_reuse", "value": fresh},
        {"measure": "overhead_ratio_no_reuse_over_reuse", "value": fresh / reuse},
    ]
    pd.DataFrame(rows).to_csv(out / "trainable_throughput.csv", index=False)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    axes[0].bar(["plain PyTorch", "Tune trainable"], [plain, under_tune])
    axes[0].set_ylabel("samples / s (Co-teaching epoch)")
    axes[1].bar(["reuse_actors=True", "reuse_actors=False"], [reuse, fresh])
    axes[1].set_ylabel(f"overhead s / trial ({args.trials} trials)")
    fig.tight_layout()
    fig.savefig(out / "trainable_throughput.png", dpi=120)
    print(
        f"throughput ratio tune/plain = {under_tune / plain:.3f} ({under_tune:.0f} vs {plain:.0f} samples/s); "
        f"per-trial overhead {reuse:.2f} s with reuse vs {fresh:.2f} s without ({fresh / reuse:.1f}x)"
    )


if __name__ == "__main__":
    main()
