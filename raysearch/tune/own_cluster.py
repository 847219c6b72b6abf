"""Make Ray's own helper processes talk to their own cluster, not to "the latest Ray on the box".

Ray Train's ``PlacementGroupCleaner`` (a detached actor every Train run starts) queries the
State API without an address. Ray then resolves "the Ray instance on this machine": the
``RAY_ADDRESS`` of the process, else the cluster named in ``/tmp/ray/ray_current_cluster``,
which is whichever Ray instance started last, possibly someone else's. Its query then fails with
an error the cleaner does not catch, and a traceback lands in ``raysearch nas`` output (seen
whenever other Ray instances ran on the machine). The fix: every worker process of a raysearch
job sets ``RAY_ADDRESS`` to the GCS address of the cluster it belongs to, through a
``worker_process_setup_hook`` that ``ray.init`` adds to the job's runtime environment (Ray's
``RAY_RUNTIME_ENV_HOOK``), so it holds for the Ray that Train or Tune start implicitly too.

The same hook keeps the cleaner's once-a-second State-API failure off the console
(:func:`~raysearch.tune.tune_logging.quiet_train_cleaner`): a local Ray without the dashboard
has no State API, so every ask fails and warns, a line per second of every NAS search.
"""

from __future__ import annotations

import os
from typing import Any

SETUP_HOOK = "raysearch.tune.own_cluster.setup_worker"
RUNTIME_ENV_HOOK = "raysearch.tune.own_cluster.with_own_cluster_hook"


def set_own_ray_address() -> None:
    """In a Ray worker process: ``RAY_ADDRESS`` = the GCS address of this worker's cluster."""
    import ray

    os.environ.setdefault("RAY_ADDRESS", ray.get_runtime_context().gcs_address)


def setup_worker() -> None:
    """The worker setup hook: :func:`set_own_ray_address`, then the cleaner's poll failures
    dropped (:func:`~raysearch.tune.tune_logging.quiet_train_cleaner`)."""
    from raysearch.tune.tune_logging import quiet_train_cleaner

    set_own_ray_address()
    quiet_train_cleaner()


def with_own_cluster_hook(runtime_env: dict[str, Any] | None) -> dict[str, Any]:
    """``RAY_RUNTIME_ENV_HOOK``: the job's runtime env plus :func:`setup_worker` as its worker
    setup hook (a hook the job already names is left alone)."""
    env = dict(runtime_env or {})
    env.setdefault("worker_process_setup_hook", SETUP_HOOK)
    return env


def install() -> None:
    """Have every later ``ray.init`` of this process add the hook (``RAY_RUNTIME_ENV_HOOK``)."""
    os.environ.setdefault("RAY_RUNTIME_ENV_HOOK", RUNTIME_ENV_HOOK)
