"""A FIFO scheduler that hands a freed trial actor to the *newest* pending trial.

With ``reuse_actors``, Tune gives a finished trial's cached actor to the trial its scheduler
chooses; if that trial already has a new actor starting, Tune kills the new one. Tune's
``FIFOScheduler`` always chooses the oldest pending trial, which is the one whose actor started
first. When a core frees up mid-experiment (a side-by-side experiment ended), that trial's new
actor needs longer to start (Python, torch, Ray's worker, the trial's set-up: ~5 s) than a
running trial needs to finish, so it is killed every time: the experiment never gets its second
actor, and pays a wasted start-up per trial. Choosing the newest pending trial leaves the oldest
one's actor starting (the newest usually waits for resources and has none yet).
"""

from __future__ import annotations

from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler


class NewestPendingFirst(FIFOScheduler):
    """FIFO but for the choice among PENDING trials: the one added last (PAUSED ones as FIFO)."""

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        pending = [t for t in tune_controller.get_trials() if t.status == Trial.PENDING]
        if pending:
            return pending[-1]
        return super().choose_trial_to_run(tune_controller)
