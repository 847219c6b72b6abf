"""Run one reweighting trial per training seed on Ray Tune (actor reuse) and collect them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from ray import tune

from raysearch.analysis.results_folder import Interrupted, sigint_handler_kept
from raysearch.reweight.settings import ReweightSettings
from raysearch.tune.preflight import init_ray, plan_ran, restorable
from raysearch.tune.reweight_trainable import ReweightTrainable

FINAL_COLUMNS = [
    "seed", "epoch", "val_acc", "test_acc", "rare_class_acc", "test_acc_w2", "rare_class_acc_w2",
]  # fmt: skip


def run_reweight_trials(
    settings: ReweightSettings,
    seeds: list[int],
    *,
    storage_path: str | Path,
    address: str | None = None,
    cpus_per_trial: int = 1,
    resume: bool = False,
) -> pd.DataFrame:
    """Train ``settings`` once per seed as Tune trials; one row per seed with the final metrics
    (and every ``class_acc/<c>`` column). ``resume`` restores the experiment an interrupted run
    left in ``storage_path``; ``Interrupted`` when this run stops before every seed finished."""
    if not seeds:
        raise ValueError("seeds must name at least one training seed")
    storage = Path(storage_path).expanduser().resolve()
    init_ray(address)
    trainable = tune.with_resources(ReweightTrainable, {"cpu": cpus_per_trial})
    param_space = {**settings.to_config(), "seed": tune.grid_search(list(seeds))}
    experiment = storage / f"reweight-{settings.method}"
    if resume and restorable(experiment):
        tuner = tune.Tuner.restore(
            str(experiment), trainable=trainable, param_space=param_space, resume_errored=True
        )
    else:
        tuner = _new_tuner(settings, trainable, param_space, storage)
    with sigint_handler_kept():
        grid = tuner.fit()
    if not plan_ran(experiment, len(seeds)):
        raise Interrupted(f"reweighting stopped before its {len(seeds)} seed(s) finished")
    return _final_rows(grid)


def _new_tuner(
    settings: ReweightSettings, trainable: Any, param_space: dict[str, Any], storage: Path
) -> tune.Tuner:
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(reuse_actors=True, metric="val_acc", mode="max"),
        run_config=tune.RunConfig(
            name=f"reweight-{settings.method}",
            storage_path=str(storage),
            verbose=0,
            checkpoint_config=tune.CheckpointConfig(  # every epoch: a resumed trial continues
                checkpoint_frequency=1, checkpoint_at_end=True, num_to_keep=1
            ),
        ),
    )


def _final_rows(grid: Any) -> pd.DataFrame:
    if grid.errors:
        raise RuntimeError(f"{len(grid.errors)} reweighting trial(s) failed: {grid.errors[0]}")
    rows = []
    for result in (grid[i] for i in range(len(grid))):
        if result.metrics_dataframe is None or result.config is None:
            raise RuntimeError(f"reweighting trial in {result.path} reported nothing")
        last = result.metrics_dataframe.iloc[-1]
        row = {"seed": result.config["seed"]}
        row.update(
            {k: last[k] for k in last.index if k in FINAL_COLUMNS or k.startswith("class_acc/")}
        )
        rows.append(row)
    frame = pd.DataFrame(rows).sort_values("seed").reset_index(drop=True)
    return frame[
        [c for c in FINAL_COLUMNS if c in frame]
        + sorted(c for c in frame if c.startswith("class_acc/"))
    ]
