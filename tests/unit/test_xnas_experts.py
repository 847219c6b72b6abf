"""XNAS expert-advice core: eq. (4) eta*, the EG step (Alg. 1 line 9), the wipeout (lines 11-12),
Lemma 1, the simplex invariants, the state_dict round trip and input validation."""

from __future__ import annotations

import io
import math
import random

import pytest
import torch

from raysearch.nas.xnas_experts import (
    XNASExperts,
    effective_horizon,
    log_wipeout_threshold,
    optimal_learning_rate,
    regret_bound,
)

torch.set_num_threads(1)


def test_eta_star_matches_eq4_and_the_papers_cifar_rates() -> None:
    for horizon, n, bound in ((1000, 8, 1.0), (37, 2, 0.25), (5, 7, 3.0)):
        expected = math.sqrt(2 * math.log(n) / (horizon * bound * bound))
        assert optimal_learning_rate(horizon, n, bound) == pytest.approx(expected, rel=1e-15)
        assert XNASExperts(3, n, horizon=horizon, grad_bound=bound).eta == pytest.approx(expected)
        assert regret_bound(horizon, n, bound) == pytest.approx(
            bound * math.sqrt(2 * horizon * math.log(n))
        )
    # §3.2.2: 50/50 split of CIFAR-10's 50k (d = 25k), 50 epochs, L = 1, 8 experts,
    # 6 normal and 2 reduction cells -> eta_N* = 7.5e-4, eta_R* = 1.3e-3 (two digits).
    t_normal = effective_horizon(25_000, 50, 6)
    t_reduce = effective_horizon(25_000, 50, 2)
    assert (t_normal, t_reduce) == (7_500_000, 2_500_000)
    assert optimal_learning_rate(t_normal, 8, 1.0) == pytest.approx(7.5e-4, rel=0.01)
    assert optimal_learning_rate(t_reduce, 8, 1.0) == pytest.approx(1.3e-3, rel=0.01)
    # one instance per cell type: a different N gives a different eta*
    assert XNASExperts(14, 5, horizon=100).eta < XNASExperts(14, 8, horizon=100).eta


def test_eg_step_against_hand_computation() -> None:
    eta, bound = 0.5, 1.0
    x = XNASExperts(1, 3, horizon=100, grad_bound=bound, eta=eta)
    x.update(torch.tensor([[0.2, -0.4, 1.5]], dtype=torch.float64))  # 1.5 is clipped to L = 1
    v = [math.exp(eta * -0.2), math.exp(eta * 0.4), math.exp(eta * -1.0)]
    assert x.weights()[0].tolist() == pytest.approx([vi / sum(v) for vi in v], rel=1e-14)
    x.update(torch.tensor([[-3.0, 0.1, 0.0]], dtype=torch.float64))  # -3 is clipped to -L
    v = [v[0] * math.exp(eta * 1.0), v[1] * math.exp(eta * -0.1), v[2] * math.exp(0.0)]
    assert x.weights()[0].tolist() == pytest.approx([vi / sum(v) for vi in v], rel=1e-14)
    assert x.cumulative_rewards()[0].tolist() == pytest.approx([0.8, 0.3, -1.0], rel=1e-15)
    assert x.step == 2 and x.alive_mask().all()


def test_rounds_aggregate_identical_eg_steps() -> None:
    g = torch.tensor([[0.3, -0.2, 0.05, 0.9], [0.0, 0.1, -0.7, 0.4]])
    once, twice = (XNASExperts(2, 4, horizon=1000, eta=0.2) for _ in range(2))
    once.update(g, rounds=3)
    for _ in range(3):
        twice.update(g)
    assert once.step == twice.step == 3
    assert torch.allclose(once.weights(), twice.weights(), rtol=1e-14, atol=0)


def _algorithm1_reference(
    grads: list[list[float]], *, eta: float, bound: float, horizon: int, zeta: float
) -> list[tuple[list[float], list[bool]]]:
    """Algorithm 1 for one forecaster in plain Python floats: v, theta and I_t per step."""
    n = len(grads[0])
    v, alive, out = [1.0] * n, [True] * n, []
    for t, g in enumerate(grads, start=1):
        for i in range(n):
            if alive[i]:
                v[i] *= math.exp(eta * -max(-bound, min(bound, g[i])))  # lines 8-9
        theta = max(v[i] for i in range(n) if alive[i]) * math.exp(
            -2 * eta * bound * (horizon - t) * zeta
        )  # line 11
        alive = [alive[i] and v[i] >= theta for i in range(n)]  # line 12
        total = sum(v[i] for i in range(n) if alive[i])
        out.append(([v[i] / total if alive[i] else 0.0 for i in range(n)], alive))
    return out


