"""Load Tune experiment folders written by raysearch into pandas dataframes.

Reads Tune's per-trial files (``params.json``, ``result.json``) directly, so a results folder
can be analysed anywhere, without Ray. Epoch rows repeated by a resumed trial are dropped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

FINAL_METRICS = ("val_acc", "test_acc", "label_precision", "train_loss", "keep_rate")


def flatten(config: dict[str, Any], prefix: str = "config/") -> dict[str, Any]:
    """``{"schedule": {"tau": .5}}`` -> ``{"config/schedule/tau": .5}`` (Tune's column names)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}/"))
        else:
            flat[prefix + key] = value
    return flat


def _trial_dirs(experiment: Path) -> list[Path]:
    return sorted(p.parent for p in experiment.glob("*/params.json"))


def load_trial_epochs(trial_dir: Path) -> pd.DataFrame:
    """One row per reported epoch of one trial (duplicates from a resume removed)."""
    path = trial_dir / "result.json"
    lines = (
        [line for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    )
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            if number == len(lines):  # a driver killed mid-write truncates the last line only
                break
            raise ValueError(f"corrupted line {number} of {path}: {error}") from None
    frame = pd.DataFrame([{k: v for k, v in row.items() if k != "config"} for row in rows])
    if frame.empty or "epoch" not in frame:
        return frame
    return (
        frame.drop_duplicates(subset="epoch", keep="last")
        .sort_values("epoch")
        .reset_index(drop=True)
    )


def read_params(trial_dir: Path) -> dict[str, Any] | None:
    """A trial's config: ``params.json``, else the ``config`` of its first ``result.json`` row
    (a driver killed while Tune writes or syncs a trial's files can leave ``params.json``
    empty); ``None`` when neither is readable (a trial that never reported)."""
    try:
        return dict(json.loads((trial_dir / "params.json").read_text()))
    except (OSError, json.JSONDecodeError):
        pass
    path = trial_dir / "result.json"
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            return dict(json.loads(line)["config"])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return None


def load_tune_experiment(experiment: Path, **labels: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(trials, epochs) of one Tune experiment folder; ``labels`` become columns of both."""
    trials, epochs = [], []
    for trial_dir in _trial_dirs(experiment):
        per_epoch = load_trial_epochs(trial_dir)
        config = read_params(trial_dir)
        if config is None:  # never reported: nothing to load
            continue
        row: dict[str, Any] = {**labels, "trial_dir": trial_dir.name, **flatten(config)}
        if not per_epoch.empty:
            last = per_epoch.iloc[-1]
            row.update(trial_id=last.get("trial_id"), epochs_trained=int(last.get("epoch", 0)),
                       started=float(per_epoch["timestamp"].min()), finished=float(per_epoch["timestamp"].max()))  # fmt: skip
            row.update({m: last.get(m) for m in FINAL_METRICS})
            epochs.append(per_epoch.assign(**labels, trial_dir=trial_dir.name))
        trials.append(row)
    return pd.DataFrame(trials), (
        pd.concat(epochs, ignore_index=True) if epochs else pd.DataFrame()
    )


def load_compare_dir(out: str | Path) -> pd.DataFrame:
    """All trials of a ``raysearch compare`` folder, one row each, ordered by finishing time.

    Columns: searcher, seed, role (``searcher`` or ``reference``), trial config
    (``config/...``), epochs_trained, final metrics, and ``trial_order`` (1-based rank of the
    trial's finishing time within its (searcher, seed)). Trials of the shared ``searchers``
    experiment are labelled by their config (``searcher``, ``seed``, ``role``), those of a
    ``<name>-seed<s>`` experiment by its name. Trials that never reported (created, then cut off
    by the epoch budget) are left out.
    """
    frames = []
    for experiment in sorted((Path(out) / "tune").iterdir()):
        if not experiment.is_dir():
            continue
        if "-seed" in experiment.name:
            searcher, seed = experiment.name.rsplit("-seed", 1)
            trials, _ = load_tune_experiment(experiment, searcher=searcher, seed=int(seed))
            trials["role"] = "searcher"
        else:
            trials, _ = load_tune_experiment(experiment)
            if trials.empty or "config/searcher" not in trials:
                continue
            trials = trials.assign(searcher=trials["config/searcher"], role=trials["config/role"],
                                   seed=trials["config/seed"].astype(int))  # fmt: skip
        if "epochs_trained" in trials:
            # a scheduler's budget can end the experiment before some created trials ever ran
            trials = trials[trials["epochs_trained"].notna()]
        if not trials.empty:
            frames.append(trials)
    if not frames:
        return pd.DataFrame()
    trials = pd.concat(frames, ignore_index=True)
    trials = trials.sort_values(["searcher", "seed", "finished"], na_position="last", kind="stable")
    trials["trial_order"] = trials.groupby(["searcher", "seed"]).cumcount() + 1
    return trials.reset_index(drop=True)
