"""Ray-free registry of supernet methods: name -> builder(supernet kwargs, method kwargs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from torch import Tensor

from raysearch.nas.attention import AttentionNAS, AttentionSuperNet
from raysearch.nas.darts import Darts
from raysearch.nas.supernet import SuperNet
from raysearch.nas.unrolled import Batch
from raysearch.nas.weight_learner import WeightLearner
from raysearch.nas.xnas import XNAS
from search_spaces.darts import Genotype


class SupernetMethod(Protocol):
    """What every method offers (DESIGN.md, "Supernet method"); wrappers (LeaSE, LFM) too."""

    weights: WeightLearner

    @property
    def supernet(self) -> SuperNet: ...

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, float]: ...

    def epoch_end(self) -> None: ...

    def genotype(self) -> Genotype: ...

    def arch_tensors(self) -> list[Tensor]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def _darts(order: int) -> Callable[..., SupernetMethod]:
    def build(supernet_kwargs: dict[str, Any], **kw: Any) -> SupernetMethod:
        return Darts(SuperNet(**supernet_kwargs), order=order, **kw)

    return build


def _xnas(supernet_kwargs: dict[str, Any], **kw: Any) -> SupernetMethod:
    return XNAS(SuperNet(**supernet_kwargs), **kw)


def _asm(supernet_kwargs: dict[str, Any], **kw: Any) -> SupernetMethod:
    return AttentionNAS(AttentionSuperNet(**supernet_kwargs), **kw)


METHODS: dict[str, Callable[..., SupernetMethod]] = {
    "darts": _darts(2),
    "darts-1st": _darts(1),
    "xnas": _xnas,
    "asm": _asm,
}


def method_names() -> list[str]:
    return sorted(METHODS)


def build_method(
    name: str, supernet_kwargs: dict[str, Any], **method_kwargs: Any
) -> SupernetMethod:
    """Build the supernet and the method ``name``; the method's ``.supernet`` is the network."""
    if name not in METHODS:
        raise KeyError(f"unknown supernet method {name!r}; known: {method_names()}")
    return METHODS[name](supernet_kwargs, **method_kwargs)
