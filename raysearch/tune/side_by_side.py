"""Run a comparison's (strategy, seed) experiments side by side on one Ray cluster.

One experiment alone leaves cores idle: at its tail (fewer trials left than CPUs) and, for S2E,
while a batch of K waits for its last trial. Here the parent (which started or joined Ray)
runs up to ``at_once`` experiments at a time, each in its own driver process attached to the
same cluster, so Ray hands a free CPU to whichever experiment has a trial ready.

The guarantees of a sequential run hold: a child dies with the parent (``PR_SET_PDEATHSIG``,
so a SIGKILL of the parent's process group leaves nothing running); a SIGINT to the parent is
passed once to every child, whose Tune stops gracefully and saves its state, and no further
experiment starts; each child marks only a complete experiment ``DONE``
(:func:`raysearch.tune.compare.run_experiment`). Children run in their own process groups, so a
Ctrl-C in a terminal reaches each of them exactly once (through the parent).
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

from raysearch.analysis.results_folder import INTERRUPTED_EXIT, Interrupted

_PR_SET_PDEATHSIG = 1


def _child_command(
    settings: Any, searcher: str, seed: int, resume: bool, address: str
) -> list[str]:
    payload = json.dumps(dataclasses.asdict(settings))
    return [sys.executable, "-m", "raysearch.tune.side_by_side", payload, searcher, str(seed),
            str(int(resume)), address, str(os.getpid())]  # fmt: skip


def run_side_by_side(settings: Any, *, resume: bool, address: str, at_once: int) -> None:
    """Run every unfinished experiment of ``settings`` as a child driver on the cluster at
    ``address``, ``at_once`` at a time. ``Interrupted`` if a SIGINT arrived or a child stopped
    early; ``RuntimeError`` naming the experiment if a child failed otherwise."""
    pending = list(settings.experiments)
    running: dict[subprocess.Popen, str] = {}
    stopping = False
    failures: list[str] = []

    def forward(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for child in running:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)

    previous = signal.signal(signal.SIGINT, forward)
    try:
        while pending or running:
            while pending and not stopping and not failures and len(running) < at_once:
                searcher, seed = pending.pop(0)
                command = _child_command(settings, searcher, seed, resume, address)
                running[subprocess.Popen(command, start_new_session=True)] = (
                    f"{searcher}-seed{seed}"
                )
            for child in [c for c in running if c.poll() is not None]:
                name = running.pop(child)
                if child.returncode in (INTERRUPTED_EXIT, -signal.SIGINT) or (
                    stopping and child.returncode != 0  # stopped by the SIGINT passed on
                ):
                    stopping = True
                elif child.returncode != 0:
                    failures.append(f"{name} (exit status {child.returncode})")
            if not pending and not running:
                break
            if (stopping or failures) and not running:
                break
            time.sleep(0.2)
    finally:
        signal.signal(signal.SIGINT, previous)
    if failures:
        raise RuntimeError(f"experiment driver(s) failed: {', '.join(failures)}")
    if stopping or pending:
        raise Interrupted(
            f"stopped with {len(pending)} experiment(s) not started; state saved in {settings.out}"
        )


def _die_with_parent(parent: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux); exit now if the
    parent is already gone."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: the parent still forwards SIGINT
        pass
    if os.getppid() != parent:
        os._exit(1)


def _child_main(argv: list[str]) -> int:
    payload, searcher, seed, resume, address, parent = argv
    _die_with_parent(int(parent))
    from raysearch.tune.compare import (
        CompareSettings,
        configure_experiment_snapshots,
        run_experiment,
    )
    from raysearch.tune.preflight import init_ray

    settings = CompareSettings.from_dict(json.loads(payload))
    configure_experiment_snapshots()
    init_ray(address)
    try:
        run_experiment(settings, searcher, int(seed), resume=bool(int(resume)))
    except (Interrupted, KeyboardInterrupt):
        return INTERRUPTED_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
