"""S2E Appendix B.1: how well the ``s2e`` family approximates Co-teaching schedules.

Draws Co-teaching schedules as the paper does (tau ~ U(0, 1), c in {0.5, 1, 2}, T_k ~ U(0, 200)),
fits the ``s2e`` family to each by least squares, and writes the RMSEs (CSV) and the target
vs fitted curves (PNG), with a one-line summary.
"""

from __future__ import annotations

import argparse

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from benchmarks._common import results_dir
from search_spaces.fitting import fit_family
from search_spaces.schedules import get_family


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--targets", type=int, default=6, help="random Co-teaching schedules to fit"
    )
    parser.add_argument(
        "--epochs", type=int, default=50, help="time points (shape is horizon-independent)"
    )
    parser.add_argument("--restarts", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    coteaching, s2e = get_family("coteaching"), get_family("s2e")
    rows, curves = [], []
    for i in range(args.targets):
        target_config = {
            "tau": float(rng.uniform(0, 1)),
            "c": float(rng.choice([0.5, 1.0, 2.0])),
            "t_k": float(rng.uniform(0, 200)),
        }
        target = coteaching.values(target_config, args.epochs)
        fitted, rmse = fit_family(s2e, target, restarts=args.restarts, seed=args.seed + i)
        rows.append(
            {
                **target_config,
                "rmse": rmse,
                "max_abs_error": float(np.abs(s2e.values(fitted, args.epochs) - target).max()),
            }
        )
        curves.append((target_config, target, s2e.values(fitted, args.epochs)))
    frame = pd.DataFrame(rows)
    out = results_dir(args.out)
    frame.to_csv(out / "appendix_b1_fit.csv", index=False)
    cols = min(3, args.targets)
    fig, axes = plt.subplots(
        -(-args.targets // cols),
        cols,
        figsize=(4 * cols, 3 * -(-args.targets // cols)),
        squeeze=False,
    )
    for ax, (config, target, fit), row in zip(axes.flat, curves, rows, strict=False):
        t = np.arange(args.epochs) * 200 / args.epochs
        ax.plot(t, target, label="Co-teaching")
        ax.plot(t, fit, "--", label="best s2e fit")
        ax.set_title(
            f"τ={config['tau']:.2f} c={config['c']:g} T_k={config['t_k']:.0f}  rmse={row['rmse']:.3f}",
            fontsize=9,
        )
        ax.set_ylim(-0.02, 1.02)
    axes.flat[0].legend()
    fig.tight_layout()
    fig.savefig(out / "appendix_b1_fit.png", dpi=120)
    by_c = frame.groupby("c").rmse.agg(["mean", "max"])
    print(
        "Appendix B.1 RMSE by c: "
        + "; ".join(
            f"c={c:g}: mean {r['mean']:.4f}, max {r['max']:.4f}" for c, r in by_c.iterrows()
        )
        + f" (n={len(frame)})"
    )


if __name__ == "__main__":
    main()
