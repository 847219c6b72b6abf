"""RelaxationOptimizer: update wiring, convergence, bad scores, ask/tell protocol, checkpoints."""

import json

import numpy as np
import pytest

from raysearch.relax import (
    CategoricalBlock,
    RelaxationOptimizer,
    SimplexBlock,
    UnitBlock,
    centred_scores,
    floored_solve,
    mc_gradient,
    mc_hessian,
)

# Synthetic target: f(x) = -||x - x*||² over a 4-simplex and three Beta variables.
SIMPLEX = ("a1", "a2", "a3", "a4")
UNITS = ("b1", "b2", "b3")
A_STAR = np.array([0.5, 0.3, 0.15, 0.05])
B_STAR = np.array([0.2, 0.7, 0.5])


def _blocks():
    return [SimplexBlock(SIMPLEX)] + [UnitBlock(u) for u in UNITS]


def _score(x):
    a = np.array([x[n] for n in SIMPLEX])
    b = np.array([x[n] for n in UNITS])
    return -float(((a - A_STAR) ** 2).sum() + ((b - B_STAR) ** 2).sum())


def _exact_j(theta):
    """E[f] in closed form from the Dirichlet/Beta means and variances."""
    th = theta[:4]
    m = th / th.sum()
    out = (m * (1 - m) / (th.sum() + 1) + (m - A_STAR) ** 2).sum()
    for j in range(3):
        a, b = theta[4 + 2 * j : 6 + 2 * j]
        out += a * b / ((a + b) ** 2 * (a + b + 1)) + (a / (a + b) - B_STAR[j]) ** 2
    return -out


def _run(opt, iterations, k):
    for _ in range(iterations):
        xs = opt.ask(k)
        opt.tell(xs, [_score(x) for x in xs])


@pytest.mark.parametrize(("update", "step"), [("newton", 1.0), ("gd", 300.0), ("ng", 5.0)])
def test_every_update_improves_the_synthetic_target(update, step):
    start = _exact_j(RelaxationOptimizer(_blocks()).theta)
    for seed in (0, 1):
        opt = RelaxationOptimizer(_blocks(), update=update, step_size=step, seed=seed)
        _run(opt, 30, 16)
        assert _exact_j(opt.theta) > start / 2, (update, seed, _exact_j(opt.theta), start)
        guess = opt.best_guess()
        assert _score(guess) > _score(RelaxationOptimizer(_blocks()).best_guess())
        assert opt.iteration == 30 and len(opt.history) == 30


def test_updates_use_the_gradient_fisher_and_saddle_free_hessian():
    for update in ("gd", "ng", "newton"):
        opt = RelaxationOptimizer(
            _blocks(), update=update, step_size=1e-3, seed=4, max_kl=None, theta_min=1e-3
        )
        theta = opt.theta
        xs = opt.ask(6)
        scores = [_score(x) for x in xs]
        opt.tell(xs, scores)
        dist = opt.distribution
        w = centred_scores(np.array(scores), "loo")
        s = dist.scores(xs, theta)
        g = mc_gradient(w, s)
        matrix = {
            "gd": np.eye(theta.size),
            "ng": dist.fisher(theta),
            "newton": mc_hessian(w, s, dist.hessians(xs, theta)),
        }[update]
        expected = 1e-3 * floored_solve(matrix, g, 1e-3)
        np.testing.assert_allclose(opt.theta - theta, expected, rtol=1e-10, atol=1e-15)


def test_official_update_uses_only_the_best_sample():
    thetas = []
    for scores in ([0.1, 0.9, 0.5], [0.7, 0.95, -3.0]):
        opt = RelaxationOptimizer(_blocks(), update="official", seed=5)
        xs = opt.ask(3)
        opt.tell(xs, scores)
        thetas.append(opt.theta)
    np.testing.assert_array_equal(thetas[0], thetas[1])
    assert np.all(thetas[0] >= 1.0) and not np.array_equal(thetas[0], np.ones(10))