@pytest.mark.parametrize("zeta", [1.0, 0.4])
def test_wipeout_matches_algorithm1_formula(zeta: float) -> None:
    rng = random.Random(7)
    wiped_any = False
    for _ in range(20):
        n, horizon, bound = rng.randint(2, 6), rng.randint(1, 25), rng.uniform(0.2, 2.0)
        eta = rng.uniform(0.05, 1.5)
        grads = [[rng.uniform(-1.3 * bound, 1.3 * bound) for _ in range(n)] for _ in range(horizon)]
        ref = _algorithm1_reference(grads, eta=eta, bound=bound, horizon=horizon, zeta=zeta)
        x = XNASExperts(1, n, horizon=horizon, grad_bound=bound, eta=eta, zeta=zeta)
        for g, (u_ref, alive_ref) in zip(grads, ref, strict=True):
            newly = x.update(torch.tensor([g], dtype=torch.float64))
            assert x.alive_mask()[0].tolist() == alive_ref
            assert x.weights()[0].tolist() == pytest.approx(u_ref, rel=1e-12, abs=0)
            wiped_any |= bool(newly.any())
    assert wiped_any


def test_log_wipeout_threshold_is_log_of_line11() -> None:
    v_max, eta, bound, step, horizon, zeta = 3.7, 0.03, 2.5, 40, 100, 0.6
    got = log_wipeout_threshold(
        torch.tensor(math.log(v_max), dtype=torch.float64),
        eta=eta, grad_bound=bound, step=step, horizon=horizon, zeta=zeta,
    )  # fmt: skip
    theta = v_max * math.exp(-2 * eta * bound * (horizon - step) * zeta)
    assert math.exp(float(got)) == pytest.approx(theta, rel=1e-14)
    with pytest.raises(ValueError, match="step must be in"):
        log_wipeout_threshold(torch.tensor(0.0), eta=1, grad_bound=1, step=101, horizon=100)


