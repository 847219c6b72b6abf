"""Everything that imports Ray: searchers, trainables, Ray Train jobs, experiment runners.

The public names below are imported lazily (PEP 562), so ``import raysearch.tune.budget`` or a
CLI that validates its input first does not pay for importing Ray and torch up front.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "S2ESearcher": "raysearch.tune.s2e_searcher",
    "CoteachingTrainable": "raysearch.tune.trainable",
    "EpochBudget": "raysearch.tune.budget",
    "CompareSettings": "raysearch.tune.compare",
    "run_compare": "raysearch.tune.compare",
    "make_search": "raysearch.tune.searchers",
    "searcher_names": "raysearch.tune.searchers",
    "relax_tune_space": "raysearch.tune.space_relaxation",
    "run_single_trial": "raysearch.tune.single_trial",
    "SearchSettings": "raysearch.tune.nas_search",
    "run_search": "raysearch.tune.nas_search",
    "evaluate": "raysearch.tune.nas_evaluate",
    "NasCompareSettings": "raysearch.tune.nas_compare",
    "run_reweight_trials": "raysearch.tune.reweight_trials",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'raysearch.tune' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
