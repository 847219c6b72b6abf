"""LeaSE (Hosseini & Xie, arXiv 2012.12899) around DARTS and XNAS: the eq. (9) hypergradients
(the explainer term, DARTS eqs. (10)-(11), and the audience term, eqs. (12)-(17) by the finite
differences of eq. (11)) against exact autograd through the same one-step unrolls (eqs. (6)-(8)),
the explanation of eq. (7), composition with every base, the registry and the state round trip."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import pytest
import torch
from torch import Tensor, nn

from raysearch.nas.darts import Darts
from raysearch.nas.lease import (
    LeaSE,
    audience_arch_gradient,
    audience_batch,
    explanation_objective,
)
from raysearch.nas.methods import build_method
from raysearch.nas.supernet import SuperNet
from raysearch.nas.unrolled import Batch, FunctionalLoss
from raysearch.nas.weight_learner import WeightLearner
from raysearch.nas.xnas import XNAS
from search_spaces.darts import PRIMITIVES, Genotype, parse_genotype

torch.set_num_threads(1)

TINY = {"in_channels": 3, "num_classes": 4, "C": 4, "layers": 2, "steps": 2, "multiplier": 2}


def batches(n: int, *, seed: int = 1, dtype: torch.dtype = torch.float32) -> list[Batch]:
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(8, 3, 8, 8, generator=g, dtype=dtype), torch.randint(0, 4, (8,), generator=g))
        for _ in range(n)
    ]


def smooth_supernet() -> SuperNet:
    """Float64, ReLU -> Softplus, no max pooling: central differences assume a twice
    differentiable loss; ReLU kinks and max-pool switches on a tiny net dominate the quotient.
    Three layers so that both cell types exist (with two, both cells reduce)."""
    torch.manual_seed(0)
    prims = tuple(p for p in PRIMITIVES if p != "max_pool_3x3")
    net = SuperNet(**{**TINY, "layers": 3}, primitives=prims).double()  # type: ignore[arg-type]
    for module in list(net.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.ReLU):
                setattr(module, name, nn.Softplus(beta=4.0))
    with torch.no_grad():
        for alpha in net.arch_parameters():
            alpha.normal_(0, 0.5, generator=torch.Generator().manual_seed(5))
    return net


def small_audience() -> nn.Module:
    """A tanh + average-pool conv net: smooth (for the same reason) and cheap."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        nn.Linear(16, 4),
    )  # fmt: skip


def smooth_audience() -> nn.Module:
    torch.manual_seed(3)
    return small_audience().double()


def errors(approx: Sequence[Tensor], exact: Sequence[Tensor]) -> tuple[float, float]:
    """(max over entries |approx - exact| / max |exact|, max over tensors of the norm ratio)."""
    diff = max(float((a - e).abs().max()) for a, e in zip(approx, exact, strict=True))
    scale = max(float(e.abs().max()) for e in exact)
    norm = max(
        float(torch.linalg.vector_norm(a - e) / torch.linalg.vector_norm(e))
        for a, e in zip(approx, exact, strict=True)
    )
    return diff / scale, norm


def sgd_virtual(values: list[Tensor], grads: Sequence[Tensor], learner: WeightLearner) -> list:
    """w - lr (mu m + g + wd w), written out independently of raysearch.nas.unrolled."""
    buffers = learner.momentum_buffers()
    return [
        w - learner.lr * (learner.momentum * m + g + learner.weight_decay * w)
        for w, g, m in zip(values, grads, buffers, strict=True)
    ]


def exact_audience_gradient(
    net: SuperNet,
    e_learner: WeightLearner,
    audience: nn.Module,
    w_learner: WeightLearner,
    train: Batch,
    val: Batch,
    delta0: Tensor,
    *,
    explain_lr: float,
    second_order: bool,
    mode: str,
) -> list[Tensor]:
    """d L(W'(Delta'(E'(A), A)), D_val) / dA by autograd through eqs. (6), (7), (8)."""
    explainer, aud = FunctionalLoss(net), FunctionalLoss(audience)
    e = [p.detach().requires_grad_() for p in explainer.params]
    g_e = torch.autograd.grad(explainer(e, train)[0], e, create_graph=True)
    e_next = sgd_virtual(e, g_e, e_learner)
    if not second_order:
        e_next = [x.detach() for x in e_next]
    d = delta0.clone().requires_grad_()
    objective = explanation_objective(explainer, e_next, train[0], d)
    d_next = d + explain_lr * torch.autograd.grad(objective, d, create_graph=True)[0]
    w = [p.detach().requires_grad_() for p in aud.params]
    g_w = torch.autograd.grad(aud(w, audience_batch(train, d_next, mode))[0], w, create_graph=True)
    loss = aud(sgd_virtual(w, g_w, w_learner), val)[0]
    return list(torch.autograd.grad(loss, net.arch_parameters()))


