"""Blocks and the product distribution: closed-form derivatives, Fisher, sampling domain."""

import json

import numpy as np
import pytest
from scipy import stats

from raysearch.relax import (
    SAMPLE_EPS,
    CategoricalBlock,
    ProductDistribution,
    SimplexBlock,
    UnitBlock,
)

SPACES = {
    "simplex": ([SimplexBlock(("a", "b", "c"))], [0.7, 2.5, 1.3]),
    "unit": ([UnitBlock("u")], [0.6, 3.2]),
    "categorical": ([CategoricalBlock("k", 4)], [0.4, -1.1, 0.8]),
    "mixed": (
        [
            SimplexBlock(("a", "b", "c", "d")),
            UnitBlock("u"),
            CategoricalBlock("k", 3),
            UnitBlock("v"),
        ],
        [1.5, 0.8, 2.0, 1.1, 4.0, 0.9, -0.3, 0.7, 2.2, 1.7],
    ),
}


def _fd_grad(fun, theta, h=1e-5):
    eye = np.eye(theta.size)
    return np.array([(fun(theta + h * e) - fun(theta - h * e)) / (2 * h) for e in eye])


@pytest.mark.parametrize("space", sorted(SPACES))
def test_grad_and_hessian_of_log_prob_match_central_differences(space):
    blocks, theta = SPACES[space]
    dist = ProductDistribution(blocks)
    theta = np.array(theta)
    for x in dist.sample(np.random.default_rng(0), 3, theta):
        grad = dist.grad_log_prob(x, theta)
        fd_grad = _fd_grad(lambda t, x=x: dist.log_prob(x, t), theta)
        np.testing.assert_allclose(grad, fd_grad, rtol=1e-6, atol=1e-7)
        hess = dist.hess_log_prob(x, theta)
        fd_hess = _fd_grad(lambda t, x=x: dist.grad_log_prob(x, t), theta)
        np.testing.assert_allclose(hess, fd_hess, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(hess, hess.T)


def test_log_prob_matches_scipy_densities():
    dist = ProductDistribution([SimplexBlock(("a", "b", "c")), UnitBlock("u")])
    theta = np.array([0.7, 2.5, 1.3, 0.6, 3.2])
    x = {"a": 0.2, "b": 0.5, "c": 0.3, "u": 0.35}
    expected = stats.dirichlet.logpdf([0.2, 0.5, 0.3], theta[:3]) + stats.beta.logpdf(
        0.35, 0.6, 3.2
    )
    assert dist.log_prob(x, theta) == pytest.approx(expected, rel=1e-12)


def test_categorical_uses_reference_logits():
    block = CategoricalBlock("k", 3)
    dist = ProductDistribution([block])
    theta = np.array([np.log(2.0), 0.0])  # softmax([log 2, 0, 0]) = (1/2, 1/4, 1/4)
    np.testing.assert_allclose(block.probs(theta), [0.5, 0.25, 0.25])
    assert dist.log_prob({"k": 2}, theta) == pytest.approx(np.log(0.25))
    np.testing.assert_allclose(dist.grad_log_prob({"k": 0}, theta), [0.5, -0.25])
    np.testing.assert_allclose(block.probs(dist.initial_theta()), [1 / 3] * 3)


@pytest.mark.parametrize("space", sorted(SPACES))
def test_fisher_is_minus_hessian_and_the_mean_score_outer_product(space):
    blocks, theta = SPACES[space]
    dist = ProductDistribution(blocks)
    theta = np.array(theta)
    samples = dist.sample(np.random.default_rng(1), 20000, theta)
    fisher = dist.fisher(theta)
    np.testing.assert_allclose(fisher, -dist.hess_log_prob(samples[0], theta), atol=1e-12)
    assert np.all(np.linalg.eigvalsh(fisher) > 0)
    scores = dist.scores(samples, theta)
    se = scores.std(axis=0) / np.sqrt(len(samples))
    assert np.all(np.abs(scores.mean(axis=0)) < 5 * se)  # E[∇ log p] = 0
    empirical = scores.T @ scores / len(samples)
    scale = np.sqrt(np.outer(np.diag(fisher), np.diag(fisher)))
    assert np.max(np.abs(empirical - fisher) / scale) < 0.1


def test_samples_are_plain_json_dicts_inside_the_open_domain():
    blocks, _ = SPACES["mixed"]
    dist = ProductDistribution(blocks)
    tiny = np.array([1e-3] * 4 + [1e-3, 1e-3, 0.0, 0.0, 1e-3, 1e-3])
    for theta in (None, tiny):
        samples = dist.sample(np.random.default_rng(2), 200, theta)
        assert json.loads(json.dumps(samples)) == samples
        for x in samples:
            assert set(x) == set(dist.names)
            assert all(type(x[n]) is float for n in ("a", "b", "c", "d", "u", "v"))
            assert type(x["k"]) is int and 0 <= x["k"] < 3
            weights = [x[n] for n in "abcd"]
            assert min(weights) > 0 and sum(weights) == pytest.approx(1.0, abs=1e-12)
            assert SAMPLE_EPS <= x["u"] <= 1 - SAMPLE_EPS
        assert np.all(np.isfinite(dist.log_probs(samples, theta)))
        assert np.all(np.isfinite(dist.scores(samples, theta)))


def test_sample_moments_and_best_guess():
    dist = ProductDistribution(
        [SimplexBlock(("a", "b", "c")), UnitBlock("u"), CategoricalBlock("k", 3)]
    )
    theta = np.array([2.0, 3.0, 5.0, 3.0, 1.0, 1.0, -1.0])
    samples = dist.sample(np.random.default_rng(3), 20000, theta)
    mean_a = np.mean([[x["a"], x["b"], x["c"]] for x in samples], axis=0)
    np.testing.assert_allclose(mean_a, [0.2, 0.3, 0.5], atol=0.01)
    assert np.mean([x["u"] for x in samples]) == pytest.approx(0.75, abs=0.01)
    freq = np.bincount([x["k"] for x in samples], minlength=3) / len(samples)
    probs = np.exp([1.0, -1.0, 0.0]) / np.exp([1.0, -1.0, 0.0]).sum()
    np.testing.assert_allclose(freq, probs, atol=0.015)
    guess = dist.best_guess(theta)
    assert guess == pytest.approx({"a": 0.2, "b": 0.3, "c": 0.5, "u": 0.75, "k": 0})
    assert type(guess["k"]) is int


def test_same_seed_same_samples():
    blocks, theta = SPACES["mixed"]
    dist = ProductDistribution(blocks)
    one = dist.sample(np.random.default_rng(7), 5, theta)
    two = dist.sample(np.random.default_rng(7), 5, theta)
    assert one == two


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SimplexBlock(("a",)), "at least 2"),
        (lambda: SimplexBlock(("a", "a")), "distinct"),
        (lambda: SimplexBlock("ab"), "tuple of strings"),
        (lambda: UnitBlock(""), "non-empty string"),
        (lambda: CategoricalBlock("k", 1), "num_choices >= 2, got 1"),
        (lambda: ProductDistribution([]), "at least one block"),
        (
            lambda: ProductDistribution([UnitBlock("a"), SimplexBlock(("a", "b"))]),
            "repeated: ['a']",
        ),
        (lambda: ProductDistribution(["a"]), "allowed: SimplexBlock, UnitBlock, CategoricalBlock"),
    ],
)
def test_bad_blocks_raise_value_errors_naming_the_problem(make, message):
    with pytest.raises(ValueError) as err:
        make()
    assert message in str(err.value)


def test_values_outside_the_domain_and_bad_theta_are_rejected():
    dist = ProductDistribution([SimplexBlock(("a", "b")), UnitBlock("u"), CategoricalBlock("k", 2)])
    good = {"a": 0.4, "b": 0.6, "u": 0.5, "k": 1}
    assert np.isfinite(dist.log_prob(good))
    for bad, key in [
        ({**good, "a": 0.5}, "sum to 1"),
        ({**good, "u": 1.0}, "'u'"),
        ({**good, "k": 2}, "'k'"),
        ({**good, "k": 0.5}, "'k'"),
        ({"a": 0.4, "b": 0.6, "u": 0.5}, "lacks keys ['k']"),
    ]:
        with pytest.raises(ValueError) as err:
            dist.log_prob(bad)
        assert key in str(err.value)
    with pytest.raises(ValueError, match="must be > 0"):
        dist.log_prob(good, [1.0, 0.0, 1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="shape"):
        dist.log_prob(good, [1.0, 1.0])
