"""``raysearch compare``: every search strategy on the same schedule space and epoch budget.

One Tune experiment per (strategy, seed) under ``OUT/tune/<strategy>-seed<s>``. Every trial
checkpoints each epoch and the S2E searcher's state is saved with the experiment. Only a
*complete* experiment (every planned trial terminal, or the epoch budget spent) gets a ``DONE``
marker; an interrupted one (Ctrl-C: Tune stops gracefully and ``fit`` returns) raises
:class:`Interrupted` and no later experiment starts. ``resume=True`` restores unfinished
experiments with ``Tuner.restore`` (nothing lost, nothing run twice) and skips finished ones.
``OUT`` belongs to one set of settings (:mod:`raysearch.analysis.results_folder`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from ray import tune

from raysearch.analysis.results_folder import (
    FolderState,
    Interrupted,
    claim_folder,
    mark_finished,
    sigint_handler_kept,
    write_atomic,
    write_fingerprint,
)
from raysearch.noisy.settings import TrialSettings
from raysearch.tune.budget import EpochBudget
from raysearch.tune.preflight import (
    check_ray_address,
    check_resumable,
    check_trial_inputs,
    init_ray,
    plan_ran,
    restorable,
)
from raysearch.tune.searchers import (
    SearchRequest,
    SearchSetup,
    check_searcher_names,
    make_search,
    tune_config,
)
from raysearch.tune.spaces import SCHEDULE_KEY, family_space, simplex_groups
from raysearch.tune.trainable import CoteachingTrainable
from raysearch.tune.tune_logging import quiet_missing_result_files
from search_spaces.schedules import get_family

METRIC, MODE = "val_acc", "max"
# not *.json / *.pkl: on restore Tune copies those into its driver staging folder and syncs
# them back over the experiment folder at every snapshot, which would reset the count
BUDGET_FILE = "epoch_budget.state"
DONE_MARKER = "DONE"
quiet_missing_result_files()  # Tune's warning about never-run trials (see tune_logging)


@dataclass(frozen=True)
class CompareSettings:
    """A comparison: schedule family, strategies, budget (N trials x E epochs) and seeds."""

    trial: TrialSettings
    space: str = "s2e"
    searchers: tuple[str, ...] = ("s2e", "random", "tpe", "hyperband")
    trials: int = 12
    seeds: int = 2
    samples_per_iter: int = 4
    concurrency: int = 2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    out: str = "runs/compare"

    def __post_init__(self) -> None:
        get_family(self.space)
        check_searcher_names(list(self.searchers))
        for name, value, low in (
            ("trials", self.trials, 1),
            ("seeds", self.seeds, 1),
            ("samples_per_iter", self.samples_per_iter, 2),
            ("concurrency", self.concurrency, 1),
        ):
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        if not self.cpus_per_trial > 0:  # fractional: trials share cores (see README)
            raise ValueError(f"cpus_per_trial must be > 0, got {self.cpus_per_trial}")
        object.__setattr__(self, "out", str(Path(self.out).expanduser().resolve()))

    @property
    def experiments(self) -> list[tuple[str, int]]:
        return [(name, seed) for seed in range(self.seeds) for name in self.searchers]

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> CompareSettings:
        """Inverse of ``dataclasses.asdict`` (JSON round trip)."""
        trial = TrialSettings(**fields["trial"])
        return cls(**{**fields, "trial": trial, "searchers": tuple(fields["searchers"])})

    def fingerprint(self) -> dict[str, Any]:
        """The settings every trial of the folder depends on (``out`` excluded: a copied or
        moved folder keeps its fingerprint)."""
        settings = dataclasses.asdict(self)
        settings.pop("out")
        return settings

    def request(self, seed: int) -> SearchRequest:
        family = get_family(self.space)
        return SearchRequest(
            metric=METRIC, mode=MODE, trials=self.trials, epochs=self.trial.epochs, seed=seed,
            concurrency=self.concurrency, samples_per_iter=self.samples_per_iter, simplex_groups=simplex_groups(family),
        )  # fmt: skip

    def param_space(self, seed: int) -> dict[str, Any]:
        """Trial settings (training seed = search seed) plus the family's Tune space."""
        trial = dataclasses.replace(self.trial, seed=seed)
        return {**trial.to_config(), SCHEDULE_KEY: family_space(get_family(self.space))}


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else str(value)