def learners_with_momentum(
    net: SuperNet, audience: nn.Module, batch: Batch
) -> tuple[WeightLearner, WeightLearner]:
    """Both SGD learners after one real step, so that the unrolls include momentum buffers."""
    e_learner, w_learner = (
        WeightLearner(net.weights(), net),
        WeightLearner(list(audience.parameters()), audience),
    )
    e_learner.step(batch)
    w_learner.step(batch)
    for alpha in net.arch_parameters():
        alpha.grad = None
    return e_learner, w_learner


@pytest.mark.parametrize(
    ("second_order", "mode"), [(True, "perturbed"), (False, "perturbed"), (True, "reweighted")]
)
def test_audience_hypergradient_matches_exact_autograd(second_order: bool, mode: str) -> None:
    """Eqs. (12)-(17) by eq. (11) central differences (eps = 0.01/||v||, three chained
    differences) against autograd through the unrolls. Measured max-entry relative errors
    (float64): 2.3e-4 (second order), 1.1e-5 (first order), 2.7e-4 (eq. (3) reweighting);
    asserted < 2e-3. O(eps^2) truncation: the error must also shrink at least 20x at eps/10
    (measured 100x), so it is truncation, not a wrong or missing term."""
    net, audience = smooth_supernet(), smooth_audience()
    warm, train, val = batches(3, dtype=torch.float64)
    e_learner, w_learner = learners_with_momentum(net, audience, warm)
    delta0 = 0.03 * (2 * torch.rand(train[0].shape, generator=torch.Generator().manual_seed(4),
                                    dtype=torch.float64) - 1)  # fmt: skip
    exact = exact_audience_gradient(
        net, e_learner, audience, w_learner, train, val, delta0,
        explain_lr=1.0, second_order=second_order, mode=mode,
    )  # fmt: skip
    found = []
    for scale in (0.01, 0.001):
        approx = audience_arch_gradient(
            explainer=FunctionalLoss(net), explainer_learner=e_learner,
            arch=net.arch_parameters(), audience=FunctionalLoss(audience),
            audience_learner=w_learner, train_batch=train, val_batch=val, delta0=delta0,
            explain_lr=1.0, audience_input=mode, second_order=second_order, epsilon_scale=scale,
        )  # fmt: skip
        found.append(errors(approx.arch, exact))
    print(f"LeaSE audience term (second_order={second_order}, {mode}): max-entry rel. error "
          f"{found[0][0]:.2e} (eps/10: {found[1][0]:.2e}), norm rel. error {found[0][1]:.2e}")  # fmt: skip
    assert all(float(e.abs().max()) > 0 for e in exact)
    assert found[0][0] < 2e-3 and found[0][1] < 2e-3
    assert found[1][0] < found[0][0] / 20


def test_explainer_hypergradient_matches_exact_autograd() -> None:
    """The explainer term of eq. (9) is the base's DARTS eq. (10)-(11) gradient (measured
    max-entry relative error 6.4e-6, asserted < 1e-3)."""
    net, audience = smooth_supernet(), smooth_audience()
    warm, train, val = batches(3, dtype=torch.float64)
    method = LeaSE(Darts(net, order=2), audience=audience)
    method.base.weights.step(warm)
    approx, _, _ = method.arch.gradients(train, val)
    explainer = FunctionalLoss(net)
    e = [p.detach().requires_grad_() for p in explainer.params]
    g_e = torch.autograd.grad(explainer(e, train)[0], e, create_graph=True)
    loss = explainer(sgd_virtual(e, g_e, method.base.weights), val)[0]
    exact = torch.autograd.grad(loss, net.arch_parameters())
    entry, norm = errors(approx, exact)
    print(f"LeaSE explainer term: max-entry rel. error {entry:.2e}, norm rel. error {norm:.2e}")
    assert entry < 1e-3 and norm < 1e-3


def test_explanation_ascends_the_objective_of_eq_2() -> None:
    net = smooth_supernet()
    (x, _), = batches(1, dtype=torch.float64)  # fmt: skip
    explainer = FunctionalLoss(net)
    values = [p.detach() for p in explainer.params]
    delta = (0.03 * torch.randn(x.shape, dtype=torch.float64)).requires_grad_()
    before = explanation_objective(explainer, values, x, delta)
    step = torch.autograd.grad(before, delta)[0]
    after = explanation_objective(explainer, values, x, delta.detach() + 0.5 * step)
    assert float(after.detach()) > float(before.detach()) > 0
    at_zero = torch.zeros_like(x).requires_grad_()  # why Delta_0 is random: zero gradient at 0
    grad0 = torch.autograd.grad(explanation_objective(explainer, values, x, at_zero), at_zero)[0]
    assert float(grad0.abs().max()) < 1e-12


