"""Long-tailed subsampling (LFM Sec. IV-B 1): exact per-class counts, seeding, noise on top."""

import math
from fractions import Fraction

import pytest
import torch

from raysearch.data import DatasetSplits
from raysearch.noisy import NoiseSpec
from raysearch.reweight import build_reweight_data, long_tailed_counts, make_long_tailed
from tests.conftest import synthetic_split


def _brute_force_count(labels: torch.Tensor, cls: int) -> int:
    return sum(1 for label in labels.tolist() if label == cls)


def _formula(n_max: int, classes: int, imbalance: int, c: int) -> int:
    """floor(n_max * imbalance^(-c/(C-1))), via the exact rational n_max^(C-1) / imbalance^c."""
    exact = Fraction(n_max ** (classes - 1), imbalance**c)  # (n_c)^(C-1) before the floor
    n = int(exact ** (1.0 / (classes - 1)))
    while (n + 1) ** (classes - 1) <= exact:
        n += 1
    while n ** (classes - 1) > exact:
        n -= 1
    return n


@pytest.mark.parametrize("n_max,classes,imbalance", [(1000, 10, 100), (300, 4, 3), (57, 5, 7)])
def test_counts_follow_the_exponential_profile_exactly(n_max, classes, imbalance):
    counts = long_tailed_counts(n_max, classes, imbalance)
    assert counts == [_formula(n_max, classes, imbalance, c) for c in range(classes)]
    assert counts[0] == n_max and counts[-1] == n_max // imbalance
    assert counts == sorted(counts, reverse=True)


def test_subsample_has_the_formula_counts_by_brute_force_and_is_seeded():
    split = synthetic_split(400, classes=4)  # 100 per class
    tail = make_long_tailed(split, num_classes=4, imbalance=10, seed=3)
    got = [_brute_force_count(tail.labels, c) for c in range(4)]
    assert got == [math.floor(100 / 10 ** (c / 3)) for c in range(4)] == [100, 46, 21, 10]
    again = make_long_tailed(split, num_classes=4, imbalance=10, seed=3)
    other = make_long_tailed(split, num_classes=4, imbalance=10, seed=4)
    assert torch.equal(tail.images, again.images)
    assert not torch.equal(tail.images, other.images)


def test_imbalance_one_keeps_a_balanced_subset_of_the_smallest_class_size():
    split = synthetic_split(403, classes=4)  # 101, 101, 101, 100
    balanced = make_long_tailed(split, num_classes=4, imbalance=1, seed=0)
    assert [_brute_force_count(balanced.labels, c) for c in range(4)] == [100] * 4


@pytest.mark.parametrize("bad", [0.5, 0.0, -3.0, float("nan"), float("inf")])
def test_bad_imbalance_is_a_value_error_naming_it(bad):
    with pytest.raises(ValueError, match="imbalance factor must be a finite number >= 1") as info:
        long_tailed_counts(100, 10, bad)
    assert repr(bad) in str(info.value)


def test_too_few_samples_for_the_factor_is_a_value_error():
    with pytest.raises(ValueError, match="rarest class would be empty"):
        long_tailed_counts(50, 10, 100)


def test_long_tail_then_label_noise_and_a_clean_balanced_meta_set():
    splits = DatasetSplits(
        name="toy",
        train=synthetic_split(800, classes=4, seed=1),
        val=synthetic_split(120, classes=4, seed=2),
        test=synthetic_split(40, classes=4, seed=3),
        num_classes=4,
    )
    data = build_reweight_data(
        splits, imbalance=20, noise=NoiseSpec.parse("symmetric:0.4"), num_meta=5, seed=0
    )
    assert data.train_class_counts() == long_tailed_counts(200, 4, 20) == [200, 73, 27, 10]
    # the noise sits on top of the long-tailed clean labels, at about the requested rate
    assert torch.equal(data.noisy.clean_train, data.noisy.train.labels == data.true_train_labels)
    assert 0.3 < data.noisy.actual_noise_rate < 0.5
    # meta: 5 clean samples of every class, disjoint from the (noisy) validation split
    assert [_brute_force_count(data.meta.labels, c) for c in range(4)] == [5] * 4
    assert len(data.meta) + len(data.noisy.val) == 120
    assert torch.equal(data.noisy.test.labels, splits.test.labels)


def test_too_small_validation_split_for_the_meta_set_names_the_class():
    splits = DatasetSplits(
        name="toy", train=synthetic_split(80), val=synthetic_split(8), test=synthetic_split(8),
        num_classes=4,
    )  # fmt: skip
    with pytest.raises(ValueError, match="num_meta=3 but class 0 has only 2"):
        build_reweight_data(splits, imbalance=1, noise=NoiseSpec.parse("none"), num_meta=3, seed=0)
