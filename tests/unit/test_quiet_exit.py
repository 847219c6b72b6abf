"""A trial actor's process that receives SIGTERM exits with code 1 and prints nothing."""

import subprocess
import sys

SCRIPT = """
import os, signal, sys
def loud(signum, frame):
    raise SystemExit(1)  # what Ray's worker handler does: a traceback mid-task
signal.signal(signal.SIGTERM, loud)
from raysearch.tune.quiet_exit import exit_quietly_on_sigterm
if sys.argv[1] == "quiet":
    exit_quietly_on_sigterm()
def busy():
    os.kill(os.getpid(), signal.SIGTERM)
    while True:
        pass
try:
    busy()
finally:
    print("finally ran", file=sys.stderr)
"""


def _run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                          timeout=60)  # fmt: skip


def test_sigterm_exits_with_code_1_without_output():
    quiet = _run("quiet")
    assert quiet.returncode == 1
    assert quiet.stderr == "" and quiet.stdout == ""


def test_without_it_the_handler_unwinds_through_the_task():
    loud = _run("loud")
    assert loud.returncode == 1
    assert "finally ran" in loud.stderr  # the exception went through the running code
