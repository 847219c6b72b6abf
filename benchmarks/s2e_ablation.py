"""S2E variants outside the registry, for the ablation rows of ``searcher_efficiency.py``.

Each name adds one change to the previous row, starting from the paper (registry
``s2e-paper``): step length by exact KL (1 nat), scale-free rank utilities, 3 nats, cumulative
step-length adaptation (= registry ``s2e``), then the Hessian options (Fisher-damped
trust-region Newton, importance-weighted reuse of the last 3 batches); two KL sweeps. They go
through the registry's :func:`~raysearch.tune.searchers.s2e_setup`, the same Searcher path as
``s2e``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from raysearch.tune.searchers import S2E_PAPER, SearchRequest, SearchSetup, s2e_setup

_STEP = {**S2E_PAPER, "kl_step": 1.0}
_SCALE_FREE = {**_STEP, "utility": "rank", "baseline": "loo"}
_LONG = {**_SCALE_FREE, "kl_step": 3.0}
_ADAPT = {**_LONG, "kl_adapt": True}
ABLATION: dict[str, dict[str, Any]] = {
    "abl-paper": S2E_PAPER,
    "abl+kl1": _STEP,
    "abl+kl1+rank": _SCALE_FREE,
    "abl+kl3+rank": _LONG,
    "abl+kl3+rank+adapt": _ADAPT,
    "abl+kl3+rank+adapt+trust": {**_ADAPT, "hessian": "trust"},
    "abl+kl3+rank+adapt+pool3": {**_ADAPT, "pool": 3},
    "abl+kl3+rank+adapt+trust+pool3": {**_ADAPT, "hessian": "trust", "pool": 3},
    "abl+kl0.3+rank": {**_SCALE_FREE, "kl_step": 0.3},
    "abl+kl10+rank": {**_SCALE_FREE, "kl_step": 10.0},
    # the other variants of the README's ablation rounds (s2e_ablation_round1/2.csv)
    "abl+kl0.3": {**S2E_PAPER, "kl_step": 0.3},
    "abl+rank+trust": {**_SCALE_FREE, "hessian": "trust"},
    "abl+rank+pool3": {**_SCALE_FREE, "pool": 3},
    "abl+rank+trust+pool3": {**_SCALE_FREE, "hessian": "trust", "pool": 3},
    "abl+rank+ng": {**_SCALE_FREE, "update": "ng"},
    "abl+rank+ng+pool3": {**_SCALE_FREE, "update": "ng", "pool": 3},
    "abl+rank+gd": {**_SCALE_FREE, "update": "gd"},
    "abl+kl3+rank+pool3": {**_LONG, "pool": 3},
    "abl+kl3+rank+trust": {**_LONG, "hessian": "trust"},
    "abl+kl3+rank+ng": {**_LONG, "update": "ng"},
    "abl+kl3+rank+gd": {**_LONG, "update": "gd"},
}
ABLATION_BUILDERS: dict[str, Callable[[SearchRequest], SearchSetup]] = {
    name: partial(s2e_setup, **kwargs) for name, kwargs in ABLATION.items()
}
