import math

import numpy as np
import pytest
import torch

from raysearch.data.splits import DatasetSplits, ImageSplit
from raysearch.nas.search_split import alpha_digest, alpha_entropy, search_shards
from raysearch.tune.nas_search import SearchSettings, steps_per_epoch


def _split(n: int) -> ImageSplit:
    images = (
        (torch.arange(n) % 256).to(torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    )
    return ImageSplit(images, torch.arange(n, dtype=torch.long))


def test_shards_are_disjoint_and_cover_everything() -> None:
    split = _split(40)
    seen: list[int] = []
    for rank in range(2):
        w, a = search_shards(split, rank=rank, world_size=2, seed=3)
        assert len(w) == 10 and len(a) == 10
        assert not set(w.labels.tolist()) & set(a.labels.tolist())
        seen += w.labels.tolist() + a.labels.tolist()
    assert sorted(seen) == list(range(40))


def test_shards_depend_only_on_seed() -> None:
    split = _split(30)
    w1, _ = search_shards(split, rank=1, world_size=3, seed=7)
    w2, _ = search_shards(split, rank=1, world_size=3, seed=7)
    assert torch.equal(w1.labels, w2.labels)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rank": 2, "world_size": 2},
        {"rank": 0, "world_size": 0},
        {"rank": 0, "world_size": 1, "train_portion": 1.0},
    ],
)
def test_bad_arguments_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        search_shards(_split(10), **kwargs)


def test_alpha_entropy_bounds_and_digest() -> None:
    uniform = [torch.zeros(14, 8), torch.zeros(14, 8)]
    assert alpha_entropy(uniform) == pytest.approx(math.log(8))
    peaked = [torch.full((3, 4), -1e4).index_fill_(1, torch.tensor([0]), 0.0)]
    assert alpha_entropy(peaked) == pytest.approx(0.0, abs=1e-6)
    a = [torch.from_numpy(np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32))]
    b = [a[0].clone()]
    assert alpha_digest(a) == alpha_digest(b)
    b[0][0, 0] += 1e-6
    assert alpha_digest(a) != alpha_digest(b)


def test_cifar10_search_split_is_25k_25k() -> None:
    """DARTS train_search.py: train_portion 0.5 of all 50k CIFAR-10 training images. The
    registry holds 10 % back as validation; the search folds it back (before: 22.5k/22.5k)."""
    n_train, n_val = 45_000, 5_000  # what load_dataset("cifar10") returns (val_fraction 0.1)
    data = DatasetSplits("cifar10", _split(n_train), _split(n_val), _split(10), 10)
    whole = data.full_train()
    assert len(whole) == 50_000
    w, a = search_shards(whole, rank=0, world_size=1, seed=0)
    assert (len(w), len(a)) == (25_000, 25_000)
    settings = SearchSettings(dataset="cifar10", batch_size=64)
    assert steps_per_epoch(settings, len(whole), 1) == 390  # 25_000 // 64, as DARTS' epoch
