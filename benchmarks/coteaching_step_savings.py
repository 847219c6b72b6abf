"""Per-step savings of the inner Co-teaching loop, side by side in one run (1 torch thread).

Variants of ``CoteachingRun.train_epoch`` on the default job's task (MLP, same data, same
schedule), timed in interleaved rounds so machine load hits them alike:

- ``adam-default``: eager nets, torch's single-tensor CPU Adam (the loop before fused Adam was
  adopted; the baseline);
- ``compile``: both networks wrapped in ``torch.compile`` (inductor); its one-off compile
  time is reported apart and charged against a trial of ``--trial-epochs`` epochs;
- ``adam-foreach`` / ``adam-fused``: the optimisers rebuilt with ``foreach=True`` /
  ``fused=True`` (multi-tensor and fused CPU kernels; ``fused`` is what ``CoteachingRun`` uses);
- ``compile+fused``: both.

Writes ``coteaching_step_savings.csv`` / ``.png``; prints per variant the median epoch time,
its ratio to the baseline (< 1 is faster) and the break-even in epochs of its one-off cost.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import matplotlib.pyplot as plt
import pandas as pd
import torch

from benchmarks._common import results_dir
from raysearch.noisy.coteaching import CoteachingRun
from raysearch.noisy.settings import TrialSettings, build_run
from search_spaces.schedules import default_config


def _adam(kind: str) -> Callable[[CoteachingRun], None]:
    """Rebuild the optimisers as torch's single-tensor CPU default, ``foreach`` or ``fused``."""
    flags = {"default": {"foreach": False, "fused": False}, "foreach": {"foreach": True}}

    def apply(run: CoteachingRun) -> None:
        run.optimizers = [
            torch.optim.Adam(net.parameters(), lr=run.config.lr, **flags.get(kind, {kind: True}))
            for net in run.nets
        ]

    return apply


def _compile(run: CoteachingRun) -> None:
    run.nets = [torch.compile(net) for net in run.nets]  # type: ignore[misc]


BASELINE = "adam-default"
VARIANTS: dict[str, list[Callable[[CoteachingRun], None]]] = {
    BASELINE: [_adam("default")],
    "compile": [_adam("default"), _compile],
    "adam-foreach": [_adam("foreach")],
    "adam-fused": [_adam("fused")],
    "compile+fused": [_adam("fused"), _compile],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=6, help="timed epochs per variant")
    parser.add_argument("--trial-epochs", type=int, default=20)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = TrialSettings(train_size=args.train_size, epochs=args.rounds + 2)
    schedule = default_config("coteaching", noise_rate=0.5)
    runs, warmup = {}, {}
    for name, patches in VARIANTS.items():
        run = build_run(settings, schedule)
        for patch in patches:
            patch(run)
        start = time.perf_counter()
        run.train_epoch()  # first epoch: compilation, allocator warm-up
        warmup[name] = time.perf_counter() - start
        runs[name] = run
    rows = []
    for round_ in range(args.rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run.train_epoch()
            rows.append({"variant": name, "round": round_, "seconds": time.perf_counter() - start})
    frame = pd.DataFrame(rows)
    median = frame.groupby("variant").seconds.median()
    base = median[BASELINE]
    summary = pd.DataFrame(
        {
            "median_epoch_s": median,
            "ratio_to_baseline": median / base,
            "first_epoch_s": pd.Series(warmup),
        }
    ).loc[list(VARIANTS)]
    one_off = summary.first_epoch_s - summary.median_epoch_s
    saved = base - summary.median_epoch_s
    summary["one_off_s"] = one_off
    summary["trial_ratio"] = (
        args.trial_epochs * summary.median_epoch_s + one_off.clip(lower=0)
    ) / (args.trial_epochs * base + max(0.0, one_off[BASELINE]))
    summary["break_even_epochs"] = (one_off / saved).where(saved > 0)
    out = results_dir(args.out)
    frame.to_csv(out / "coteaching_step_savings_rounds.csv", index=False)
    summary.to_csv(out / "coteaching_step_savings.csv", index_label="variant")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(summary.index, summary.ratio_to_baseline)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_ylabel(f"epoch time / {BASELINE} (1 thread)")
    ax.set_title(f"Co-teaching epoch, MLP, {args.train_size} rows, {args.rounds} rounds")
    fig.tight_layout()
    fig.savefig(out / "coteaching_step_savings.png", dpi=120)
    print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"load {os.getloadavg()[0]:.2f}; {BASELINE} epoch {median[BASELINE]:.3f} s")


if __name__ == "__main__":
    main()
