"""Kill the driver of a running ``raysearch compare`` and resume it: no trial lost or run twice,
and the S2E searcher continues at the right iteration (same trials as an uninterrupted run)."""

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raysearch.analysis.experiments import load_compare_dir

pytestmark = pytest.mark.slow
TRIALS, K, EPOCHS = 6, 2, 3
COMMAND = [sys.executable, "-m", "raysearch.cli", "compare", "--searchers", "s2e", "--trials", str(TRIALS),
           "--samples-per-iter", str(K), "--epochs", str(EPOCHS), "--seeds", "1", "--max-batches-per-epoch", "8"]  # fmt: skip


def _run(out: Path, *extra: str) -> None:
    subprocess.run(
        [*COMMAND, "--out", str(out), *extra], check=True, capture_output=True, timeout=600
    )


def _kill_after_trials(out: Path, finished: int) -> None:
    """Start the comparison, and SIGKILL the driver (and the Ray it started) after `finished` trials."""
    process = subprocess.Popen([*COMMAND, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)  # fmt: skip
    deadline = time.time() + 300
    for line in process.stdout:
        if f"trial {finished} done" in line or time.time() > deadline:
            break
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


def _schedules(frame):
    columns = sorted(c for c in frame.columns if c.startswith("config/schedule/"))
    return sorted(
        tuple(round(float(v), 10) if not isinstance(v, str) else v for v in row)
        for row in frame[columns].itertuples(index=False)
    )


def test_killed_compare_resumes_without_losing_or_repeating_trials(tmp_path):
    interrupted, uninterrupted = tmp_path / "killed", tmp_path / "whole"
    _kill_after_trials(interrupted, finished=3)
    before = load_compare_dir(interrupted)
    assert 1 <= len(before) <= TRIALS and not (interrupted / "tune" / "s2e-seed0" / "DONE").exists()

    _run(interrupted, "--resume")
    after = load_compare_dir(interrupted)
    assert len(after) == TRIALS and after["trial_id"].nunique() == TRIALS  # none lost, none added
    assert (after["epochs_trained"] == EPOCHS).all()
    for result in glob.glob(str(interrupted / "tune" / "s2e-seed0" / "*" / "result.json")):
        epochs = [json.loads(line)["epoch"] for line in Path(result).read_text().splitlines()]
        # every epoch trained, none skipped
        assert sorted(set(epochs)) == list(range(1, EPOCHS + 1))

    state_file = sorted(
        glob.glob(str(interrupted / "tune" / "s2e-seed0" / "searcher-state-*.pkl"))
    )[-1]
    assert json.loads(Path(state_file).read_text())["optimizer"]["iteration"] == TRIALS // K

    _run(uninterrupted)
    assert _schedules(after) == _schedules(load_compare_dir(uninterrupted))
