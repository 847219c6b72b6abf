"""Run one Co-teaching trial on a (local or remote) Ray cluster and stream its epochs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from ray import tune

from raysearch.analysis.results_folder import sigint_handler_kept
from raysearch.noisy.settings import TrialSettings, check_schedule_config
from raysearch.tune.preflight import check_trial_inputs, init_ray
from raysearch.tune.trainable import CoteachingTrainable

EPOCH_COLUMNS = ["epoch", "keep_rate", "train_loss", "val_acc", "test_acc", "label_precision"]


class _EpochPrinter(tune.Callback):
    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit = emit

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        self.emit(
            "  ".join(
                f"{k}={result[k]:.4g}" if isinstance(result[k], float) else f"{k}={result[k]}"
                for k in EPOCH_COLUMNS
            )
        )


def print_line(line: str) -> None:
    """The default ``emit``: ``print`` by a name of this module, so the callback holding it
    pickles with the Tuner even where Ray Train has replaced ``builtins.print``."""
    print(line, flush=True)


def run_single_trial(
    settings: TrialSettings,
    schedule: dict[str, Any],
    *,
    storage_path: str | Path,
    address: str | None = None,
    cpus: int = 1,
    gpus: float = 0,
    emit: Callable[[str], None] = print_line,
) -> pd.DataFrame:
    """Train one trial as a Ray Tune trial; return its per-epoch metrics as a dataframe."""
    schedule = check_schedule_config(schedule)
    storage = Path(storage_path).expanduser().resolve()
    check_trial_inputs(settings, address)
    init_ray(address)
    tuner = tune.Tuner(
        tune.with_resources(CoteachingTrainable, {"cpu": cpus, "gpu": gpus}),
        param_space={**settings.to_config(), "schedule": schedule},
        tune_config=tune.TuneConfig(num_samples=1, metric="val_acc", mode="max"),
        run_config=tune.RunConfig(
            name="trial",
            storage_path=str(storage),
            callbacks=[_EpochPrinter(emit)],
            verbose=0,
            checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=True, num_to_keep=1),
        ),
    )
    with sigint_handler_kept():
        result = tuner.fit()[0]
    if result.error is not None or result.metrics_dataframe is None:
        raise RuntimeError(f"trial failed: {result.error}")
    return result.metrics_dataframe[EPOCH_COLUMNS]
