"""XNAS method: provider weights are the experts' weights, wiped ops are never run, exact state
round trip, wipeout cuts op forward calls."""

from __future__ import annotations

import copy

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
