"""Step safeguards of S2E eq. (8): saddle-free eigenvalue floor, KL trust region, θ floor,
and the official code's update."""

import numpy as np
import pytest
from scipy.special import polygamma, psi

from raysearch.relax import floored_solve, limit_step, official_step


def test_negative_definite_hessian_gives_the_plain_newton_step():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    hess = -(a @ a.T + np.eye(4))
    g = rng.normal(size=4)
    np.testing.assert_allclose(floored_solve(hess, g, 1e-3), -np.linalg.solve(hess, g))


def test_indefinite_hessian_is_flipped_into_an_ascent_direction():
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))
    hess = q @ np.diag([-2.0, 3.0, 0.5]) @ q.T
    g = np.array([1.0, -2.0, 0.3])
    d = floored_solve(hess, g, 1e-3)
    np.testing.assert_allclose(d, q @ ((q.T @ g) / np.array([2.0, 3.0, 0.5])))
    assert g @ d > 0


def test_near_singular_and_zero_hessians_give_bounded_steps():
    g = np.array([1.0, 1.0])
    d = floored_solve(np.diag([-1.0, -1e-14]), g, 1e-3)
    np.testing.assert_allclose(d, [1.0, 1e3])  # |λ| floored at η = 1e-3 · max|λ|
    np.testing.assert_allclose(floored_solve(np.zeros((2, 2)), g, 1e-3), g)


def test_kl_trust_region_and_per_coordinate_floor():
    theta = np.array([2.0, 1.5, 0.0, 3.0])
    positive = np.array([True, True, False, True])
    step = np.array([-100.0, -1.0, -50.0, 10.0])
    out, scale = limit_step(theta, step, positive, theta_min=1.0)
    assert scale == 1.0
    np.testing.assert_allclose(theta + out, [1.5, 1.25, -50.0, 13.0])  # half-way to the floor
    fisher = np.diag([1.0, 2.0, 0.5, 1.0])
    out, scale = limit_step(theta, step, positive, theta_min=1e-3, fisher=fisher, max_kl=0.5)
    assert 0.5 * (scale * step) @ fisher @ (scale * step) == pytest.approx(0.5)
    assert np.all((theta + out)[positive] >= 1e-3)
    small = np.array([0.01, 0.0, 0.0, 0.0])
    out, scale = limit_step(theta, small, positive, theta_min=1e-3, fisher=fisher, max_kl=0.5)
    assert scale == 1.0 and np.array_equal(out, small)


def _official_code(x, hyphyp, n_samples, delta):
    """official-code.md §1.3 transcribed with its (p, 1) column shapes, for one Beta variable."""
    a, b = hyphyp
    loggrad = np.zeros((2, 1))
    loggrad[0][0] = np.log(x) + psi(a + b) - psi(a)
    loggrad[1][0] = np.log(1 - x) + psi(a + b) - psi(b)
    loghess = np.array(
        [
            [polygamma(1, a + b) - polygamma(1, a), polygamma(1, a + b)],
            [polygamma(1, a + b), polygamma(1, a + b) - polygamma(1, b)],
        ]
    )
    hypgrad = loggrad / n_samples
    hessian = (loggrad * loggrad.T + loghess) / n_samples
    u, s, vh = np.linalg.svd(hessian, full_matrices=False)
    hessian = np.linalg.inv(np.dot(np.dot(u, np.diag(np.maximum(s, 1e-5))), vh))
    hypgrad = delta * hessian * hypgrad  # element-wise broadcast, as in the code
    return np.maximum(hyphyp + hypgrad[:, 0], 1)


@pytest.mark.parametrize(("x", "theta"), [(0.3, (1.0, 1.0)), (0.9, (2.5, 1.2)), (0.05, (1.0, 4.0))])
def test_official_step_reproduces_the_official_code(x, theta):
    theta = np.array(theta)
    a, b = theta
    score = np.array([np.log(x) + psi(a + b) - psi(a), np.log1p(-x) + psi(a + b) - psi(b)])
    t1, ta, tb = polygamma(1, a + b), polygamma(1, a), polygamma(1, b)
    hess = np.array([[t1 - ta, t1], [t1, t1 - tb]])
    new = np.maximum(theta + official_step(score, hess, 6, 1.0), 1.0)
    np.testing.assert_allclose(new, _official_code(x, theta, 6, 1.0), rtol=1e-12)