class _Progress(tune.Callback):
    """One line per trial that ends, however it ends: finished or stopped (by its schedule or a
    scheduler), failed, or left paused or running when the experiment ended (Hyperband/ASHA
    when the epoch budget ran out: Tune calls no trial hook for those, so they are printed at
    the experiment's end). Each line: experiment (strategy and seed), count, trial id, epochs,
    val/test accuracy, label precision and the best validation accuracy so far."""

    def __init__(self, label: str) -> None:
        self.label, self.count, self.best = label, 0, float("-inf")
        self.printed: set[str] = set()

    def _done_line(self, trial: Any, how: str = "done") -> None:
        result = trial.last_result or {}
        self.count += 1
        self.printed.add(trial.trial_id)
        val = result.get(METRIC, float("nan"))
        if isinstance(val, float) and val == val:
            self.best = max(self.best, val)
        metrics = " ".join(
            f"{name}={_number(result.get(name))}"
            for name in ("val_acc", "test_acc", "label_precision")
        )
        print(
            f"[{self.label}] trial {self.count} {how}: {trial.trial_id} epochs={result.get('epoch')} "
            f"{metrics} best_val={self.best:.4f}",
            flush=True,
        )

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._done_line(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.printed.add(trial.trial_id)
        epoch = (trial.last_result or {}).get("epoch")
        print(
            f"[{self.label}] trial {trial.trial_id} failed after epoch {epoch}; "
            f"traceback in {trial.path}/error.txt",
            flush=True,
        )

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        unprinted = [t for t in trials if t.trial_id not in self.printed]
        ran = [t for t in unprinted if (t.last_result or {}).get("epoch") is not None]
        for trial in ran:  # TERMINATED by the end of the experiment, or left PAUSED/RUNNING
            status = str(trial.status).lower()
            self._done_line(trial, "stopped" if status == "terminated" else f"ended while {status}")
        if len(unprinted) > len(ran):
            never = len(unprinted) - len(ran)
            print(f"[{self.label}] {never} trial(s) created but never run", flush=True)


def configure_experiment_snapshots() -> None:
    """Snapshot the experiment state at every controller step (TUNE_GLOBAL_CHECKPOINT_S=0).

    Trials checkpoint every epoch and keep the last two checkpoints. Tune's default snapshot
    period ("auto", >= 10 s) lets a trial write two newer checkpoints, deleting the one the
    last snapshot points to, before the next snapshot: a driver killed then cannot restore that
    trial. Snapshotting each step keeps the snapshot within one checkpoint of the newest.
    """
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "0")
    # checkpointing every epoch is deliberate: silence Tune's warning about it
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")


def _trainable(settings: CompareSettings) -> Any:
    return tune.with_resources(
        CoteachingTrainable, {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial}
    )


def _run_config(settings: CompareSettings, name: str, setup: Any) -> tune.RunConfig:
    return tune.RunConfig(
        name=name,
        storage_path=str(Path(settings.out) / "tune"),
        stop=setup.budget,
        callbacks=[_Progress(name)],
        checkpoint_config=tune.CheckpointConfig(
            checkpoint_frequency=1, num_to_keep=2, checkpoint_at_end=True
        ),
        failure_config=tune.FailureConfig(max_failures=1),
        verbose=0,
    )


def experiment_complete(path: Path, setup: SearchSetup) -> bool:
    """Whether the experiment in ``path`` ran its whole plan: the epoch budget of a budgeted
    scheduler spent, or every one of ``num_samples`` trials ended (:func:`plan_ran`).
    Decided from what ran, not from ``fit`` returning (it also returns after a Ctrl-C)."""
    if setup.budget is not None:
        setup.budget.persist_to(path / BUDGET_FILE)  # read the count the run left
        if setup.budget.total >= setup.budget.budget:
            return True
    return plan_ran(path, setup.num_samples)


