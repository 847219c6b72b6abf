import numpy as np
import pytest
import torch

from raysearch.data import load_dataset
from raysearch.noisy import NoiseSpec, corrupt_labels, make_noisy, transition_matrix


def test_symmetric_matrix_spreads_the_rate_over_the_other_classes():
    p = transition_matrix("symmetric", 0.5, 10)
    assert np.allclose(np.diag(p), 0.5)
    assert np.allclose(p[~np.eye(10, dtype=bool)], 0.5 / 9)
    assert np.allclose(p.sum(axis=1), 1.0)


def test_pair_matrix_flips_class_i_to_i_plus_one_mod_c():
    p = transition_matrix("pair", 0.45, 4)
    expected = np.array(
        [[0.55, 0.45, 0, 0], [0, 0.55, 0.45, 0], [0, 0, 0.55, 0.45], [0.45, 0, 0, 0.55]]
    )
    assert np.allclose(p, expected)


@pytest.mark.parametrize(
    ("kind", "rate", "classes"),
    [
        ("pair", 0.5, 10),
        ("pair", -0.1, 10),
        ("symmetric", 0.9, 10),
        ("symmetric", 0.5, 2),
        ("uniform", 0.2, 10),
    ],
)
def test_invalid_noise_is_an_error_naming_the_value(kind, rate, classes):
    with pytest.raises(ValueError) as err:
        transition_matrix(kind, rate, classes)
    assert str(rate) in str(err.value) or kind in str(err.value)


@pytest.mark.parametrize(("kind", "rate"), [("symmetric", 0.5), ("pair", 0.45), ("symmetric", 0.2)])
def test_corruption_frequencies_match_the_transition_matrix(kind, rate):
    clean = np.repeat(np.arange(10), 20_000)
    noisy = corrupt_labels(clean, kind=kind, rate=rate, seed=0, num_classes=10).numpy()
    empirical = np.zeros((10, 10))
    np.add.at(empirical, (clean, noisy), 1)
    empirical /= empirical.sum(axis=1, keepdims=True)
    assert np.abs(empirical - transition_matrix(kind, rate, 10)).max() < 0.01


def test_corruption_is_seeded():
    labels = torch.arange(1000) % 10
    a = corrupt_labels(labels, kind="symmetric", rate=0.5, seed=1)
    assert torch.equal(a, corrupt_labels(labels, kind="symmetric", rate=0.5, seed=1))
    assert not torch.equal(a, corrupt_labels(labels, kind="symmetric", rate=0.5, seed=2))


@pytest.mark.parametrize("text", ["symmetric", "sym:0.5", "pair:abc", "pair:1.2", "symmetric:-0.1"])
def test_bad_noise_specs_are_rejected(text):
    with pytest.raises(ValueError, match="noise"):
        NoiseSpec.parse(text)


def test_noise_spec_round_trip():
    for text in ("symmetric:0.5", "pair:0.45", "none"):
        assert str(NoiseSpec.parse(text)) == text


def test_make_noisy_corrupts_train_val_only_when_asked_and_never_test():
    splits = load_dataset("fashion-mnist-mini")
    clean_val = make_noisy(splits, NoiseSpec.parse("pair:0.45"), seed=0)
    assert torch.equal(clean_val.val.labels, splits.val.labels)
    data = make_noisy(splits, NoiseSpec.parse("pair:0.45"), seed=0, val="noisy")
    assert torch.equal(clean_val.train.labels, data.train.labels)
    assert torch.equal(data.test.labels, splits.test.labels)
    assert torch.equal(data.clean_train, data.train.labels == splits.train.labels)
    assert abs(data.actual_noise_rate - 0.45) < 0.02
    val_noise = float((data.val.labels != splits.val.labels).float().mean())
    assert abs(val_noise - 0.45) < 0.05
    flipped = data.train.labels != splits.train.labels
    assert torch.equal(data.train.labels[flipped], (splits.train.labels[flipped] + 1) % 10)
