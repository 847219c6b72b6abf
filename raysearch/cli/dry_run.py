"""Dry run of a preset: the same ``raysearch`` command line, shrunk to seconds on a CPU.

``launchers/launch.py --preset NAME --dry-run`` runs the preset's own command through the same
``raysearch`` entry point as the real run, with the options of :data:`DRY_RUN_OPTIONS` appended
(argparse keeps the last value): 1 epoch, 2 batches per stage, tiny trial counts and batches,
no GPUs. When the preset's data set files are absent, a tiny stand-in in the same format
(:func:`raysearch.data.tiny.write_tiny_dataset`) is written under the dry run's folder and
``--data-root`` points there. A preset command without an entry here fails loudly: a new
command must say how it shrinks before its presets can be proven to start. No Ray here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raysearch.cli.presets import Preset, allowed_options

# preset command -> options overriding the preset's for a dry run
DRY_RUN_OPTIONS: dict[str, dict[str, Any]] = {
    "compare": {
        "epochs": 1, "max-batches-per-epoch": 2, "batch-size": 16, "trials": 2,
        "samples-per-iter": 2, "seeds": 1, "concurrency": 2, "cpus-per-trial": 1,
        "gpus-per-trial": 0,
    },
    "nas-search": {"epochs": 1, "max-batches": 2, "batch-size": 8, "gpus-per-worker": 0},
    "nas-evaluate": {
        "epochs": 1, "max-batches": 2, "batch-size": 8, "gpus-per-worker": 0, "seeds": "0",
    },
}  # fmt: skip
MAX_WORKERS = 2  # Ray Train workers of a dry run (more than one keeps the all-reduce path)


def dry_run_options(preset: Preset) -> dict[str, Any]:
    """The overrides of ``preset``'s command; ``KeyError`` for a command with none, and
    ``ValueError`` if an override names an option the command no longer has."""
    if preset.command not in DRY_RUN_OPTIONS:
        raise KeyError(
            f"preset {preset.name!r}: no dry run for preset command {preset.command!r}; "
            f"known: {', '.join(DRY_RUN_OPTIONS)} (add it to raysearch/cli/dry_run.py)"
        )
    options = dict(DRY_RUN_OPTIONS[preset.command])
    if "workers" in preset.options:
        options["workers"] = min(int(preset.options["workers"]), MAX_WORKERS)
    unknown = sorted(set(options) - set(allowed_options(preset.command)))
    if unknown:
        raise ValueError(
            f"dry-run options {', '.join(unknown)} are not options of {preset.command!r}"
        )
    return options


def dry_run_data_root(preset: Preset, folder: Path) -> str | None:
    """``folder/data`` holding a tiny stand-in of the preset's data set when its files are not
    where the preset says (None: the real files, or the embedded set, are there)."""
    from raysearch.data import DEFAULT_DATASET, check_dataset_files
    from raysearch.data.tiny import write_tiny_dataset

    dataset = str(preset.options.get("dataset", DEFAULT_DATASET))
    root = preset.options.get("data-root")
    try:
        check_dataset_files(dataset, root=None if root is None else Path(str(root)).expanduser())
        return None
    except FileNotFoundError:
        return str(write_tiny_dataset(dataset, folder / "data"))


def dry_run_argv(preset: Preset, folder: Path) -> list[str]:
    """The ``--key value`` arguments a dry run appends to the preset's command line."""
    options = dry_run_options(preset)
    data_root = dry_run_data_root(preset, folder)
    if data_root is not None:
        options["data-root"] = data_root
    return [arg for key, value in options.items() for arg in (f"--{key}", str(value))]