@pytest.mark.parametrize("update", ["newton", "gd", "ng", "official"])
def test_theta_stays_in_its_domain_under_a_huge_step(update):
    blocks = _blocks() + [CategoricalBlock("k", 3)]
    opt = RelaxationOptimizer(
        blocks, update=update, step_size=1e8, seed=6, max_kl=None, theta_min=1e-3
    )
    for _ in range(8):
        xs = opt.ask(5)
        opt.tell(xs, [_score(x) + 0.1 * x["k"] for x in xs])
        theta = opt.theta
        assert np.all(np.isfinite(theta))
        assert np.all(theta[opt.distribution.positive_mask] >= 1e-3)
    assert opt.iteration == 8


def test_default_floor_keeps_dirichlet_and_beta_parameters_at_least_one():
    opt = RelaxationOptimizer(_blocks(), step_size=50.0, seed=7)
    _run(opt, 10, 4)
    assert np.all(opt.theta >= 1.0)


def test_nan_none_and_inf_scores_count_as_the_worst_finite_score():
    def tell_one(scores):
        opt = RelaxationOptimizer(_blocks(), seed=8)
        xs = opt.ask(4)
        opt.tell(xs, scores)
        return opt

    bad = tell_one([float("nan"), 0.2, None, float("inf")])
    clean = tell_one([0.2, 0.2, 0.2, 0.2])
    mixed = tell_one([-np.inf, 0.2, 0.9, np.float64(0.2)])
    reference = tell_one([0.2, 0.2, 0.9, 0.2])
    np.testing.assert_array_equal(bad.theta, clean.theta)
    np.testing.assert_array_equal(mixed.theta, reference.theta)
    assert mixed.history[-1]["num_finite"] == 3 and mixed.history[-1]["max_score"] == 0.9
    assert mixed.best_observed[1] == pytest.approx(0.9)


def test_a_batch_without_finite_scores_skips_the_update_cleanly():
    opt = RelaxationOptimizer(_blocks(), seed=9)
    first = opt.ask(3)
    opt.tell(first, [None, float("nan"), -float("inf")])
    np.testing.assert_array_equal(opt.theta, np.ones(10))
    assert opt.iteration == 1 and opt.pending == [] and opt.best_observed is None
    assert opt.history[-1]["num_finite"] == 0 and opt.history[-1]["step_scale"] is None
    second = opt.ask(3)
    assert second != first
    opt.tell(second, [0.1, 0.2, 0.3])
    assert opt.iteration == 2 and not np.array_equal(opt.theta, np.ones(10))
    json.dumps(opt.state_dict(), allow_nan=False)


def test_tell_order_does_not_matter():
    thetas = []
    for order in ([0, 1, 2, 3], [3, 1, 0, 2]):
        opt = RelaxationOptimizer(_blocks(), seed=10)
        xs = opt.ask(4)
        scores = [_score(x) for x in xs]
        opt.tell([xs[i] for i in order], [scores[i] for i in order])
        thetas.append(opt.theta)
    np.testing.assert_allclose(thetas[0], thetas[1], rtol=1e-12)


