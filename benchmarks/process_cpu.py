"""CPU seconds per kind of process while a command runs, sampled from ``/proc`` (Linux).

Every process's user + system time is read every ``interval`` seconds; what a process used
before the command started is subtracted, and each is classed by the command lines it showed
(trial actors, raysearch drivers, Ray's daemons and helper workers, anything else). Idle
core-time is wall x cores minus everything used.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

KINDS = (
    ("trial actors", ("CoteachingTrainable", "ResourceTrainable")),
    ("raysearch drivers", ("raysearch.cli", "raysearch.tune.side_by_side")),
    ("Ray daemons (gcs, raylet)", ("gcs_server", "raylet")),
    ("other Ray workers", ("ray::", "default_worker")),
)


def _cpu_seconds() -> dict[int, tuple[float, str]]:
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        found[int(entry.name)] = ((int(fields[11]) + int(fields[12])) / tick, command)
    return found


def classify(commands: set[str]) -> str:
    """The kind of a process from every command line it showed (Ray renames its workers)."""
    text = " ".join(commands)
    for kind, marks in KINDS:
        if any(mark in text for mark in marks):
            return kind
    return "other processes"


def run_and_sample(
    command: Sequence[str], *, env: dict[str, str] | None = None, interval: float = 0.25
) -> tuple[tuple[float, float], dict[str, float]]:
    """Run ``command`` to the end (``CalledProcessError`` if it fails); its start and end on
    the wall clock (``time.time``) and the CPU seconds each kind of process used meanwhile."""
    before = {pid: cpu for pid, (cpu, _) in _cpu_seconds().items()}
    used: dict[int, float] = {}
    commands: dict[int, set[str]] = defaultdict(set)
    start = time.time()
    process = subprocess.Popen(list(command), env=env)
    while process.poll() is None:
        for pid, (cpu, text) in _cpu_seconds().items():
            used[pid] = cpu - before.get(pid, 0.0)
            commands[pid].add(text)
        time.sleep(interval)
    end = time.time()
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, list(command))
    per_kind: Counter[str] = Counter()
    for pid, cpu in used.items():
        per_kind[classify(commands[pid])] += cpu
    return (start, end), dict(per_kind)
