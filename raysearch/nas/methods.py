"""Ray-free registry of supernet methods: name -> builder(supernet kwargs, method kwargs).

Every builder takes the same keywords and ignores those its method does not use:

- ``epochs``, ``steps_per_epoch``, ``samples_per_step``: the search length (cosine schedules)
  and the validation samples per architecture step over all workers (XNAS' horizon
  T_c = d E r_c with d = steps_per_epoch * samples_per_step, its Sec. 3.1);
- ``wrap_module(module) -> forward``: applied to every network the method trains, the supernet
  first (on Ray Train: move to the worker's device and wrap in DDP); identity by default;
- ``model_forward``: replaces the wrapped supernet's forward for the weight step when given;
- ``arch_grad_hook(tensors)``: averages, in place, what the architecture update is computed
  from across workers (DARTS: the alpha gradients; XNAS: the gradients w.r.t. u; ASM-NAS: the
  attention sums and sample count of its Sec. 4.3 average);

plus the method's own keywords (e.g. ``a_lr``), passed through unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from torch import Tensor, nn

from raysearch.nas.attention import AttentionNAS, AttentionSuperNet
from raysearch.nas.darts import Darts
from raysearch.nas.hypergrad import check_base
from raysearch.nas.lease import LeaSE
from raysearch.nas.lfm import LFM
from raysearch.nas.supernet import SuperNet
from raysearch.nas.unrolled import Batch
from raysearch.nas.weight_learner import WeightLearner
from raysearch.nas.xnas import XNAS
from search_spaces.darts import Genotype

Forward = Callable[[Tensor], Tensor]
WrapModule = Callable[[nn.Module], Forward]
ArchGradHook = Callable[[list[Tensor]], None]


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


def no_wrap(module: nn.Module) -> Forward:
    """The default ``wrap_module``: the module itself."""
    return module


def _forward(net: nn.Module, model_forward: Forward | None, wrap_module: WrapModule) -> Forward:
    wrapped = wrap_module(net)
    return wrapped if model_forward is None else model_forward


def _builder(
    network: type[SuperNet], make: Callable[..., SupernetMethod], *, horizon: bool = False
) -> Callable[..., SupernetMethod]:
    """A registry builder: ``network(**supernet_kwargs)`` wrapped, then ``make(net, ...)``;
    ``horizon`` passes ``steps_per_epoch`` and ``samples_per_step`` on (XNAS' T_c), the others
    ignore them."""

    def build(
        supernet_kwargs: dict[str, Any],
        *,
        epochs: int = 50,
        steps_per_epoch: int = 1,
        samples_per_step: int = 1,
        model_forward: Forward | None = None,
        arch_grad_hook: ArchGradHook | None = None,
        wrap_module: WrapModule = no_wrap,
        **kw: Any,
    ) -> SupernetMethod:
        net = network(**supernet_kwargs)
        forward = _forward(
            net, model_forward, wrap_module
        )  # first: XNAS' experts follow its device
        if horizon:
            kw.update(steps_per_epoch=steps_per_epoch, samples_per_step=samples_per_step)
        return make(net, epochs=epochs, model_forward=forward, arch_grad_hook=arch_grad_hook, **kw)

    return build


METHODS: dict[str, Callable[..., SupernetMethod]] = {
    "darts": _builder(SuperNet, partial(Darts, order=2)),
    "darts-1st": _builder(SuperNet, partial(Darts, order=1)),
    "xnas": _builder(SuperNet, XNAS, horizon=True),
    "asm": _builder(AttentionSuperNet, AttentionNAS),
}


def _multilevel(wrapper: type[LeaSE] | type[LFM]) -> Callable[..., SupernetMethod]:
    """LeaSE or LFM around the base method ``base`` (``darts``, ``darts-1st`` or ``xnas``): the
    wrapper's own keywords go to it, ``epochs`` to both, the rest to the base."""

    def build(
        supernet_kwargs: dict[str, Any],
        *,
        base: str = "darts",
        wrap_module: WrapModule = no_wrap,
        **kw: Any,
    ) -> SupernetMethod:
        check_base(base)
        own = {name: kw.pop(name) for name in wrapper.KEYWORDS if name in kw}
        own.update({name: kw[name] for name in ("epochs",) if name in kw})
        if "second" in wrapper.KEYWORDS and "second" not in own:  # LFM's W2, its own init
            own["second"] = SuperNet(**supernet_kwargs)
        inner = METHODS[base](
            supernet_kwargs, wrap_module=wrap_module, **{**wrapper.base_defaults(base), **kw}
        )
        assert isinstance(inner, (Darts, XNAS))
        return wrapper(inner, wrap_module=wrap_module, **own)

    return build


METHODS["lease"] = _multilevel(LeaSE)
METHODS["lfm"] = _multilevel(LFM)


def method_names() -> list[str]:
    return sorted(METHODS)


def takes_base(name: str) -> bool:
    """Whether method ``name`` wraps a base method (its builder takes ``base=``)."""
    return "base" in inspect.signature(METHODS[name]).parameters


def build_method(
    name: str, supernet_kwargs: dict[str, Any], **method_kwargs: Any
) -> SupernetMethod:
    """Build the supernet and the method ``name``; the method's ``.supernet`` is the network."""
    if name not in METHODS:
        raise KeyError(f"unknown supernet method {name!r}; known: {method_names()}")
    return METHODS[name](supernet_kwargs, **method_kwargs)
