"""LFM-DR / plain reweighting as a Ray Tune class ``Trainable``: one epoch per ``step``.

It builds :func:`raysearch.reweight.settings.build_reweight_run` from the Tune config; the
checkpoint holds the run's full state (networks, optimisers, B, V, r, RNG states, epoch); it
reports ``val_acc`` on noisy validation labels, clean ``test_acc``, per-class test accuracy
``class_acc`` and the rarest class's ``rare_class_acc``, and ``epoch``.
"""

from __future__ import annotations

from typing import Any

import torch

from raysearch.reweight.settings import ReweightSettings, build_reweight_run
from raysearch.tune.trainable import EpochTrainable


class ReweightTrainable(EpochTrainable):
    """A reweighting trial; config = ``ReweightSettings.to_config()``."""

    CHECKPOINT_FILE = "reweight.pt"

    def build_run(self, config: dict[str, Any], device: torch.device) -> Any:
        return build_reweight_run(ReweightSettings.from_config(config), device=device)
