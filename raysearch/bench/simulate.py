"""Drive the registry's real searcher and scheduler objects against an objective, without Ray
trials (no cluster, no actors): Syne Tune's simulated backend, for raysearch's strategies.

``objective(config, epoch) -> result`` gives the metrics a trial of ``config`` reports after
``epoch`` epochs (a surrogate's curve, or a synthetic score). Every strategy is built by
:func:`raysearch.tune.searchers.make_search` and called as Tune calls it in ``raysearch
compare``, on a clock that counts trained epochs:

* **searchers** (S2E variants, TPE, Optuna, random): ``suggest`` until the searcher's own
  concurrency limit answers ``None`` (``--concurrency`` trials at a time, S2E's K), trials
  finishing in the order they started; a trial is told its full-length result
  (``on_trial_complete``: none of these searchers reads intermediate results).
* **schedulers** (Hyperband, ASHA): Tune's random generator plus the real scheduler object, one
  trial at a time (as ``compare`` runs them, :class:`~raysearch.tune.streams.OneTrialAtATime`),
  by :class:`SchedulerController`, the part of Tune's controller a scheduler talks to. A running
  trial goes on while the scheduler says CONTINUE; when it pauses or stops, the scheduler
  picks the next (``choose_trial_to_run``). Trials are created ahead as Tune creates them for
  its generator (up to :data:`MAX_PENDING` waiting), and the run ends when the trials have
  trained N x E epochs (the :class:`~raysearch.tune.budget.EpochBudget`).

:func:`simulate` returns one row per trial that trained, in the order trials ended: its config,
its last result, the epochs it trained and the epochs spent by then (on the clock).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from raysearch.tune.searchers import SearchRequest, SearchSetup, make_search

Objective = Callable[[Mapping[str, Any], int], dict[str, Any]]
MAX_PENDING = 200  # Tune's automatic cap on pending trials of its BasicVariantGenerator


class SchedulerController:
    """The part of Tune's controller a scheduler talks to: trials, ``stop_trial``, ``pause_trial``."""

    def __init__(self, scheduler: Any, on_stop: Callable[[Any], None]) -> None:
        self.scheduler, self._on_stop = scheduler, on_stop
        self.trials: list[Any] = []

    def get_trials(self) -> list[Any]:
        return self.trials

    def get_live_trials(self) -> list[Any]:
        return [t for t in self.trials if t.status not in ("TERMINATED", "ERROR")]

    def stop_trial(self, trial: Any) -> None:
        if trial.status != "TERMINATED":
            trial.set_status("TERMINATED")
            self.scheduler.on_trial_remove(self, trial)
            self._on_stop(trial)

    def pause_trial(self, trial: Any, should_checkpoint: bool = True) -> None:
        trial.set_status("PAUSED")


def _noop_trainable(config: dict[str, Any]) -> None:
    """Never run: Tune's generator needs a trainable to create trials."""


def _suggester(search_alg: Any, request: SearchRequest, space: dict[str, Any], samples: int) -> tuple[Callable[[str], Any], dict[str, Any]]:  # fmt: skip
    """``suggest(trial_id) -> config | None | 'FINISHED'`` for a Searcher or Tune's generator,
    and the Tune ``Trial`` objects the generator made (by our trial id)."""
    from ray.tune.search import BasicVariantGenerator, Searcher
    from ray.tune.utils.util import merge_dicts

    search_alg.set_search_properties(request.metric, request.mode, space)
    made: dict[str, Any] = {}
    if isinstance(search_alg, Searcher):

        def suggest_merged(trial_id: str) -> Any:
            # as Tune's SearchGenerator: the suggestion merged into the space (its constants)
            config = search_alg.suggest(trial_id)
            if config is None or config == Searcher.FINISHED:
                return config
            return merge_dicts(space, copy.deepcopy(config))

        return suggest_merged, made
    assert isinstance(search_alg, BasicVariantGenerator)
    search_alg.add_configurations(
        {"bench": {"run": _noop_trainable, "config": space, "num_samples": samples}}
    )

    def suggest(trial_id: str) -> Any:
        trial = search_alg.next_trial()
        if trial is None:
            return Searcher.FINISHED if search_alg.is_finished() else None
        made[trial_id] = trial
        return trial.config

    return suggest, made


QUIET_LOGGERS = ("ray.tune.schedulers.hyperband", "optuna")
"""INFO lines at every Hyperband bracket filled ("Bracket too small - Retrying") and every
Optuna study created: hundreds per benchmark run, kept to warnings by :func:`simulate`."""


