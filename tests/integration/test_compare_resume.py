"""Interrupt the driver of a running ``raysearch compare`` and resume it: no trial lost or run
twice, and the results (trial for trial, epoch for epoch) those of an uninterrupted run.

Every searcher stream and the reference schedules run in the one ``OUT/tune/searchers``
experiment; a scheduler (Hyperband) runs one experiment per seed, ``OUT/tune/hyperband-seed0``.
SIGKILL (the driver's process group, with the Ray it started): a resumed trial may train again
the epochs since its last checkpoint, with the same results. SIGINT (one Ctrl-C): the
experiment drains (each running trial pauses with a checkpoint at its next epoch end), the run
exits 130 and names the resume command, and no epoch is trained twice."""

import base64
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
from collections.abc import Callable
from pathlib import Path

import pytest

from raysearch.analysis.experiments import load_compare_dir
from raysearch.tune.preflight import restored_checkpoints

pytestmark = pytest.mark.slow
# s2e (K = 2) and random, 4 trials each, plus the standard and coteaching references: 10 trials
# of ~0.4 s epochs, so a trial is half-way for a while
SEARCHERS, TRIALS, K, EPOCHS, BATCHES = "s2e,random", 4, 2, 3, 80
# Tune writes result rows and trial folders in a driver staging folder and uploads it to OUT/tune
# with each experiment snapshot: snapshots every 0.5 s (not 2) let a test see a trial half-way
SNAPSHOT_S = "0.5"
METRICS = ("epoch", "val_acc", "test_acc", "label_precision", "train_loss", "keep_rate")


def _command(out: Path, *extra: str, searchers: str = SEARCHERS, trials: int = TRIALS,
             epochs: int = EPOCHS, batches: int = BATCHES) -> list[str]:  # fmt: skip
    return [sys.executable, "-m", "raysearch.cli", "compare", "--searchers", searchers,
            "--trials", str(trials), "--samples-per-iter", str(K), "--epochs", str(epochs),
            "--seeds", "1", "--max-batches-per-epoch", str(batches), "--out", str(out), *extra]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": SNAPSHOT_S}


def _run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=_env())


def _start(command: list[str]) -> subprocess.Popen:
    """The driver in its own process group (it and the Ray it starts can be killed together)."""
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env=_env())  # fmt: skip


def _interrupt(process: subprocess.Popen, sig: int, *, when: Callable[[], bool] | None = None,
               after_s: float = 300.0) -> tuple[int, str]:  # fmt: skip
    """Send ``sig`` once ``when()`` holds (polled every 0.1 s) or ``after_s`` passed: SIGKILL
    to the whole process group, SIGINT to the driver only (as ``kill -INT``). Returns the exit
    status and the output."""
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in process.stdout], daemon=True)
    reader.start()
    deadline = time.time() + after_s
    while process.poll() is None and time.time() < deadline:
        if when is not None and when():
            break
        time.sleep(0.1)
    if process.poll() is None:
        if sig == signal.SIGKILL:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            os.kill(process.pid, sig)
    status = process.wait(timeout=180)
    try:  # nothing the driver started outlives it
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    reader.join(timeout=10)
    return status, "".join(lines.queue)


def _rows(trial: Path) -> list[dict]:
    result = trial / "result.json"
    if not result.exists():
        return []
    return [json.loads(line) for line in result.read_text().splitlines() if line.strip()]


def _trial_folders(experiment: Path) -> list[Path]:
    return sorted(p.parent for p in experiment.glob("*/params.json"))


def _epochs_per_trial(experiment: Path) -> list[list[int]]:
    """Per trial, the epochs in its ``result.json``, in order (each should appear once)."""
    return [[row["epoch"] for row in _rows(t)] for t in _trial_folders(experiment)]


