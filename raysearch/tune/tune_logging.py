"""What raysearch leaves out of Tune's console: one warning, the per-experiment banners, the
per-restore lines and Ray's notice that a new local Ray chose token authentication (the last
three back with ``--verbose``), and Ray Train's placement-group cleaner's once-a-second failure
to reach a State API that a local Ray without the dashboard does not have.

``ResultGrid`` (built when ``Tuner.fit`` returns) reads every trial's ``result.json`` through
``ExperimentAnalysis``. A trial Tune created but never started has no such file, yet a
non-empty default ``last_result``, so Tune logs "Failed to fetch metrics for N trial(s):
... FileNotFoundError" for it. Hyperband/ASHA leave such trials whenever the epoch budget
ends an experiment, and a resumed experiment re-reads the ones an earlier run left, so the
warning came on every such run. raysearch's own loaders skip trials that never reported
(``raysearch.analysis``), so the warning carries nothing: records made only of such missing
files are dropped; any other failure to read metrics is still logged.
"""

from __future__ import annotations

import logging
import os

TUNE_ANALYSIS_LOGGER = "ray.tune.analysis.experiment_analysis"
_HEADER = "Failed to fetch metrics for"
_MISSING = ("FileNotFoundError(", "Could not fetch metrics for")  # repr picks the quote


def only_missing_result_files(record: logging.LogRecord) -> bool:
    """``True`` for Tune's warning when every failure it lists is a missing result file."""
    lines = record.getMessage().splitlines()
    listed = lines[1:]
    return (
        bool(lines)
        and lines[0].startswith(_HEADER)
        and all(all(part in line for part in _MISSING) for line in listed)
    )


class _DropMissingResultFiles(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not only_missing_result_files(record)


def quiet_missing_result_files() -> None:
    """Install the filter once on Tune's analysis logger."""
    logger = logging.getLogger(TUNE_ANALYSIS_LOGGER)
    if not any(isinstance(f, _DropMissingResultFiles) for f in logger.filters):
        logger.addFilter(_DropMissingResultFiles())


VERBOSE_ENV = "RAYSEARCH_VERBOSE"
RESTORE_LOGGER = "ray.tune.trainable.trainable"  # "Restored on <ip> from checkpoint: ..."
TOKEN_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"
TOKEN_AUTH_DEFAULT = "Token authentication is enabled for this Ray cluster."


class _DropTokenAuthDefault(logging.Filter):
    """Ray's warning that a new local Ray uses token authentication by default (the secure
    default, nothing to act on); its warning that authentication is *disabled* stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(TOKEN_AUTH_DEFAULT)


def quiet_tune_console(verbose: bool) -> None:
    """Unless ``verbose``: Tune's legacy console reporter, which at ``verbose=0`` prints nothing
    (the new one prints its configuration box, "View detailed results here" and a TensorBoard
    hint at every experiment's start whatever the verbosity), and Ray's token-authentication
    notice at the start of a local Ray (:class:`_DropTokenAuthDefault`). The setting goes into this
    process's environment, so the side-by-side drivers and the local Ray's trial actors (see
    :func:`quiet_trial_actor`) inherit it."""
    logger = logging.getLogger(TOKEN_AUTH_LOGGER)
    for old in [f for f in logger.filters if isinstance(f, _DropTokenAuthDefault)]:
        logger.removeFilter(old)
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    else:
        os.environ.pop(VERBOSE_ENV, None)
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        logger.addFilter(_DropTokenAuthDefault())


def quiet_trial_actor() -> None:
    """In a trial actor: drop Tune's INFO line for every checkpoint restore (and Ray Train's for
    every checkpoint written), unless the driver asked for ``--verbose``."""
    if os.environ.get(VERBOSE_ENV) != "1":
        for name in (RESTORE_LOGGER, "ray.train._internal.storage"):
            logging.getLogger(name).setLevel(logging.WARNING)


TRAIN_CLEANER_LOGGER = "ray.train.v2._internal.execution.controller.placement_group_cleaner"
TRAIN_CLEANER_POLL_FAILED = "Failed to query Ray Train Controller actor state."


class _DropCleanerPollFailures(logging.Filter):
    """Ray Train's placement-group cleaner (a detached actor of every Train run) asks the State
    API every second whether the run's controller lives; without a dashboard every ask fails
    and logs this warning. Its other warnings (a dead controller's group removed) stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(TRAIN_CLEANER_POLL_FAILED)


def quiet_train_cleaner() -> None:
    """In a Ray worker: install :class:`_DropCleanerPollFailures` once on the cleaner's logger."""
    logger = logging.getLogger(TRAIN_CLEANER_LOGGER)
    if not any(isinstance(f, _DropCleanerPollFailures) for f in logger.filters):
        logger.addFilter(_DropCleanerPollFailures())
