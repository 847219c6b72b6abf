"""The supported Python API of raysearch: the names a user imports, each with an example.

``import raysearch.api`` is cheap: Ray, torch and pandas are imported only when a name that
needs them is used (``S2ESearcher`` is resolved lazily, PEP 562; the functions import inside).

* :class:`S2ESearcher` -- S2E (Yao et al., ICML 2020, Alg. 2) as a Ray Tune ``Searcher`` over any
  bounded Tune ``param_space`` (``tune.uniform``, ``loguniform``, ``randint``, ``choice``, ...).
* :func:`searcher_names`, :func:`make_search` -- the registry of search strategies that
  ``raysearch compare`` runs (S2E variants, random, TPE, Optuna, Hyperband, ASHA, BOHB).
* :func:`compare` -- a whole ``raysearch compare`` run from Python.
* :func:`load_results` -- a results folder or a Tune ``ResultGrid`` as one DataFrame.
* :func:`family_names`, :func:`get_family`, :func:`default_config` -- the schedule families R(t).

Example:
    >>> import raysearch.api as rs
    >>> sorted(rs.__all__)[:3]
    ['S2ESearcher', 'compare', 'default_config']
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from raysearch.tune.s2e_searcher import S2ESearcher
    from raysearch.tune.searchers import SearchSetup
    from search_spaces.schedules import ScheduleFamily

__all__ = [
    "S2ESearcher",
    "compare",
    "default_config",
    "family_names",
    "get_family",
    "load_results",
    "make_search",
    "searcher_names",
]

_LAZY = {"S2ESearcher": "raysearch.tune.s2e_searcher"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'raysearch.api' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


# -- the searcher registry ---------------------------------------------------------------------


def searcher_names() -> list[str]:
    """Names of the registered search strategies whose dependencies are installed.

    Example:
        >>> from raysearch.api import searcher_names
        >>> {"s2e", "random", "hyperband"} <= set(searcher_names())
        True
    """
    from raysearch.tune.searchers import searcher_names as names

    return names()


def make_search(
    name: str,
    *,
    trials: int,
    epochs: int,
    metric: str = "val_acc",
    mode: str = "max",
    seed: int = 0,
    samples_per_iter: int = 4,
    concurrency: int = 2,
    simplex_groups: Sequence[Sequence[str]] = (),
) -> SearchSetup:
    """Build strategy ``name`` for a budget of ``trials`` full trials of ``epochs`` epochs.

    Returns a ``SearchSetup``: ``search_alg`` (a Tune searcher), ``scheduler`` (Hyperband /
    ASHA / BOHB, else None), ``num_samples`` and ``budget`` (an epoch-budget stopper for the
    schedulers, else None). An unknown name is a ``KeyError`` listing the registered ones.

    Example:
        >>> from ray import tune
        >>> from raysearch.api import make_search
        >>> setup = make_search("s2e", trials=8, epochs=5, metric="score", samples_per_iter=4)
        >>> config = tune.TuneConfig(search_alg=setup.search_alg, scheduler=setup.scheduler,
        ...                          num_samples=setup.num_samples, metric="score", mode="max")
        >>> stop = [setup.budget] if setup.budget else None  # for tune.RunConfig(stop=...)
    """
    from raysearch.tune.searchers import SearchRequest
    from raysearch.tune.searchers import make_search as build

    request = SearchRequest(
        metric=metric, mode=mode, trials=trials, epochs=epochs, seed=seed,
        concurrency=concurrency, samples_per_iter=samples_per_iter,
        simplex_groups=[tuple(group) for group in simplex_groups],
    )  # fmt: skip
    return build(name, request)


# -- a comparison -----------------------------------------------------------------------------


def compare(
    *,
    searchers: Sequence[str] = ("s2e", "random", "tpe", "hyperband"),
    address: str | None = None,
    resume: bool = False,
    experiments_at_once: int = 2,
    **options: Any,
) -> pd.DataFrame:
    """Run ``raysearch compare`` from Python and return its trials (one row per trial).

    ``options`` are the fields of ``CompareSettings`` (``space``, ``trials``, ``seeds``,
    ``samples_per_iter``, ``references``, ``out``, ...) and of ``TrialSettings`` (``dataset``,
    ``noise``, ``epochs``, ``train_size``, ``val``, ``max_batches_per_epoch``, ...), by name;
    the defaults are the CLI's. Every value is checked before Ray starts; an unknown option
    is a ``TypeError`` listing the allowed ones, a repeated searcher a ``ValueError``. The
    report (``trials.csv``, ``summary.md``, plots) is written to ``out`` as by the CLI.

    Example:
        >>> from raysearch.api import compare
        >>> trials = compare(searchers=["s2e", "random"], trials=4, epochs=2, seeds=1,
        ...                  samples_per_iter=2, max_batches_per_epoch=20,
        ...                  out="runs/api-compare")  # doctest: +SKIP
        >>> trials.groupby("searcher")["test_acc"].max()  # doctest: +SKIP
    """
    from raysearch.noisy.settings import TrialSettings
    from raysearch.tune.compare import CompareSettings, run_compare

    names = tuple(searchers)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"searcher(s) {repeated} given more than once; give each name once")
    trial_fields = {f.name for f in dataclasses.fields(TrialSettings)}
    compare_fields = {f.name for f in dataclasses.fields(CompareSettings)} - {"trial", "searchers"}
    unknown = sorted(set(options) - trial_fields - compare_fields)
    if unknown:
        raise TypeError(
            f"compare() got unknown option(s) {unknown}; allowed: {sorted(trial_fields | compare_fields)}"
        )
    trial = TrialSettings(**{k: v for k, v in options.items() if k in trial_fields})
    chosen: dict[str, Any] = {k: v for k, v in options.items() if k in compare_fields}
    if "out" in chosen:
        chosen["out"] = str(Path(chosen["out"]).resolve())
    settings = CompareSettings(trial=trial, searchers=names, **chosen)
    return run_compare(
        settings, address=address, resume=resume, experiments_at_once=experiments_at_once
    )


# -- results ----------------------------------------------------------------------------------


def load_results(source: Any, *, per_epoch: bool = False) -> pd.DataFrame:
    """One DataFrame of a results folder or of a Tune ``ResultGrid`` (no Ray needed for folders).

    ``source``:

    * a ``raysearch compare`` folder: one row per trial (searcher, seed, role, ``config/...``,
      epochs_trained, final val_acc / test_acc / label_precision, trial_order);
    * any other raysearch results folder or Tune experiment folder
      (:func:`raysearch.analysis.load_experiment`): each trial's last epoch;
    * a ``ray.tune.ResultGrid``: one row per trial, ``config/...`` columns, the last reported
      metrics, ``trial_id`` and ``error`` (the error's text, or None).

    ``per_epoch=True`` keeps every reported epoch (one row per trial and epoch) instead.

    Example:
        >>> from raysearch.api import load_results
        >>> trials = load_results("runs/launch")  # doctest: +SKIP
        >>> trials.groupby("searcher")["test_acc"].max()  # doctest: +SKIP
        >>> epochs = load_results(tuner.fit(), per_epoch=True)  # doctest: +SKIP
    """
    if isinstance(source, str | Path):
        from raysearch.analysis import detect_kind, final_rows, load_experiment
        from raysearch.analysis.experiments import load_compare_dir

        if not per_epoch and detect_kind(source) == "compare":
            return load_compare_dir(source)
        frame = load_experiment(source)
        return frame if per_epoch else final_rows(frame)
    if hasattr(source, "get_dataframe") and hasattr(source, "__getitem__"):
        return _result_grid_frame(source, per_epoch=per_epoch)
    raise TypeError(
        f"load_results takes a results folder (str or Path) or a Tune ResultGrid, got {type(source).__name__}"
    )


def _result_grid_frame(grid: Any, *, per_epoch: bool) -> pd.DataFrame:
    """Rows of a Tune ``ResultGrid``: flattened config, metrics, trial id and error text."""
    import pandas as pd

    from raysearch.analysis.experiments import flatten

    rows = []
    for result in (grid[i] for i in range(len(grid))):  # a ResultGrid indexes, it has no __iter__
        labels = {
            **flatten(result.config or {}),
            "error": None if result.error is None else str(result.error),
        }
        epochs = result.metrics_dataframe if per_epoch else None
        if epochs is not None and not epochs.empty:
            rows.append(epochs.drop(columns=[c for c in epochs if c.startswith("config/")])
                        .assign(**labels))  # fmt: skip
        else:
            metrics = {k: v for k, v in (result.metrics or {}).items() if k != "config"}
            rows.append(pd.DataFrame([{**metrics, **labels}]))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


# -- schedule families -------------------------------------------------------------------------


def family_names() -> list[str]:
    """The schedule families R(t) (the fraction of small-loss samples kept at epoch t).

    Example:
        >>> from raysearch.api import family_names
        >>> family_names()
        ['s2e', 'coteaching', 'single', 'rbf', 'mlp', 'constant']
    """
    from search_spaces.schedules import family_names as names

    return names()


def get_family(name: str) -> ScheduleFamily:
    """The schedule family ``name``: ``params``, ``validate(config)``, ``values(config, E)``
    (R(t) for t = 0 .. E-1), ``schedule(config, E)``. Families are defined on the papers'
    200-epoch horizon, so a config keeps its shape for any E.

    Example:
        >>> from raysearch.api import get_family
        >>> family = get_family("coteaching")  # Co-teaching's eq. (1): 1 - tau * min((t/T_k)^c, 1)
        >>> family.values({"tau": 0.5, "t_k": 100.0, "c": 1.0}, 4).round(2).tolist()
        [1.0, 0.75, 0.5, 0.5]
    """
    from search_spaces.schedules import get_family as family

    return family(name)


def default_config(name: str, *, noise_rate: float = 0.5) -> dict[str, Any]:
    """A sensible config of family ``name`` (Co-teaching's defaults: tau = the noise rate,
    T_k = 10 of 200 epochs, c = 1; keep = 1 for ``constant``; else the space's centre).

    Example:
        >>> from raysearch.api import default_config
        >>> default_config("coteaching", noise_rate=0.4)
        {'family': 'coteaching', 'tau': 0.4, 't_k': 10.0, 'c': 1.0}
    """
    from search_spaces.schedules import default_config as config

    return dict(config(name, noise_rate=noise_rate))
