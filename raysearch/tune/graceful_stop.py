"""Ctrl-C that loses no epoch, and schedulers that run one trial at a time.

Tune's own SIGINT handler ends the experiment at once: running trials are stopped without a
checkpoint, so a resumed trial trains again every epoch since its last one. Here the first
SIGINT *drains* the experiment instead: :class:`PausingScheduler` pauses every trial at its next
result (Tune saves its checkpoint when it pauses a trial) and starts none; once no trial runs,
:class:`GracefulStop` hands the signal to Tune, which snapshots the experiment and stops. A
resumed trial then continues from the epoch it reached. A second SIGINT stops at once (Tune's
way: the epochs since each trial's last checkpoint are trained again on resume).

``one_at_a_time`` makes a scheduler start a trial only while none of the experiment's runs or
starts: Hyperband and ASHA then see their trials' results in one order whatever the timing, so
the same seed gives the same trials (two at a time, which trial paused first, which the
scheduler resumed next and where the epoch budget ran out depended on how the trials
interleaved). Tune starts every PENDING trial it has the resources for, whatever
``choose_trial_to_run`` says, so each new trial is held PAUSED from the moment it is added; the
inner scheduler still sees the held trials as pending when it chooses which trial runs next.
Tune caches a stopped trial's actor for the next trial only while its search is unfinished or a
trial is staged; :class:`HeldTrialsGenerator` stays unfinished while trials are held, so the
next trial reuses the actor instead of starting a new process.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from ray import tune
from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler
from ray.tune.search import BasicVariantGenerator

DRAIN_MESSAGE = (
    "raysearch: stopping: each running trial finishes its epoch and saves a checkpoint "
    "(Ctrl-C again to stop now; the epochs since each trial's last checkpoint are then "
    "trained again on --resume)"
)


class _Drain:
    """Process-wide: whether this driver is draining its experiment (not pickled with Tune's
    state, so a restored experiment starts undrained)."""

    active = False


DRAIN = _Drain()


class PausingScheduler(TrialScheduler):
    """``inner`` (FIFO when ``None``) with the drain of a graceful stop and, optionally, one
    trial at a time. Every other decision is ``inner``'s."""

    def __init__(self, inner: TrialScheduler | None = None, *, one_at_a_time: bool = False):
        super().__init__()
        self.inner = inner if inner is not None else FIFOScheduler()
        self.one_at_a_time = one_at_a_time
        self._held: list[Trial] = []  # added, not started yet (one_at_a_time), in added order

    @property
    def metric(self) -> str | None:
        return self.inner.metric

    @property
    def supports_buffered_results(self) -> bool:
        return self.inner.supports_buffered_results

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return self.inner.set_search_properties(metric, mode, **spec)

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        self.inner.on_trial_add(tune_controller, trial)
        if self.one_at_a_time and trial.status == Trial.PENDING:
            # Tune files the trial by its status after this call: PAUSED keeps it from starting.
            # Its folder, which Tune makes when it stages a trial, is made now: a trial the
            # epoch budget leaves unstarted still needs one (Tune's ResultGrid reads its path)
            trial.init_local_path()
            trial.set_status(Trial.PAUSED)
            self._held.append(trial)

    @property
    def holds_trials(self) -> bool:
        """Whether an added trial is still held unstarted (``one_at_a_time``)."""
        return any(t.status == Trial.PAUSED for t in self._held)

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        self.inner.on_trial_error(tune_controller, trial)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        decision = self.inner.on_trial_result(tune_controller, trial, result)
        if DRAIN.active and decision != TrialScheduler.STOP and not result.get("done"):
            return TrialScheduler.PAUSE
        return decision

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict) -> None:
        self.inner.on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        self.inner.on_trial_remove(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        if DRAIN.active:
            return None
        if not self.one_at_a_time:
            return self.inner.choose_trial_to_run(tune_controller)
        if any(
            t.status in (Trial.RUNNING, Trial.PENDING) for t in tune_controller.get_live_trials()
        ):
            return None  # one runs, or was chosen and is starting
        held = [t for t in self._held if t.status == Trial.PAUSED]
        for trial in held:  # as the inner scheduler would see them without the hold
            trial.status = Trial.PENDING
        try:
            chosen = self.inner.choose_trial_to_run(tune_controller)
        finally:
            for trial in held:
                trial.status = Trial.PAUSED
        self._held = [t for t in held if t is not chosen]
        return chosen

    def debug_string(self) -> str:
        return self.inner.debug_string()


class HeldTrialsGenerator(BasicVariantGenerator):
    """Tune's ``BasicVariantGenerator`` (same trials, same state file) that counts as
    unfinished while :attr:`holder` (a one-at-a-time :class:`PausingScheduler`) holds trials:
    Tune caches a finished trial's actor only while the search is unfinished or a trial is
    staged, and a held trial is neither, so every trial would start a new actor process."""

    holder: PausingScheduler | None = None

    def is_finished(self) -> bool:
        return super().is_finished() and not (self.holder is not None and self.holder.holds_trials)

    def get_state(self) -> Any:
        state = super().get_state()
        if state:
            state.pop("holder", None)  # the scheduler (and its trials) is not the searcher's state
        return state


class GracefulStop(tune.Callback):
    """Installs the draining SIGINT handler over Tune's for one ``Tuner.fit``."""

    def __init__(self) -> None:
        self._tune_handler: Any = None

    def setup(self, stop: Any = None, num_samples: Any = None, total_num_samples: Any = None,
              **info: Any) -> None:  # fmt: skip
        DRAIN.active = False
        if threading.current_thread() is not threading.main_thread():
            return
        self._tune_handler = signal.getsignal(signal.SIGINT)  # installed by Tune just before
        signal.signal(signal.SIGINT, self._on_sigint)

    def _stop_now(self) -> None:
        handler, self._tune_handler = self._tune_handler, None
        if callable(handler):
            handler(signal.SIGINT, None)  # Tune: end the loop, snapshot, stop the trials

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if DRAIN.active:
            self._stop_now()
            return
        DRAIN.active = True
        print(DRAIN_MESSAGE, file=sys.stderr, flush=True)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if DRAIN.active and not any(t.status == Trial.RUNNING for t in trials):
            self._stop_now()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        DRAIN.active = False
