"""Opt-in record of where a trial actor's CPU goes, for ``benchmarks/job_profile.py``.

Off unless the environment variable :data:`ENV` names a folder (Ray's workers inherit the
environment of the process that started Ray). Then every trial actor appends one JSON line per
phase to ``<folder>/<pid>.jsonl``: ``{"phase", "cpu", "wall"}``, the process CPU seconds
(``time.process_time``: every thread of the process) and wall seconds the phase took. Phases:
``start-up`` (process start to its first trial set-up: Python, torch and Ray's worker), ``set-up``
(a trial's data, noise and networks), ``epoch``, ``report`` (Tune's ``train()`` beyond the
epoch), ``save`` and ``restore`` (checkpoints, Tune's part included).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV = "RAYSEARCH_PROFILE_EVENTS"
_started = False


def _write(phase: str, cpu: float, wall: float) -> None:
    folder = Path(os.environ[ENV])
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{os.getpid()}.jsonl", "a") as file:
        file.write(json.dumps({"phase": phase, "cpu": cpu, "wall": wall}) + "\n")


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Record the CPU and wall seconds of the ``with`` block as phase ``name`` (if enabled);
    the first ``set-up`` of a process also records the process's ``start-up``."""
    global _started
    if ENV not in os.environ:
        yield
        return
    if name == "set-up" and not _started:
        _started = True
        _write("start-up", time.process_time(), 0.0)
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        yield
    finally:
        _write(name, time.process_time() - cpu, time.perf_counter() - wall)
