"""Ray workers of a raysearch job resolve their own cluster (Ray Train's State API queries)."""

import os

import pytest
from ray._private.worker import _maybe_modify_runtime_env

from raysearch.cli.checks import use_ray_address
from raysearch.tune import own_cluster


@pytest.fixture
def clean_env(monkeypatch):
    """Both variables unset during the test and restored after it, whatever the test sets."""
    for name in ("RAY_RUNTIME_ENV_HOOK", "RAY_ADDRESS"):
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
