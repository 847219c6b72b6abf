"""XNAS §8.3 statistical experiment and §8.1 late-bloomer toy: XNAS vs softmax gradient descent.

§8.3 setup (one forecaster per Monte-Carlo run, all runs in one batched tensor): N experts with
biases b_i ~ N(0, 1) drawn once per run, i.i.d. rewards R_{t,i} ~ N(b_i, sigma_R^2); the paper
uses 1000 runs of 1000 steps. A selection is correct when the argmax of the forecaster's weights
is argmax_i b_i; the regret is XNAS eq. (2) with the linear losses -R (eq. (18)). Methods, all fed
the same rewards clipped to [-L, L] with L = 3 (1 + sigma_R) (XNAS' gradient clipping):

- ``xnas``: Algorithm 1 (EG + wipeout) at the shared learning rate ``--lr``;
- ``xnas_nowipe``: the same without the wipeout;
- ``gd_softmax``: GD with softmax on alpha = ln v, the update of XNAS eqs. (5)-(6), at ``--lr``;
- ``xnas_eta_star``: Algorithm 1 at the theoretical eta* of eq. (4) (no tuning).

The paper gives no learning rate for §8.3; ``--lr`` defaults to 0.1, the one §8.2 uses for both
optimisers, and a learning-rate sweep is reported beside it. Sweeps over N and sigma_R follow
Figure 8. The §8.1 toy optimises l1 = 2z for 30 steps, then l2 = -y - 2z for 90 steps.

Run from the repository root: ``python -m benchmarks.xnas_experts [--quick]``.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib
import torch
from torch import Tensor

from raysearch.nas.xnas_experts import XNASExperts, optimal_learning_rate, regret_bound

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import ScalarFormatter  # noqa: E402

METHODS = ("xnas", "xnas_nowipe", "gd_softmax", "xnas_eta_star")
STYLE = {"xnas": "-", "xnas_nowipe": "--", "gd_softmax": "-", "xnas_eta_star": ":"}
DTYPE = torch.float64


class SoftmaxGD:
    """GD with softmax on alpha = ln v (XNAS eq. (5)): alpha -= lr * dloss/dalpha, with
    dloss/dalpha_i = u_i (g_i - sum_j u_j g_j) for g = dloss/du (eqs. (36)-(37)), i.e. the
    attenuated reward of eq. (6); v_0 = 1 as in Algorithm 1."""

    def __init__(self, num_edges: int, num_experts: int, *, lr: float, grad_bound: float) -> None:
        self.lr = lr
        self.grad_bound = grad_bound
        self.alpha = torch.zeros(num_edges, num_experts, dtype=DTYPE)

    def weights(self) -> Tensor:
        return torch.softmax(self.alpha, dim=1)

    def update(self, grads: Tensor) -> None:
        g = grads.clamp(-self.grad_bound, self.grad_bound)
        u = self.weights()
        self.alpha -= self.lr * u * (g - (u * g).sum(dim=1, keepdim=True))


@dataclass(frozen=True)
class Setup:
    experts: int
    sigma: float
    steps: int
    runs: int
    lr: float
    seed: int

    @property
    def grad_bound(self) -> float:
        """L = 3 (1 + sigma_R): |b| <= 3 and |noise| <= 3 sigma_R bound |R| w.p. ~0.995 each."""
        return 3.0 * (1.0 + self.sigma)


def make_forecaster(method: str, s: Setup) -> XNASExperts | SoftmaxGD:
    if method == "gd_softmax":
        return SoftmaxGD(s.runs, s.experts, lr=s.lr, grad_bound=s.grad_bound)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    return XNASExperts(
        s.runs,
        s.experts,
        horizon=s.steps,
        grad_bound=s.grad_bound,
        eta=None if method == "xnas_eta_star" else s.lr,  # None: eta* of eq. (4)
        wipeout=method != "xnas_nowipe",
    )


def simulate(s: Setup, methods: Sequence[str] = METHODS) -> dict[str, dict[str, Tensor]]:
    """Per method, per step t = 1..T: fraction of runs selecting the truly best expert and the
    mean regret (eq. (2)), plus the mean number of alive experts."""
    gen = torch.Generator().manual_seed(s.seed)
    bias = torch.randn(s.runs, s.experts, generator=gen, dtype=DTYPE)
    best = bias.argmax(dim=1)
    forecasters = {m: make_forecaster(m, s) for m in methods}
    gain = {m: torch.zeros(s.runs, dtype=DTYPE) for m in methods}
    total = torch.zeros(s.runs, s.experts, dtype=DTYPE)
    out = {
        m: {k: torch.empty(s.steps, dtype=DTYPE) for k in ("correct", "regret", "alive")}
        for m in methods
    }
    for t in range(s.steps):
        reward = bias + s.sigma * torch.randn(s.runs, s.experts, generator=gen, dtype=DTYPE)
        total += reward
        for m, f in forecasters.items():
            gain[m] += (f.weights() * reward).sum(dim=1)  # -loss of p_t, made before R_t
            f.update(-reward)  # dloss/du = -R (eq. (18))
            w = f.weights()
            out[m]["correct"][t] = (w.argmax(dim=1) == best).to(DTYPE).mean()
            out[m]["regret"][t] = (total.amax(dim=1) - gain[m]).mean()
            out[m]["alive"][t] = (w > 0).sum(dim=1).to(DTYPE).mean()
    return out


def late_bloomer_toy(lr: float = 0.1) -> dict[str, Tensor]:
    """XNAS §8.1: experts = the axes of R^3, p = u @ I; l1 = 2z for 30 steps, l2 = -y - 2z for
    90 more. Gradients come from autograd, as a supernet would give them. Returns per method the
    [121, 3] weight trajectory and the [120] update term of the z expert (Figure 3, right)."""
    losses: list[Callable[[Tensor], Tensor]] = [lambda p: 2 * p[2]] * 30 + [
        lambda p: -p[1] - 2 * p[2]
    ] * 90
    steps = len(losses)
    out: dict[str, Tensor] = {}
    for wipeout in (True, False):
        x = XNASExperts(1, 3, horizon=steps, grad_bound=2.0, eta=lr, wipeout=wipeout)
        traj, upd = [x.weights()[0]], []
        for loss in losses:
            u = x.weights()[0].clone().requires_grad_(True)
            loss(u).backward()
            assert u.grad is not None
            x.update(u.grad[None])
            traj.append(x.weights()[0])
            upd.append(-u.grad[2])  # XNAS reward of z, eq. (47)
        name = "xnas" if wipeout else "xnas_nowipe"
        out[name], out[name + "_zupdate"] = torch.stack(traj), torch.stack(upd)
    alpha = torch.zeros(3, dtype=DTYPE, requires_grad=True)
    traj, upd = [torch.softmax(alpha.detach(), 0)], []
    for loss in losses:
        alpha.grad = None
        loss(torch.softmax(alpha, 0)).backward()
        assert alpha.grad is not None
        upd.append(-alpha.grad[2].clone())  # eq. (44)
        with torch.no_grad():
            alpha -= lr * alpha.grad
        traj.append(torch.softmax(alpha.detach(), 0))
    out["gd_softmax"], out["gd_softmax_zupdate"] = torch.stack(traj), torch.stack(upd)
    return out


def write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def plot_statistical(path: Path, curves: dict, sweeps: list[dict[str, object]], s: Setup) -> None:
    fig, axes = plt.subplots(2, 4, figsize=(20, 8.5))
    steps = torch.arange(1, s.steps + 1)
    for m in METHODS:
        axes[0, 0].plot(steps, curves[m]["correct"], STYLE[m], label=m)
        axes[1, 0].plot(steps, curves[m]["regret"], STYLE[m], label=m)
    axes[0, 0].set_title(f"N={s.experts}, sigma_R={s.sigma}, lr={s.lr}")
    axes[1, 0].set_xlabel("step t")
    labels = {"experts": "N", "sigma": "sigma_R", "lr": "learning rate"}
    for col, sweep in enumerate(labels, start=1):
        for m in METHODS:
            if sweep == "lr" and m == "xnas_eta_star":
                continue  # its eta* does not follow --lr: drawn as a vertical line instead
            rows = [r for r in sweeps if r["sweep"] == sweep and r["method"] == m]
            xs = [r[sweep] for r in rows]
            axes[0, col].plot(xs, [r["correct_rate"] for r in rows], "o" + STYLE[m], label=m)
            axes[1, col].plot(xs, [r["regret"] for r in rows], "o" + STYLE[m], label=m)
        axes[1, col].set_xlabel(labels[sweep])
        for row in (0, 1):
            axes[row, col].set_xscale("log", base=2 if sweep == "experts" else 10)
    for row in (0, 1):
        axes[row, 1].xaxis.set_major_formatter(ScalarFormatter())
        eta_star = optimal_learning_rate(s.steps, s.experts, s.grad_bound)
        axes[row, 3].axvline(eta_star, color="grey", ls=":", label="eta* (eq. 4)")
    axes[1, 3].legend()
    axes[0, 1].set_title(f"final (t=T), sigma_R={s.sigma}")
    axes[0, 2].set_title(f"final (t=T), N={s.experts}")
    axes[0, 3].set_title(f"final (t=T), N={s.experts}, sigma_R={s.sigma}")
    axes[1, 3].set_yscale("log")
    for ax in axes[0]:
        ax.set_ylabel("correct selection rate")
    for ax in axes[1]:
        ax.set_ylabel("mean regret (eq. 2)")
    axes[0, 0].legend()
    fig.suptitle(f"XNAS §8.3: {s.runs} Monte-Carlo runs x {s.steps} steps")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_toy(path: Path, toy: dict[str, Tensor]) -> None:
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.5))
    for ax, m in zip(axes[:3], ("xnas", "xnas_nowipe", "gd_softmax"), strict=True):
        for i, axis in enumerate("xyz"):
            ax.plot(toy[m][:, i], label=axis)
        ax.axvline(30, color="grey", ls=":")
        ax.set(title=f"{m}: weights u", xlabel="step", ylim=(-0.02, 1.02))
        ax.legend()
    for m in ("xnas", "gd_softmax"):
        axes[3].plot(torch.arange(1, len(toy[m + "_zupdate"]) + 1), toy[m + "_zupdate"], label=m)
    axes[3].set(title="update term (reward) of z", xlabel="step")
    axes[3].legend()
    fig.suptitle("XNAS §8.1 late bloomer: l=2z for 30 steps, then l=-y-2z for 90 (lr 0.1)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=None, help="Monte-Carlo runs (paper: 1000)")
    ap.add_argument("--steps", type=int, default=None, help="steps T per run (paper: 1000)")
    ap.add_argument("--experts", type=int, default=8, help="N at the main setting")
    ap.add_argument("--sigma", type=float, default=4.0, help="sigma_R at the main setting")
    ap.add_argument("--lr", type=float, default=0.1, help="shared learning rate (§8.2: 0.1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--quick", action="store_true", help="few runs and a short grid (CI)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    runs = args.runs if args.runs is not None else (50 if args.quick else 1000)
    steps = args.steps if args.steps is not None else (200 if args.quick else 1000)
    if runs < 1 or steps < 1:
        ap.error(f"--runs and --steps must be >= 1, got {runs} and {steps}")
    grid_n = (2, 8, 32) if args.quick else (2, 4, 8, 16, 32, 64)
    grid_sigma = (1.0, 4.0, 16.0) if args.quick else (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
    grid_lr = (0.01, 0.1, 1.0) if args.quick else (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
    prefix = "xnas_experts_quick" if args.quick else "xnas_experts"
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    main_setup = Setup(args.experts, args.sigma, steps, runs, args.lr, args.seed)
    curves = simulate(main_setup)
    rows: list[dict[str, object]] = [
        {"method": m, "step": t + 1, **{k: float(v[t]) for k, v in curves[m].items()}}
        for m in METHODS
        for t in range(steps)
    ]
    write_csv(args.out / f"{prefix}_steps.csv", rows)

    variants = [("experts", replace(main_setup, experts=n)) for n in grid_n]
    variants += [("sigma", replace(main_setup, sigma=sig)) for sig in grid_sigma]
    variants += [("lr", replace(main_setup, lr=lr)) for lr in grid_lr]
    sweeps: list[dict[str, object]] = []
    for sweep, s in variants:
        res = simulate(s)
        eta_star = optimal_learning_rate(s.steps, s.experts, s.grad_bound)
        bound = regret_bound(s.steps, s.experts, s.grad_bound)
        for m in METHODS:
            sweeps.append({
                "sweep": sweep, "experts": s.experts, "sigma": s.sigma, "lr": s.lr,
                "method": m, "eta": eta_star if m == "xnas_eta_star" else s.lr,
                "grad_bound": s.grad_bound, "correct_rate": float(res[m]["correct"][-1]),
                "regret": float(res[m]["regret"][-1]), "alive": float(res[m]["alive"][-1]),
                "regret_bound_eq4": bound,
            })  # fmt: skip
    write_csv(args.out / f"{prefix}_sweep.csv", sweeps)
    plot_statistical(args.out / f"{prefix}.png", curves, sweeps, main_setup)

    toy = late_bloomer_toy()
    toy_rows: list[dict[str, object]] = [
        {"method": m, "step": t, "x": float(w[0]), "y": float(w[1]), "z": float(w[2]),
         "z_update": float(toy[m + "_zupdate"][t - 1]) if t else math.nan}
        for m in ("xnas", "xnas_nowipe", "gd_softmax")
        for t, w in enumerate(toy[m])
    ]  # fmt: skip
    write_csv(args.out / f"{prefix}_toy.csv", toy_rows)
    plot_toy(args.out / f"{prefix}_toy.png", toy)

    final = " ".join(
        f"{m}={float(curves[m]['correct'][-1]):.3f}/{float(curves[m]['regret'][-1]):.1f}"
        for m in METHODS
    )
    z_final = " ".join(f"{m}={float(toy[m][-1, 2]):.3f}" for m in ("xnas", "gd_softmax"))
    print(
        f"xnas_experts: runs={runs} steps={steps} N={args.experts} sigma_R={args.sigma} "
        f"lr={args.lr} | final correct-rate/regret: {final} | toy final u_z: {z_final} "
        f"| {time.perf_counter() - start:.0f}s"
    )


if __name__ == "__main__":
    main()