def _restore(settings: CompareSettings, seed: int, path: Path) -> tune.Tuner:
    return tune.Tuner.restore(
        str(path),
        trainable=_trainable(settings),
        param_space=settings.param_space(seed),
        resume_errored=True,
    )


def run_experiment(
    settings: CompareSettings,
    searcher: str,
    seed: int,
    *,
    resume: bool,
) -> Path:
    """Run (or resume, or skip when finished) one (strategy, seed) experiment; return its folder.
    ``Interrupted`` when the run stopped before its plan was complete (no ``DONE`` then)."""
    name = f"{searcher}-seed{seed}"
    path = Path(settings.out) / "tune" / name
    if (path / DONE_MARKER).exists():
        print(f"[{name}] finished earlier, skipped", flush=True)
        return path
    request = settings.request(seed)
    setup = make_search(searcher, request)
    EpochBudget.locate(path)  # a restored stopper keeps its count here, even in a copied folder
    if setup.budget is not None:  # survives Tuner.restore (see EpochBudget)
        setup.budget.persist_to(path / BUDGET_FILE)
    if resume and restorable(path):
        print(f"[{name}] resuming from {path}", flush=True)
        tuner = _restore(settings, seed, path)
    else:
        tuner = tune.Tuner(
            _trainable(settings),
            param_space=settings.param_space(seed),
            tune_config=tune_config(setup, request),
            run_config=_run_config(settings, name, setup),
        )
    with sigint_handler_kept():
        tuner.fit()
    if not experiment_complete(path, setup):
        raise Interrupted(f"[{name}] stopped before its plan was complete; state saved in {path}")
    write_atomic(path / DONE_MARKER, json.dumps({"searcher": searcher, "seed": seed}))
    return path


def run_compare(
    settings: CompareSettings,
    *,
    address: str | None = None,
    resume: bool = False,
    experiments_at_once: int = 1,
) -> pd.DataFrame:
    """Run every (strategy, seed) experiment, write the report and return all trials.
    ``experiments_at_once`` > 1 runs experiments side by side on the one Ray cluster
    (:mod:`raysearch.tune.side_by_side`); the results are the same.

    The folder is checked first (:func:`claim_folder`): other settings, or an interrupted run
    without ``resume``, are refused before anything is written or Ray starts; a finished
    folder returns its trials without running anything. ``Interrupted`` when a run stops early.
    """
    from raysearch.analysis.compare_report import write_compare_report
    from raysearch.analysis.experiments import load_compare_dir

    if experiments_at_once < 1:
        raise ValueError(f"experiments_at_once must be >= 1, got {experiments_at_once}")
    configure_experiment_snapshots()
    out = Path(settings.out)
    state = claim_folder(out, "compare", settings.fingerprint(), resume=resume)
    if state is FolderState.FINISHED:
        print(f"{out} finished earlier with these settings; nothing to run", flush=True)
        return load_compare_dir(out)
    check_trial_inputs(settings.trial, address)
    if resume:
        check_resumable(out)
    check_ray_address(address)  # an unreachable address leaves no folder behind
    write_fingerprint(out, "compare", settings.fingerprint())  # a stop from here on: --resume
    write_atomic(out / "settings.json", json.dumps(dataclasses.asdict(settings), indent=2))
    init_ray(address)
    if experiments_at_once > 1 and len(settings.experiments) > 1:
        import ray

        from raysearch.tune.side_by_side import run_side_by_side

        gcs = ray.get_runtime_context().gcs_address
        run_side_by_side(settings, resume=resume, address=gcs, at_once=experiments_at_once)
    else:
        for searcher, seed in settings.experiments:
            run_experiment(settings, searcher, seed, resume=resume)
    # Tune's own hint names its staging folder; the event files are kept under OUT/tune
    print(f"TensorBoard: tensorboard --logdir {out / 'tune'}", flush=True)
    trials = load_compare_dir(out)
    write_compare_report(trials, settings.trial.epochs, out)
    mark_finished(out)
    return trials
