"""A trial actor that Ray terminates exits without a traceback.

When a driver ends (an experiment of a comparison finishes in its own driver, or the job
ends), Ray's raylet sends SIGTERM to the job's remaining workers, among them trial actors that
Tune keeps for reuse or is still stopping. Ray's worker handler answers SIGTERM by raising
``SystemExit`` inside whatever the actor is executing, and Ray prints that exception with its
traceback (``sigterm_handler ... SystemExit: 1``) in a run that succeeded. A trial actor has
nothing to finish at that point: its results and checkpoints are already reported, and a
checkpoint being written is never the one a snapshot refers to. So it leaves at once, with the
exit code Ray's handler would give, and prints nothing.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    os._exit(1)


def exit_quietly_on_sigterm() -> None:
    """Replace Ray's SIGTERM handler in this (trial actor) process; a no-op off the main thread."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_quietly)
