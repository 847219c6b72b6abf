"""The memorisation effect: Co-teaching vs standard training (R = 1) under label noise.

Trains both on ``fashion-mnist-mini`` (default symmetric 50 % noise) for several seeds and
writes the clean test accuracy and label precision per epoch (CSV + PNG) with a summary line.
"""

from __future__ import annotations

import argparse

import matplotlib.pyplot as plt
import pandas as pd
import torch

from benchmarks._common import results_dir
from raysearch.noisy import NoiseSpec
from raysearch.noisy.settings import TrialSettings, build_run
from search_spaces.schedules import default_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", default="symmetric:0.5")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rate = NoiseSpec.parse(args.noise).rate
    methods = {
        "standard (R=1)": default_config("constant"),
        "co-teaching": default_config("coteaching", noise_rate=rate),
    }
    rows = []
    for seed in range(args.seeds):
        settings = TrialSettings(noise=args.noise, epochs=args.epochs, seed=seed)
        for method, schedule in methods.items():
            run = build_run(settings, schedule)
            while not run.finished:
                rows.append({"method": method, "seed": seed, **run.train_epoch().as_dict()})
    frame = pd.DataFrame(rows)
    out = results_dir(args.out)
    tag = args.noise.replace(":", "")
    frame.to_csv(out / f"memorization_{tag}.csv", index=False)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for method, group in frame.groupby("method"):
        stats = group.groupby("epoch")[["test_acc", "label_precision"]].agg(["mean", "std"])
        for ax, column in zip(axes, ("test_acc", "label_precision"), strict=True):
            mean, std = stats[(column, "mean")], stats[(column, "std")].fillna(0)
            ax.plot(mean.index, mean, label=method)
            ax.fill_between(mean.index, mean - std, mean + std, alpha=0.2)
    axes[0].set_ylabel("clean test accuracy")
    axes[1].set_ylabel("label precision of selected samples")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend()
    fig.suptitle(f"fashion-mnist-mini, {args.noise} noise, {args.seeds} seeds")
    fig.tight_layout()
    fig.savefig(out / f"memorization_{tag}.png", dpi=120)
    final = frame[frame.epoch == args.epochs].groupby("method")
    summary = "; ".join(
        f"{m}: final test_acc {g.test_acc.mean():.4f}±{g.test_acc.std(ddof=0):.4f}, best {frame[frame.method == m].groupby('seed').test_acc.max().mean():.4f}, "
        f"label precision {g.label_precision.mean():.3f}"
        for m, g in final
    )
    print(f"{args.noise}, {args.epochs} epochs, {args.seeds} seeds -> {summary}")


if __name__ == "__main__":
    main()
