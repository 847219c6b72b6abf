"""The console of ``raysearch compare``: one line per trial that ends, with where the whole
comparison stands and how long it has left.

Each experiment's callback counts the epochs its trials report and keeps the count in
``<experiment>/progress.state`` (not ``*.json``: Tune syncs those back from its staging folder
on restore), so every driver, side by side or resumed, reads how far the whole comparison is
from the files of all its experiments. Time left = epochs left x this session's pace (epochs of
the whole comparison since this callback started, per second).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ray import tune

from raysearch.tune.tune_logging import VERBOSE_ENV

PROGRESS_FILE = "progress.state"
SHOWN = ("val_acc", "test_acc", "label_precision")


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else str(value)


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 0):.0f} s left"
    return f"{seconds / 60:.0f} min left"


class ComparisonProgress(tune.Callback):
    """Progress lines of one experiment of a comparison.

    ``planned``: the epochs each experiment of the comparison will train (by name);
    ``trials_per_stream``: how many trials each stream label of this experiment runs (absent:
    a scheduler's stream, budgeted in epochs). Trials are labelled by their config's
    ``searcher`` and ``seed``.
    """

    def __init__(self, experiment: str, planned: Mapping[str, int],
                 trials_per_stream: Mapping[str, int] | None = None) -> None:  # fmt: skip
        self.experiment, self.planned = experiment, dict(planned)
        self.trials_per_stream = dict(trials_per_stream or {})
        self.epochs = 0  # this experiment's, all sessions
        self.ended: Counter[str] = Counter()
        self.best: dict[str, float] = {}
        self.printed: set[str] = set()
        self.folder: Path | None = None
        self._start: tuple[float, int] | None = None  # (time, comparison epochs) at set-up

    # -- bookkeeping -------------------------------------------------------------------------

    def _locate(self, trials: list) -> None:
        if self.folder is not None:
            return
        for trial in trials:
            path = Path(str(getattr(trial, "path", "") or ""))
            if path.parent.is_dir():
                self.folder = path.parent
                saved = self._read(self.folder)
                self.epochs = max(self.epochs, saved)
                self._start = (time.monotonic(), self._comparison_epochs())
                return

    @staticmethod
    def _read(folder: Path) -> int:
        try:
            return int(json.loads((folder / PROGRESS_FILE).read_text())["epochs"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    def _comparison_epochs(self) -> int:
        if self.folder is None:
            return self.epochs
        others = sum(self._read(self.folder.parent / name) for name in self.planned
                     if name != self.experiment)  # fmt: skip
        return others + self.epochs

    def _save(self) -> None:
        if self.folder is None:
            return
        tmp = self.folder / f".{PROGRESS_FILE}.{os.getpid()}"
        tmp.write_text(json.dumps({"epochs": self.epochs}))
        os.replace(tmp, self.folder / PROGRESS_FILE)

    def status(self) -> str:
        """``experiment 2/6 · comparison 45 % · 4 min left`` (the time once this session has a
        pace; the position in the order the comparison lists its experiments)."""
        total = max(1, sum(self.planned.values()))
        done = min(self._comparison_epochs(), total)
        names = list(self.planned)
        position = names.index(self.experiment) + 1 if self.experiment in names else "?"
        text = f"experiment {position}/{len(names)} · comparison {100 * done / total:.0f} %"
        if self._start is not None:
            elapsed, gained = time.monotonic() - self._start[0], done - self._start[1]
            if gained > 0 and elapsed > 0:
                text += f" · {_minutes((total - done) * elapsed / gained)}"
        return text

    # -- Tune hooks ---------------------------------------------------------------------------

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:  # fmt: skip
        self._locate([trial])
        self.epochs += 1

    @staticmethod
    def _label(trial: Any) -> str:
        config = getattr(trial, "config", None) or {}
        return f"{config.get('searcher', '?')} seed {config.get('seed', '?')}"

    def _line(self, trial: Any, how: str) -> None:
        self._save()
        result = trial.last_result or {}
        label = self._label(trial)
        self.ended[label] += 1
        self.printed.add(trial.trial_id)
        value = result.get("val_acc")
        if isinstance(value, float) and value == value:
            self.best[label] = max(self.best.get(label, float("-inf")), value)
        planned = self.trials_per_stream.get(label)
        count = f"trial {self.ended[label]}" + (f"/{planned}" if planned else "")
        metrics = " ".join(f"{name}={_number(result.get(name))}" for name in SHOWN)
        best = self.best.get(label)
        best_text = "" if best is None else f" best_val={best:.4f}"
        print(f"[{label}] {count} {how}: epochs={result.get('epoch')} {metrics}{best_text} · "
              f"{self.status()}", flush=True)  # fmt: skip

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._locate([trial])
        self._line(trial, "done")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._locate([trial])
        self._save()
        self.printed.add(trial.trial_id)
        epoch = (trial.last_result or {}).get("epoch")
        print(f"[{self._label(trial)}] a trial failed after epoch {epoch}; traceback in "
              f"{trial.path}/error.txt · {self.status()}", flush=True)  # fmt: skip

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._locate(trials)
        unprinted = [t for t in trials if t.trial_id not in self.printed]
        ran = [t for t in unprinted if (t.last_result or {}).get("epoch") is not None]
        for trial in ran:  # stopped by the end of the experiment, or left PAUSED/RUNNING
            status = str(trial.status).lower()
            self._line(trial, "stopped" if status == "terminated" else f"ended while {status}")
        if len(unprinted) > len(ran) and os.environ.get(VERBOSE_ENV) == "1":
            # a scheduler's generator makes more trials than its epoch budget lets run
            print(f"[{self.experiment}] {len(unprinted) - len(ran)} trial(s) created but never "
                  "run", flush=True)  # fmt: skip
        self._save()
