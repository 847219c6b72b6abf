import json
import math

import numpy as np
import pytest

from raysearch.relax import CategoricalBlock, SimplexBlock, UnitBlock
from search_spaces.fitting import fit_family
from search_spaces.schedules import T_REF, basis, default_config, family_names, get_family


def _random_sample(family, rng):
    sample = {}
    for block in family.blocks():
        if isinstance(block, SimplexBlock):
            sample.update(zip(block.names, rng.dirichlet(np.ones(len(block.names))), strict=True))
        elif isinstance(block, CategoricalBlock):
            sample[block.name] = int(rng.integers(block.num_choices))
        else:
            sample[block.name] = float(rng.random())
    return sample


@pytest.mark.parametrize("name", family_names())
def test_every_family_keeps_a_fraction_in_unit_interval_over_random_configs(name):
    family, rng = get_family(name), np.random.default_rng(0)
    for _ in range(200):
        config = family.decode(_random_sample(family, rng))
        for epochs in (1, 7, 200):
            values = family.values(config, epochs)
            assert values.shape == (epochs,) and np.all((values >= 0) & (values <= 1))
        assert json.loads(json.dumps(config)) == config  # plain JSON, unchanged by a round trip


@pytest.mark.parametrize("name", family_names())
def test_decoded_configs_validate_to_themselves_and_params_stay_in_range(name):
    family, rng = get_family(name), np.random.default_rng(1)
    for _ in range(50):
        config = family.decode(_random_sample(family, rng))
        assert family.validate(config) == pytest.approx(config)
        for p in family.params:
            if p.choices is None:
                assert p.low <= config[p.name] <= p.high


def test_s2e_blocks_are_one_4_simplex_and_sixteen_betas():
    blocks = get_family("s2e").blocks()
    simplex = [b for b in blocks if isinstance(b, SimplexBlock)]
    assert len(simplex) == 1 and simplex[0].names == ("alpha1", "alpha2", "alpha3", "alpha4")
    assert sum(isinstance(b, UnitBlock) for b in blocks) == 16


@pytest.mark.parametrize(
    ("tau", "t_k", "c"), [(0.5, 10, 1.0), (0.2, 60, 0.5), (0.8, 150, 2.0), (0.3, 0, 1.0)]
)
def test_coteaching_family_equals_the_coteaching_formula(tau, t_k, c):
    family = get_family("coteaching")
    config = {"tau": tau, "t_k": t_k, "c": c}
    for epochs in (200, 40):
        got = family.values(config, epochs)
        for t in range(epochs):
            t_ref = t * T_REF / epochs
            ramp = 0.0 if t == 0 else (1.0 if t_k == 0 else min((t_ref / t_k) ** c, 1.0))
            assert math.isclose(got[t], 1 - tau * ramp, abs_tol=1e-12)


def test_basis_functions_match_table_1_by_hand():
    t = np.array([0.0, 10.0, 100.0])
    a1, a2, a3, a4 = 0.7, 0.1, 0.3, 1.5
    dec_exp = [math.exp(-a2 * x**a1) for x in t]
    dec_pow = [(1 + a2 * x) ** (-a1) for x in t]
    inc_poly = [(x / 200) ** a4 for x in t]
    inc_log = [math.log(1 + x**a4) / math.log(1 + 200**a4) for x in t]
    expected = {
        1: [d + a3 * i for d, i in zip(dec_exp, inc_poly, strict=True)],
        2: [d + a3 * i for d, i in zip(dec_exp, inc_log, strict=True)],
        3: [d + a3 * i for d, i in zip(dec_pow, inc_poly, strict=True)],
        4: [d + a3 * i for d, i in zip(dec_pow, inc_log, strict=True)],
    }
    for i, values in expected.items():
        assert np.allclose(basis(i, a1, a2, a3, a4, t), values)


def test_s2e_mix_is_the_alpha_weighted_sum_and_weights_are_normalised():
    family = get_family("s2e")
    config = family.center_config()
    config.update(alpha1=2.0 / 10, alpha2=4.0 / 10, alpha3=3.0 / 10, alpha4=1.0 / 10)
    t = np.arange(20) * T_REF / 20
    mix = sum(
        config[f"alpha{i}"] * basis(i, *(config[f"f{i}_a{j}"] for j in range(1, 5)), t)
        for i in range(1, 5)
    )
    assert np.allclose(family.values(config, 20), np.clip(mix, 0, 1))
    raw = dict(config, alpha1=2.0, alpha2=4.0, alpha3=3.0, alpha4=1.0)
    assert family.validate(raw)["alpha2"] == pytest.approx(0.4)


def test_bad_configs_name_what_is_wrong():
    family = get_family("coteaching")
    with pytest.raises(KeyError, match="t_k"):
        family.validate({"tau": 0.5, "c": 1.0})
    with pytest.raises(KeyError, match="bogus"):
        family.validate({"tau": 0.5, "c": 1.0, "t_k": 10, "bogus": 1})
    with pytest.raises(ValueError, match="tau"):
        family.validate({"tau": 1.5, "c": 1.0, "t_k": 10})
    with pytest.raises(ValueError, match="family"):
        family.validate({"family": "s2e", "tau": 0.5, "c": 1.0, "t_k": 10})
    with pytest.raises(KeyError, match="registered families"):
        get_family("cosine")
    with pytest.raises(ValueError, match="epoch 5"):
        family.schedule(default_config("coteaching"), 5)(5)


def test_defaults_are_coteaching_and_standard_training():
    assert default_config("coteaching", noise_rate=0.45) == {
        "family": "coteaching",
        "tau": 0.45,
        "t_k": 10.0,
        "c": 1.0,
    }
    assert np.all(get_family("constant").values(default_config("constant"), 10) == 1.0)


@pytest.mark.parametrize(("tau", "c", "t_k"), [(0.3, 1.0, 10.0), (0.5, 0.5, 60.0)])
def test_appendix_b1_s2e_space_approximates_coteaching_schedules(tau, c, t_k):
    target = get_family("coteaching").values({"tau": tau, "c": c, "t_k": t_k}, 50)
    config, rmse = fit_family(get_family("s2e"), target, restarts=2, seed=0)
    assert rmse < 0.02
    assert math.isclose(
        rmse,
        float(np.sqrt(np.mean((get_family("s2e").values(config, 50) - target) ** 2))),
        rel_tol=1e-9,
    )
