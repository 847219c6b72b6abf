"""LFM-DR: the weights a (eqs. (2)-(5)), the one-step-unrolled hypergradients against exact
autograd through the unrolled SGD steps, and the run / trainable checkpoint round trip."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from raysearch.reweight import LFMDRConfig, ReweightRun
from raysearch.reweight.hypergrad import lfm_dr_hypergradients, sgd_unroll, weight_sensitivity
from raysearch.reweight.lfm_weights import example_weights, lfm_weights
from raysearch.reweight.settings import ReweightSettings, build_data
from raysearch.tune.reweight_trainable import ReweightTrainable

C, D, N, M, LR = 3, 5, 8, 6, 0.5


def test_weights_match_a_brute_force_loop_over_eqs_2_to_5():
    g = torch.Generator().manual_seed(0)
    ft, fv = torch.randn(4, 3, generator=g), torch.randn(5, 3, generator=g)
    yt, yv = torch.tensor([0, 1, 2, 0]), torch.tensor([0, 0, 1, 2, 2])
    logits, r = torch.randn(5, 3, generator=g), torch.randn(5, generator=g)
    a = lfm_weights(ft, yt, fv, yv, logits, r)
    for i in range(4):
        scores = [math.exp(float(ft[i] @ fv[j])) for j in range(5)]
        total = 0.0
        for j in range(5):
            x = scores[j] / sum(scores)
            z = float(yt[i] == yv[j])
            u = -float(torch.log_softmax(logits[j], 0)[yv[j]])
            total += float(r[j]) * x * z * u
        assert float(a[i]) == pytest.approx(1 / (1 + math.exp(-total)), rel=1e-5)


def test_r_needs_one_entry_per_validation_example():
    with pytest.raises(ValueError, match="one entry per validation example"):
        example_weights(torch.ones(2, 3), torch.ones(2, 3), torch.ones(3), torch.ones(4))


def _problem():
    torch.manual_seed(0)
    learner = nn.Sequential(nn.Linear(D, 7), nn.Tanh(), nn.Linear(7, C)).double()
    encoder = nn.Sequential(nn.Linear(D, 4), nn.Tanh()).double()
    w1 = {k: v.detach().clone() for k, v in learner.named_parameters()}
    w2 = {k: v.detach() + 0.1 * torch.randn_like(v) for k, v in learner.named_parameters()}
    data = {
        "images": torch.randn(N, D, dtype=torch.float64),
        "labels": torch.randint(0, C, (N,)),
        "meta_images": torch.randn(M, D, dtype=torch.float64),
        "meta_labels": torch.arange(M) % C,
    }
    r = (1 + 0.3 * torch.randn(M, dtype=torch.float64)).requires_grad_()
    b = 1 + 0.2 * torch.rand(N, dtype=torch.float64)
    return learner, encoder, w1, w2, data, r, b


def _exact_through_unrolled_steps(learner, encoder, w1, w2, data, r, b):
    """dL/d(b, r, V) by autograd through both unrolled SGD steps (create_graph)."""
    b = b.clone().requires_grad_()
    p1 = {k: v.clone().requires_grad_() for k, v in w1.items()}
    p2 = {k: v.clone().requires_grad_() for k, v in w2.items()}

    def losses(params, images):
        return F.cross_entropy(
            functional_call(learner, params, (images,)), data["labels"], reduction="none"
        )

    g1 = torch.autograd.grad((b * losses(p1, data["images"])).mean(), list(p1.values()),
                             create_graph=True)  # fmt: skip
    w1_next = {k: p - LR * g for (k, p), g in zip(p1.items(), g1, strict=True)}
    a = lfm_weights(
        encoder(data["images"]), data["labels"], encoder(data["meta_images"]),
        data["meta_labels"], functional_call(learner, w1_next, (data["meta_images"],)), r,
    )  # fmt: skip
    g2 = torch.autograd.grad((a * losses(p2, data["images"])).mean(), list(p2.values()),
                             create_graph=True)  # fmt: skip
    w2_next = {k: p - LR * g for (k, p), g in zip(p2.items(), g2, strict=True)}
    val = F.cross_entropy(
        functional_call(learner, w2_next, (data["meta_images"],)), data["meta_labels"]
    )
    return torch.autograd.grad(val, [b, r, *encoder.parameters()]), float(val.detach())


def _max_relative_errors(hessian):
    learner, encoder, w1, w2, data, r, b = _problem()
    exact, val = _exact_through_unrolled_steps(learner, encoder, w1, w2, data, r, b)
    got = lfm_dr_hypergradients(
        learner=learner, w1=w1, w2=w2, encoder=encoder, r=r, b=b, lr=LR, hessian=hessian, **data
    )
    assert got.val_loss == pytest.approx(val, rel=1e-12)
    names = ["B", "r", *[f"V.{n}" for n, _ in encoder.named_parameters()]]
    pairs = zip(names, [got.b, got.r, *got.encoder], exact, strict=True)
    return {n: float((g - e).abs().max() / e.abs().max()) for n, g, e in pairs}


def test_hypergradients_with_exact_hessian_products_equal_autograd_through_the_unroll():
    errors = _max_relative_errors("exact")
    print("exact hessian-vector products, max relative error:", errors)
    assert max(errors.values()) < 1e-10


def test_finite_difference_hessian_products_approximate_the_exact_hypergradients():
    errors = _max_relative_errors("finite-difference")
    print("finite-difference (eps = 0.01/||v||), max relative error:", errors)
    assert max(errors.values()) < 1e-4


def test_finite_difference_sensitivity_against_the_exact_one_in_float32():
    learner, _, w1, _, data, _, _ = _problem()
    learner = learner.float()
    params = {k: v.float() for k, v in w1.items()}
    images, labels = data["images"].float(), data["labels"]
    v = [torch.randn_like(p) for p in params.values()]
    exact = weight_sensitivity(learner, params, images, labels, v, LR, hessian="exact")
    approx = weight_sensitivity(learner, params, images, labels, v, LR)
    assert float((approx - exact).abs().max() / exact.abs().max()) < 1e-3


def test_sgd_unroll_is_one_weighted_gradient_step():
    learner, _, w1, _, data, _, b = _problem()
    stepped = sgd_unroll(learner, w1, data["images"], data["labels"], b, LR)
    model = nn.Sequential(nn.Linear(D, 7), nn.Tanh(), nn.Linear(7, C)).double()
    model.load_state_dict(w1)
    loss = (b * F.cross_entropy(model(data["images"]), data["labels"], reduction="none")).mean()
    loss.backward()
    for name, p in model.named_parameters():
        assert torch.allclose(stepped[name], p.detach() - LR * p.grad)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"method": "meta-weight-net"}, "unknown reweighting method 'meta-weight-net'"),
        ({"hessian": "newton"}, "unknown hessian mode 'newton'"),
        ({"lr_b": 0.0}, "lr_b must be > 0"),
    ],
)
def test_bad_config_names_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LFMDRConfig(epochs=1, **kwargs)


def _config(method="lfm", **overrides):
    options = {"epochs": 3, "batch_size": 32, "max_batches_per_epoch": 3, **overrides}
    settings = ReweightSettings(method=method, imbalance=20, noise="symmetric:0.2", **options)
    return settings.to_config()


def _metrics(result):
    keys = ("epoch", "train_loss", "val_acc", "test_acc", "rare_class_acc", "test_acc_w2")
    return {k: result[k] for k in keys if k in result} | {"class_acc": result["class_acc"]}


@pytest.mark.parametrize("method", ["lfm", "none"])
def test_checkpoint_split_run_equals_uninterrupted_run(tmp_path, method):
    whole = ReweightTrainable(config=_config(method))
    expected = [_metrics(whole.train()) for _ in range(3)]
    assert [r["epoch"] for r in expected] == [1, 2, 3]
    assert ("test_acc_w2" in expected[0]) == (method == "lfm")

    first = ReweightTrainable(config=_config(method))
    got = [_metrics(first.train())]
    first.save_checkpoint(str(tmp_path))
    second = ReweightTrainable(config=_config(method, seed=77))  # seed must not matter
    second.load_checkpoint(str(tmp_path))
    got += [_metrics(second.train()) for _ in range(2)]
    assert got == expected
    assert torch.equal(second.run.b, whole.run.b)


def test_lfm_moves_only_the_visited_entries_of_b_and_plain_keeps_b_at_one():
    settings = ReweightSettings.from_config(_config("lfm", epochs=1))
    config = dataclasses.replace(settings.run_config(), lr_b=1e3)
    run = ReweightRun(build_data(settings), config)
    r_before = run.r.detach().clone()
    run.train_epoch()
    changed = int((run.b != 1.0).sum())
    assert 0 < changed <= 3 * 32 and bool((run.b >= 0).all())
    assert not torch.equal(run.r.detach(), r_before)
    plain = ReweightTrainable(config=_config("none", epochs=1))
    plain.train()
    assert torch.equal(plain.run.b, torch.ones_like(plain.run.b))
