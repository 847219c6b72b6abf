"""S2E eq. (7) and Prop. 1 estimators against closed forms and finite differences."""

import numpy as np
import pytest

from raysearch.relax import (
    CategoricalBlock,
    ProductDistribution,
    SimplexBlock,
    UnitBlock,
    centred_scores,
    leave_one_out_baseline,
    mc_gradient,
    mc_hessian,
)

# A linear objective f(x) = c·x over a 3-simplex and two Beta variables.
BLOCKS = [SimplexBlock(("a1", "a2", "a3")), UnitBlock("b1"), UnitBlock("b2")]
THETA = np.array([1.5, 2.5, 3.0, 2.0, 3.0, 0.8, 1.6])
COEF = {"a1": 1.0, "a2": -2.0, "a3": 0.5, "b1": 3.0, "b2": -1.0}
# Per block: its θ slice and the coefficients of its Dirichlet coordinates (β, 1 - β for a Beta).
GROUPS = [(slice(0, 3), [1.0, -2.0, 0.5]), (slice(3, 5), [3.0, 0.0]), (slice(5, 7), [-1.0, 0.0])]


def _linear(samples):
    return np.array([sum(c * x[k] for k, c in COEF.items()) for x in samples])


def _linear_grad_hess(theta):
    """Closed form of J = Σ c·E[x]: E[α_i] = θ_i / Σθ (Dirichlet), E[β] = a / (a + b) (Beta)."""
    grad = np.zeros(theta.size)
    hess = np.zeros((theta.size, theta.size))
    for sl, coef in GROUPS:
        coef = np.array(coef)
        total, dot = theta[sl].sum(), coef @ theta[sl]
        grad[sl] = coef / total - dot / total**2
        hess[sl, sl] = -(coef[:, None] + coef[None, :]) / total**2 + 2 * dot / total**3
    return grad, hess


def _estimates(dist, samples, theta, f, baseline="loo"):
    weights = centred_scores(f, baseline)
    scores = dist.scores(samples, theta)
    return weights, scores, dist.hessians(samples, theta)


def test_mc_gradient_and_newton_matrix_match_the_closed_form_of_a_linear_objective():
    dist = ProductDistribution(BLOCKS)
    samples = dist.sample(np.random.default_rng(0), 40000, THETA)
    f = _linear(samples)
    weights, scores, hessians = _estimates(dist, samples, THETA, f)
    grad, hess = _linear_grad_hess(THETA)

    terms = weights[:, None] * scores
    se = terms.std(axis=0) / np.sqrt(len(f))
    est = mc_gradient(weights, scores)
    assert np.all(np.abs(est - grad) < 5 * se + 1e-4), (est, grad)

    hterms = weights[:, None, None] * (hessians + scores[:, :, None] * scores[:, None, :])
    hse = hterms.std(axis=0) / np.sqrt(len(f))
    hest = mc_hessian(weights, scores, hessians)
    assert np.all(np.abs(hest - hess) < 5 * hse + 1e-4), (hest, hess)
    assert np.linalg.norm(hest - hess) < 0.1 * np.linalg.norm(hess)


def test_prop1_is_the_exact_hessian_of_the_importance_weighted_estimate():
    """With x_i fixed from p_θ, Ĵ(θ') = mean f(x_i) p_θ'(x_i)/p_θ(x_i) has ∇Ĵ(θ) = eq. (7) and
    ∇²Ĵ(θ) = Prop. 1's estimate: common random numbers make them match to FD precision."""
    blocks = [SimplexBlock(("a", "b", "c")), UnitBlock("u"), CategoricalBlock("k", 3)]
    dist = ProductDistribution(blocks)
    theta = np.array([1.2, 0.7, 2.0, 1.5, 0.9, 0.3, -0.4])
    samples = dist.sample(np.random.default_rng(1), 25, theta)
    f = np.array([np.sin(3 * x["a"]) + x["u"] ** 2 - 0.5 * x["k"] for x in samples])
    base = dist.log_probs(samples, theta)
    for baseline in ("none", "loo"):
        weights = centred_scores(f, baseline)

        def j_hat(t, weights=weights):
            return np.mean(weights * np.exp(dist.log_probs(samples, t) - base))

        h = 1e-4
        eye = np.eye(theta.size)
        fd_grad = np.array([(j_hat(theta + h * e) - j_hat(theta - h * e)) / (2 * h) for e in eye])
        fd_hess = np.array(
            [
                [
                    (
                        j_hat(theta + h * ei + h * ej)
                        - j_hat(theta + h * ei - h * ej)
                        - j_hat(theta - h * ei + h * ej)
                        + j_hat(theta - h * ei - h * ej)
                    )
                    / (4 * h * h)
                    for ej in eye
                ]
                for ei in eye
            ]
        )
        scores = dist.scores(samples, theta)
        np.testing.assert_allclose(mc_gradient(weights, scores), fd_grad, rtol=1e-6, atol=1e-8)
        hess = mc_hessian(weights, scores, dist.hessians(samples, theta))
        np.testing.assert_allclose(hess, fd_hess, rtol=1e-5, atol=1e-6)


