"""Relaxation of Tune search spaces (does not start Ray)."""

import math

import numpy as np
import pytest
import ray
from ray import tune
from ray.tune.search.sample import Categorical, Float

from raysearch.relax import (
    SAMPLE_EPS,
    CategoricalBlock,
    RelaxationOptimizer,
    SimplexBlock,
    UnitBlock,
)
from raysearch.tune.space_relaxation import SUPPORTED, relax_tune_space

U_GRID = np.concatenate([[SAMPLE_EPS, 1 - SAMPLE_EPS, 0.5], np.linspace(0.0005, 0.9995, 2000)])


def _decode_values(domain, key="x"):
    """Decoded values of ``{key: domain}`` over a fine grid of Beta values u."""
    blocks, decode = relax_tune_space({key: domain})
    assert blocks == [UnitBlock(key)]
    return [decode({key: float(u)})[key] for u in U_GRID]


@pytest.mark.parametrize(
    ("domain", "lower", "upper"),
    [(tune.uniform(-2.0, 3.0), -2.0, 3.0), (tune.loguniform(1e-4, 1e-1), 1e-4, 1e-1)],
)
def test_continuous_domains_stay_inside_their_bounds(domain, lower, upper):
    values = _decode_values(domain)
    assert all(type(v) is float and lower <= v <= upper for v in values)
    assert min(values) == pytest.approx(lower, rel=1e-6) and max(values) == pytest.approx(
        upper, rel=1e-6
    )


def test_loguniform_median_maps_to_the_geometric_mean():
    _, decode = relax_tune_space({"lr": tune.loguniform(1e-4, 1e-1)})
    assert decode({"lr": 0.5})["lr"] == pytest.approx(math.sqrt(1e-4 * 1e-1), rel=1e-12)
    _, decode = relax_tune_space({"w": tune.uniform(2.0, 6.0)})
    assert decode({"w": 0.5})["w"] == 4.0


@pytest.mark.parametrize(
    ("domain", "q", "lower", "upper"),
    [
        (tune.quniform(-1.0, 2.0, 0.25), 0.25, -1.0, 2.0),
        (tune.qloguniform(1e-3, 1.0, 1e-3), 1e-3, 1e-3, 1.0),
    ],
)
def test_quantized_floats_land_on_their_grid(domain, q, lower, upper):
    values = _decode_values(domain)
    for v in values:
        assert lower - 1e-12 <= v <= upper + 1e-12
        assert math.isclose(v / q, round(v / q), abs_tol=1e-9)
    assert math.isclose(min(values), lower) and math.isclose(max(values), upper)


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        (tune.randint(3, 7), {3, 4, 5, 6}),
        (tune.qrandint(0, 20, 5), {0, 5, 10, 15, 20}),
        (tune.qrandint(1, 10), set(range(1, 10))),
        (tune.lograndint(1, 100), set(range(1, 100))),
        (tune.qlograndint(4, 64, 4), set(range(4, 65, 4))),
    ],
)
def test_integer_domains_decode_onto_tunes_own_support(domain, expected):
    values = _decode_values(domain)
    assert all(type(v) is int for v in values)
    assert set(values) <= expected
    if len(expected) < 20:
        assert set(values) == expected
    ray_draws = set(np.atleast_1d(domain.sample(size=3000, random_state=np.random.default_rng(0))))
    assert {int(v) for v in ray_draws} <= expected  # the same support as Tune's sampler


def test_randint_maps_uniform_beta_values_to_uniform_integers():
    counts = np.bincount(_decode_values(tune.randint(0, 4))[3:], minlength=4)
    assert counts.tolist() == [500, 500, 500, 500]


def test_choice_constants_and_nesting():
    space = {
        "model": {
            "act": tune.choice(["relu", {"name": "gelu"}, 3]),
            "depth": 4,
            "only": tune.choice([7]),
        },
        "lr": tune.uniform(0.0, 1.0),
        "tags": ["a", "b"],
    }
    blocks, decode = relax_tune_space(space)
    assert blocks == [CategoricalBlock("model/act", 3), UnitBlock("lr")]
    config = decode({"model/act": 1, "lr": 0.25})
    assert config == {
        "model": {"act": {"name": "gelu"}, "depth": 4, "only": 7},
        "lr": 0.25,
        "tags": ["a", "b"],
    }
    config["model"]["act"]["name"] = "changed"
    config["tags"].append("c")
    assert decode({"model/act": 1, "lr": 0.25})["model"]["act"] == {"name": "gelu"}
    assert space["tags"] == ["a", "b"]
    assert [decode({"model/act": i, "lr": 0.5})["model"]["act"] for i in (0, 2)] == ["relu", 3]


