"""XNAS wipeout speed: step time of the XNAS method with every op alive vs most ops wiped
(one op alive per edge, then half the ops), side by side on the same tiny supernet; reports the
ratio. Run from the repository root: ``python -m benchmarks.xnas_wipeout_speed [--out DIR]``.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time

import matplotlib.pyplot as plt
import torch

from benchmarks._common import results_dir
from raysearch.nas.supernet import SuperNet
from raysearch.nas.xnas import XNAS


def _time(alive_per_edge: int, repeats: int, size: int) -> float:
    torch.manual_seed(0)
    net = SuperNet(in_channels=3, num_classes=10, C=8, layers=5, steps=4, multiplier=4)
    method = XNAS(net, epochs=1, steps_per_epoch=repeats + 2, wipeout=False)
    for ex in method.experts.values():
        state = ex.state_dict()
        alive = torch.zeros_like(state["alive"])  # type: ignore[arg-type]
        alive[:, -alive_per_edge:] = True  # keep the last ops (convs), drop 'none'/pools first
        state["alive"] = alive
        ex.load_state_dict(state)
    method._refresh(requires_grad=False)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 3, size, size, generator=g)
    y = torch.randint(0, 10, (16,), generator=g)
    method.step((x, y), (x, y))  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        method.step((x, y), (x, y))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = results_dir(args.out)
    rows = [(k, _time(k, args.repeats, args.size)) for k in (8, 4, 2, 1)]
    base = rows[0][1]
    with open(out / "xnas_wipeout_speed.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["alive_ops_per_edge", "step_seconds", "speedup_vs_all_alive"])
        for k, t in rows:
            w.writerow([k, f"{t:.4f}", f"{base / t:.3f}"])
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar([str(k) for k, _ in rows], [t for _, t in rows])
    ax.set_xlabel("alive ops per edge (of 8)")
    ax.set_ylabel("median XNAS step time [s]")
    fig.tight_layout()
    fig.savefig(out / "xnas_wipeout_speed.png", dpi=120)
    print(
        "xnas wipeout speed: "
        + ", ".join(f"{k} alive: {t:.3f}s (x{base / t:.2f})" for k, t in rows)
    )


if __name__ == "__main__":
    main()
