"""DARTS (Liu et al., ICLR 2019) method: the second-order architecture gradient (eq. (7) with the
eq. (8) finite difference) against exact autograd through the unrolled step (eq. (6)), steps,
the exact state_dict round trip, the DDP-facing hooks and the cosine schedule."""

from __future__ import annotations

import io
import math

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from raysearch.nas.darts import Darts
from raysearch.nas.supernet import SuperNet
from raysearch.nas.unrolled import Batch, FunctionalLoss, second_order_arch_gradients
from raysearch.nas.weight_learner import SGDOptions
from search_spaces.darts import PRIMITIVES

torch.set_num_threads(1)


def tiny(seed: int = 0, **kw: object) -> SuperNet:
    """Two nodes per cell (5 edges) keep the steps fast; the 4-node cell is in test_nas_supernet."""
    torch.manual_seed(seed)
    return SuperNet(in_channels=3, num_classes=4, C=4, layers=3, steps=2, multiplier=2, **kw)  # type: ignore[arg-type]


def batches(
    n: int, *, size: int = 8, seed: int = 1, dtype: torch.dtype = torch.float32
) -> list[Batch]:
    g = torch.Generator().manual_seed(seed)
    return [
        (
            torch.randn(8, 3, size, size, generator=g, dtype=dtype),
            torch.randint(0, 4, (8,), generator=g),
        )
        for _ in range(n)
    ]


def relative_error(approx: list[torch.Tensor], exact: list[torch.Tensor]) -> float:
    num = sum(((a - e) ** 2).sum() for a, e in zip(approx, exact, strict=True))
    den = sum((e**2).sum() for e in exact)
    return float(torch.sqrt(num / den))  # type: ignore[arg-type]


def smooth_supernet() -> SuperNet:
    """A float64 supernet whose loss is twice differentiable: ReLU -> Softplus and no max
    pooling. Finite differences (eq. (8)) assume smoothness; with ReLU kinks and batch-statistic
    BatchNorm on this tiny net the difference quotient is dominated by kink crossings."""
    net = tiny(primitives=tuple(p for p in PRIMITIVES if p != "max_pool_3x3")).double()
    for module in list(net.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.ReLU):
                setattr(module, name, nn.Softplus(beta=4.0))
    return net


def exact_unrolled_gradient(
    net: SuperNet,
    train: Batch,
    val: Batch,
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
    buffers: list[torch.Tensor],
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """d/d alpha of L_val(w'(alpha), alpha), w' = w - lr (mu m + grad_w L_train + wd w), by
    autograd through the virtual step (create_graph); also grad_alpha L_val at fixed w'."""
    loss = FunctionalLoss(net)
    params = [p.detach().requires_grad_() for p in net.parameters()]
    grads = torch.autograd.grad(loss(params, train)[0], params, create_graph=True)
    unrolled = [
        w - lr * (momentum * m + g + weight_decay * w)
        for w, g, m in zip(params, grads, buffers, strict=True)
    ]
    exact = torch.autograd.grad(loss(unrolled, val)[0], net.arch_parameters())
    at_fixed_w = torch.autograd.grad(
        loss([u.detach() for u in unrolled], val)[0], net.arch_parameters()
    )
    return list(exact), list(at_fixed_w)


def test_second_order_gradient_matches_exact_autograd() -> None:
    """Central differences have O(eps^2) truncation error. Measured (float64): at DARTS'
    eps = 0.01/||v|| the full gradient is 1.6e-5 relative off the exact one and the
    Hessian-vector term alone 2.6e-4; at eps/10, 1.6e-7 and 2.6e-6 (100x smaller). Asserted with
    ~50x slack: < 1e-3 and < 1e-2, and at least 20x smaller at eps/10. The second-order term
    itself moves the gradient by 6 % (relative), far above the finite-difference error."""
    net = smooth_supernet()
    with torch.no_grad():
        for alpha in net.arch_parameters():
            alpha.normal_(0, 0.5, generator=torch.Generator().manual_seed(5))
    train, val = batches(2, dtype=torch.float64)
    g = torch.Generator().manual_seed(2)
    buffers = [0.01 * torch.randn(p.shape, generator=g, dtype=p.dtype) for p in net.parameters()]
    hyper = {"lr": 0.025, "momentum": 0.9, "weight_decay": 3e-4}
    exact, at_fixed_w = exact_unrolled_gradient(net, train, val, **hyper, buffers=buffers)
    hvp_exact = [(f - e) / hyper["lr"] for f, e in zip(at_fixed_w, exact, strict=True)]

    errors, hvp_errors = [], []
    for scale in (0.01, 0.001):
        approx, _, _ = second_order_arch_gradients(
            net,
            net.arch_parameters(),
            train,
            val,
            **hyper,
            momentum_buffers=buffers,
            epsilon_scale=scale,
        )
        hvp = [(f - a) / hyper["lr"] for f, a in zip(at_fixed_w, approx, strict=True)]
        errors.append(relative_error(approx, exact))
        hvp_errors.append(relative_error(hvp, hvp_exact))
    assert errors[0] < 1e-3 and hvp_errors[0] < 1e-2
    assert errors[1] < errors[0] / 20 and hvp_errors[1] < hvp_errors[0] / 20
    assert relative_error(at_fixed_w, exact) > 100 * errors[0]  # the second-order term matters


def test_second_order_leaves_module_weights_and_statistics_untouched() -> None:
    net = tiny()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    train, val = batches(2)
    second_order_arch_gradients(
        net, net.arch_parameters(), train, val, lr=0.025, momentum=0.9, weight_decay=3e-4
    )
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())