def test_constant_baseline_does_not_bias_either_estimate():
    """E[∇ log p] = 0 and E[∇² log p + ∇ log p ∇ log pᵀ] = 0: a constant weight estimates 0."""
    dist = ProductDistribution(BLOCKS + [CategoricalBlock("k", 3)])
    theta = np.append(THETA, [0.5, -0.2])
    samples = dist.sample(np.random.default_rng(2), 40000, theta)
    scores = dist.scores(samples, theta)
    hessians = dist.hessians(samples, theta)
    const = np.full(len(samples), 7.0)
    g0 = mc_gradient(const, scores)
    se = 7.0 * scores.std(axis=0) / np.sqrt(len(samples))
    assert np.all(np.abs(g0) < 5 * se)
    terms = 7.0 * (hessians + scores[:, :, None] * scores[:, None, :])
    h0 = mc_hessian(const, scores, hessians)
    assert np.all(np.abs(h0) < 5 * terms.std(axis=0) / np.sqrt(len(samples)) + 1e-9)
    # so shifting every score by a constant shifts both estimates by those zero-mean terms
    f = _linear(samples)
    np.testing.assert_allclose(mc_gradient(f + 7.0, scores) - mc_gradient(f, scores), g0)


def test_leave_one_out_baseline_is_unbiased_and_the_batch_mean_shrinks():
    dist = ProductDistribution(BLOCKS)
    k, batches = 4, 5000
    samples = dist.sample(np.random.default_rng(3), k * batches, THETA)
    f = _linear(samples) + 10.0  # an offset far from 0, like accuracies
    scores = dist.scores(samples, THETA)
    loo, mean_b = [], []
    for i in range(batches):
        sl = slice(i * k, (i + 1) * k)
        loo.append(mc_gradient(centred_scores(f[sl], "loo"), scores[sl]))
        mean_b.append(mc_gradient(f[sl] - f[sl].mean(), scores[sl]))
    grad, _ = _linear_grad_hess(THETA)
    loo_mean, loo_se = np.mean(loo, axis=0), np.std(loo, axis=0) / np.sqrt(batches)
    assert np.all(np.abs(loo_mean - grad) < 5 * loo_se)
    np.testing.assert_allclose(np.mean(mean_b, axis=0), (k - 1) / k * loo_mean, rtol=1e-9)
    # and the baseline cuts the variance by a lot compared with none
    none = [mc_gradient(f[i * k : (i + 1) * k], scores[i * k : (i + 1) * k]) for i in range(500)]
    assert np.std(none, axis=0).sum() > 5 * np.std(loo, axis=0).sum()


def test_baseline_helpers():
    np.testing.assert_allclose(leave_one_out_baseline(np.array([1.0, 2.0, 6.0])), [4.0, 3.5, 1.5])
    np.testing.assert_allclose(leave_one_out_baseline(np.array([5.0])), [0.0])
    np.testing.assert_allclose(centred_scores(np.array([1.0, 3.0]), "none"), [1.0, 3.0])
    np.testing.assert_allclose(centred_scores(np.array([1.0, 3.0]), "loo"), [-2.0, 2.0])
    with pytest.raises(ValueError, match="'mean'.*allowed: \\['loo', 'none'\\]"):
        centred_scores(np.array([1.0]), "mean")