def test_tell_rejects_foreign_samples_and_wrong_counts():
    opt = RelaxationOptimizer(_blocks(), seed=11)
    with pytest.raises(ValueError, match="no pending samples"):
        opt.tell([], [])
    xs = opt.ask(3)
    with pytest.raises(RuntimeError, match="3 samples of iteration 0 are still pending"):
        opt.ask(3)
    with pytest.raises(ValueError, match="got 3 samples but 2 scores"):
        opt.tell(xs, [0.1, 0.2])
    with pytest.raises(ValueError, match="all 3 pending samples, got 2"):
        opt.tell(xs[:2], [0.1, 0.2])
    foreign = dict(xs[0], b1=0.123)
    with pytest.raises(ValueError, match="was not handed out by ask"):
        opt.tell([foreign, xs[1], xs[2]], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="was not handed out by ask"):
        opt.tell([xs[0], xs[0], xs[2]], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="score must be a number or None, got 'abc'"):
        opt.tell(xs, [0.1, "abc", 0.3])
    assert len(opt.pending) == 3  # failed tells leave the batch pending
    opt.tell(json.loads(json.dumps(xs)), [0.1, 0.2, 0.3])
    assert opt.iteration == 1
    for n in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="number of samples must be an int >= 1"):
            opt.ask(n)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"update": "adam"}, "unknown update 'adam'; allowed: ['newton', 'gd', 'ng', 'official']"),
        ({"step_size": 0.0}, "step_size must be a finite number > 0, got 0.0"),
        ({"step_size": -1}, "step_size must be a finite number > 0, got -1"),
        ({"step_size": float("nan")}, "step_size must be a finite number > 0, got nan"),
        ({"baseline": "mean"}, "unknown baseline 'mean'; allowed: ['loo', 'none']"),
        ({"eig_floor": 2.0}, "eig_floor must be a number in (0, 1], got 2.0"),
        ({"max_kl": 0}, "max_kl must be None or a number > 0, got 0"),
        ({"theta_min": 1.5}, "theta_min must be a number in (0, 1], got 1.5"),
        ({"seed": -3}, "seed must be None or an int >= 0, got -3"),
    ],
)
def test_bad_settings_raise_value_errors_naming_the_value(kwargs, message):
    with pytest.raises(ValueError) as err:
        RelaxationOptimizer(_blocks(), **kwargs)
    assert message in str(err.value)


def test_bad_block_lists_raise_value_errors():
    with pytest.raises(ValueError, match="at least one block"):
        RelaxationOptimizer([])
    with pytest.raises(ValueError, match=r"repeated: \['b1'\]"):
        RelaxationOptimizer([UnitBlock("b1"), UnitBlock("b1")])
    with pytest.raises(ValueError, match="at least 2 names"):
        RelaxationOptimizer([SimplexBlock(("a",))])


@pytest.mark.parametrize("update", ["newton", "official"])
def test_state_dict_json_round_trip_gives_identical_future_asks(update):
    blocks = _blocks() + [CategoricalBlock("k", 3)]
    original = RelaxationOptimizer(blocks, update=update, seed=12)
    _run(original, 3, 5)
    pending = original.ask(5)
    state = json.loads(json.dumps(original.state_dict(), allow_nan=False))
    restored = RelaxationOptimizer(blocks, update=update, seed=999)
    restored.load_state_dict(state)
    assert restored.pending == pending and restored.iteration == 3
    np.testing.assert_array_equal(restored.theta, original.theta)
    for opt in (original, restored):
        opt.tell(pending[::-1], [_score(x) for x in pending[::-1]])
    for _ in range(3):
        a, b = original.ask(4), restored.ask(4)
        assert a == b
        for opt, xs in ((original, a), (restored, b)):
            opt.tell(xs, [_score(x) for x in xs])
    np.testing.assert_array_equal(restored.theta, original.theta)
    assert restored.history == original.history
    assert restored.best_observed == original.best_observed
    assert restored.state_dict() == original.state_dict()


def test_load_state_dict_rejects_mismatched_states():
    state = RelaxationOptimizer(_blocks(), seed=13).state_dict()
    with pytest.raises(ValueError, match="state is for blocks"):
        RelaxationOptimizer([UnitBlock("b1")]).load_state_dict(state)
    with pytest.raises(ValueError, match="state is for update 'newton'"):
        RelaxationOptimizer(_blocks(), update="gd").load_state_dict(state)
    with pytest.raises(ValueError, match="not a RelaxationOptimizer state"):
        RelaxationOptimizer(_blocks()).load_state_dict({"theta": [1.0]})
    with pytest.raises(ValueError, match="below theta_min"):
        RelaxationOptimizer(_blocks()).load_state_dict({**state, "theta": [0.5] * 10})


def test_a_non_finite_step_is_skipped(monkeypatch):
    import raysearch.relax.optimizer as module

    monkeypatch.setattr(module, "floored_solve", lambda m, g, eta: np.full(g.size, np.inf))
    opt = RelaxationOptimizer(_blocks(), seed=14)
    xs = opt.ask(3)
    opt.tell(xs, [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(opt.theta, np.ones(10))
    assert opt.iteration == 1 and opt.history[-1]["step_scale"] is None
