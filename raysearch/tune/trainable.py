"""Epoch-per-step Ray Tune class ``Trainable``s: Co-teaching, and the base they share.

A trainable only wires the Tune config to a Ray-free run object (``train_epoch()``,
``finished``, ``last_metrics``, ``state_dict()``, ``device``), checkpoints the run's full state
(networks, optimisers, RNG states, epoch) when Tune asks (it pauses or stops the trial) and,
with ``checkpoint_every_s`` in the config, at the first epoch end that period after the last
checkpoint (``should_checkpoint``). It reports the epoch metrics plus ``step_end`` (Unix
time of the step's end as a float: Tune's own ``timestamp`` is whole seconds, too coarse to
place sub-second epochs on a timeline, see ``benchmarks/job_profile.py``). Co-teaching reports
``val_acc`` on the validation split (clean labels by default, the S2E paper's eq. (2) reward;
noisy ones with ``val="noisy"``), clean ``test_acc``, ``label_precision`` and ``epoch``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune

from raysearch.noisy.settings import TrialSettings, build_run
from raysearch.tune.actor_phases import phase
from raysearch.tune.checkpoint_state import load_state
from raysearch.tune.quiet_exit import exit_quietly_on_sigterm
from raysearch.tune.tune_logging import quiet_trial_actor


def trial_device() -> torch.device:
    """``cuda`` when Ray gave this trial a GPU, else the CPU."""
    if ray.is_initialized() and ray.get_gpu_ids() and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


class EpochTrainable(tune.Trainable):
    """One epoch of ``self.run`` per ``step``; subclasses set ``CHECKPOINT_FILE`` and build the
    run from the config in :meth:`build_run`."""

    CHECKPOINT_FILE = "run.pt"

    def build_run(self, config: dict[str, Any], device: torch.device) -> Any:
        raise NotImplementedError

    def setup(self, config: dict[str, Any]) -> None:
        resources = self.trial_resources
        cpus = (
            resources.required_resources.get("CPU", 1)
            if resources is not None
            else os.cpu_count() or 1
        )
        torch.set_num_threads(max(1, int(cpus)))
        quiet_trial_actor()  # no INFO line per checkpoint written or restored
        exit_quietly_on_sigterm()
        with phase("set-up"):
            self.run = self.build_run(config, trial_device())
        self.checkpoint_every_s = config.get("checkpoint_every_s")
        self._saved_at = time.monotonic()

    def train(self) -> dict[str, Any]:
        """Tune's ``train``: one :meth:`step` plus Tune's bookkeeping (timed for profiles)."""
        with phase("train"):
            return super().train()

    def save(self, checkpoint_dir: str | None = None) -> Any:
        with phase("save"):
            saved = super().save(checkpoint_dir)
        self._saved_at = time.monotonic()
        return saved

    def restore(self, checkpoint_path: Any) -> Any:
        with phase("restore"):
            restored = super().restore(checkpoint_path)
        self._saved_at = time.monotonic()
        return restored

    def step(self) -> dict[str, Any]:
        if self.run.finished and self.run.last_metrics is not None:
            # restored from its final checkpoint (e.g. the driver died before Tune recorded the
            # end): report the last epoch again instead of training past the schedule
            return {**self.run.last_metrics.as_dict(), "done": True, "step_end": time.time()}
        with phase("epoch"):
            metrics: dict[str, Any] = self.run.train_epoch().as_dict()
        metrics.update(done=self.run.finished, step_end=time.time())
        period = self.checkpoint_every_s
        if (
            period is not None
            and time.monotonic() - self._saved_at >= period
            and not metrics["done"]
        ):
            metrics["should_checkpoint"] = True  # Tune saves one now (see the module docstring)
        return metrics

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        torch.save(self.run.state_dict(), Path(checkpoint_dir) / self.CHECKPOINT_FILE)

    def load_checkpoint(self, checkpoint_dir: str) -> None:  # type: ignore[override]
        """Tune passes the checkpoint folder, since ``save_checkpoint`` returns no dict. The file
        is read with ``weights_only=True``: tensors and plain containers only, so a crafted
        checkpoint is refused instead of running the code it names."""
        state = load_state(Path(checkpoint_dir) / self.CHECKPOINT_FILE, self.run.device)
        self.run.load_state_dict(state)

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        """Actor reuse: rebuild the run for the new trial in the same process."""
        self.setup(new_config)
        return True


class CoteachingTrainable(EpochTrainable):
    """A Co-teaching trial; config = ``TrialSettings.to_config()`` plus ``schedule`` (a family config)."""

    CHECKPOINT_FILE = "coteaching.pt"

    def build_run(self, config: dict[str, Any], device: torch.device) -> Any:
        return build_run(TrialSettings.from_config(config), config["schedule"], device=device)
