"""Generic relaxation of Ray Tune search spaces, so the S2E optimizer can drive any bounded space.

:func:`relax_tune_space` turns a Tune ``param_space`` into relaxation blocks
(:mod:`raysearch.relax`) plus a ``decode`` function from a relaxation sample to a Tune config:

================================  ==========================================================
Tune domain                       relaxation and decoding of u ~ Beta(a, b) on (0, 1)
================================  ==========================================================
``tune.uniform(l, h)``            l + (h - l) u
``tune.loguniform(l, h)``         exp(log l + (log h - log l) u); u = 1/2 is √(l h)
``tune.quniform / qloguniform``   the same on [⌈l/q⌉ q, ⌊h/q⌋ q], rounded to a multiple of q
``tune.randint(l, h)``            l + ⌊(h - l) u⌋ in {l .. h-1} (h exclusive, as in Tune)
``tune.lograndint(l, h)``         ⌊exp(log l + (log h - log l) u)⌋ clipped to {l .. h-1}
``tune.qrandint / qlograndint``   the same on Tune's grid indices (h inclusive unless q = 1)
``tune.choice(categories)``       a CategoricalBlock; the config gets the category itself
constants                         copied unchanged (a one-element ``tune.choice`` too)
================================  ==========================================================

Names: a nested key is named with Tune's flattened ``"a/b"`` form in the blocks and samples;
``decode`` returns a *nested* config with the same structure as ``param_space``.

``simplex_groups`` declares groups of keys (flattened names), each a ``tune.uniform(0, 1)``, that
are searched as one Dirichlet block (S2E's mix weights): their decoded values sum to 1.

Anything else -- ``tune.randn``, ``tune.qrandn``, ``tune.sample_from``, ``tune.grid_search``,
unbounded domains, domains inside lists -- raises a ValueError naming the key and domain.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple

from ray.tune.search.sample import (
    Categorical,
    Domain,
    Float,
    Integer,
    LogUniform,
    Quantized,
    Uniform,
)

from raysearch.relax import Block, CategoricalBlock, SimplexBlock, UnitBlock

SUPPORTED = (
    "tune.uniform, tune.quniform, tune.loguniform, tune.qloguniform, tune.randint, "
    "tune.qrandint, tune.lograndint, tune.qlograndint, tune.choice, constants, nested dicts"
)

Decoder = Callable[[float], Any]


class RelaxedSpace(NamedTuple):
    """Relaxation blocks of a Tune space and the map from a relaxation sample to a config."""

    blocks: list[Block]
    decode: Callable[[Mapping[str, float | int]], dict[str, Any]]


def _describe(domain: Any) -> str:
    if isinstance(domain, Domain):
        sampler = domain.get_sampler()
        inner = sampler.get_sampler() if isinstance(sampler, Quantized) else None
        name = type(sampler).__name__.lstrip("_")
        if inner is not None:
            name = f"Quantized({type(inner).__name__.lstrip('_')})"
        return f"{type(domain).__name__}({name})"
    return type(domain).__name__


def _unsupported(key: str, domain: Any, why: str = "") -> ValueError:
    reason = f" ({why})" if why else ""
    return ValueError(
        f"search space key {key!r}: domain {_describe(domain)}{reason} cannot be relaxed; "
        f"supported: {SUPPORTED}"
    )


def _grid_index(bound: float, q: float, round_fn: Callable[[float], float]) -> int:
    """Index of ``bound`` on the grid of multiples of q, rounded inwards (as Tune does)."""
    scaled = bound / q
    nearest = round(scaled)
    return int(nearest if math.isclose(scaled, nearest) else round_fn(scaled))


def _scale(lower: float, upper: float, log: bool) -> Decoder:
    if log:
        lo, hi = math.log(lower), math.log(upper)
        return lambda u: math.exp(lo + (hi - lo) * u)
    return lambda u: lower + (upper - lower) * u


def _float_decoder(key: str, domain: Float) -> Decoder:
    sampler = domain.get_sampler()
    q = sampler.q if isinstance(sampler, Quantized) else None
    base = sampler.get_sampler() if isinstance(sampler, Quantized) else sampler
    if not isinstance(base, (Uniform, LogUniform)):
        raise _unsupported(key, domain)
    lower, upper = float(domain.lower), float(domain.upper)
    if not (math.isfinite(lower) and math.isfinite(upper) and lower < upper):
        raise _unsupported(key, domain, f"bounds ({lower}, {upper}) are not finite and ordered")
    log = isinstance(base, LogUniform)
    if q is None:
        to_value = _scale(lower, upper, log)
        return lambda u: min(max(to_value(u), lower), upper)
    lo = _grid_index(lower, q, math.ceil) * q
    hi = _grid_index(upper, q, math.floor) * q
    if hi < lo or (log and lo <= 0):
        raise _unsupported(key, domain, f"no positive multiple of q={q} in [{lower}, {upper}]")
    to_value = _scale(lo, hi, log)
    return lambda u: float(min(max(round(to_value(u) / q) * q, lo), hi))


def _integer_decoder(key: str, domain: Integer) -> Decoder:
    sampler = domain.get_sampler()
    q = int(sampler.q) if isinstance(sampler, Quantized) else 1
    base = sampler.get_sampler() if isinstance(sampler, Quantized) else sampler
    if not isinstance(base, (Uniform, LogUniform)):
        raise _unsupported(key, domain)
    if not (math.isfinite(domain.lower) and math.isfinite(domain.upper)):
        raise _unsupported(key, domain, "unbounded")
    # Tune's integer domains: upper bound exclusive, except quantized with q > 1 (inclusive).
    first = _grid_index(domain.lower, q, math.ceil)
    last = _grid_index(domain.upper, q, math.floor) - (1 if q == 1 else 0)
    log = isinstance(base, LogUniform)
    if last < first or (log and first <= 0):
        raise _unsupported(
            key, domain, f"no admissible integer in [{domain.lower}, {domain.upper})"
        )
    if log:
        to_index = _scale(first, last + 1, log=True)
        return lambda u: q * min(max(math.floor(to_index(u)), first), last)
    count = last - first + 1
    return lambda u: q * min(first + math.floor(count * u), last)


def _decode_unit(key: str, to_value: Decoder, sample: Mapping[str, float | int]) -> Any:
    return to_value(float(sample[key]))


def _decode_category(
    key: str | None, categories: list[Any], sample: Mapping[str, float | int]
) -> Any:
    """``categories[sample[key]]`` (a copy); the only category when ``key`` is None."""
    return copy.deepcopy(categories[0 if key is None else int(sample[key])])


def _contains_domain(value: Any) -> bool:
    if isinstance(value, Domain):
        return True
    if isinstance(value, Mapping):
        return any(_contains_domain(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains_domain(v) for v in value)
    return False


def _leaves(space: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(flattened key, value) for every non-dict value, dicts walked depth first."""
    out: list[tuple[str, Any]] = []
    for name, value in space.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(
                f"search space key {prefix + str(name)!r} must be a non-empty string without '/'"
            )
        key = prefix + name
        if isinstance(value, Mapping) and "grid_search" in value:
            raise _unsupported(key, value, "tune.grid_search")
        if isinstance(value, Mapping) and value:
            out.extend(_leaves(value, key + "/"))
        else:
            out.append((key, value))
    return out


