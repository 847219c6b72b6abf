"""NewestPendingFirst: a freed actor goes to the newest PENDING trial (the oldest one may have
its own actor starting, which Tune would kill), PAUSED trials as Tune's FIFO."""

from types import SimpleNamespace

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler

from raysearch.tune.newest_first import NewestPendingFirst


def _controller(*statuses):
    trials = [SimpleNamespace(status=s, name=f"t{i}") for i, s in enumerate(statuses)]
    return SimpleNamespace(get_trials=lambda: trials), trials


def test_the_newest_pending_trial_is_chosen():
    controller, trials = _controller(Trial.RUNNING, Trial.PENDING, Trial.PAUSED, Trial.PENDING,
                                     Trial.TERMINATED)  # fmt: skip
    assert NewestPendingFirst().choose_trial_to_run(controller) is trials[3]
    assert FIFOScheduler().choose_trial_to_run(controller) is trials[1]  # Tune's: the oldest


def test_without_pending_trials_it_is_fifo():
    controller, trials = _controller(Trial.RUNNING, Trial.PAUSED, Trial.PAUSED)
    assert NewestPendingFirst().choose_trial_to_run(controller) is trials[1]
    controller, _ = _controller(Trial.RUNNING, Trial.TERMINATED)
    assert NewestPendingFirst().choose_trial_to_run(controller) is None
