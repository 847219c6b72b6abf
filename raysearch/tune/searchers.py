"""One registry of search strategies: S2E variants, Tune's searchers and Tune's schedulers.

Every strategy gets the same budget in trained epochs: searchers run N full trials of E
epochs; Hyperband / ASHA sample at random and stop trials early, with an :class:`EpochBudget`
that ends the experiment after N * E epochs in all.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ray import tune
from ray.tune.schedulers import AsyncHyperBandScheduler, HyperBandScheduler, TrialScheduler
from ray.tune.search import ConcurrencyLimiter, SearchAlgorithm, Searcher

from raysearch.tune.budget import EpochBudget
from raysearch.tune.graceful_stop import HeldTrialsGenerator
from raysearch.tune.random_searcher import RandomSearcher
from raysearch.tune.s2e_searcher import S2ESearcher


@dataclass(frozen=True)
class SearchRequest:
    """What every strategy is built from (the same for all of them in one comparison).

    The search space itself goes to the Tuner as ``param_space``; every searcher takes it from
    there (with metric and mode from ``TuneConfig``), so all of them search the same space.
    """

    metric: str
    mode: str
    trials: int  # N full trials
    epochs: int  # E epochs per full trial
    seed: int
    concurrency: int = 2
    samples_per_iter: int = 4  # K, for S2E
    simplex_groups: list[tuple[str, ...]] = field(default_factory=list)


@dataclass
class SearchSetup:
    """Tune objects of one strategy: search algorithm, optional scheduler, trial count, stoppers."""

    search_alg: Searcher | SearchAlgorithm
    num_samples: int
    scheduler: TrialScheduler | None = None
    budget: EpochBudget | None = None


S2E_PAPER: dict[str, Any] = {
    "update": "newton", "baseline": "none", "utility": "raw", "max_kl": None, "kl_step": None,
}  # fmt: skip
"""S2E eq. (8) with Prop. 1 as written: raw scores, ρ = 1, no trust region (the saddle-free
eigenvalue floor of Assumption 3(i) and the half-way θ floor only keep it defined)."""

S2E_DEFAULT: dict[str, Any] = {
    "update": "newton", "utility": "rank", "kl_step": 3.0, "kl_adapt": True, "hessian": "prop1",
    "pool": 1,
}  # fmt: skip
"""The registry's ``s2e``: the best variant on ``benchmarks/searcher_efficiency.py`` (README)."""


