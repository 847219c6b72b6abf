"""Run a comparison's (strategy, seed) experiments side by side on one Ray cluster.

One experiment alone leaves cores idle: at its tail (fewer trials left than CPUs), for S2E
while a batch of K waits for its last trial, and between experiments (Tune's set-up and
tear-down, new trial actors). Here the parent (which started or joined Ray) keeps ``at_once``
driver processes attached to the same cluster and hands each the next experiment as soon as it
finishes one, so Ray gives a free CPU to whichever experiment has a trial ready. The drivers
live for the whole run: a driver's start (Python, torch, Ray's driver registration: ~5 s of
CPU) is paid ``at_once`` times, not once per experiment.

Protocol: the parent writes experiment names, one per line, to a driver's stdin; the driver
answers on a status pipe with ``ok`` or ``interrupted`` per experiment and exits at the end of
its stdin.

The guarantees of a sequential run hold: a driver dies with the parent (``PR_SET_PDEATHSIG``,
so a SIGKILL of the parent's process group leaves nothing running); a SIGINT to the parent is
passed once to every driver, whose Tune stops gracefully and saves its state, and no further
experiment starts; each driver marks only a complete experiment ``DONE``
(:func:`raysearch.tune.compare_experiments.run_experiment`). Drivers run in their own process groups, so a
Ctrl-C in a terminal reaches each of them exactly once (through the parent).
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import IO, Any

from raysearch.analysis.results_folder import INTERRUPTED_EXIT, Interrupted

_PR_SET_PDEATHSIG = 1


@dataclass
class _Driver:
    """One driver process, its status pipe and the experiment it runs (``None``: idle)."""

    process: subprocess.Popen
    status: IO[str]
    experiment: str | None = None

    def send(self, experiment: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{experiment}\n")
        self.process.stdin.flush()
        self.experiment = experiment

    def close_input(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            try:
                self.process.stdin.close()
            except BrokenPipeError:
                pass


def _start_driver(settings: Any, resume: bool, address: str) -> _Driver:
    read_fd, write_fd = os.pipe()
    payload = json.dumps(dataclasses.asdict(settings))
    command = [sys.executable, "-m", "raysearch.tune.side_by_side", payload, str(int(resume)),
               address, str(os.getpid()), str(write_fd)]  # fmt: skip
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, text=True, pass_fds=(write_fd,), start_new_session=True
    )
    os.close(write_fd)
    return _Driver(process, os.fdopen(read_fd, "r"))


def run_side_by_side(settings: Any, *, resume: bool, address: str, at_once: int) -> None:
    """Run every experiment of ``settings`` on the cluster at ``address`` with ``at_once``
    drivers. ``Interrupted`` if a SIGINT arrived or a driver stopped early; ``RuntimeError``
    naming the experiment if a driver failed otherwise."""
    pending = list(settings.experiments)
    stopping = False
    failures: list[str] = []
    drivers = [_start_driver(settings, resume, address) for _ in range(min(at_once, len(pending)))]

    def forward(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for driver in drivers:
            if driver.process.poll() is None:
                driver.process.send_signal(signal.SIGINT)

    def hand_out(driver: _Driver) -> None:
        if pending and not stopping and not failures:
            driver.send(pending.pop(0))
        else:
            driver.experiment = None
            driver.close_input()

    previous = signal.signal(signal.SIGINT, forward)
    try:
        for driver in drivers:
            hand_out(driver)
        live = list(drivers)
        while live:
            ready, _, _ = select.select([d.status for d in live], [], [], 0.5)
            for driver in [d for d in live if d.status in ready]:
                line = driver.status.readline()
                if line.strip() == "ok":
                    hand_out(driver)
                    continue
                if line.strip() == "interrupted":
                    stopping = True
                    hand_out(driver)
                    continue
                live.remove(driver)  # end of the pipe: the driver exited
                code = driver.process.wait()
                if driver.experiment is None:
                    continue
                if code in (INTERRUPTED_EXIT, -signal.SIGINT) or (stopping and code != 0):
                    stopping = True  # stopped by the SIGINT passed on (or crashed while stopping)
                else:
                    failures.append(f"{driver.experiment} (exit status {code})")
                    for other in live:
                        if other.experiment is None:
                            other.close_input()
    finally:
        signal.signal(signal.SIGINT, previous)
        for driver in drivers:
            driver.close_input()
            driver.process.wait()
            driver.status.close()
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


def _driver_main(argv: list[str]) -> int:
    """Run the experiments named on stdin, one at a time, answering each on the status pipe."""
    payload, resume, address, parent, status_fd = argv
    _die_with_parent(int(parent))
    from raysearch.tune.compare_experiments import configure_experiment_snapshots, run_experiment
    from raysearch.tune.compare_settings import CompareSettings
    from raysearch.tune.preflight import init_ray

    settings = CompareSettings.from_dict(json.loads(payload))
    configure_experiment_snapshots()
    init_ray(address)
    with os.fdopen(int(status_fd), "w") as status:
        try:
            for line in sys.stdin:
                try:
                    run_experiment(settings, line.strip(), resume=bool(int(resume)))
                except Interrupted:
                    print("interrupted", file=status, flush=True)
                    return INTERRUPTED_EXIT
                print("ok", file=status, flush=True)
        except KeyboardInterrupt:
            return INTERRUPTED_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(_driver_main(sys.argv[1:]))