def test_simplex_group_weights_sum_to_one():
    space = {"mix": {f"w{i}": tune.uniform(0, 1) for i in range(1, 5)}, "beta": tune.uniform(0, 2)}
    group = ("mix/w1", "mix/w2", "mix/w3", "mix/w4")
    blocks, decode = relax_tune_space(space, simplex_groups=[group])
    assert blocks == [SimplexBlock(group), UnitBlock("beta")]
    opt = RelaxationOptimizer(blocks, seed=0)
    for sample in opt.ask(20):
        config = decode(sample)
        weights = list(config["mix"].values())
        assert sum(weights) == pytest.approx(1.0, abs=1e-12) and min(weights) > 0
        assert 0 <= config["beta"] <= 2


def test_optimizer_samples_decode_to_valid_tune_values():
    space = {
        "a": tune.uniform(-1, 1),
        "b": tune.loguniform(1e-5, 1e-2),
        "c": tune.quniform(0, 10, 0.5),
        "d": tune.randint(0, 3),
        "e": tune.qrandint(8, 64, 8),
        "f": tune.choice(["x", "y"]),
        "g": {"h": tune.lograndint(2, 50)},
    }
    blocks, decode = relax_tune_space(space)
    opt = RelaxationOptimizer(blocks, update="gd", step_size=5.0, seed=1)
    for _ in range(3):
        samples = opt.ask(8)
        for config in map(decode, samples):
            for key in "abcdef":
                assert space[key].is_valid(config[key]), (key, config[key])
            assert space["g"]["h"].is_valid(config["g"]["h"])
            assert config["e"] % 8 == 0 and config["d"] != 3
        opt.tell(samples, [decode(s)["a"] for s in samples])
    assert not ray.is_initialized()


@pytest.mark.parametrize(
    ("domain", "kind"),
    [
        (tune.randn(), "Float(Normal)"),
        (tune.qrandn(0.0, 1.0, 0.5), "Float(Quantized(Normal))"),
        (tune.sample_from(lambda config: 1), "Function"),
        (tune.grid_search([1, 2]), "tune.grid_search"),
        (Categorical([1, 2]).grid(), "Categorical(Grid)"),
        (Float(0.0, None), "Float(Uniform)"),
        ([1, tune.uniform(0, 1)], "a domain inside a list"),
        (tune.choice([]), "no categories"),
    ],
)
def test_unsupported_domains_raise_naming_the_key_and_domain(domain, kind):
    with pytest.raises(ValueError) as err:
        relax_tune_space({"ok": tune.uniform(0, 1), "model": {"bad": domain}})
    message = str(err.value)
    assert "'model/bad'" in message and kind in message and SUPPORTED in message


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ([("w1",)], "needs at least 2 keys"),
        ([("w1", "nope")], "'nope' is not in the search space"),
        ([("w1", "w2"), ("w2", "w3")], "'w2' appears in more than one group"),
        ([("w1", "lr")], "'lr' must be tune.uniform(0, 1)"),
    ],
)
def test_bad_simplex_groups_raise(groups, message):
    space = {
        "w1": tune.uniform(0, 1),
        "w2": tune.uniform(0, 1),
        "w3": tune.uniform(0, 1),
        "lr": tune.loguniform(1e-3, 1),
    }
    with pytest.raises(ValueError) as err:
        relax_tune_space(space, simplex_groups=groups)
    assert message in str(err.value)


def test_spaces_without_domains_or_with_ambiguous_keys_raise():
    with pytest.raises(ValueError, match="no domain to search"):
        relax_tune_space({"a": 1, "b": {"c": "x"}})
    with pytest.raises(ValueError, match="'a/b' must be a non-empty string without '/'"):
        relax_tune_space({"a/b": tune.uniform(0, 1)})
