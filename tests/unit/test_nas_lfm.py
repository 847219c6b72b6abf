"""LFM for NAS (learning from mistakes, Sec. III-B/C/D) around DARTS and XNAS: the hypergradients
of L(W2', A, D_val) w.r.t. A, the encoder V and r (one-step unrolls, central differences) against
exact autograd through the same unrolls, the shared architecture of W1 and W2, composition with
every base, the encoder checkpoint, the registry and the state round trip."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from raysearch.nas.darts import Darts
from raysearch.nas.lfm import LFM, current_example_weights, default_encoder, lfm_hypergradients
from raysearch.nas.methods import build_method
from raysearch.nas.supernet import SuperNet
from raysearch.nas.unrolled import Batch, FunctionalLoss
from raysearch.nas.weight_learner import WeightLearner
from raysearch.nas.xnas import XNAS
from raysearch.reweight.lfm_weights import example_weights, label_similarity, visual_similarity
from search_spaces.darts import Genotype, parse_genotype
from tests.unit.multilevel_setup import TINY, batches, errors, sgd_virtual, smooth_supernet

torch.set_num_threads(1)


def smooth_encoder() -> nn.Module:
    """tanh + average pooling, float64 (smooth, for the same reason)."""
    torch.manual_seed(4)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.AdaptiveAvgPool2d(2), nn.Flatten()
    ).double()


@contextmanager
def arch_held_fixed(nets: Sequence[SuperNet], keep: bool) -> Iterator[None]:
    """Within: the nets read detached alphas (the first-order treatment), unless ``keep``."""
    saved = [(net.alpha_normal, net.alpha_reduce) for net in nets]
    if not keep:
        for net in nets:
            net.alpha_normal, net.alpha_reduce = (
                net.alpha_normal.detach(),
                net.alpha_reduce.detach(),
            )
    try:
        yield
    finally:
        for net, (normal, reduce) in zip(nets, saved, strict=True):
            net.alpha_normal, net.alpha_reduce = normal, reduce


def exact_hypergradients(
    net1: SuperNet, l1: WeightLearner, net2: SuperNet, l2: WeightLearner, encoder: nn.Module,
    r: Tensor, train: Batch, val: Batch, *, second_order: bool,
) -> tuple[list[Tensor], list[Tensor], Tensor]:  # fmt: skip
    """d L(W2', A, D_val) / d(A, V, r) by autograd through W1' (eq. (1)), u (eq. (4)), a (eq. (5))
    and W2' (eq. (6)), one SGD step each (create_graph). u sees A only through W1' (the official
    ``copy_arch_parameters``); W2' keeps its dependence on A for every base; W1' is held fixed
    in A unless ``second_order``."""
    f1, f2 = FunctionalLoss(net1), FunctionalLoss(net2)
    w1 = [p.detach().requires_grad_() for p in f1.params]
    w2 = [p.detach().requires_grad_() for p in f2.params]
    with arch_held_fixed([net1, net2], keep=second_order):
        w1_next = sgd_virtual(w1, torch.autograd.grad(f1(w1, train)[0], w1, create_graph=True), l1)
    with arch_held_fixed([net1, net2], keep=False):
        u = F.cross_entropy(f1(w1_next, val)[1], val[1], reduction="none")
    a = example_weights(
        visual_similarity(encoder(train[0]), encoder(val[0])), label_similarity(train[1], val[1]),
        u, r,
    )  # fmt: skip
    weighted = (a * F.cross_entropy(f2(w2, train)[1], train[1], reduction="none")).mean()
    w2_next = sgd_virtual(w2, torch.autograd.grad(weighted, w2, create_graph=True), l2)
    loss = f2(w2_next, val)[0]
    arch, enc = net1.arch_parameters(), list(encoder.parameters())
    found = torch.autograd.grad(loss, [*arch, *enc, r])
    return list(found[:2]), list(found[2:-1]), found[-1]


@pytest.mark.parametrize("second_order", [True, False])
def test_hypergradients_match_exact_autograd(second_order: bool, float64_batches: tuple) -> None:
    """A, V and r against autograd; central differences (eps = 0.01/||v||) are O(eps^2), so the
    error must also shrink at least 20x at eps/10 (measured 100x). Measured max-entry relative
    errors (float64): A 1.1e-5, V 5.7e-5, r 4.6e-5 (second order; A 4e-8 first order); asserted
    < 1e-3. ``second_order=False`` (DARTS-1st, XNAS) holds W1', W2' fixed in A but keeps every
    path through a."""
    net1, net2 = smooth_supernet(0), smooth_supernet(1)
    with torch.no_grad():
        for alpha in net1.arch_parameters():
            alpha.normal_(0, 0.5, generator=torch.Generator().manual_seed(5))
    net2.alpha_normal, net2.alpha_reduce = net1.alpha_normal, net1.alpha_reduce
    encoder = smooth_encoder()
    warm, train, val = float64_batches
    l1, l2 = WeightLearner(net1.weights(), net1), WeightLearner(net2.weights(), net2)
    l1.step(warm)  # momentum buffers enter the unrolls
    l2.step(warm)
    r = (1.0 + 0.3 * torch.randn(8, generator=torch.Generator().manual_seed(6),
                                 dtype=torch.float64)).requires_grad_()  # fmt: skip
    exact = exact_hypergradients(
        net1, l1, net2, l2, encoder, r, train, val, second_order=second_order
    )
    found = []
    for scale in (0.01, 0.001):
        approx = lfm_hypergradients(
            w1=FunctionalLoss(net1), w1_learner=l1, w2=FunctionalLoss(net2), w2_learner=l2,
            arch=net1.arch_parameters(), encoder=encoder, r=r, train_batch=train, val_batch=val,
            second_order=second_order, epsilon_scale=scale,
        )  # fmt: skip
        found.append(
            [
                errors(approx.arch, exact[0]),
                errors(approx.encoder, exact[1]),
                errors([approx.r], [exact[2]]),
            ]  # fmt: skip
        )
    for name, (fine, finer) in zip(("A", "V", "r"), zip(*found, strict=True), strict=True):
        print(f"LFM d/d{name} (second_order={second_order}): max-entry rel. error {fine[0]:.2e} "
              f"(eps/10: {finer[0]:.2e}), norm rel. error {fine[1]:.2e}")  # fmt: skip
        assert fine[0] < 1e-3 and fine[1] < 1e-3
        assert finer[0] < fine[0] / 20
    assert all(float(t.abs().max()) > 0 for t in [*exact[0], *exact[1], exact[2]])


def test_r_starts_at_ones_and_example_weights_follow_eq_5() -> None:
    """r = Linear(batch, 1) initialised to ones + 1e-3 noise (official); sigmoid(0) = 0.5."""
    method = LFM(Darts(SuperNet(**TINY), order=1))  # type: ignore[arg-type]
    r = method._make_r(8)
    assert r.shape == (8,) and 0 < float((r.detach() - 1).abs().max()) < 5e-3
    x, z, u = torch.rand(8, 8).softmax(1), torch.ones(8, 8), torch.rand(8)
    assert torch.equal(example_weights(x, z, u, torch.zeros(8)), torch.full((8,), 0.5))
    a = example_weights(x, z, u, r.detach())
    assert torch.allclose(a, torch.sigmoid((x * u[None, :]) @ r.detach()))


def test_w1_and_w2_share_the_architecture_but_not_the_weights() -> None:
    method = build_method("lfm", TINY, base="darts")
    assert isinstance(method, LFM)
    for a, b in zip(method.second.arch_parameters(), method.supernet.arch_parameters(),
                    strict=True):  # fmt: skip
        assert a is b
    assert all(
        not torch.equal(a, b)
        for a, b in zip(method.second.weights(), method.supernet.weights(), strict=True)
        if a.dim() > 1
    )  # independent initialisations, as in the official Network(w1, w2)


@pytest.mark.parametrize("base", ["darts", "darts-1st", "xnas"])
def test_step_with_every_base(base: str) -> None:
    torch.manual_seed(0)
    method = build_method("lfm", TINY, base=base, epochs=2, steps_per_epoch=2)
    assert isinstance(method, LFM)
    assert isinstance(method.base, XNAS if base == "xnas" else Darts)
    arch = [t.detach().clone() for t in method.arch_tensors()]
    encoder = [p.detach().clone() for p in method.encoder.parameters()]
    w2 = [p.detach().clone() for p in method.second.weights()]
    metrics = method.step(*batches(2))
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())
    assert 0 < metrics["mean_example_weight"] < 1 and metrics["lr"] == 1e-2  # official w lr
    assert any(not torch.equal(a, b) for a, b in zip(arch, method.arch_tensors(), strict=True))
    assert any(
        not torch.equal(a, b) for a, b in zip(encoder, method.encoder.parameters(), strict=True)
    )
    assert any(not torch.equal(a, b) for a, b in zip(w2, method.second.weights(), strict=True))
    assert all(a.grad is None for a in method.supernet.arch_parameters())
    genotype = method.genotype()
    assert isinstance(genotype, Genotype) and parse_genotype(str(genotype)) == genotype


def test_encoder_checkpoint_is_loaded(tmp_path: Path) -> None:
    torch.manual_seed(11)
    saved = default_encoder(3)
    path = tmp_path / "encoder.pt"
    torch.save(saved.state_dict(), path)
    torch.manual_seed(0)
    method = build_method("lfm", TINY, base="darts-1st", encoder_checkpoint=str(path))
    assert isinstance(method, LFM)
    for a, b in zip(saved.state_dict().values(), method.encoder.state_dict().values(),
                    strict=True):  # fmt: skip
        assert torch.equal(a, b)


def test_unequal_batch_sizes_are_rejected() -> None:
    method = LFM(Darts(SuperNet(**TINY), order=1))  # type: ignore[arg-type]
    train, val = batches(2)
    with pytest.raises(ValueError, match="equal train and val batch sizes.*8 and 4"):
        method.step(train, (val[0][:4], val[1][:4]))


def test_state_dict_round_trip_equals_an_uninterrupted_run() -> None:
    data = batches(4)

    def fresh(seed: int) -> LFM:
        torch.manual_seed(seed)
        return build_method("lfm", TINY, base="xnas", epochs=3, steps_per_epoch=2)  # type: ignore[return-value]

    whole = fresh(0)
    whole.step(data[0], data[1])
    whole.epoch_end()
    buffer = io.BytesIO()
    torch.save(whole.state_dict(), buffer)
    buffer.seek(0)
    resumed = fresh(9)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert resumed.num_steps == 1 and resumed.w2.lr == whole.w2.lr < 1e-2
    assert whole.step(data[2], data[3]) == resumed.step(data[2], data[3])
    for a, b in zip(whole.arch_tensors(), resumed.arch_tensors(), strict=True):
        assert torch.equal(a, b)
    assert whole.r is not None and resumed.r is not None and torch.equal(whole.r, resumed.r)
    for a, b in zip(whole.encoder.parameters(), resumed.encoder.parameters(), strict=True):
        assert torch.equal(a, b)


def test_registry_uses_the_official_defaults_and_rejects_bad_bases() -> None:
    seen: list[nn.Module] = []
    wrapped = build_method(
        "lfm", TINY, base="xnas", epochs=3, steps_per_epoch=2, model_forward=None,
        arch_grad_hook=lambda ts: None, wrap_module=lambda m: seen.append(m) or m,
    )  # fmt: skip
    assert isinstance(wrapped, LFM) and seen == [wrapped.supernet, wrapped.second]
    assert wrapped.w2.scheduler.T_max == 3 == wrapped.weights.scheduler.T_max
    method = build_method("lfm", TINY, base="darts", v_lr=0.5)
    assert isinstance(method, LFM) and isinstance(method.base, Darts)
    assert method.base.order == 2 and method.base.lr == 1e-2
    assert method.base.a_optimizer.param_groups[0]["lr"] == 1e-3
    assert method.v_optimizer.param_groups[0]["lr"] == 0.5
    with pytest.raises(KeyError, match="'pdarts'.*darts.*darts-1st.*xnas"):
        build_method("lfm", TINY, base="pdarts")


def test_u_reaches_a_only_through_w1_and_w2_keeps_its_hessian_with_a_first_order_base(
    float64_batches: tuple,
) -> None:
    """Before -> after on the A gradient: (1) the direct u -> A path (absent from the paper and
    cut by the official code) is gone: perturbing A inside u's forward alone leaves the
    hypergradient unchanged; (2) with a first-order base the W2' Hessian term is kept, so the
    first-order A gradient differs from the plain grad_A L(W2', A) at fixed W2'."""
    net1, net2 = smooth_supernet(0, alpha_seed=5), smooth_supernet(1)
    net2.alpha_normal, net2.alpha_reduce = net1.alpha_normal, net1.alpha_reduce
    encoder = smooth_encoder()
    warm, train, val = float64_batches
    l1, l2 = WeightLearner(net1.weights(), net1), WeightLearner(net2.weights(), net2)
    l1.step(warm)
    l2.step(warm)
    r = torch.ones(8, dtype=torch.float64, requires_grad=True)
    found = lfm_hypergradients(
        w1=FunctionalLoss(net1), w1_learner=l1, w2=FunctionalLoss(net2), w2_learner=l2,
        arch=net1.arch_parameters(), encoder=encoder, r=r, train_batch=train, val_batch=val,
        second_order=False,
    )  # fmt: skip
    f2 = FunctionalLoss(net2)
    w2 = [p.detach().requires_grad_() for p in f2.params]
    with arch_held_fixed([net2], keep=False):  # W2' fixed in A: the term the old code dropped
        weighted = (found.a * F.cross_entropy(f2(w2, train)[1], train[1], reduction="none")).mean()
        w2_next = [w.detach() for w in sgd_virtual(w2, torch.autograd.grad(weighted, w2), l2)]
    direct = torch.autograd.grad(f2(w2_next, val)[0], net1.arch_parameters())
    entry, _ = errors(found.arch, direct)
    print(f"first-order A gradient vs the one without the W2' Hessian term: {entry:.2e}")
    assert entry > 1e-3  # the W2' Hessian term is there (exact match is tested above)


def test_w2_trains_on_a_recomputed_after_the_a_v_r_and_w1_updates() -> None:
    """Official order (step_AVr, step_w1, step_w2): W2's example weights are recomputed at the
    updated A, V, r and W1 (before: the a of the A/V/r step, stale)."""

    def run(w2_weights: str) -> tuple[LFM, Tensor]:
        torch.manual_seed(0)
        method = build_method("lfm", TINY, base="darts-1st", w2_weights=w2_weights)
        assert isinstance(method, LFM)
        used: list[Tensor] = []
        step = method.w2.step

        def spy(batch: Batch, sample_weights: Tensor | None = None) -> tuple[float, float]:
            assert sample_weights is not None
            used.append(sample_weights.clone())
            return step(batch, sample_weights)

        method.w2.step = spy  # type: ignore[method-assign]
        method.step(*data)
        return method, used[0]

    data = batches(2)
    method, used = run("recomputed")
    assert method.r is not None
    after = current_example_weights(
        w1=FunctionalLoss(method.supernet), w1_learner=method.base.weights,
        encoder=method.encoder, r=method.r, train_batch=data[0], val_batch=data[1],
    )  # fmt: skip
    assert torch.allclose(used, after, atol=1e-6)
    _, stale = run("reused")
    assert not torch.allclose(used, stale, atol=1e-6)
    with pytest.raises(ValueError, match="w2_weights.*'recomputed', 'reused'.*'old'"):
        build_method("lfm", TINY, w2_weights="old")