def _curves(experiment: Path) -> dict[tuple, list[dict]]:
    """Trial for trial (keyed by stream and schedule), its per-epoch metrics. An epoch trained
    twice (after a SIGKILL) must repeat its metrics exactly; it is listed once."""
    curves = {}
    for trial in _trial_folders(experiment):
        config = json.loads((trial / "params.json").read_text())
        by_epoch: dict[int, dict] = {}
        for row in _rows(trial):
            metrics = {k: row[k] for k in METRICS}
            assert by_epoch.setdefault(row["epoch"], metrics) == metrics, (trial.name, row["epoch"])
        key = (config["searcher"], config["seed"], json.dumps(config["schedule"], sort_keys=True))
        assert key not in curves, key  # every config once
        curves[key] = [by_epoch[e] for e in sorted(by_epoch)]
    return curves


def _continued_from_a_checkpoint(experiment: Path) -> list[tuple[str, int]]:
    """(trial, epoch) where a trial restarted past epoch 1: restored from its checkpoint."""
    return [
        (row["trial_id"], row["epoch"])
        for trial in _trial_folders(experiment) for row in _rows(trial)
        if row["iterations_since_restore"] == 1 and row["epoch"] > 1
    ]  # fmt: skip


def _stream_state(experiment: Path, stream: str) -> dict:
    """The saved state of one stream of the shared experiment's ``StreamSearcher``."""
    state = sorted(glob.glob(str(experiment / "searcher-state-*.pkl")))[-1]
    return json.loads(Path(state).read_text())["streams"][stream]


def _s2e_iteration(experiment: Path, seed: int = 0) -> int:
    chain = _stream_state(experiment, f"s2e/seed{seed}")["searcher"]
    while "limiter" in chain:  # the batching ConcurrencyLimiter, then S2E's own file
        chain = chain["inner"]
    return int(json.loads(base64.b64decode(chain["file"]))["optimizer"]["iteration"])