def test_audience_batch_modes() -> None:
    x, y = torch.ones(2, 1, 2, 2), torch.tensor([0, 1])
    delta = torch.full_like(x, 0.5)
    inputs, labels = audience_batch((x, y), delta, "perturbed")
    assert inputs.shape[0] == 4 and torch.equal(labels, torch.tensor([0, 1, 0, 1]))
    assert torch.equal(inputs[2:], x + delta)
    inputs, labels = audience_batch((x, y), delta, "reweighted")
    assert torch.equal(inputs, x * delta) and torch.equal(labels, y)
    with pytest.raises(ValueError, match="perturbed.*'blend'"):
        audience_batch((x, y), delta, "blend")


@pytest.mark.parametrize("base", ["darts", "darts-1st", "xnas"])
def test_step_with_every_base(base: str) -> None:
    torch.manual_seed(0)
    method = build_method("lease", TINY, base=base, epochs=2, steps_per_epoch=2)
    assert isinstance(method, LeaSE)
    assert isinstance(method.base, XNAS if base == "xnas" else Darts)
    arch = [t.detach().clone() for t in method.arch_tensors()]
    audience = [p.detach().clone() for p in method.audience.parameters()]
    metrics = method.step(*batches(2))
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())
    assert {"audience_val_loss", "audience_train_loss", "val_loss", "train_loss"} <= set(metrics)
    assert any(not torch.equal(a, b) for a, b in zip(arch, method.arch_tensors(), strict=True))
    assert any(
        not torch.equal(a, b) for a, b in zip(audience, method.audience.parameters(), strict=True)
    )
    genotype = method.genotype()
    assert isinstance(genotype, Genotype) and parse_genotype(str(genotype)) == genotype


def test_gamma_zero_is_the_base_method() -> None:
    """With gamma = 0 eq. (9) reduces to the base's update: same alphas and weights as DARTS."""
    data = batches(2)
    torch.manual_seed(0)
    plain = Darts(SuperNet(**TINY), order=2)  # type: ignore[arg-type]
    torch.manual_seed(0)
    net = SuperNet(**TINY)  # type: ignore[arg-type]
    wrapped = LeaSE(Darts(net, order=2), gamma=0.0, audience=small_audience)
    plain.step(*data)
    wrapped.step(*data)
    for a, b in zip(plain.arch_tensors(), wrapped.arch_tensors(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(plain.supernet.weights(), wrapped.supernet.weights(), strict=True):
        assert torch.equal(a, b)


def test_audience_term_moves_the_architecture() -> None:
    data = batches(2)
    moved = []
    for gamma in (0.0, 1.0):
        torch.manual_seed(0)
        net = SuperNet(**TINY)  # type: ignore[arg-type]
        method = LeaSE(Darts(net, order=1), gamma=gamma, audience=small_audience)
        method.step(*data)
        moved.append([t.detach().clone() for t in method.arch_tensors()])
    assert any(not torch.equal(a, b) for a, b in zip(*moved, strict=True))


def test_state_dict_round_trip_equals_an_uninterrupted_run() -> None:
    data = batches(4)

    def fresh(seed: int) -> LeaSE:
        torch.manual_seed(seed)
        net = SuperNet(**TINY)  # type: ignore[arg-type]
        return LeaSE(Darts(net, order=1, epochs=3), epochs=3, audience=small_audience)

    whole = fresh(0)
    whole.step(data[0], data[1])
    whole.epoch_end()
    buffer = io.BytesIO()
    torch.save(whole.state_dict(), buffer)
    buffer.seek(0)
    resumed = fresh(9)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert resumed.num_steps == 1 and resumed.audience_learner.lr == whole.audience_learner.lr
    assert whole.step(data[2], data[3]) == resumed.step(data[2], data[3])
    for a, b in zip(whole.arch_tensors(), resumed.arch_tensors(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(whole.audience.state_dict().values(), resumed.audience.state_dict().values(),
                    strict=True):  # fmt: skip
        assert torch.equal(a, b)


def test_registry_passes_keywords_and_rejects_bad_bases() -> None:
    seen: list[nn.Module] = []
    wrapped = build_method(
        "lease", TINY, base="xnas", epochs=3, steps_per_epoch=2, model_forward=None,
        arch_grad_hook=lambda ts: None, wrap_module=lambda m: seen.append(m) or m,
    )  # fmt: skip
    assert isinstance(wrapped, LeaSE) and seen == [wrapped.supernet, wrapped.audience]
    assert wrapped.audience_learner.scheduler.T_max == 3 == wrapped.weights.scheduler.T_max
    method = build_method("lease", TINY, base="darts-1st", gamma=0.5, audience_lr=0.1, a_lr=1e-3)
    assert isinstance(method, LeaSE) and method.gamma == 0.5
    assert method.audience_learner.lr == 0.1
    assert isinstance(method.base, Darts) and method.base.order == 1
    assert method.base.a_optimizer.param_groups[0]["lr"] == 1e-3
    with pytest.raises(KeyError, match="'asm'.*darts.*darts-1st.*xnas"):
        build_method("lease", TINY, base="asm")
    with pytest.raises(ValueError, match="audience_input"):
        build_method("lease", TINY, audience_input="blend")
