"""Checks of command-line values that no settings object owns: counts, output folders, the Ray
address. Each raises ``ValueError``/``ConnectionError`` naming the option, before Ray starts."""

from __future__ import annotations

import os
from pathlib import Path


def at_least(option: str, value: int | float, low: int | float) -> None:
    """``ValueError`` unless ``value >= low``."""
    if value < low:
        raise ValueError(f"{option} must be >= {low}, got {value}")


def check_out_folder(path: str | Path, option: str = "--out") -> Path:
    """The absolute results folder; ``ValueError`` if it or a folder above it is a file, or if
    the nearest existing folder is not writable. Nothing is created."""
    resolved = Path(path).expanduser().absolute()
    for folder in (resolved, *resolved.parents):
        if not folder.exists():
            continue
        if not folder.is_dir():
            where = "is a file" if folder == resolved else f"is under the file {folder}"
            raise ValueError(f"{option} {path} {where}; give a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ValueError(f"{option} {path}: {folder} is not writable")
        break
    return resolved


def use_ray_address(address: str | None) -> None:
    """Check ``address`` (or ``RAY_ADDRESS``) in seconds, then make it the address every later
    ``ray.init`` (Ray Train's included) connects to, with workers that query their own
    cluster (:mod:`raysearch.tune.own_cluster`). Without either, Ray Train starts no
    preemption watcher: a local Ray has no nodes to drain, and each watcher costs an actor and
    a core_worker error line per Train job."""
    from raysearch.tune import own_cluster
    from raysearch.tune.preflight import check_ray_address

    check_ray_address(address)
    if address:
        os.environ["RAY_ADDRESS"] = address
    elif not os.environ.get("RAY_ADDRESS"):
        os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
    own_cluster.install()
