"""Step control, scale-free utilities and sample reuse of the S2E optimizer (departures from
the paper, see raysearch.relax.optimizer) against independent computations."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import gammaln

from raysearch.relax import (
    CategoricalBlock,
    ProductDistribution,
    RelaxationOptimizer,
    SimplexBlock,
    UnitBlock,
    floored_kl_step,
    importance_weights,
    kl_step_length,
    rank_utilities,
    shaped_scores,
    standardised_scores,
    trust_region_direction,
)

BLOCKS = [SimplexBlock(("a", "b", "c")), UnitBlock("u"), CategoricalBlock("k", 3)]
THETA = np.array([1.5, 2.5, 1.2, 2.0, 3.0, 0.4, -0.7])
OTHER = np.array([3.0, 1.1, 2.2, 1.3, 5.0, -0.2, 0.9])


def _dirichlet_kl(a, b):
    """KL(Dir(a) ‖ Dir(b)), the textbook closed form."""
    from scipy.special import digamma

    return (
        gammaln(a.sum()) - gammaln(a).sum() - gammaln(b.sum()) + gammaln(b).sum()
        + ((a - b) * (digamma(a) - digamma(a.sum()))).sum()
    )  # fmt: skip


def _categorical_kl(la, lb):
    pa = np.exp(np.append(la, 0.0)) / np.exp(np.append(la, 0.0)).sum()
    pb = np.exp(np.append(lb, 0.0)) / np.exp(np.append(lb, 0.0)).sum()
    return float((pa * np.log(pa / pb)).sum())


def test_exact_kl_matches_the_closed_forms_and_a_monte_carlo_estimate():
    dist = ProductDistribution(BLOCKS)
    expected = (
        _dirichlet_kl(THETA[:3], OTHER[:3])
        + _dirichlet_kl(THETA[3:5], OTHER[3:5])
        + _categorical_kl(THETA[5:], OTHER[5:])
    )
    assert dist.kl(THETA, OTHER) == pytest.approx(expected, rel=1e-12)
    samples = dist.sample(np.random.default_rng(0), 40000, THETA)
    mc = np.mean(dist.log_probs(samples, THETA) - dist.log_probs(samples, OTHER))
    assert mc == pytest.approx(expected, rel=0.03)
    assert dist.kl(THETA, THETA) == pytest.approx(0.0, abs=1e-12)
    # second order: KL ≈ ½ δᵀFδ for a small δ
    delta = 1e-4 * (OTHER - THETA)
    quad = 0.5 * delta @ dist.fisher(THETA) @ delta
    assert dist.kl(THETA, THETA + delta) == pytest.approx(quad, rel=1e-3)


def test_kl_step_length_bisection_hits_the_target_and_the_second_order_closed_form():
    dist = ProductDistribution(BLOCKS)
    d = OTHER - THETA
    fisher = dist.fisher(THETA)

    def kl(t):
        new = THETA + t * d
        return dist.kl(THETA, new) if np.all(new[dist.positive_mask] > 0) else np.inf

    for target in (0.05, 0.5, 2.0):
        t = kl_step_length(kl, target, np.inf, 1e-3)
        assert kl(t) == pytest.approx(target, rel=1e-6)
    tiny = 1e-8
    closed = np.sqrt(2 * tiny / (d @ fisher @ d))  # ½ t² dᵀFd = ε
    assert kl_step_length(kl, tiny, np.inf, 1.0) == pytest.approx(closed, rel=1e-3)
    assert kl_step_length(kl, 100.0, 0.2, 1.0) == 0.2  # capped: the cap stays below the target


def test_floor_is_kept_by_holding_or_shortening_never_by_clipping():
    theta = np.array([1.0, 3.0, 1.05, 4.0])
    mask = np.array([True, True, True, True])
    fisher = np.eye(4)

    def kl(step):
        return 0.5 * float(step @ step)

    # component 0 sits on its floor and points down: held; component 2 would cross at t = 0.05
    # of t* = 1: held too (less than half the step); the rest moves with KL exactly 0.5
    step, t = floored_kl_step(theta, np.array([-1.0, 0.6, -1.0, 0.8]), mask, 1.0, kl, 0.5, fisher)
    np.testing.assert_allclose(step, [0.0, 0.6, 0.0, 0.8])
    assert kl(step) == pytest.approx(0.5, rel=1e-6) and t == pytest.approx(1.0, rel=1e-6)
    # a floor hit at t = 0.8 of t* = 1: the whole step is shortened to it (direction kept)
    d = np.array([0.0, 0.6, 0.0, -0.8])
    step, t = floored_kl_step(np.array([1.0, 3.0, 1.0, 1.64]), d, mask, 1.0, kl, 0.5, fisher)
    assert t == pytest.approx(0.8) and np.allclose(step, 0.8 * d)


def test_rank_utilities_are_nes_fitness_shaping_and_scale_free():
    scores = np.array([0.3, 0.9, 0.1, 0.5])
    k = 4
    raw = np.maximum(0, np.log(k / 2 + 1) - np.log(np.arange(1, k + 1)))
    table = raw / raw.sum() - 1 / k  # for ranks 1..4 (best first)
    np.testing.assert_allclose(rank_utilities(scores), table[[2, 0, 3, 1]])
    assert rank_utilities(scores).sum() == pytest.approx(0.0, abs=1e-15)
    np.testing.assert_allclose(rank_utilities(1e3 * scores - 7), rank_utilities(scores))
    tied = rank_utilities(np.array([0.5, 0.5, 0.1]))
    assert tied[0] == tied[1] and tied[2] < tied[0]
    np.testing.assert_allclose(standardised_scores(scores), (scores - scores.mean()) / scores.std())
    assert np.all(standardised_scores(np.full(3, 2.0)) == 0)
    with pytest.raises(ValueError, match="unknown utility 'log'"):
        shaped_scores(scores, "log")


def test_importance_weights_match_brute_force_density_ratios():
    a_old, a_new = (2.0, 3.0), (2.5, 1.5)
    rng = np.random.default_rng(1)
    x = rng.beta(*a_old, size=6)
    dist = ProductDistribution([UnitBlock("u")])
    samples = [{"u": float(v)} for v in x]
    r = importance_weights(
        dist.log_probs(samples, np.array(a_new)), dist.log_probs(samples, np.array(a_old))
    )
    brute = stats.beta.pdf(x, *a_new) / stats.beta.pdf(x, *a_old)
    np.testing.assert_allclose(r, brute * len(x) / brute.sum(), rtol=1e-10)
    # self-normalised weights make E_q[r f] → E_p[f]
    xs = rng.beta(*a_old, size=200000)
    big = [{"u": float(v)} for v in xs[:20000]]
    w = importance_weights(
        dist.log_probs(big, np.array(a_new)), dist.log_probs(big, np.array(a_old))
    )
    assert np.mean(w * xs[:20000]) == pytest.approx(a_new[0] / sum(a_new), rel=0.02)


def test_trust_region_direction_solves_the_kl_constrained_quadratic_model():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(5, 5))
    fisher = a @ a.T + np.eye(5)
    q = rng.normal(size=(5, 5))
    hess = q + q.T  # indefinite
    g = rng.normal(size=5)
    delta = trust_region_direction(g, hess, fisher, 0.3)
    assert 0.5 * delta @ fisher @ delta == pytest.approx(0.3, rel=1e-8)
    model = g @ delta + 0.5 * delta @ hess @ delta
    for _ in range(2000):  # no random point on or inside the KL ellipsoid does better
        v = rng.normal(size=5)
        v *= np.sqrt(0.6 / (v @ fisher @ v)) * rng.uniform() ** 0.2
        assert g @ v + 0.5 * v @ hess @ v <= model + 1e-9
    # H = 0: the natural gradient direction scaled to the trust region
    ng = np.linalg.solve(fisher, g)
    delta0 = trust_region_direction(g, np.zeros((5, 5)), fisher, 0.3)
    np.testing.assert_allclose(delta0, ng * np.sqrt(0.6 / (ng @ fisher @ ng)), rtol=1e-8)
    # a concave model whose maximiser lies inside: the plain Newton step
    neg = -(fisher * 10)
    np.testing.assert_allclose(
        trust_region_direction(g, neg, fisher, 0.3), -np.linalg.solve(neg, g), rtol=1e-10
    )


def _score(x):
    return -((x["a"] - 0.6) ** 2) - (x["u"] - 0.2) ** 2 + 0.05 * (x["k"] == 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kl_step": 0.5, "utility": "rank"},
        {"kl_step": 0.5, "utility": "standardised", "update": "ng"},
        {"kl_step": 0.5, "utility": "rank", "hessian": "trust", "pool": 3},
    ],
)
def test_kl_step_optimizer_moves_exactly_kl_step_and_improves(kwargs):
    opt = RelaxationOptimizer(BLOCKS, seed=3, **kwargs)
    start = opt.best_guess()
    for _ in range(15):
        xs = opt.ask(6)
        opt.tell(xs, [_score(x) for x in xs])
        assert np.all(opt.theta[opt.distribution.positive_mask] >= 1.0)
    kls = [h["kl"] for h in opt.history]
    assert max(kls) <= 0.5 * (1 + 1e-6)
    assert np.median(kls) >= 0.125  # a held or shortened step keeps >= (1/2)² of the KL
    assert _score(opt.best_guess()) > _score(start)


def test_scale_free_updates_do_not_depend_on_the_scores_units():
    thetas = []
    for scale in (1.0, 1e-3):
        opt = RelaxationOptimizer(BLOCKS, seed=4, kl_step=0.5, utility="standardised", pool=2)
        for _ in range(4):
            xs = opt.ask(5)
            opt.tell(xs, [scale * _score(x) + 3.0 for x in xs])
        thetas.append(opt.theta)
    np.testing.assert_allclose(thetas[0], thetas[1], rtol=1e-6)


def test_pool_state_round_trip_continues_identically():
    import json

    kwargs = {"kl_step": 0.5, "utility": "rank", "pool": 3, "hessian": "trust", "kl_adapt": True}
    original = RelaxationOptimizer(BLOCKS, seed=5, **kwargs)
    for _ in range(3):
        xs = original.ask(4)
        original.tell(xs, [_score(x) for x in xs])
    restored = RelaxationOptimizer(BLOCKS, seed=0, **kwargs)
    restored.load_state_dict(json.loads(json.dumps(original.state_dict(), allow_nan=False)))
    for _ in range(3):
        a, b = original.ask(4), restored.ask(4)
        assert a == b
        for opt in (original, restored):
            opt.tell(a, [_score(x) for x in a])
    np.testing.assert_array_equal(original.theta, restored.theta)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"utility": "log"}, "unknown utility 'log'; allowed: ['raw', 'rank', 'standardised']"),
        ({"hessian": "bfgs"}, "unknown hessian 'bfgs'; allowed: ['prop1', 'trust']"),
        ({"pool": 0}, "pool must be an int >= 1"),
        ({"kl_step": -1.0}, "kl_step must be None or a number > 0, got -1.0"),
    ],
)
def test_bad_step_control_settings_raise_value_errors(kwargs, message):
    with pytest.raises(ValueError) as err:
        RelaxationOptimizer(BLOCKS, **kwargs)
    assert message in str(err.value)


def test_kl_adaptation_grows_on_agreeing_steps_shrinks_on_cancelling_ones():
    from raysearch.relax.optimizer import RelaxationOptimizer as Opt

    opt = Opt([UnitBlock("u")], kl_step=0.1, kl_adapt=True, seed=6)
    fisher = np.eye(2)
    for _ in range(6):
        opt._adapt_kl(np.array([1.0, 0.5]), fisher)  # the same direction every time
    grown = opt._kl_now
    assert 0.1 < grown <= 0.8
    for i in range(20):
        opt._adapt_kl(np.array([1.0, 0.5]) * (-1) ** i, fisher)  # back and forth
    assert opt._kl_now < grown
    with pytest.raises(ValueError, match="kl_adapt=True needs a kl_step"):
        Opt([UnitBlock("u")], kl_adapt=True)
