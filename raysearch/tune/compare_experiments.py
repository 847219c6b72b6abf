"""Run one experiment of a comparison (:mod:`raysearch.tune.compare_settings`), or resume it.

Every experiment: the Co-teaching trainable with its resources; trials checkpoint every
``checkpoint_every_s`` and whenever Tune pauses them (a scheduler, or a Ctrl-C, which drains the
experiment: :mod:`raysearch.tune.graceful_stop`); Tune keeps the checkpoints and
:class:`~raysearch.tune.checkpoint_pruner.CheckpointPruner` deletes those no snapshot needs; the
experiment state is snapshotted every :data:`SNAPSHOT_PERIOD_S`. A SIGKILL of the driver loses
at most that: the trials that ended since the last snapshot, and the epochs each running trial
trained since its last checkpoint, are trained again on ``--resume`` (with the same results).

Only a *complete* experiment (its plan ran, or its epoch budget is spent) gets a ``DONE``
marker; otherwise :class:`~raysearch.analysis.results_folder.Interrupted` is raised. With
``resume``, an unfinished experiment is restored with ``Tuner.restore`` (the search state
included), a finished one skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.search import Searcher

from raysearch.analysis.results_folder import Interrupted, sigint_handler_kept, write_atomic
from raysearch.tune.budget import EpochBudget
from raysearch.tune.checkpoint_pruner import CheckpointPruner
from raysearch.tune.compare_settings import METRIC, MODE, SEARCHERS_EXPERIMENT, CompareSettings
from raysearch.tune.fixed_configs import FixedConfigSearcher
from raysearch.tune.graceful_stop import GracefulStop, HeldTrialsGenerator, PausingScheduler
from raysearch.tune.newest_first import NewestPendingFirst
from raysearch.tune.preflight import plan_ran, recorded_epochs, restorable
from raysearch.tune.progress import ComparisonProgress
from raysearch.tune.searchers import SearchSetup, make_search
from raysearch.tune.spaces import SCHEDULE_KEY
from raysearch.tune.streams import Stream, StreamSearcher
from raysearch.tune.trainable import CoteachingTrainable
from raysearch.tune.tune_logging import quiet_missing_result_files

# not *.json / *.pkl: on restore Tune copies those into its driver staging folder and syncs
# them back over the experiment folder at every snapshot, which would reset the count
BUDGET_FILE = "epoch_budget.state"
DONE_MARKER = "DONE"
SNAPSHOT_PERIOD_S = 2.0
quiet_missing_result_files()  # Tune's warning about never-run trials (see tune_logging)


def configure_experiment_snapshots() -> None:
    """Snapshot the experiment state every :data:`SNAPSHOT_PERIOD_S` (Tune's default "auto"
    waits >= 10 s; every controller step costs the driver a full state write per result)."""
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", str(SNAPSHOT_PERIOD_S))


@contextmanager
def _pending_trials(count: int) -> Iterator[None]:
    """Let Tune keep ``count`` trials pending for the shared experiment: for a custom searcher
    without a ``ConcurrencyLimiter`` it keeps one, which leaves all but one core idle."""
    previous = os.environ.get("TUNE_MAX_PENDING_TRIALS_PG")
    os.environ["TUNE_MAX_PENDING_TRIALS_PG"] = str(count)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TUNE_MAX_PENDING_TRIALS_PG", None)
        else:
            os.environ["TUNE_MAX_PENDING_TRIALS_PG"] = previous


def _slots(settings: CompareSettings) -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1) // settings.cpus_per_trial))


def streams(settings: CompareSettings) -> list[Stream]:
    """The shared experiment's streams: every stream searcher, then every reference, per seed."""
    out = []
    for seed in range(settings.seeds):
        space = settings.param_space(seed)
        for name in settings.stream_searchers:
            setup = make_search(name, settings.request(seed))
            assert isinstance(setup.search_alg, Searcher), name
            out.append(Stream(name, seed, "searcher", setup.search_alg, setup.num_samples, space))
        constants = settings.trial_config(seed)
        for name in settings.references:
            fixed = FixedConfigSearcher([{SCHEDULE_KEY: settings.reference_schedule(name)}])
            out.append(Stream(name, seed, "reference", fixed, 1, constants))
    return out


def planned_epochs(settings: CompareSettings) -> dict[str, int]:
    """Epochs each experiment trains when complete (a scheduler's: its budget)."""
    epochs = settings.trial.epochs
    shared = settings.seeds * (
        len(settings.stream_searchers) * settings.trials + len(settings.references)
    )
    plan = {name: settings.trials * epochs for name in settings.experiments}
    if SEARCHERS_EXPERIMENT in plan:
        plan[SEARCHERS_EXPERIMENT] = shared * epochs
    return plan


def _scheduled(settings: CompareSettings, name: str) -> tuple[str, int, SearchSetup]:
    searcher, seed = name.rsplit("-seed", 1)
    return searcher, int(seed), make_search(searcher, settings.request(int(seed)))