def _check_simplex_groups(
    groups: Sequence[Sequence[str]], leaves: dict[str, Any]
) -> dict[str, tuple[str, ...]]:
    """Map each grouped key to its group; ValueError for bad or overlapping groups."""
    owner: dict[str, tuple[str, ...]] = {}
    for group in groups:
        names = (group,) if isinstance(group, str) else tuple(group)
        if len(names) < 2:
            raise ValueError(f"simplex group {list(names)} needs at least 2 keys")
        for key in names:
            if key not in leaves:
                raise ValueError(
                    f"simplex group key {key!r} is not in the search space; keys: {sorted(leaves)}"
                )
            if key in owner:
                raise ValueError(f"simplex group key {key!r} appears in more than one group")
            domain = leaves[key]
            if not (
                isinstance(domain, Float)
                and isinstance(domain.get_sampler(), Uniform)
                and domain.lower == 0
                and domain.upper == 1
            ):
                raise ValueError(
                    f"simplex group key {key!r} must be tune.uniform(0, 1), "
                    f"got {_describe(domain)} {getattr(domain, 'domain_str', '')}"
                )
            owner[key] = names
    return owner


def relax_tune_space(
    param_space: Mapping[str, Any], *, simplex_groups: Sequence[Sequence[str]] = ()
) -> RelaxedSpace:
    """Relaxation blocks and a decoder for a Tune ``param_space`` (see the module docstring).

    Raises ValueError naming the key for an unsupported domain, a bad simplex group, or a space
    without any searchable domain.
    """
    if not isinstance(param_space, Mapping):
        raise ValueError(f"param_space must be a dict, got {type(param_space).__name__}")
    leaves = dict(_leaves(param_space))
    owner = _check_simplex_groups(simplex_groups, leaves)
    blocks: list[Block] = []
    decoders: dict[str, Callable[[Mapping[str, float | int]], Any]] = {}
    for key, value in leaves.items():
        if key in owner:
            if owner[key][0] == key:
                blocks.append(SimplexBlock(owner[key]))
            decoders[key] = partial(_decode_unit, key, float)
        elif isinstance(value, Float):
            blocks.append(UnitBlock(key))
            decoders[key] = partial(_decode_unit, key, _float_decoder(key, value))
        elif isinstance(value, Integer):
            blocks.append(UnitBlock(key))
            decoders[key] = partial(_decode_unit, key, _integer_decoder(key, value))
        elif isinstance(value, Categorical) and isinstance(value.get_sampler(), Uniform):
            categories = list(value.categories)
            if not categories:
                raise _unsupported(key, value, "no categories")
            if len(categories) > 1:
                blocks.append(CategoricalBlock(key, len(categories)))
                decoders[key] = partial(_decode_category, key, categories)
            else:
                decoders[key] = partial(_decode_category, None, categories)
        elif _contains_domain(value):
            why = "a domain inside a list" if isinstance(value, (list, tuple)) else ""
            raise _unsupported(key, value, why)
    if not blocks:
        raise ValueError(
            f"search space has no domain to search (keys: {sorted(leaves)}); supported: {SUPPORTED}"
        )

    def build(space: Mapping[str, Any], sample: Mapping[str, float | int], prefix: str) -> Any:
        config: dict[str, Any] = {}
        for name, value in space.items():
            key = prefix + name
            if key in decoders:
                config[name] = decoders[key](sample)
            elif isinstance(value, Mapping) and value:
                config[name] = build(value, sample, key + "/")
            else:
                config[name] = copy.deepcopy(value)
        return config

    def decode(sample: Mapping[str, float | int]) -> dict[str, Any]:
        """The nested Tune config of a relaxation sample."""
        return dict(build(param_space, sample, ""))

    return RelaxedSpace(blocks, decode)
