"""A Tune ``Searcher`` that hands out a fixed list of configs, in order, each once.

Used for the reference schedules of a comparison (standard training, Co-teaching's published
schedule) and for tabulating the schedule benchmark. Its state is JSON (the next index and
which trial holds which config), so ``Tuner.restore`` continues the list: a config whose trial
was live when the driver died is handed out again only if Tune does not restore that trial.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ray.tune.search import Searcher


class FixedConfigSearcher(Searcher):
    """Suggest ``configs[0]``, ``configs[1]``, ... then ``FINISHED``; at most ``max_live``
    trials of the list at once (``None``: no limit)."""

    def __init__(
        self,
        configs: Sequence[dict[str, Any]],
        *,
        metric: str | None = None,
        mode: str | None = None,
        max_live: int | None = None,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        if max_live is not None and max_live < 1:
            raise ValueError(f"max_live must be None or >= 1, got {max_live}")
        self.configs = [copy.deepcopy(dict(c)) for c in configs]
        self.max_live = max_live
        self.next_index = 0
        self.live: dict[str, int] = {}  # trial id -> index of its config

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict, **spec: Any
    ) -> bool:
        self._metric = metric or self._metric
        self._mode = mode or self._mode
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
        if self.next_index >= len(self.configs):
            return Searcher.FINISHED
        if self.max_live is not None and len(self.live) >= self.max_live:
            return None
        self.live[trial_id] = self.next_index
        self.next_index += 1
        return copy.deepcopy(self.configs[self.live[trial_id]])

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        self.live.pop(trial_id, None)

    def get_state(self) -> dict[str, Any]:
        return {"next_index": self.next_index, "live": self.live, "configs": self.configs}

    def set_state(self, state: dict[str, Any]) -> None:
        if state["configs"] != self.configs:
            raise ValueError("the saved state belongs to another list of configs")
        self.next_index, self.live = int(state["next_index"]), dict(state["live"])

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_text(json.dumps(self.get_state()))

    def restore(self, checkpoint_path: str) -> None:
        self.set_state(json.loads(Path(checkpoint_path).read_text()))
