"""Delete trial checkpoints only once no experiment snapshot on disk can need them.

Tune's ``num_to_keep`` deletes a trial's older checkpoint the moment it writes a newer one, but
the experiment snapshot ``Tuner.restore`` reads is written on its own period: a driver killed in
between leaves a snapshot pointing at a deleted checkpoint, and that trial cannot be resumed.
So Tune keeps every checkpoint (``num_to_keep=None``) and :class:`CheckpointPruner` deletes,
every ``period_s`` and when the experiment ends, what the newest snapshot in the experiment
folder no longer points at: every checkpoint of a trial it records as finished, and of any
other trial the checkpoints older than the one it records (newer ones are kept for the next
snapshot). When the experiment ends (Tune has written its final snapshot by then) it also
deletes the trial folders that snapshot does not record: a trial a killed driver started after
its last snapshot (its checkpoints go straight to storage, its first results with the next
upload of the driver's staging folder) is suggested again by the resumed run under a new trial
folder, so the old one holds a partial run that nothing resumes or reads.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from ray import tune

from raysearch.tune.preflight import trial_records


def _index(folder: Path) -> int:
    return int(folder.name.rsplit("_", 1)[1])


def _checkpoints(folder: Path) -> list[Path]:
    """Tune's ``checkpoint_NNNNNN`` folders in a trial folder."""
    return [
        c for c in folder.glob("checkpoint_*")
        if c.is_dir() and c.name.rsplit("_", 1)[1].isdigit()
    ]  # fmt: skip


def prune_checkpoints(experiment: Path, *, ended: bool = False) -> int:
    """Apply the rule above to ``experiment`` once (``ended``: the experiment has ended, so
    unrecorded trial folders go too); the number of folders deleted. A snapshot that cannot be
    read (being copied, say) deletes nothing."""
    states = sorted(experiment.glob("experiment_state-*.json"))
    if not states:
        return 0
    try:
        records = trial_records(states[-1])
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        return 0
    doomed = []
    for folder_name, status, latest in records:
        folder = experiment / folder_name
        if not folder_name or not folder.is_dir():
            continue
        keep_from = None if status == "TERMINATED" else (_index(Path(latest)) if latest else -1)
        doomed += [c for c in _checkpoints(folder) if keep_from is None or _index(c) < keep_from]
    if ended:
        recorded = {name for name, _, _ in records}
        doomed += [f for f in experiment.iterdir() if f.is_dir() and f.name not in recorded]
    for folder in doomed:
        shutil.rmtree(folder, ignore_errors=True)
    return len(doomed)


class CheckpointPruner(tune.Callback):
    """Runs :func:`prune_checkpoints` on the experiment's folder (found from its trials, so a
    moved or copied folder is pruned where it is now)."""

    def __init__(self, period_s: float = 10.0) -> None:
        self.period_s = period_s
        self._last = time.monotonic()

    @staticmethod
    def _folder(trials: list) -> Path | None:
        for trial in trials:
            path = Path(str(getattr(trial, "path", "") or ""))
            if path.parent.is_dir():
                return path.parent
        return None

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if time.monotonic() - self._last >= self.period_s:
            self._last = time.monotonic()
            folder = self._folder(trials)
            if folder is not None:
                prune_checkpoints(folder)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        folder = self._folder(trials)
        if folder is not None:
            prune_checkpoints(folder, ended=True)
