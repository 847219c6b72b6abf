"""Tune's "Failed to fetch metrics" warning: dropped for never-run trials, kept otherwise; Ray's
token-authentication notice: dropped unless verbose."""

import logging
from types import SimpleNamespace

import pyarrow.fs
import pytest
from ray.tune.analysis.experiment_analysis import ExperimentAnalysis

from raysearch.tune.tune_logging import (
    TOKEN_AUTH_LOGGER,
    TUNE_ANALYSIS_LOGGER,
    quiet_missing_result_files,
    quiet_tune_console,
)


def _fetch(folders):
    """Tune's own ``_fetch_trial_dataframes`` over trials whose folders are ``folders``."""
    trials = [SimpleNamespace(last_result={"trial_id": f.name}, trial_id=f.name,
                              storage=SimpleNamespace(trial_fs_path=str(f),
                                                      storage_filesystem=pyarrow.fs.LocalFileSystem()))
              for f in folders]  # fmt: skip
    analysis = SimpleNamespace(trials=trials)
    analysis._fetch_trial_dataframe = lambda t: ExperimentAnalysis._fetch_trial_dataframe(
        analysis, t
    )
    ExperimentAnalysis._fetch_trial_dataframes(analysis)


@pytest.fixture
def tune_logger():
    logger = logging.getLogger(TUNE_ANALYSIS_LOGGER)
    before = list(logger.filters)
    logger.filters = []
    yield logger
    logger.filters = before


def test_only_the_never_run_trial_warning_is_dropped(tune_logger, tmp_path, caplog):
    never_run = tmp_path / "never_run"  # created by Tune, never started: no result.json
    never_run.mkdir()
    _fetch([never_run])
    assert "Failed to fetch metrics for 1 trial(s)" in caplog.text  # Tune's noise, unfiltered
    caplog.clear()
    quiet_missing_result_files()
    quiet_missing_result_files()  # installed once
    assert len(tune_logger.filters) == 1
    _fetch([never_run])
    assert "Failed to fetch metrics" not in caplog.text
    corrupted = tmp_path / "corrupted"
    corrupted.mkdir()
    (corrupted / "result.json").write_text("{not json\n")
    _fetch([never_run, corrupted])  # a real failure is still reported
    assert "Failed to fetch metrics for 2 trial(s)" in caplog.text


def test_only_rays_token_auth_default_notice_is_dropped_unless_verbose(caplog):
    """Ray's own warnings: the notice that a new local Ray chose token authentication goes;
    the warning that authentication is disabled stays; ``--verbose`` shows both."""
    from ray._private.authentication import authentication_token_setup as token_setup

    logger = logging.getLogger(TOKEN_AUTH_LOGGER)
    before = list(logger.filters)
    try:
        quiet_tune_console(verbose=False)
        quiet_tune_console(verbose=False)  # installed once
        token_setup._warn_token_auth_enabled()
        token_setup._warn_token_auth_disabled()
        assert "Token authentication is enabled" not in caplog.text
        assert "Token authentication is disabled" in caplog.text
        caplog.clear()
        quiet_tune_console(verbose=True)
        token_setup._warn_token_auth_enabled()
        assert "Token authentication is enabled for this Ray cluster" in caplog.text
    finally:
        logger.filters = before