def s2e_setup(req: SearchRequest, **optimizer_kwargs: Any) -> SearchSetup:
    """An :class:`S2ESearcher` with ``optimizer_kwargs`` behind a batch ``ConcurrencyLimiter``."""
    searcher = S2ESearcher(
        samples_per_iter=req.samples_per_iter,
        seed=req.seed,
        simplex_groups=req.simplex_groups,
        max_iterations=-(-req.trials // req.samples_per_iter),
        **optimizer_kwargs,
    )
    return SearchSetup(
        ConcurrencyLimiter(searcher, max_concurrent=req.samples_per_iter, batch=True), req.trials
    )


def _s2e(**optimizer_kwargs: Any) -> Callable[[SearchRequest], SearchSetup]:
    return partial(s2e_setup, **optimizer_kwargs)


def _random(req: SearchRequest) -> SearchSetup:
    # a Searcher (so it can share an experiment) drawing what BasicVariantGenerator draws
    return SearchSetup(RandomSearcher(seed=req.seed, max_live=req.concurrency), req.trials)


def _startup_trials(req: SearchRequest) -> int:
    """Random start-up trials of the model-based searchers: a third of N, at most their default 20."""
    return min(20, max(2, req.trials // 3))


def _tpe(req: SearchRequest) -> SearchSetup:
    from ray.tune.search.hyperopt import HyperOptSearch

    searcher = HyperOptSearch(random_state_seed=req.seed, n_initial_points=_startup_trials(req))
    return SearchSetup(ConcurrencyLimiter(searcher, max_concurrent=req.concurrency), req.trials)


def _optuna(req: SearchRequest) -> SearchSetup:
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    sampler = optuna.samplers.TPESampler(seed=req.seed, n_startup_trials=_startup_trials(req))
    searcher = OptunaSearch(sampler=sampler)
    return SearchSetup(ConcurrencyLimiter(searcher, max_concurrent=req.concurrency), req.trials)


def _bohb(req: SearchRequest) -> SearchSetup:
    from ray.tune.schedulers import HyperBandForBOHB
    from ray.tune.search.bohb import TuneBOHB

    searcher = TuneBOHB(seed=req.seed)
    scheduler = HyperBandForBOHB(time_attr="epoch", max_t=req.epochs, reduction_factor=3)
    return _budgeted(ConcurrencyLimiter(searcher, max_concurrent=req.concurrency), scheduler, req)


def _budgeted(
    search_alg: Searcher | SearchAlgorithm, scheduler: TrialScheduler, req: SearchRequest
) -> SearchSetup:
    # every trial trains >= 1 epoch, so N * E trials can never outlast the epoch budget
    return SearchSetup(
        search_alg, req.trials * req.epochs, scheduler, EpochBudget(req.trials * req.epochs)
    )


def _hyperband(req: SearchRequest) -> SearchSetup:
    # Trials are generated freely (no max_concurrent): synchronous Hyperband must fill a bracket
    # before it halves it, and a generator handing out two trials at a time never fills the
    # first one, so nothing would ever be stopped (ray#12536). Resources bound what runs at once.
    scheduler = HyperBandScheduler(time_attr="epoch", max_t=req.epochs, reduction_factor=3)
    return _budgeted(HeldTrialsGenerator(random_state=req.seed), scheduler, req)


def _asha(req: SearchRequest) -> SearchSetup:
    scheduler = AsyncHyperBandScheduler(
        time_attr="epoch", max_t=req.epochs, grace_period=1, reduction_factor=3
    )
    return _budgeted(
        HeldTrialsGenerator(random_state=req.seed, max_concurrent=req.concurrency), scheduler, req
    )


_REGISTRY: dict[str, tuple[Callable[[SearchRequest], SearchSetup], tuple[str, ...]]] = {
    # name: (builder, modules it needs)
    "s2e": (_s2e(**S2E_DEFAULT), ()),
    "s2e-paper": (_s2e(**S2E_PAPER), ()),
    "s2e-gd": (_s2e(**{**S2E_DEFAULT, "update": "gd"}), ()),
    "s2e-ng": (_s2e(**{**S2E_DEFAULT, "update": "ng"}), ()),
    "s2e-official": (_s2e(update="official"), ()),
    "random": (_random, ()),
    "tpe": (_tpe, ("hyperopt",)),
    "optuna": (_optuna, ("optuna",)),
    "bohb": (_bohb, ("hpbandster", "ConfigSpace")),
    "hyperband": (_hyperband, ()),
    "asha": (_asha, ()),
}


_SCHEDULED = ("bohb", "hyperband", "asha")  # their setup carries a TrialScheduler


def needs_own_experiment(name: str) -> bool:
    """Whether strategy ``name`` needs a trial scheduler, whose brackets must see only its own
    trials: one experiment per seed, not a stream of the shared one."""
    return name in _SCHEDULED


def searcher_names() -> list[str]:
    """Names whose dependencies are installed (``bohb`` needs hpbandster and ConfigSpace)."""
    return [
        name
        for name, (_, needs) in _REGISTRY.items()
        if all(importlib.util.find_spec(m) for m in needs)
    ]


def check_searcher_names(names: list[str]) -> None:
    available = searcher_names()
    unknown = [n for n in names if n not in available]
    if unknown:
        raise KeyError(
            f"unknown or unavailable searcher(s) {unknown}; registered: {', '.join(available)}"
        )
    if not names:
        raise ValueError(f"no searcher given; registered: {', '.join(available)}")


def make_search(name: str, request: SearchRequest) -> SearchSetup:
    """Build strategy ``name`` for ``request``; ``KeyError`` listing the names if unknown."""
    check_searcher_names([name])
    return _REGISTRY[name][0](request)


def tune_config(
    setup: SearchSetup, request: SearchRequest, *, reuse_actors: bool = True
) -> tune.TuneConfig:
    return tune.TuneConfig(
        search_alg=setup.search_alg,
        scheduler=setup.scheduler,
        num_samples=setup.num_samples,
        metric=request.metric,
        mode=request.mode,
        reuse_actors=reuse_actors,
    )