def simulate(
    name: str, request: SearchRequest, space: dict[str, Any], objective: Objective,
    *, builders: Mapping[str, Callable[[SearchRequest], SearchSetup]] | None = None,
) -> pd.DataFrame:  # fmt: skip
    """One search run of strategy ``name`` (or ``builders[name]``) for ``request`` over the Tune
    space ``space`` against ``objective``: its trials as rows (see the module docstring)."""
    setup = (builders or {}).get(name, lambda req: make_search(name, req))(request)
    for logger in QUIET_LOGGERS:  # after the build: Optuna sets its level on first import
        logging.getLogger(logger).setLevel(logging.WARNING)
    if setup.scheduler is None:
        rows = _run_searcher(setup.search_alg, request, space, objective)
    else:
        rows = _run_scheduled(setup, request, space, objective)
    return pd.DataFrame(rows)


def _row(config: Any, result: dict[str, Any], epochs: int, spent: int) -> dict[str, Any]:
    return {"config": config, **result, "epochs_trained": epochs, "spent_epochs": spent}


def _run_searcher(search_alg: Any, request: SearchRequest, space: dict[str, Any], objective: Objective) -> list[dict]:  # fmt: skip
    """N full-length trials, as many in flight as the searcher allows, the oldest ending first."""
    from ray.tune.search import Searcher

    suggest, made = _suggester(search_alg, request, space, request.trials)
    live: list[tuple[str, Any]] = []
    rows: list[dict] = []
    started = 0
    while len(rows) < request.trials:
        while started < request.trials:
            config = suggest(f"t{started:05d}")
            if config is None or config == Searcher.FINISHED:
                break
            live.append((f"t{started:05d}", config))
            started += 1
        if not live:
            break
        trial_id, config = live.pop(0)
        result = {**objective(config, request.epochs), "epoch": request.epochs}
        search_alg.on_trial_complete(made[trial_id].trial_id if made else trial_id, result)
        rows.append(_row(config, result, request.epochs, request.epochs * (len(rows) + 1)))
    return rows


def _run_scheduled(setup: SearchSetup, request: SearchRequest, space: dict[str, Any], objective: Objective) -> list[dict]:  # fmt: skip
    """Tune's generator under a real Tune scheduler, one trial at a time, for N x E epochs."""
    from ray.tune.schedulers import TrialScheduler
    from ray.tune.search import Searcher

    search_alg, scheduler = setup.search_alg, setup.scheduler
    assert scheduler is not None
    scheduler.set_search_properties(request.metric, request.mode)
    budget = request.trials * request.epochs
    suggest, made = _suggester(search_alg, request, space, budget)
    progress: dict[Any, int] = {}
    last: dict[Any, dict[str, Any]] = {}
    rows: list[dict] = []
    spent = 0

    def finish(trial: Any) -> None:
        search_alg.on_trial_complete(trial.trial_id, last.get(trial))
        if progress[trial]:
            rows.append(_row(trial.config, last[trial], progress[trial], spent))

    controller: Any = SchedulerController(scheduler, finish)

    def create_pending() -> None:
        while sum(1 for t in controller.trials if progress[t] == 0) < MAX_PENDING:
            config = suggest(f"t{len(made):05d}")
            if config is None or config == Searcher.FINISHED:
                return
            added = made[f"t{len(made) - 1:05d}"]
            controller.trials.append(added)
            progress[added] = 0
            scheduler.on_trial_add(controller, added)

    while spent < budget:
        create_pending()
        trial = scheduler.choose_trial_to_run(controller)
        if trial is None:
            break
        trial.set_status("RUNNING")
        while spent < budget:  # the trial runs until the scheduler pauses or stops it
            progress[trial] += 1
            spent += 1
            epoch = progress[trial]
            last[trial] = result = {**objective(trial.config, epoch), "epoch": epoch,
                                    "training_iteration": epoch}  # fmt: skip
            if epoch == request.epochs:
                trial.set_status("TERMINATED")
                scheduler.on_trial_complete(controller, trial, result)
                finish(trial)
                break
            action = scheduler.on_trial_result(controller, trial, result)
            if action == TrialScheduler.STOP:
                trial.set_status("TERMINATED")
                scheduler.on_trial_complete(controller, trial, result)
                finish(trial)
                break
            if action == TrialScheduler.PAUSE:
                trial.set_status("PAUSED")
                break
    for trial in controller.trials:  # the budget ran out: trials that trained, still live
        if trial.status != "TERMINATED" and progress[trial]:
            rows.append(_row(trial.config, last[trial], progress[trial], spent))
    return rows
