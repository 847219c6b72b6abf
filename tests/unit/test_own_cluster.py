"""Ray workers of a raysearch job resolve their own cluster (Ray Train's State API queries)."""

import os

import pytest
from ray._private.worker import _maybe_modify_runtime_env

from raysearch.cli.checks import use_ray_address
from raysearch.tune import own_cluster


@pytest.fixture
def clean_env(monkeypatch):
    """Both variables unset during the test and restored after it, whatever the test sets."""
    for name in ("RAY_RUNTIME_ENV_HOOK", "RAY_ADDRESS", "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def test_ray_init_adds_the_setup_hook_once_installed(clean_env, monkeypatch):
    assert _maybe_modify_runtime_env({"env_vars": {"A": "1"}}, False) == {"env_vars": {"A": "1"}}
    use_ray_address(None)  # what every nas/reweight command does before Ray starts
    modified = _maybe_modify_runtime_env({"env_vars": {"A": "1"}}, False)  # Ray's own step
    assert modified == {"env_vars": {"A": "1"}, "worker_process_setup_hook": own_cluster.SETUP_HOOK}
    assert _maybe_modify_runtime_env({"worker_process_setup_hook": "x.y"}, False) == {
        "worker_process_setup_hook": "x.y"
    }


def test_the_hook_sets_the_workers_own_gcs_address(clean_env, monkeypatch):
    import ray

    context = type("Context", (), {"gcs_address": "127.0.0.1:6391"})()
    monkeypatch.setattr(ray, "get_runtime_context", lambda: context)
    own_cluster.set_own_ray_address()
    assert os.environ["RAY_ADDRESS"] == "127.0.0.1:6391"


def test_the_hook_drops_only_the_cleaners_state_api_poll_failures(clean_env, monkeypatch):
    import logging

    import ray

    from raysearch.tune.tune_logging import TRAIN_CLEANER_LOGGER

    context = type("Context", (), {"gcs_address": "127.0.0.1:6391"})()
    monkeypatch.setattr(ray, "get_runtime_context", lambda: context)
    logger = logging.getLogger(TRAIN_CLEANER_LOGGER)
    monkeypatch.setattr(logger, "filters", [])
    own_cluster.setup_worker()
    own_cluster.setup_worker()  # a second call adds no second filter
    assert len(logger.filters) == 1 and os.environ["RAY_ADDRESS"] == "127.0.0.1:6391"

    def passes(message: str) -> bool:
        record = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, message, (), None)
        return bool(logger.filter(record))

    assert not passes("Failed to query Ray Train Controller actor state. State API may be "
                      "temporarily unavailable. Continuing to monitor.")  # fmt: skip
    assert passes("Detected that the Ray Train controller actor (abc) is dead. Cleaning up ...")


def test_a_local_ray_gets_no_preemption_watcher_and_a_cluster_keeps_it(clean_env, monkeypatch):
    monkeypatch.setattr("raysearch.tune.preflight.check_ray_address", lambda address: None)
    use_ray_address(None)
    assert os.environ["RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"] == "0"
    monkeypatch.delenv("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER")
    use_ray_address("10.0.0.1:6379")
    assert os.environ["RAY_ADDRESS"] == "10.0.0.1:6379"
    assert "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER" not in os.environ
    use_ray_address(None)  # RAY_ADDRESS names a cluster: still kept
    assert "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER" not in os.environ