def _result_rows(experiment: Path) -> int:
    """Result rows of all trials of ``experiment`` on disk (whole lines: one may be being copied)."""
    return sum(p.read_text().count("\n") for p in experiment.glob("*/result.json"))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _assert_complete(out: Path, streams: list[str], trials: int, epochs: int, *,
                     scheduled: tuple[str, ...] = (), sigint_only: bool = False) -> int:  # fmt: skip
    """Every experiment DONE; each stream (and reference) ran exactly its trials, each trial
    its epochs 1..E (an epoch twice only after a SIGKILL: none if ``sigint_only``), no
    checkpoint left behind; S2E told N / K batches; a scheduler counted each epoch once.
    Returns the number of epochs trained twice."""
    frame = load_compare_dir(out)
    shared = out / "tune" / "searchers"
    assert (shared / "DONE").exists()
    counts = _epochs_per_trial(shared)
    assert all(sorted(set(c)) == list(range(1, epochs + 1)) for c in counts), counts
    repeats = sum(len(c) - len(set(c)) for c in counts)
    for name in scheduled:
        experiment = out / "tune" / f"{name}-seed0"
        assert (experiment / "DONE").exists()
        own = _epochs_per_trial(experiment)
        assert all(sorted(set(c)) == list(range(1, max(c, default=0) + 1)) for c in own), own
        spent = json.loads((experiment / "epoch_budget.state").read_text())
        assert sum(spent.values()) == sum(len(set(c)) for c in own) == trials * epochs
        repeats += sum(len(c) - len(set(c)) for c in own)
    print(f"[{out.name}] epochs trained twice: {repeats}")
    if sigint_only:
        assert repeats == 0
    for searcher in streams:
        mine = frame[frame["searcher"] == searcher]
        assert len(mine) == trials and mine["trial_id"].nunique() == trials  # none lost or added
        assert (mine["epochs_trained"] == epochs).all()
    references = frame[frame["role"] == "reference"]
    assert sorted(references["searcher"]) == ["coteaching", "standard"]
    assert (references["epochs_trained"] == epochs).all()
    assert len(counts) == trials * len(streams) + 2
    assert not list(shared.glob("*/checkpoint_*"))  # the pruner left none of finished trials
    if "s2e" in streams:
        assert _s2e_iteration(shared) == trials // K
        assert _stream_state(shared, "s2e/seed0")["suggested"] == trials
    return repeats


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> dict[tuple, list[dict]]:
    """The per-trial curves of one uninterrupted run of the module's comparison."""
    out = tmp_path_factory.mktemp("whole") / "run"
    done = _run(_command(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return _curves(out / "tune" / "searchers")


def _recorded_checkpoint(experiment: Path) -> bool:
    """The newest snapshot records a checkpoint of a trial that is half-way now: a kill now
    makes that trial resume from it, past epoch 1, and train again the epochs after it."""
    states = sorted(experiment.glob("experiment_state-*.json"))
    try:
        recorded = restored_checkpoints(experiment, states[-1]) if states else []
    except (OSError, ValueError, KeyError, TypeError, EOFError):  # being written
        return False
    return any(p.is_dir() and len(_rows(p.parent)) < EPOCHS for p in recorded)


def test_killed_compare_resumes_with_the_results_of_an_uninterrupted_run(tmp_path, whole):
    out = tmp_path / "killed"
    command = _command(out, "--checkpoint-every-s", "0.1")  # a checkpoint at every epoch end
    shared = out / "tune" / "searchers"
    status, output = _interrupt(_start(command), signal.SIGKILL,
                                when=lambda: _recorded_checkpoint(shared))  # fmt: skip
    assert status == -signal.SIGKILL, output[-3000:]
    assert not (shared / "DONE").exists()
    partial = [c for c in _epochs_per_trial(shared) if 0 < len(set(c)) < EPOCHS]
    assert partial, "killed while no trial was half-way"

    resumed = _run([*command, "--resume"])
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    repeats = _assert_complete(out, SEARCHERS.split(","), TRIALS, EPOCHS)
    continued = _continued_from_a_checkpoint(shared)
    print(f"[killed] trials continued from a checkpoint at (trial, epoch): {continued}")
    assert continued  # not from scratch
    assert repeats <= 2 * EPOCHS  # at most the epochs of the two trials that were running
    assert _curves(shared) == whole  # trial for trial, epoch for epoch


def _half_way(experiment: Path, epochs: int) -> bool:
    """Some trial has reported at least one epoch and, at its next, still is not done."""
    return any(0 < len(c) < epochs - 1 for c in _epochs_per_trial(experiment))


def test_ctrl_c_drains_exits_130_trains_no_epoch_twice_and_a_copy_resumes_in_its_own_folder(
    tmp_path,
):
    original, copy = tmp_path / "run", tmp_path / "copy"
    epochs = 4
    # the shared experiment first, then hyperband-seed0 (one experiment at a time)
    command = _command(original, "--experiments-at-once", "1", searchers="s2e,hyperband",
                       epochs=epochs)  # fmt: skip
    shared = original / "tune" / "searchers"
    status, output = _interrupt(_start(command), signal.SIGINT,
                                when=lambda: _half_way(shared, epochs))  # fmt: skip
    assert status == 130, output[-3000:]
    assert "each running trial finishes its epoch and saves a checkpoint" in output
    last = output.strip().splitlines()[-1]
    assert last.startswith("raysearch: interrupted") and last.endswith(
        "resume with: " + " ".join(command) + " --resume"
    ), last
    assert not (shared / "DONE").exists()
    assert not (original / "tune" / "hyperband-seed0").exists()  # no later experiment started
    assert not (original / "summary.md").exists()
    paused = [c for c in _epochs_per_trial(shared) if 0 < len(c) < epochs]
    assert paused, "the drain paused no trial half-way"

    refused = _run(command)  # a fresh run is never stacked on the interrupted one
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith(f"{original} holds an interrupted run; add --resume to finish it")  # fmt: skip
    other = _run([*command[:-2], "--epochs", "3", "--out", str(original), "--resume"])
    assert other.returncode == 2 and f"other settings (trial.epochs: {epochs} -> 3)" in other.stderr

    shutil.copytree(original, copy)
    before = _snapshot(original)
    copy_command = [*command[: command.index("--out") + 1], str(copy)]
    resumed = _run([*copy_command, "--resume"])
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert _snapshot(original) == before  # the copy wrote nothing into the original
    _assert_complete(copy, ["s2e"], TRIALS, epochs, scheduled=("hyperband",), sigint_only=True)
    continued = _continued_from_a_checkpoint(copy / "tune" / "searchers")
    print(f"[ctrl-c] trials continued from their pause checkpoint at (trial, epoch): {continued}")
    assert len(continued) >= len(paused)  # each paused trial went on from where it was

    report = _snapshot(copy)
    again = _run(copy_command)  # a finished folder: a no-op that says so
    assert (
        again.returncode == 0
        and "finished earlier with these settings; nothing to run" in again.stdout
    )
    assert _snapshot(copy) == report


def test_chaos_five_interruptions_sigint_and_sigkill_alternately(tmp_path, whole):
    """5 interruptions at seeded random points, SIGINT and SIGKILL in turn, each resumed: every
    trial ran once, each epoch once but after a SIGKILL, S2E told N / K batches, and the shared
    experiment's trials and results are those of one uninterrupted run, side by side with a
    Hyperband experiment in a second driver (a superset of the shared experiment alone, whose
    kill and Ctrl-C are the two tests above). Each attempt is interrupted after a random delay
    (often while Ray starts) or after a random number of new result rows (mid-run), whichever
    comes first; the target stays short of the last rows, so no attempt can finish first."""
    out = tmp_path / "chaos"
    shared = out / "tune" / "searchers"
    rng = random.Random(14)
    searchers = f"{SEARCHERS},hyperband"
    command = _command(out, "--experiments-at-once", "2", "--checkpoint-every-s", "0.1",
                       searchers=searchers)  # fmt: skip
    last_rows = (TRIALS * len(SEARCHERS.split(",")) + 2) * EPOCHS - 2 * EPOCHS
    log = []
    for attempt in range(5):
        sig = (signal.SIGINT, signal.SIGKILL)[attempt % 2]
        delay = rng.uniform(4.0, 20.0)
        target = min(_result_rows(shared) + rng.randint(1, 8), last_rows)
        extra = ["--resume"] if attempt else []
        status, _ = _interrupt(_start([*command, *extra]), sig, after_s=delay,
                               when=lambda t=target: _result_rows(shared) >= t)  # fmt: skip
        log.append((sig.name, round(delay, 1), target, status, _result_rows(shared)))
    print(f"\n[chaos] (signal, after s, or at rows, exit status, rows on disk): {log}")
    finished = _run([*command, "--resume"])
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    _assert_complete(out, SEARCHERS.split(","), TRIALS, EPOCHS, scheduled=("hyperband",))
    assert _curves(out / "tune" / "searchers") == whole
    # each attempt was really interrupted: 130, or killed (a SIGINT while Python or Ray is
    # still starting can end the process by that signal, or by a crash in native start-up code)
    assert all(status != 0 for _, _, _, status, _ in log), log


def test_an_experiment_killed_before_its_first_snapshot_starts_afresh_on_resume(tmp_path):
    """A driver killed in its first controller step leaves ``tuner.pkl`` without an experiment
    snapshot (seen on a slow machine): ``--resume`` runs that experiment from the start."""
    out = tmp_path / "run"
    command = _command(out, "--references", "none", searchers="random", trials=2, epochs=1,
                       batches=2)  # fmt: skip
    assert _run(command).returncode == 0
    experiment = out / "tune" / "searchers"
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
    frame = load_compare_dir(out)
    assert (experiment / "DONE").exists() and len(frame) == 2 and frame["trial_id"].nunique() == 2
    assert [sorted(c) for c in _epochs_per_trial(experiment)] == [[1], [1]]
