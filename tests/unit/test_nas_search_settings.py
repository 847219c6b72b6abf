"""The Ray-free parts of the Ray Train search job: validation, scaling, steps, shards."""

from __future__ import annotations

import math

import pytest
import torch

from raysearch.tune.nas_search import (
    SearchSettings,
    arch_entropy,
    check_search,
    scaling_kwargs,
    shard_rows,
    steps_per_epoch,
)

TINY = {"C": 2, "layers": 1, "batch_size": 8, "max_batches": 1}


def test_unknown_method_and_bad_sizes() -> None:
    with pytest.raises(KeyError, match="darts-1st"):
        SearchSettings(method="nope")
    with pytest.raises(ValueError, match="epochs"):
        SearchSettings(epochs=0)
    with pytest.raises(ValueError, match="max_batches"):
        SearchSettings(max_batches=0)


def test_scaling_kwargs_cpu_gpu_and_errors() -> None:
    assert scaling_kwargs(2, 0.0) == {
        "num_workers": 2, "use_gpu": False, "resources_per_worker": {"CPU": 1, "GPU": 0.0},
    }  # fmt: skip
    gpu = scaling_kwargs(1, 0.5)
    assert gpu["use_gpu"] is True and gpu["resources_per_worker"]["GPU"] == 0.5
    with pytest.raises(ValueError, match="gpus_per_worker"):
        scaling_kwargs(1, -1.0)
    with pytest.raises(ValueError, match="gpus_per_worker"):
        scaling_kwargs(1, math.nan)
    with pytest.raises(ValueError, match="workers"):
        scaling_kwargs(0, 0.0)


def test_steps_per_epoch_counts_the_smallest_shard() -> None:
    s = SearchSettings(batch_size=10)
    assert steps_per_epoch(s, 101, 2) == 2  # halves 50/51 -> 25 per rank -> 2 batches
    assert steps_per_epoch(SearchSettings(batch_size=10, max_batches=1), 101, 2) == 1
    with pytest.raises(ValueError, match="batch"):
        steps_per_epoch(SearchSettings(batch_size=64), 101, 2)


def test_shard_rows_are_disjoint_and_cover_the_split() -> None:
    shards = [shard_rows(11, rank=r, world_size=2, seed=3) for r in (0, 1)]
    rows = [set(t.tolist()) for pair in shards for t in pair]
    assert sum(map(len, rows)) == 11 and set().union(*rows) == set(range(11))
    assert torch.equal(shard_rows(11, rank=0, world_size=2, seed=3)[0], shards[0][0])


def test_arch_entropy_nan_when_empty() -> None:
    assert math.isnan(arch_entropy([]))
    assert arch_entropy([torch.zeros(3, 8)]) == pytest.approx(math.log(8))
    wiped = torch.tensor([[0.0, -math.inf]])  # XNAS: a wiped expert has log u = -inf
    assert arch_entropy([wiped]) == pytest.approx(0.0, abs=1e-6)


def test_check_search_rejects_bad_keywords_before_ray() -> None:
    check_search(SearchSettings(method="xnas", **TINY), workers=2, gpus_per_worker=0)
    with pytest.raises(TypeError, match="a_lrr"):
        check_search(
            SearchSettings(method_kwargs={"a_lrr": 1.0}, **TINY), workers=1, gpus_per_worker=0
        )
    with pytest.raises(ValueError, match="gpus_per_worker"):
        check_search(SearchSettings(**TINY), workers=1, gpus_per_worker=-1)
    with pytest.raises(ValueError, match="batch"):
        check_search(SearchSettings(**{**TINY, "batch_size": 10**6}), workers=1, gpus_per_worker=0)