def _param_space(settings: CompareSettings, name: str) -> dict[str, Any]:
    if name == SEARCHERS_EXPERIMENT:
        return {}  # every stream brings its own space
    searcher, seed = name.rsplit("-seed", 1)
    return {**settings.param_space(int(seed)), "searcher": searcher, "role": "searcher"}


def _trainable(settings: CompareSettings) -> Any:
    return tune.with_resources(
        CoteachingTrainable, {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial}
    )


def _callbacks(settings: CompareSettings, name: str, per_stream: dict[str, int]) -> list:
    progress = ComparisonProgress(name, planned_epochs(settings), per_stream)
    return [progress, GracefulStop(), CheckpointPruner()]


def _tuner(settings: CompareSettings, name: str, path: Path) -> tuple[tune.Tuner, int, EpochBudget | None]:  # fmt: skip
    """A new Tuner for experiment ``name``, its planned trial count and its epoch budget."""
    budget: EpochBudget | None = None
    if name == SEARCHERS_EXPERIMENT:
        all_streams = streams(settings)
        search_alg: Any = StreamSearcher(all_streams, metric=METRIC, mode=MODE)
        scheduler = PausingScheduler(NewestPendingFirst())  # a freed core gets its own actor
        planned = sum(s.trials for s in all_streams)
        per_stream = {f"{s.searcher} seed {s.seed}": s.trials for s in all_streams}
    else:
        _, _, setup = _scheduled(settings, name)
        search_alg, planned, budget = setup.search_alg, setup.num_samples, setup.budget
        scheduler = PausingScheduler(setup.scheduler, one_at_a_time=True)
        if isinstance(search_alg, HeldTrialsGenerator):
            search_alg.holder = scheduler  # the next trial reuses the last one's actor
        per_stream = {}
    if budget is not None:  # survives Tuner.restore (see EpochBudget)
        budget.persist_to(path / BUDGET_FILE)
    tuner = tune.Tuner(
        _trainable(settings),
        param_space=_param_space(settings, name),
        tune_config=tune.TuneConfig(
            search_alg=search_alg,
            scheduler=scheduler,
            num_samples=planned,
            metric=METRIC,
            mode=MODE,
            reuse_actors=True,
        ),  # fmt: skip
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(Path(settings.out) / "tune"),
            stop=budget,
            callbacks=_callbacks(settings, name, per_stream),
            checkpoint_config=tune.CheckpointConfig(
                checkpoint_frequency=0, num_to_keep=None, checkpoint_at_end=False
            ),
            failure_config=tune.FailureConfig(max_failures=1),
            verbose=0,
        ),
    )
    return tuner, planned, budget


def _planned(settings: CompareSettings, name: str) -> tuple[int, EpochBudget | None]:
    if name == SEARCHERS_EXPERIMENT:
        return sum(s.trials for s in streams(settings)), None
    _, _, setup = _scheduled(settings, name)
    return setup.num_samples, setup.budget


def experiment_complete(path: Path, planned: int, budget: EpochBudget | None) -> bool:
    """Whether the experiment in ``path`` ran its whole plan: the epoch budget of a budgeted
    scheduler spent, or every one of its ``planned`` trials ended (:func:`plan_ran`).
    Decided from what ran, not from ``fit`` returning (it also returns after a Ctrl-C)."""
    if budget is not None:
        budget.persist_to(path / BUDGET_FILE)  # read the count the run left
        if budget.total >= budget.budget:
            return True
    return plan_ran(path, planned)


def run_experiment(settings: CompareSettings, name: str, *, resume: bool) -> Path:
    """Run (or resume, or skip when finished) experiment ``name``; return its folder.
    ``Interrupted`` when it stopped before its plan was complete (no ``DONE`` then)."""
    path = Path(settings.out) / "tune" / name
    if (path / DONE_MARKER).exists():
        print(f"[{name}] finished earlier, skipped", flush=True)
        return path
    EpochBudget.locate(path)  # a restored stopper keeps its count here, even in a copied folder
    planned, budget = _planned(settings, name)
    if resume and restorable(path):
        print(f"[{name}] resuming from {path}", flush=True)
        if budget is not None:  # the count of the snapshot the restore resumes
            budget.persist_to(path / BUDGET_FILE)
            budget.recount(recorded_epochs(path))
        tuner = tune.Tuner.restore(
            str(path), trainable=_trainable(settings),
            param_space=_param_space(settings, name), resume_errored=True,
        )  # fmt: skip
    else:
        tuner, planned, budget = _tuner(settings, name, path)
    pending = 2 * _slots(settings) if name == SEARCHERS_EXPERIMENT else None
    with sigint_handler_kept():
        if pending is None:
            tuner.fit()
        else:
            with _pending_trials(pending):
                tuner.fit()
    if not experiment_complete(path, planned, budget):
        raise Interrupted(f"[{name}] stopped before its plan was complete; state saved in {path}")
    write_atomic(path / DONE_MARKER, json.dumps({"experiment": name}))
    return path
