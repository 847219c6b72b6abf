"""XNAS method: provider weights are the experts' weights, wiped ops are never run, exact state
round trip, wipeout cuts op forward calls."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from raysearch.nas.supernet import SuperNet
from raysearch.nas.unrolled import Batch
from raysearch.nas.xnas import XNAS

torch.set_num_threads(1)


def tiny(seed: int = 0) -> SuperNet:
    torch.manual_seed(seed)
    return SuperNet(in_channels=3, num_classes=4, C=4, layers=3, steps=2, multiplier=2)


def batches(n: int, seed: int = 1) -> list[Batch]:
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(4, 3, 8, 8, generator=g), torch.randint(0, 4, (4,), generator=g))
        for _ in range(n)
    ]


def count_calls(net: SuperNet) -> list[int]:
    counter = [0]

    def hook(*_: object) -> None:
        counter[0] += 1

    for cell in net.cells:
        for edge in cell.edges:
            for op in edge.ops:
                op.register_forward_hook(hook)
    return counter


def test_provider_weights_equal_experts_weights() -> None:
    net = tiny()
    method = XNAS(net, epochs=2, steps_per_epoch=2)
    b = batches(2)
    metrics = method.step(b[0], b[1])
    assert metrics["alive_ops_normal"] == net.alpha_normal.numel()
    assert metrics["alive_ops"] == 2 * net.alpha_normal.numel()
    for red in (False, True):
        w = net.edge_weights(0, red)  # type: ignore[misc]
        torch.testing.assert_close(w.weights.double(), method.experts[red].weights())
        assert torch.equal(w.alive, method.experts[red].alive_mask())
    assert not torch.allclose(method.experts[False].weights(), torch.full((5, 8), 1 / 8).double())


def test_wiped_op_is_never_called_and_calls_drop() -> None:
    net = tiny()
    method = XNAS(net, epochs=1, steps_per_epoch=4)
    calls = count_calls(net)
    b = batches(2)
    method.step(b[0], b[1])
    full = calls[0]
    # wipe every op but the first on each edge by hand through the experts' state
    for ex in method.experts.values():
        state = ex.state_dict()
        alive = torch.zeros_like(state["alive"])  # type: ignore[arg-type]
        alive[:, 1] = True
        state["alive"] = alive
        ex.load_state_dict(state)
    method._refresh(requires_grad=False)
    wiped_op = net.cells[0].edges[0].ops[0]
    hit = [0]
    wiped_op.register_forward_hook(lambda *_: hit.__setitem__(0, hit[0] + 1))
    calls[0] = 0
    method.step(b[0], b[1])
    assert hit[0] == 0
    assert calls[0] * 8 == full  # one op of 8 per edge runs


def test_state_round_trip_gives_identical_next_step() -> None:
    b = batches(4)
    net = tiny()
    method = XNAS(net, epochs=2, steps_per_epoch=4, eta=5.0)
    method.step(b[0], b[1])
    method.epoch_end()
    state = copy.deepcopy(method.state_dict())
    m1 = method.step(b[2], b[3])
    w1 = method.experts[False].weights()
    net2 = tiny(seed=7)
    other = XNAS(net2, epochs=2, steps_per_epoch=4, eta=5.0)
    other.load_state_dict(state)
    m2 = other.step(b[2], b[3])
    assert m1 == m2
    assert torch.equal(w1, other.experts[False].weights())
    assert other.genotype() == method.genotype()


def test_arch_grad_hook_sees_gradients() -> None:
    seen: list[int] = []
    net = tiny()
    method = XNAS(net, epochs=1, steps_per_epoch=2, arch_grad_hook=lambda g: seen.append(len(g)))
    b = batches(2)
    method.step(b[0], b[1])
    assert seen == [2]


def test_paper_horizon_gives_the_papers_cifar10_rates() -> None:
    """XNAS Sec. 3.1/3.2.2: 8 cells (6 normal, 2 reduction), d = 25k validation samples per
    epoch, 50 epochs, L = 1, N = 8 -> eta_N* = 7.5e-4 and eta_R* = 1.3e-3 (the paper's two
    digits; eq. (4) gives 7.447e-4 and 1.290e-3). Before: one eta = sqrt(2 ln 8 / (E steps))."""
    torch.manual_seed(0)
    net = SuperNet(in_channels=3, num_classes=10, C=1, layers=8)
    method = XNAS(net, epochs=50, steps_per_epoch=250, samples_per_step=100)
    assert method.replicas == {False: 6, True: 2}
    normal, reduce = method.experts[False], method.experts[True]
    assert (normal.horizon, reduce.horizon) == (7_500_000, 2_500_000)
    assert normal.eta == pytest.approx(math.sqrt(2 * math.log(8) / 7.5e6), rel=1e-12)
    assert normal.eta == pytest.approx(7.5e-4, rel=0.01)
    assert reduce.eta == pytest.approx(1.3e-3, rel=0.01)
    legacy = XNAS(net, epochs=50, steps_per_epoch=250, samples_per_step=100, horizon="steps")
    assert (
        legacy.experts[False].eta
        == legacy.experts[True].eta
        == pytest.approx(math.sqrt(2 * math.log(8) / 12_500))
    )


def test_gradient_is_clipped_per_round_not_on_the_sum_over_cells() -> None:
    """tiny() has 1 normal and 2 reduction cells; 4 samples per step -> 4 and 8 rounds, each
    with the per-round mean gradient g / r_c clipped to [-L, L] (L = 1)."""
    net = tiny()
    method = XNAS(net, epochs=1, steps_per_epoch=2, samples_per_step=4, wipeout=False)
    g = torch.full((5, 8), 0.5, dtype=torch.float64)
    g[:, 0] = 3.0
    method.apply_arch_gradients([g.clone(), g.clone()])
    normal, reduce = (method.experts[r].cumulative_rewards() for r in (False, True))
    assert torch.allclose(normal[:, 0], torch.full((5,), -4.0, dtype=torch.float64))  # 4 x -1
    assert torch.allclose(normal[:, 1], torch.full((5,), -2.0, dtype=torch.float64))  # 4 x -0.5
    assert torch.allclose(reduce[:, 0], torch.full((5,), -8.0, dtype=torch.float64))  # 8 x -1
    assert torch.allclose(reduce[:, 1], torch.full((5,), -2.0, dtype=torch.float64))  # 8 x -.25
    legacy = XNAS(tiny(), epochs=1, steps_per_epoch=2, horizon="steps", wipeout=False)
    legacy.apply_arch_gradients([g.clone(), g.clone()])
    assert float(legacy.experts[True].cumulative_rewards()[0, 0]) == -1.0  # clip(3) on the sum


@pytest.mark.parametrize(
    ("order", "expected"), [("weights-first", ["w", "a"]), ("arch-first", ["a", "w"])]
)
def test_algorithm1_updates_weights_before_experts(order: str, expected: list[str]) -> None:
    method = XNAS(tiny(), epochs=1, steps_per_epoch=2, order=order)
    calls: list[str] = []
    weight_step, arch_step = method.weight_step, method.arch_step
    method.weight_step = lambda b: calls.append("w") or weight_step(b)  # type: ignore[method-assign]
    method.arch_step = lambda b: calls.append("a") or arch_step(b)  # type: ignore[method-assign]
    b = batches(2)
    method.step(b[0], b[1])
    assert calls == expected
    assert XNAS(tiny(), epochs=1).order == "weights-first"
