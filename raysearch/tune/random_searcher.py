"""Random search as a Tune ``Searcher`` that draws exactly what Tune's ``BasicVariantGenerator``
draws for the same seed.

``BasicVariantGenerator(random_state=seed)`` is a ``SearchAlgorithm``, not a ``Searcher``, so it
cannot be one of the streams of a shared experiment (:mod:`raysearch.tune.streams`). This
searcher resolves the space with Tune's own ``generate_variants`` and a
``numpy.random.default_rng(seed)`` generator, as the generator does, so the k-th config is the
same in both. Its state (the generator's state and the live trials) is JSON.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
from ray.tune.search import Searcher
from ray.tune.search.sample import _BackwardsCompatibleNumpyRng
from ray.tune.search.variant_generator import generate_variants


class RandomSearcher(Searcher):
    """Independent uniform draws from the Tune space (``param_space`` or ``space``); at most
    ``max_live`` trials at once (``None``: no limit)."""

    def __init__(
        self,
        space: dict[str, Any] | None = None,
        *,
        metric: str | None = None,
        mode: str | None = None,
        seed: int = 0,
        max_live: int | None = None,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        if max_live is not None and max_live < 1:
            raise ValueError(f"max_live must be None or >= 1, got {max_live}")
        self.space = copy.deepcopy(space)
        self.max_live = max_live
        self._generator = np.random.default_rng(seed)
        self._rng = _BackwardsCompatibleNumpyRng(self._generator)
        self.live: set[str] = set()
        self.drawn = 0

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict, **spec: Any
    ) -> bool:
        if self.space is not None and config:
            return False  # a space was given already; Tune must not overwrite it
        self._metric = metric or self._metric
        self._mode = mode or self._mode
        if self.space is None and config:
            self.space = copy.deepcopy(config)
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        self.max_live = max(1, int(max_concurrent))
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:  # type: ignore[override]
        if self.space is None:
            raise RuntimeError("RandomSearcher has no search space: pass `space=` or a param_space")
        if self.max_live is not None and len(self.live) >= self.max_live:
            return None
        _, spec = next(generate_variants({"config": self.space}, random_state=self._rng))
        self.live.add(trial_id)
        self.drawn += 1
        return spec["config"]

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        self.live.discard(trial_id)

    def get_state(self) -> dict[str, Any]:
        return {"rng": self._generator.bit_generator.state, "live": sorted(self.live),
                "drawn": self.drawn, "max_live": self.max_live}  # fmt: skip

    def set_state(self, state: dict[str, Any]) -> None:
        self._generator.bit_generator.state = state["rng"]
        self.live, self.drawn, self.max_live = set(state["live"]), state["drawn"], state["max_live"]

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_text(json.dumps(self.get_state()))

    def restore(self, checkpoint_path: str) -> None:
        self.set_state(json.loads(Path(checkpoint_path).read_text()))
