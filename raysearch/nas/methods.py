"""Ray-free registry of supernet methods: name -> builder(supernet kwargs, method kwargs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from raysearch.nas.attention import AttentionNAS, AttentionSuperNet
from raysearch.nas.darts import Darts
from raysearch.nas.supernet import SuperNet
from raysearch.nas.xnas import XNAS

Method = Any  # step(train_batch, val_batch) -> dict, state_dict(), load_state_dict()


def _darts(order: int) -> Callable[..., Method]:
    def build(supernet_kwargs: dict[str, Any], **kw: Any) -> Method:
        return Darts(SuperNet(**supernet_kwargs), order=order, **kw)

    return build


def _xnas(supernet_kwargs: dict[str, Any], **kw: Any) -> Method:
    return XNAS(SuperNet(**supernet_kwargs), **kw)


def _asm(supernet_kwargs: dict[str, Any], **kw: Any) -> Method:
    return AttentionNAS(AttentionSuperNet(**supernet_kwargs), **kw)


METHODS: dict[str, Callable[..., Method]] = {
    "darts": _darts(2),
    "darts-1st": _darts(1),
    "xnas": _xnas,
    "asm": _asm,
}


def method_names() -> list[str]:
    return sorted(METHODS)


def build_method(name: str, supernet_kwargs: dict[str, Any], **method_kwargs: Any) -> Method:
    """Build the supernet and the method ``name``; the method's ``.supernet`` is the network."""
    if name not in METHODS:
        raise KeyError(f"unknown supernet method {name!r}; known: {method_names()}")
    return METHODS[name](supernet_kwargs, **method_kwargs)
