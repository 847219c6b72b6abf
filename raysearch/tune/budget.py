"""Equal budgets in trained epochs: stop an experiment once its trials have trained B epochs."""

from __future__ import annotations

from typing import Any

from ray import tune


class EpochBudget(tune.stopper.Stopper):
    """Stops the whole experiment once the trials' reported epochs add up to ``budget``.

    Schedulers (Hyperband, ASHA) stop trials early, so a searcher+scheduler pair is given the
    same total epochs as N full trials of a plain searcher, not the same number of trials.
    Trials that resume from a checkpoint (paused by Hyperband) count each epoch once.
    """

    def __init__(self, budget: int, *, time_attr: str = "epoch") -> None:
        if budget < 1:
            raise ValueError(f"epoch budget must be >= 1, got {budget}")
        self.budget, self.time_attr = budget, time_attr
        self.spent: dict[str, int] = {}

    @property
    def total(self) -> int:
        return sum(self.spent.values())

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        self.spent[trial_id] = max(self.spent.get(trial_id, 0), int(result.get(self.time_attr, 0)))
        return False

    def stop_all(self) -> bool:
        return self.total >= self.budget
