"""Ray-free method registry: names, uniform builder keywords, wrap_module, the sharded ASM-NAS
average, and a state round trip for every method."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from raysearch.nas.attention import AttentionNAS
from raysearch.nas.darts import Darts
from raysearch.nas.methods import build_method, method_names
from raysearch.nas.weight_learner import SGDOptions
from raysearch.nas.xnas import XNAS
from raysearch.tune.checkpoint_state import load_state

torch.set_num_threads(1)
KW = {"in_channels": 3, "num_classes": 4, "C": 4, "layers": 3, "steps": 2, "multiplier": 2}
CORE = ["asm", "darts", "darts-1st", "xnas"]


def batches(n: int, seed: int = 1) -> list[tuple[Tensor, Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(4, 3, 8, 8, generator=g), torch.randint(0, 4, (4,), generator=g))
        for _ in range(n)
    ]


def test_names_and_types() -> None:
    assert set(CORE) <= set(method_names())
    assert method_names() == sorted(method_names())
    assert build_method("darts", KW).order == 2
    assert build_method("darts-1st", KW).order == 1
    assert isinstance(build_method("darts", KW), Darts)
    assert isinstance(build_method("xnas", KW, epochs=2), XNAS)
    assert isinstance(build_method("asm", KW, epochs=2), AttentionNAS)


def test_unknown_name_lists_names() -> None:
    with pytest.raises(KeyError, match="xnas"):
        build_method("nope", KW)


@pytest.mark.parametrize("name", CORE)
def test_uniform_keywords_and_wrap_module(name: str) -> None:
    """Every builder takes the uniform keywords; wrap_module sees the supernet, and what it
    returns is the weight step's forward."""
    seen: list[torch.nn.Module] = []

    def wrap(module: torch.nn.Module) -> torch.nn.Module:
        seen.append(module)
        return module

    method = build_method(
        name, KW, epochs=3, steps_per_epoch=2, model_forward=None,
        arch_grad_hook=lambda ts: None, wrap_module=wrap,
    )  # fmt: skip
    assert seen and seen[0] is method.supernet
    assert method.weights.forward is method.supernet
    assert method.weights.scheduler.T_max == 3


def test_xnas_horizon_is_d_epochs_replications_per_cell_type() -> None:
    """T_c = d E r_c with d = steps_per_epoch * samples_per_step (before: T = E * steps for
    both types); KW has 1 normal and 2 reduction cells."""
    method = build_method("xnas", KW, epochs=3, steps_per_epoch=5, samples_per_step=4)
    assert isinstance(method, XNAS)
    assert (method.experts[False].horizon, method.experts[True].horizon) == (60, 120)
    legacy = build_method("xnas", KW, epochs=3, steps_per_epoch=5, horizon="steps")
    assert isinstance(legacy, XNAS) and legacy.experts[True].horizon == 15


def test_method_kwargs_pass_through_and_bad_ones_fail() -> None:
    method = build_method("darts-1st", KW, a_lr=0.5)
    assert isinstance(method, Darts)
    assert method.a_optimizer.param_groups[0]["lr"] == 0.5
    with pytest.raises(TypeError, match="a_lrr"):
        build_method("darts-1st", KW, a_lrr=0.5)


def test_sharded_asm_average_equals_the_union_of_shards() -> None:
    """Two 'ranks' with shards A and B: averaging (sums, count) through arch_grad_hook gives the
    mean attention over A + B, the derivation a single worker makes on the union."""
    torch.manual_seed(0)
    method = build_method("asm", KW, epochs=2)
    assert isinstance(method, AttentionNAS)
    b = batches(3)
    method.step(b[0], b[1])
    shard_a, shard_b = b[:1], b[1:]
    other = [m * 8 for m in method.mean_attention(shard_b)] + [torch.tensor(8.0)]

    def hook(stats: list[Tensor]) -> None:
        for mine, theirs in zip(stats, other, strict=True):
            mine.add_(theirs).div_(2)

    union_means = method.mean_attention(b)
    union = method.derive(b)
    union_genotype = method.genotype()
    method.arch_grad_hook = hook  # type: ignore[attr-defined]
    for got, want in zip(method.mean_attention(shard_a), union_means, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert method.derive(shard_a) == union
    assert method.genotype() == union_genotype


@pytest.mark.parametrize("name", CORE)
def test_state_round_trip_every_method(name: str, tmp_path) -> None:
    """A method restored from its search checkpoint (``search.pt`` as the Ray Train loop writes
    it, read back with ``weights_only=True``) takes the same next step as the original."""
    torch.manual_seed(0)
    method = build_method(name, KW, epochs=2, steps_per_epoch=2)
    b = batches(4)
    method.step(b[0], b[1])
    torch.save({"method": method.state_dict(), "epoch": 1, "search_time_s": 0.5},
               tmp_path / "search.pt")  # fmt: skip
    state = load_state(tmp_path / "search.pt")["method"]
    torch.manual_seed(1)
    restored = build_method(name, KW, epochs=2, steps_per_epoch=2)
    restored.load_state_dict(state)
    out = method.step(b[2], b[3])
    again = restored.step(b[2], b[3])
    assert out["train_loss"] == pytest.approx(again["train_loss"], rel=1e-6)
    if name == "asm":
        assert method.derive(b) == restored.derive(b)  # type: ignore[attr-defined]
    else:
        for x, y in zip(method.arch_tensors(), restored.arch_tensors(), strict=True):
            assert torch.equal(x, y)


def test_weight_options_are_one_object_for_every_method() -> None:
    """DARTS, XNAS and ASM-NAS take their weight optimiser as one SGDOptions (or its JSON
    mapping, as ``method_kwargs`` carry it); a typo in a key names it."""
    options = {"lr": 0.05, "momentum": 0.5, "weight_decay": 1e-4, "lr_min": 0.0, "grad_clip": 2.0}
    for name in ("darts", "xnas", "asm"):
        method = build_method(name, KW, epochs=2, weight_options=options)
        group = method.weights.optimizer.param_groups[0]
        assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.05, 0.5, 1e-4)
        assert method.weights.grad_clip == 2.0 and method.weights.scheduler.eta_min == 0.0
    with pytest.raises(TypeError, match="lrr"):
        build_method("darts", KW, weight_options={"lrr": 0.1})
    with pytest.raises(ValueError, match="SGDOptions.lr"):
        SGDOptions(lr=-1.0)