@pytest.mark.parametrize("order", [1, 2])
def test_step_updates_alphas_and_weights(order: int) -> None:
    net = tiny()
    method = Darts(net, order=order)
    alphas = [a.detach().clone() for a in net.arch_parameters()]
    weights = [w.detach().clone() for w in net.weights()]
    metrics = method.step(*batches(2))
    assert set(metrics) == {"train_loss", "train_acc", "val_loss", "val_acc", "lr"}
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())
    assert metrics["lr"] == 0.025 and 0 <= metrics["val_acc"] <= 1
    assert all(not torch.equal(a, b) for a, b in zip(alphas, net.arch_parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(weights, net.weights(), strict=True))
    assert all(a.grad is None for a in net.arch_parameters())  # nothing leaks into the next step
    assert method.num_steps == 1


def test_first_and_second_order_differ() -> None:
    """Same supernet, same batches: eq. (7) is not grad_alpha L_val(w, alpha)."""
    first, second = Darts(tiny(), order=1), Darts(tiny(), order=2)
    train, val = batches(2)
    g1, loss1, _ = first.arch_gradients(train, val)
    g2, loss2, _ = second.arch_gradients(train, val)
    assert relative_error(g1, g2) > 0.01
    assert float(loss1) != float(loss2)  # L_val at w vs at the unrolled w'


@pytest.mark.parametrize("order", [1, 2])
def test_state_dict_round_trip_reproduces_the_next_step(order: int) -> None:
    data = batches(4)
    original = Darts(tiny(0), order=order, epochs=3)
    original.step(data[0], data[1])  # momentum buffers and Adam moments now exist
    original.epoch_end()
    buffer = io.BytesIO()
    torch.save(original.state_dict(), buffer)
    buffer.seek(0)
    restored = Darts(tiny(7), order=order, epochs=3)
    restored.load_state_dict(torch.load(buffer))
    assert restored.lr == original.lr < 0.025 and restored.num_steps == 1
    assert original.step(data[2], data[3]) == restored.step(data[2], data[3])
    for a, b in zip(
        original.supernet.arch_parameters(), restored.supernet.arch_parameters(), strict=True
    ):
        assert torch.equal(a, b)
    for (name, a), b in zip(
        original.supernet.state_dict().items(), restored.supernet.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_arch_grad_hook_sees_the_gradients_before_adam() -> None:
    net = tiny()
    seen: list[list[torch.Tensor]] = []

    def zero_them(grads: list[torch.Tensor]) -> None:
        seen.append([g.clone() for g in grads])
        for g in grads:
            g.zero_()

    method = Darts(net, a_weight_decay=0.0, arch_grad_hook=zero_them)
    alphas = [a.detach().clone() for a in net.arch_parameters()]
    method.step(*batches(2))
    assert len(seen) == 1 and [g.shape for g in seen[0]] == [(5, 8), (5, 8)]
    assert all(g.abs().sum() > 0 for g in seen[0])
    # Adam with a zero gradient (and no weight decay) does not move alpha
    assert all(torch.equal(a, b) for a, b in zip(alphas, net.arch_parameters(), strict=True))


def test_weight_step_runs_through_model_forward() -> None:
    net = tiny()
    calls = []

    def forward(x: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape[0])
        return net(x)

    Darts(net, order=2, model_forward=forward).step(*batches(2))
    assert calls == [8]  # once, the weight step; the architecture step uses the bare supernet


def test_ddp_wrapper_synchronises_weights_only(tmp_path: object) -> None:
    """A one-process gloo group: DDP registers the weights, not the alphas, and a DARTS step
    through the wrapper matches the same step without it."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0, world_size=1)
    try:
        net = tiny()
        ddp = DistributedDataParallel(net)
        ddp_ids = {id(p) for p in ddp.parameters()}
        assert not ddp_ids & {id(a) for a in net.arch_parameters()}
        assert ddp_ids == {id(w) for w in net.weights()}

        def average(grads: list[torch.Tensor]) -> None:
            for g in grads:
                dist.all_reduce(g)
                g /= dist.get_world_size()

        data = batches(2)
        wrapped = Darts(net, model_forward=ddp, arch_grad_hook=average).step(*data)
        plain = Darts(tiny()).step(*data)
        assert wrapped == pytest.approx(plain, rel=1e-5)
    finally:
        dist.destroy_process_group()


@pytest.mark.filterwarnings("ignore:Detected call of")  # schedule stepped without training
def test_cosine_schedule_over_epochs() -> None:
    method = Darts(tiny(), weight_options=SGDOptions(lr=0.025, lr_min=0.001), epochs=4)
    lrs = []
    for _ in range(4):
        lrs.append(method.lr)
        method.epoch_end()
    expected = [0.001 + 0.024 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    assert lrs == pytest.approx(expected)
    assert method.lr == pytest.approx(0.001)


def test_defaults_are_the_official_ones() -> None:
    method = Darts(tiny())
    w_group = method.weights.optimizer.param_groups[0]
    a_group = method.a_optimizer.param_groups[0]
    assert (w_group["lr"], w_group["momentum"], w_group["weight_decay"]) == (0.025, 0.9, 3e-4)
    assert (a_group["lr"], a_group["betas"], a_group["weight_decay"]) == (3e-4, (0.5, 0.999), 1e-3)
    scheduler = method.weights.scheduler
    assert scheduler.T_max == 50 and scheduler.eta_min == 0.001
    assert method.weights.grad_clip == 5.0 and method.order == 1
    with pytest.raises(ValueError, match="order"):
        Darts(tiny(), order=3)
