"""Step time of LeaSE and LFM-NAS against their base methods, side by side on one tiny supernet
(same batches, one thread): median seconds per ``step`` and the ratio to the plain base. Run
from the repository root: ``python -m benchmarks.multilevel_step_time [--out DIR]``.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time

import matplotlib.pyplot as plt
import torch

from benchmarks._common import results_dir
from raysearch.nas.methods import build_method

SUPERNET = {"in_channels": 3, "num_classes": 10, "C": 4, "layers": 3, "steps": 4, "multiplier": 4}
BASES = ("darts-1st", "darts", "xnas")


def _time(name: str, base: str, repeats: int, size: int, batch: int) -> float:
    torch.manual_seed(0)
    kw = {"epochs": 1, "steps_per_epoch": repeats + 1}
    method = (
        build_method(base, SUPERNET, **kw)
        if name == "plain"
        else build_method(name, SUPERNET, base=base, **kw)
    )
    g = torch.Generator().manual_seed(1)
    data = [
        (
            torch.randn(batch, 3, size, size, generator=g),
            torch.randint(0, 10, (batch,), generator=g),
        )
        for _ in range(2)
    ]
    method.step(*data)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        method.step(*data)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = results_dir(args.out)
    rows = []
    for base in BASES:
        plain = _time("plain", base, args.repeats, args.size, args.batch)
        rows.append((base, "plain", plain, 1.0))
        for name in ("lease", "lfm"):
            t = _time(name, base, args.repeats, args.size, args.batch)
            rows.append((base, name, t, t / plain))
    with open(out / "multilevel_step_time.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["base", "method", "step_seconds", "ratio_to_base"])
        for base, name, t, ratio in rows:
            w.writerow([base, name, f"{t:.4f}", f"{ratio:.2f}"])
    fig, ax = plt.subplots(figsize=(5, 3))
    width = 0.25
    for k, name in enumerate(("plain", "lease", "lfm")):
        ts = [t for b in BASES for base, n, t, _ in rows if base == b and n == name]
        ax.bar([i + (k - 1) * width for i in range(len(BASES))], ts, width, label=name)
    ax.set_xticks(range(len(BASES)), BASES)
    ax.set_ylabel("median step time [s]")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "multilevel_step_time.png", dpi=120)
    print(
        "multilevel step time: "
        + ", ".join(f"{n}/{b}: {t:.3f}s (x{r:.2f})" for b, n, t, r in rows if n != "plain")
    )


if __name__ == "__main__":
    main()
