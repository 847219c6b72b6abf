"""``raysearch compare``: every search strategy, and the reference schedules, on the same schedule
space, seeds and epoch budget.

The experiments of a comparison (:mod:`raysearch.tune.compare_settings`) run under
``OUT/tune/<experiment>``: the shared ``searchers`` experiment and one per (scheduler, seed),
side by side on the one Ray cluster when ``experiments_at_once`` > 1 (the default), so the
scheduler experiments, which run one trial at a time, fill the cores the shared one leaves.
Each is run, resumed or skipped by :func:`raysearch.tune.compare_experiments.run_experiment`;
then the report is written. ``OUT`` belongs to one set of settings
(:mod:`raysearch.analysis.results_folder`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd

from raysearch.analysis.results_folder import (
    FolderState,
    claim_folder,
    mark_finished,
    write_atomic,
    write_fingerprint,
)
from raysearch.tune.compare_experiments import configure_experiment_snapshots, run_experiment
from raysearch.tune.compare_settings import CompareSettings
from raysearch.tune.preflight import (
    check_ray_address,
    check_resumable,
    check_trial_inputs,
    init_ray,
    record_ray_temp_dir,
)

__all__ = ["CompareSettings", "run_compare"]


def run_compare(
    settings: CompareSettings,
    *,
    address: str | None = None,
    resume: bool = False,
    experiments_at_once: int = 2,
) -> pd.DataFrame:
    """Run every experiment of the comparison, write the report and return all trials.
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
    record_ray_temp_dir(out)
    if experiments_at_once > 1 and len(settings.experiments) > 1:
        import ray

        from raysearch.tune.side_by_side import run_side_by_side

        gcs = ray.get_runtime_context().gcs_address
        run_side_by_side(settings, resume=resume, address=gcs, at_once=experiments_at_once)
    else:
        for name in settings.experiments:
            run_experiment(settings, name, resume=resume)
    # Tune's own hint names its staging folder; the event files are kept under OUT/tune
    print(f"TensorBoard: tensorboard --logdir {out / 'tune'}", flush=True)
    trials = load_compare_dir(out)
    write_compare_report(trials, settings.trial.epochs, out)
    mark_finished(out)
    return trials
