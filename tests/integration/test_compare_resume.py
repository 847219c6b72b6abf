"""Interrupt the driver of a running ``raysearch compare`` and resume it: no trial lost or run
twice, and the S2E searcher continues at the right iteration (same trials as an uninterrupted
run). SIGKILL (the driver's process group, with the Ray it started) and SIGINT (Ctrl-C: Tune
stops gracefully, the run exits 130 and names the resume command)."""

import glob
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from raysearch.analysis.experiments import load_compare_dir

pytestmark = pytest.mark.slow
TRIALS, K, EPOCHS = 6, 2, 3


def _command(out: Path, *extra: str, searchers: str = "s2e", trials: int = TRIALS,
             epochs: int = EPOCHS, batches: int = 8) -> list[str]:  # fmt: skip
    return [sys.executable, "-m", "raysearch.cli", "compare", "--searchers", searchers,
            "--trials", str(trials), "--samples-per-iter", str(K), "--epochs", str(epochs),
            "--seeds", "1", "--max-batches-per-epoch", str(batches), "--out", str(out), *extra]  # fmt: skip


def _run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def _start(command: list[str]) -> subprocess.Popen:
    """The driver in its own process group (it and the Ray it starts can be killed together)."""
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip


def _interrupt(process: subprocess.Popen, sig: int, *, after_line: str | None = None,
               after_s: float = 300.0) -> tuple[int, str]:  # fmt: skip
    """Send ``sig`` once a line containing ``after_line`` was printed or ``after_s`` passed:
    SIGKILL to the whole process group, SIGINT to the driver only (as ``kill -INT``). Returns
    the exit status and the output."""
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in process.stdout], daemon=True)
    reader.start()
    output: list[str] = []
    deadline = time.time() + after_s
    while process.poll() is None and time.time() < deadline:
        try:
            output.append(lines.get(timeout=0.1))
        except queue.Empty:
            continue
        if after_line is not None and after_line in output[-1]:
            break
    if process.poll() is None:
        if sig == signal.SIGKILL:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            os.kill(process.pid, sig)
    status = process.wait(timeout=120)
    try:  # nothing the driver started outlives it
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    reader.join(timeout=10)
    output.extend(lines.queue)
    return status, "".join(output)


def _schedules(frame):
    columns = sorted(c for c in frame.columns if c.startswith("config/schedule/"))
    return sorted(
        (row[0], *(round(float(v), 10) if not isinstance(v, str) else v for v in row[1:]))
        for row in frame[["searcher", *columns]].itertuples(index=False)
    )


def _epoch_counts(experiment: Path) -> list[list[int]]:
    """Per trial, the epochs in its ``result.json``, in order (each should appear once)."""
    return [
        [json.loads(line)["epoch"] for line in Path(result).read_text().splitlines() if line]
        for result in sorted(glob.glob(str(experiment / "*" / "result.json")))
    ]


def _s2e_iteration(experiment: Path) -> int:
    state = sorted(glob.glob(str(experiment / "searcher-state-*.pkl")))[-1]
    return int(json.loads(Path(state).read_text())["optimizer"]["iteration"])


def _trials_on_disk(out: Path) -> int:
    try:
        return len(load_compare_dir(out))
    except (FileNotFoundError, ValueError, KeyError):  # nothing reported yet
        return 0


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _assert_complete(
    out: Path, searchers: list[str], trials: int, epochs: int, *, kills: int = 0
) -> None:
    """Every experiment DONE, each trial's epochs 1..k each trained; an epoch is trained twice
    only where a SIGKILL fell between its result and Tune's next snapshot (at most ``kills``
    repeats; none after SIGINTs); plain searchers ran exactly ``trials`` full trials, Hyperband
    counted every epoch once; S2E told N / K batches."""
    frame = load_compare_dir(out)
    repeats = sum(
        len(c) - len(set(c)) for s in searchers for c in _epoch_counts(out / "tune" / f"{s}-seed0")
    )
    print(f"[{out.name}] epochs trained twice: {repeats}")
    assert repeats <= kills
    for searcher in searchers:
        mine = frame[frame["searcher"] == searcher]
        experiment = out / "tune" / f"{searcher}-seed0"
        assert (experiment / "DONE").exists()
        counts = _epoch_counts(experiment)
        assert all(sorted(set(c)) == list(range(1, max(c, default=0) + 1)) for c in counts), counts
        if searcher == "hyperband":
            spent = json.loads((experiment / "epoch_budget.state").read_text())
            assert sum(spent.values()) == sum(len(set(c)) for c in counts)  # each counted once
            continue
        assert len(mine) == trials and mine["trial_id"].nunique() == trials  # none lost or added
        assert (mine["epochs_trained"] == epochs).all() and len(counts) == trials
    if "s2e" in searchers:
        assert _s2e_iteration(out / "tune" / "s2e-seed0") == trials // K


