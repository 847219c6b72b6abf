"""LeaSE (Hosseini & Xie, arXiv 2012.12899) around DARTS and XNAS: the eq. (9) hypergradients
(the explainer term, DARTS eqs. (10)-(11), and the audience term, eqs. (12)-(17) by the finite
differences of eq. (11)) against exact autograd through the same one-step unrolls (eqs. (6)-(8)),
the explanation of eq. (7), composition with every base, the registry and the state round trip."""

from __future__ import annotations

import io
import math

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
from search_spaces.darts import Genotype, parse_genotype
from tests.unit.multilevel_setup import (
    TINY,
    batches,
    errors,
    indexed,
    sgd_virtual,
    smooth_supernet,
)

torch.set_num_threads(1)


def small_audience() -> nn.Module:
    """A tanh + average-pool conv net: smooth (for the same reason) and cheap."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        nn.Linear(16, 4),
    )  # fmt: skip


def smooth_audience() -> nn.Module:
    torch.manual_seed(3)
    return small_audience().double()


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
    ("second_order", "mode"), [(True, "reweighted"), (False, "reweighted"), (True, "perturbed")]
)
def test_audience_hypergradient_matches_exact_autograd(
    second_order: bool, mode: str, float64_batches: tuple
) -> None:
    """Eqs. (12)-(17) by eq. (11) central differences (eps = 0.01/||v||, three chained
    differences) against autograd through the unrolls. Measured max-entry relative errors
    (float64): 2.3e-4 (second order), 1.1e-5 (first order), 2.7e-4 (eq. (3) reweighting);
    asserted < 2e-3. O(eps^2) truncation: the error must also shrink at least 20x at eps/10
    (measured 100x), so it is truncation, not a wrong or missing term."""
    net, audience = smooth_supernet(0, alpha_seed=5), smooth_audience()
    warm, train, val = float64_batches
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


def test_explainer_hypergradient_matches_exact_autograd(float64_batches: tuple) -> None:
    """The explainer term of eq. (9) is the base's DARTS eq. (10)-(11) gradient (measured
    max-entry relative error 6.4e-6, asserted < 1e-3)."""
    net, audience = smooth_supernet(0, alpha_seed=5), smooth_audience()
    warm, train, val = float64_batches
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
    net = smooth_supernet(0, alpha_seed=5)
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
    metrics = method.step(*indexed(batches(2)))
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
    wrapped.step(*indexed(data))
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
        method.step(*indexed(data))
        moved.append([t.detach().clone() for t in method.arch_tensors()])
    assert any(not torch.equal(a, b) for a, b in zip(*moved, strict=True))


def test_state_dict_round_trip_equals_an_uninterrupted_run() -> None:
    """Also the kept explanations: the step after the resume revisits the first batch."""
    data = indexed(batches(4))

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
    assert whole.step(data[0], data[3]) == resumed.step(data[0], data[3])
    assert whole.delta.values is not None and resumed.delta.values is not None
    assert torch.equal(whole.delta.values, resumed.delta.values)
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
    method = build_method(
        "lease", TINY, base="darts-1st", gamma=0.5, audience_options={"lr": 0.1}, a_lr=1e-3
    )
    assert isinstance(method, LeaSE) and method.gamma == 0.5
    assert method.audience_learner.lr == 0.1
    assert isinstance(method.base, Darts) and method.base.order == 1
    assert method.base.a_optimizer.param_groups[0]["lr"] == 1e-3
    with pytest.raises(KeyError, match="'asm'.*darts.*darts-1st.*xnas"):
        build_method("lease", TINY, base="asm")
    with pytest.raises(ValueError, match="audience_input"):
        build_method("lease", TINY, audience_input="blend")


def spy(method: LeaSE) -> list[tuple[str, Tensor]]:
    """Record Delta_0 of every step and the audience's training inputs."""
    seen: list[tuple[str, Tensor]] = []
    current, audience_step = method.current_delta, method.audience_learner.step

    def delta(inputs: Tensor, indices: Tensor | None) -> Tensor:
        found = current(inputs, indices)
        seen.append(("delta0", found.clone()))
        return found

    def audience(batch: Batch, sample_weights: Tensor | None = None) -> tuple[float, float]:
        seen.append(("audience", batch[0].clone()))
        return audience_step(batch, sample_weights)

    method.current_delta = delta  # type: ignore[method-assign]
    method.audience_learner.step = audience  # type: ignore[method-assign]
    return seen


def test_explanations_are_kept_per_example_across_steps() -> None:
    """Algorithm 1 step 2 updates the variable Delta: a revisited example starts from its
    delta'_i, and no new Delta_0 is drawn (before: a fresh uniform draw every step)."""
    torch.manual_seed(0)
    method = LeaSE(Darts(SuperNet(**TINY), order=1), audience=small_audience)  # type: ignore[arg-type]
    seen = spy(method)
    first, other, val = indexed(batches(3))
    start = method.generator.get_state()
    method.step(first, val)
    delta0 = seen[0][1]
    expected0 = LeaSE(Darts(SuperNet(**TINY)), audience=small_audience).initial_delta(first[0])  # type: ignore[arg-type]
    assert torch.equal(delta0, expected0)  # a first visit starts at Delta_0 (seed 0)
    kept = method.delta.values[first[2]].clone()  # type: ignore[index]
    assert not torch.equal(kept, delta0)  # delta' = delta + xi grad: moved by the ascent
    method.step(other, val)  # other examples: their own Delta_0, the first batch's rows stay
    assert torch.equal(method.delta.values[first[2]], kept)  # type: ignore[index]
    drawn = method.generator.get_state()
    method.step(first, val)
    assert torch.equal(seen[-2][1], kept)  # the revisit starts where the first visit ended
    assert torch.equal(method.generator.get_state(), drawn)  # nothing redrawn
    assert not torch.equal(drawn, start)
    redrawn = LeaSE(Darts(SuperNet(**TINY)), audience=small_audience, explanations="redrawn")  # type: ignore[arg-type]
    before = redrawn.generator.get_state()
    redrawn.step(first[:2], val)  # no indices needed
    assert not torch.equal(redrawn.generator.get_state(), before)
    with pytest.raises(ValueError, match="explanations='kept'.*indices"):
        method.step(first[:2], val[:2])


def test_audience_learns_from_the_reweighted_images_of_eq_3() -> None:
    """Default audience input: delta'_i * x_i (eq. (3)); before: x and x + delta'."""
    torch.manual_seed(0)
    method = LeaSE(Darts(SuperNet(**TINY), order=1), audience=small_audience)  # type: ignore[arg-type]
    assert method.audience_input == "reweighted"
    seen = spy(method)
    train, val = indexed(batches(2))
    method.step(train, val)
    audience_inputs = dict(seen)["audience"]
    assert torch.equal(audience_inputs, method.delta.values[train[2]] * train[0])  # type: ignore[index]
