"""Equal budgets in trained epochs: stop an experiment once its trials have trained B epochs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

from ray import tune


class EpochBudget(tune.stopper.Stopper):
    """Stops the whole experiment once the trials' reported epochs add up to ``budget``.

    Schedulers (Hyperband, ASHA) stop trials early, so a searcher+scheduler pair is given the
    same total epochs as N full trials of a plain searcher, not the same number of trials.
    Trials that resume from a checkpoint (paused by Hyperband) count each epoch once.

    With :meth:`persist_to`, the epochs spent per trial are written to a JSON file after every
    result and read back after unpickling, so ``Tuner.restore`` (which unpickles the stopper
    from the experiment state, with the path it was pickled with) continues the count instead
    of restarting it. The driver names the experiment's current folder with :meth:`locate`
    before ``fit``: a stopper unpickled from a copied or moved folder then reads and writes
    the file there, never in the folder it was pickled in.
    """

    _folders: ClassVar[dict[str, Path]] = {}  # experiment folder name -> where it is now

    def __init__(self, budget: int, *, time_attr: str = "epoch") -> None:
        if budget < 1:
            raise ValueError(f"epoch budget must be >= 1, got {budget}")
        self.budget, self.time_attr = budget, time_attr
        self.state_path: Path | None = None
        self.spent: dict[str, int] = {}
        self._loaded = True

    def persist_to(self, path: Path) -> None:
        """Keep the per-trial counts in ``path`` (loaded now if it exists)."""
        self.state_path = Path(path)
        self._loaded = False
        self._load()

    def recount(self, recorded: dict[str, int]) -> None:
        """Set the counts to ``recorded`` (trial id -> last epoch of the experiment snapshot
        ``Tuner.restore`` resumes) and save them. After a SIGKILL the file is ahead of that
        snapshot: epochs reported after it are trained again, or never, by the restored run
        (a trial created after it is unknown to the restored run and suggested anew)."""
        self.spent = dict(recorded)
        self._loaded = True
        self._save()

    @classmethod
    def locate(cls, folder: Path) -> None:
        """Budget files of the experiment named ``folder.name`` live in ``folder`` (this process)."""
        cls._folders[Path(folder).name] = Path(folder)

    @property
    def _file(self) -> Path | None:
        if self.state_path is None:
            return None
        folder = self._folders.get(self.state_path.parent.name, self.state_path.parent)
        return folder / self.state_path.name

    @property
    def total(self) -> int:
        self._load()
        return sum(self.spent.values())

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        self._load()
        epochs = max(self.spent.get(trial_id, 0), int(result.get(self.time_attr, 0)))
        if epochs != self.spent.get(trial_id):
            self.spent[trial_id] = epochs
            self._save()
        return False

    def stop_all(self) -> bool:
        return self.total >= self.budget

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.state_path is not None:  # the file, not the pickle, holds the count
            state.update(spent={}, _loaded=False)
        return state

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        path = self._file
        if path is not None and path.is_file():
            self.spent = {k: int(v) for k, v in json.loads(path.read_text()).items()}

    def _save(self) -> None:
        path = self._file
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.spent))
        os.replace(tmp, path)