def test_killed_compare_resumes_without_losing_or_repeating_trials(tmp_path):
    interrupted, uninterrupted = tmp_path / "killed", tmp_path / "whole"
    _interrupt(_start(_command(interrupted)), signal.SIGKILL, after_line="trial 3 done")
    before = load_compare_dir(interrupted)
    assert 1 <= len(before) <= TRIALS and not (interrupted / "tune" / "s2e-seed0" / "DONE").exists()

    assert _run(_command(interrupted, "--resume")).returncode == 0
    _assert_complete(interrupted, ["s2e"], TRIALS, EPOCHS, kills=1)

    assert _run(_command(uninterrupted)).returncode == 0
    assert _schedules(load_compare_dir(interrupted)) == _schedules(load_compare_dir(uninterrupted))


def test_ctrl_c_stops_every_experiment_exits_130_and_a_copy_resumes_in_its_own_folder(tmp_path):
    original, copy = tmp_path / "run", tmp_path / "copy"
    command = _command(original, searchers="hyperband,s2e", trials=4, epochs=2, batches=4)
    status, output = _interrupt(_start(command), signal.SIGINT, after_line="trial 1 done")
    assert status == 130, output
    last = output.strip().splitlines()[-1]
    assert last.startswith("raysearch: interrupted") and last.endswith(
        "resume with: " + " ".join(command) + " --resume"
    ), last
    assert not (original / "tune" / "hyperband-seed0" / "DONE").exists()
    assert not (original / "tune" / "s2e-seed0").exists()  # no later experiment started
    assert not (original / "summary.md").exists()

    refused = _run(command)  # a fresh run is never stacked on the interrupted one
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith(f"{original} holds an interrupted run; add --resume to finish it")  # fmt: skip
    other = _run([*command[:-2], "--epochs", "3", "--out", str(original), "--resume"])
    assert other.returncode == 2 and "other settings (trial.epochs: 2 -> 3)" in other.stderr

    shutil.copytree(original, copy)
    before = _snapshot(original)
    copy_command = [*command[: command.index("--out") + 1], str(copy)]
    resumed = _run([*copy_command, "--resume"])
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _snapshot(original) == before  # the copy wrote nothing into the original
    _assert_complete(copy, ["hyperband", "s2e"], 4, 2)

    report = _snapshot(copy)
    again = _run(copy_command)  # a finished folder: a no-op that says so
    assert (
        again.returncode == 0
        and "finished earlier with these settings; nothing to run" in again.stdout
    )
    assert _snapshot(copy) == report


@pytest.mark.parametrize("at_once", [1, 2], ids=["one-at-a-time", "side-by-side"])
def test_chaos_five_interruptions_sigint_and_sigkill_alternately(tmp_path, at_once):
    """5 interruptions at seeded random points, SIGINT and SIGKILL in turn, each resumed: every
    trial ran once, each epoch once, S2E told N / K batches, and the same configs as one
    uninterrupted run with the same seed; experiments one at a time or side by side."""
    searchers, trials, epochs = ["s2e", "random"], 4, 2
    out, whole = tmp_path / "chaos", tmp_path / "whole"
    rng = random.Random(14)
    command = _command(out, "--experiments-at-once", str(at_once), searchers=",".join(searchers),
                       trials=trials, epochs=epochs, batches=4)  # fmt: skip
    log = []
    for attempt in range(5):
        sig = (signal.SIGINT, signal.SIGKILL)[attempt % 2]
        delay = rng.uniform(5.0, 12.0)
        extra = ["--resume"] if attempt else []
        status, _ = _interrupt(_start([*command, *extra]), sig, after_s=delay)
        log.append((sig.name, round(delay, 1), status, _trials_on_disk(out)))
    print(f"\n[chaos] (signal, after s, exit status, trials on disk): {log}")
    finished = _run([*command, "--resume"])
    assert finished.returncode == 0, finished.stdout + finished.stderr
    _assert_complete(out, searchers, trials, epochs, kills=2)
    assert _run(_command(whole, searchers=",".join(searchers), trials=trials, epochs=epochs, batches=4)).returncode == 0  # fmt: skip
    assert _schedules(load_compare_dir(out)) == _schedules(load_compare_dir(whole))
    # each attempt was really interrupted: 130, or killed (a SIGINT while Python or Ray is
    # still starting can end the process by that signal, or by a crash in native start-up code)
    assert all(status != 0 for _, _, status, _ in log), log


def test_an_experiment_killed_before_its_first_snapshot_starts_afresh_on_resume(tmp_path):
    """A driver killed in its first controller step leaves ``tuner.pkl`` without an experiment
    snapshot (seen on a slow machine): ``--resume`` runs that experiment from the start."""
    out = tmp_path / "run"
    command = _command(out, searchers="random", trials=2, epochs=1, batches=2)
    assert _run(command).returncode == 0
    experiment = out / "tune" / "random-seed0"
    for path in [experiment / "DONE", *experiment.glob("experiment_state-*.json"),
                 *experiment.glob("*/params.json")]:  # fmt: skip
        if path.name == "params.json":
            shutil.rmtree(path.parent)
        else:
            path.unlink()
    fingerprint = json.loads((out / "fingerprint.json").read_text())
    (out / "fingerprint.json").write_text(json.dumps({**fingerprint, "finished": False}))
    assert (experiment / "tuner.pkl").exists()
    resumed = _run([*command, "--resume"])
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming from" not in resumed.stdout
    _assert_complete(out, ["random"], 2, 1)