def test_lemma1_best_expert_in_hindsight_is_never_wiped() -> None:
    """Lemma 1 on 12 x 1000 random L-bounded reward sequences, run as edges. The +-L families
    make exact ties in hindsight, i.e. v_{t,j} = theta_t exactly on paper: float rounding must
    not wipe j there either (L = 0.1 and 1/3 are not exact in binary)."""
    gen = torch.Generator().manual_seed(0)
    edges, wiped = 1000, 0
    for n, horizon, bound in ((2, 1, 0.5), (3, 12, 0.1), (5, 40, 1 / 3), (8, 60, 0.7)):
        for family in ("uniform", "extreme", "late_bloomer"):
            if family == "uniform":
                r = torch.rand(horizon, edges, n, generator=gen, dtype=torch.float64) * 2 - 1
            else:
                r = torch.randint(0, 2, (horizon, edges, n), generator=gen).double() * 2 - 1
            if family == "late_bloomer":  # expert 0: -L for the first third, +L afterwards
                r[:, :, 0] = torch.where(torch.arange(horizon) < horizon // 3, -1.0, 1.0)[:, None]
            r = r * bound
            total = torch.zeros(edges, n, dtype=torch.float64)
            for t in range(horizon):
                total = total + r[t]
            # best in hindsight, ties included (+-0.1 sums in another order differ by an ulp)
            best = total >= total.amax(dim=1, keepdim=True) - 1e-12
            eta = float(torch.empty(()).uniform_(0.01, 3.0, generator=gen))
            x = XNASExperts(edges, n, horizon=horizon, grad_bound=bound, eta=eta)
            for t in range(horizon):
                x.update(-r[t])
                assert bool(x.alive_mask()[best].all()), (n, horizon, family, t)
            # at t = T the threshold is max v: exactly the best experts in hindsight survive
            assert torch.equal(x.alive_mask(), best)
            wiped += int((~x.alive_mask()).sum())
    assert wiped > 0


def test_weights_on_simplex_and_wiped_experts_stay_exactly_zero() -> None:
    gen = torch.Generator().manual_seed(1)
    x = XNASExperts(50, 6, horizon=30, grad_bound=1.0, eta=0.5)
    for _ in range(25):
        x.update(torch.randn(50, 6, generator=gen))
    alive, w = x.alive_mask(), x.weights()
    assert (~alive).any() and alive.any(dim=1).all()
    assert torch.allclose(w.sum(dim=1), torch.ones(50, dtype=torch.float64), atol=1e-12, rtol=0)
    assert (w[~alive] == 0.0).all() and (w[alive] > 0).all()
    frozen = x.cumulative_rewards()[~alive]
    favour_dead = torch.where(alive, 1.0, -1.0)  # the wiped now get reward +L, the rest -L
    for _ in range(5):
        x.update(favour_dead)
        assert not (x.alive_mask() & ~alive).any()
        assert (x.weights()[~alive] == 0.0).all()
    assert torch.equal(x.cumulative_rewards()[~alive], frozen)


def test_without_wipeout_all_stay_alive_and_weights_are_softmax() -> None:
    gen = torch.Generator().manual_seed(2)
    x = XNASExperts(4, 5, horizon=10, grad_bound=1.0, eta=2.0, wipeout=False)
    for _ in range(10):
        assert not x.update(torch.randn(4, 5, generator=gen)).any()
    assert x.alive_mask().all()
    assert torch.allclose(x.weights(), torch.softmax(2.0 * x.cumulative_rewards(), dim=1))


def test_state_dict_exact_round_trip() -> None:
    gen = torch.Generator().manual_seed(3)
    grads = [torch.randn(7, 4, generator=gen) for _ in range(12)]
    a = XNASExperts(7, 4, horizon=12, grad_bound=0.8, eta=0.7, zeta=0.9)
    for g in grads[:6]:
        a.update(g)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = XNASExperts(7, 4, horizon=12, grad_bound=0.8, eta=0.7, zeta=0.9)
    b.load_state_dict(torch.load(buf, weights_only=True))
    assert b.step == a.step == 6
    assert torch.equal(b.weights(), a.weights()) and torch.equal(b.alive_mask(), a.alive_mask())
    for g in grads[6:]:
        assert torch.equal(a.update(g), b.update(g))
        assert torch.equal(a.weights(), b.weights())
    with pytest.raises(ValueError, match="does not match"):
        XNASExperts(7, 4, horizon=12, grad_bound=0.8, eta=0.5).load_state_dict(a.state_dict())
    with pytest.raises(KeyError, match="alive"):
        b.load_state_dict({"reward": a.state_dict()["reward"]})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_experts": 1}, "num_experts N must be an int >= 2, got 1"),
        ({"horizon": 0}, "horizon T must be an int > 0, got 0"),
        ({"horizon": -5}, "got -5"),
        ({"grad_bound": 0.0}, "grad_bound L must be finite and > 0, got 0.0"),
        ({"eta": -0.1}, "eta must be finite and > 0, got -0.1"),
        ({"zeta": 1.5}, r"zeta must be in \(0, 1\], got 1.5"),
        ({"num_edges": 0}, "num_edges must be >= 1, got 0"),
    ],
)
def test_invalid_config_raises_naming_the_value(kwargs: dict, match: str) -> None:
    args = {"num_edges": 2, "num_experts": 3, "horizon": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        XNASExperts(args.pop("num_edges"), args.pop("num_experts"), **args)


def test_invalid_update_raises_naming_the_value() -> None:
    x = XNASExperts(2, 3, horizon=4, eta=1.0)
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*got \(3, 2\)"):
        x.update(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="rounds must be an int >= 1, got 0"):
        x.update(torch.zeros(2, 3), rounds=0)
    with pytest.raises(ValueError, match="non-finite"):
        x.update(torch.tensor([[0.0, float("nan"), 0.0], [0.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="passes horizon T=4"):
        x.update(torch.zeros(2, 3), rounds=5)
    assert x.step == 0  # rejected updates leave the state untouched
    x.update(torch.tensor([[-1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]), rounds=3)
    assert x.alive_mask()[0].tolist() == [True, False, False]
    x.update(torch.tensor([[0.0, float("nan"), float("inf")], [0.0, 0.0, 0.0]]))  # wiped: ignored
    assert x.weights()[0].tolist() == [1.0, 0.0, 0.0]
