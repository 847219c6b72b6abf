"""S2E variants outside the registry, for the ablation rows of ``searcher_efficiency.py``.

Each name adds one change to the previous row, starting from the paper (registry
``s2e-paper``): step length by exact KL, scale-free rank utilities, then the Hessian options
(Fisher-damped trust-region Newton, importance-weighted reuse of earlier batches). They go
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
ABLATION: dict[str, dict[str, Any]] = {
    "abl-paper": S2E_PAPER,
    "abl+kl0.3": {**S2E_PAPER, "kl_step": 0.3},
    "abl+kl1": _STEP,
    "abl+kl1+rank": _SCALE_FREE,
    "abl+kl0.3+rank": {**_SCALE_FREE, "kl_step": 0.3},
    "abl+kl3+rank": {**_SCALE_FREE, "kl_step": 3.0},
    "abl+rank+trust": {**_SCALE_FREE, "hessian": "trust"},
    "abl+rank+pool3": {**_SCALE_FREE, "pool": 3},
    "abl+rank+trust+pool3": {**_SCALE_FREE, "hessian": "trust", "pool": 3},
    "abl+rank+ng": {**_SCALE_FREE, "update": "ng"},
    "abl+rank+ng+pool3": {**_SCALE_FREE, "update": "ng", "pool": 3},
    "abl+rank+adapt": {**_SCALE_FREE, "kl_adapt": True},
    "abl+rank+ng+adapt": {**_SCALE_FREE, "update": "ng", "kl_adapt": True},
    "abl+kl3+rank+adapt": {**_SCALE_FREE, "kl_step": 3.0, "kl_adapt": True},
    "abl+kl3+rank+pool3": {**_SCALE_FREE, "kl_step": 3.0, "pool": 3},
    "abl+kl3+rank+ng": {**_SCALE_FREE, "kl_step": 3.0, "update": "ng"},
    "abl+kl3+rank+gd": {**_SCALE_FREE, "kl_step": 3.0, "update": "gd"},
    "abl+kl3+rank+trust": {**_SCALE_FREE, "kl_step": 3.0, "hessian": "trust"},
    "abl+kl3+rank+trust+pool3": {**_SCALE_FREE, "kl_step": 3.0, "hessian": "trust", "pool": 3},
    "abl+kl10+rank": {**_SCALE_FREE, "kl_step": 10.0},
    "abl+kl10+rank+pool3": {**_SCALE_FREE, "kl_step": 10.0, "pool": 3},
}
ABLATION_BUILDERS: dict[str, Callable[[SearchRequest], SearchSetup]] = {
    name: partial(s2e_setup, **kwargs) for name, kwargs in ABLATION.items()
}
