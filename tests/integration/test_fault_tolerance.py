"""Fault tolerance on a real 2-node Ray cluster on this machine (launchers/local-cluster.sh):
a killed driver resumed by launch.py, a killed worker node, trials that raise / run out of memory /
report NaN, and a Ray Train NAS search whose worker process is killed. A comparison's searcher
streams run in its one ``OUT/tune/searchers`` experiment."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fault_drivers import node_pids, s2e_iteration  # tests/integration is on sys.path

from raysearch.analysis.experiments import load_compare_dir
from raysearch.tune.preflight import recorded_ray_temp_dirs

# Every driver runs in its own process (launch.py, `raysearch compare`, fault_drivers.py), never
# in pytest's: an earlier in-process ray.init would break a driver joining the external cluster.
pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
DRIVERS = Path(__file__).resolve().parent / "fault_drivers.py"
SCRIPT = ROOT / "launchers" / "local-cluster.sh"
PORT = 6490  # not the script's default, so a debugging cluster can stay up beside the tests


@contextlib.contextmanager
def _local_cluster(base: Path, port: int):
    """Head + worker node (1 CPU each) from local-cluster.sh; yields (address, env, pid dir)."""
    short = Path(f"/tmp/rs-ft-{os.getpid()}-{port}")  # Ray's socket paths must stay short
    env = {**os.environ, "RS_HEAD_PORT": str(port), "RS_DASHBOARD_PORT": str(port + 50),
           "RS_CLUSTER_DIR": str(base), "RS_TEMP_DIR": str(short),
           "RAY": str(Path(sys.executable).parent / "ray"),
           # the head node outlives its SIGTERM: `down` SIGKILLs it after 2 s, not 15
           "RS_STOP_GRACE_S": "2",
           # result rows reach OUT/tune with each experiment snapshot (Tune uploads its driver
           # staging folder then): every 0.5 s, so a test sees a trial while it still runs
           "TUNE_GLOBAL_CHECKPOINT_S": "0.5"}  # fmt: skip
    subprocess.run(["bash", str(SCRIPT), "up"], env=env, check=True, timeout=240)
    # what a driver needs (address, auth token, loopback resolution), as `env` prints it
    exports = subprocess.run(["bash", str(SCRIPT), "env"], env=env, check=True, text=True,
                             capture_output=True).stdout.split()  # fmt: skip
    env.update(item.split("=", 1) for item in exports[1:])
    assert env["RAY_ADDRESS"] == f"127.0.0.1:{port}" and env["RAY_AUTH_MODE"] == "token"
    try:
        yield env["RAY_ADDRESS"], env, base
    finally:
        subprocess.run(["bash", str(SCRIPT), "down"], env=env, check=False, timeout=120)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One cluster shared by the tests that leave it whole."""
    with _local_cluster(tmp_path_factory.mktemp("cluster"), PORT) as running:
        yield running


@pytest.fixture
def own_cluster(tmp_path_factory):
    """A cluster of its own, for a test that kills one of its nodes."""
    with _local_cluster(tmp_path_factory.mktemp("own-cluster"), PORT + 100) as running:
        yield running


def _launch(out: Path, env: dict, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "launchers" / "launch.py"), "--preset", "smoke", "--out",
            str(out), "--searchers", "s2e", "--trials", "4", "--samples-per-iter", "2",
            "--epochs", "2", "--max-batches-per-epoch", "40", "--references", "none",
            "--address", env["RAY_ADDRESS"], *extra]  # fmt: skip


def _epochs(result_json: str) -> list[dict]:
    return [json.loads(line) for line in Path(result_json).read_text().splitlines() if line]


def _reported(out: Path) -> int:
    """Trials of a comparison with result rows on disk."""
    try:
        return len(load_compare_dir(out))
    except (FileNotFoundError, ValueError, KeyError):
        return 0


def test_killed_driver_is_resumed_by_launch_py(cluster, tmp_path):
    address, env, _ = cluster
    out = tmp_path / "run"
    process = subprocess.Popen(_launch(out, env), env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    deadline = time.time() + 180
    while process.poll() is None and time.time() < deadline and _reported(out) < 2:
        time.sleep(0.1)  # the first S2E batch (K = 2) is on disk; the second cannot be yet
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    before = load_compare_dir(out)
    assert not (out / "tune" / "searchers" / "DONE").exists()
    # the cluster keeps its sessions in its own --temp-dir, where the driver staged its files
    assert recorded_ray_temp_dirs(out) == [str(Path(env["RS_TEMP_DIR"]).resolve())]
    # as a kill while Tune copied the searcher's state from its staging folder leaves it
    state = sorted((out / "tune" / "searchers").glob("searcher-state-*.pkl"))[-1]
    state.write_bytes(state.read_bytes()[:7])

    resumed = subprocess.run(_launch(out, env, "--resume"), env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"{state} was cut short by a kill" in resumed.stdout
    after = load_compare_dir(out)
    print(f"\n[driver kill] trials before kill: {len(before)}, after resume: {len(after)}")
    assert 2 <= len(before) < 4
    assert len(after) == 4 and after["trial_id"].nunique() == 4  # none lost, none run twice
    assert set(before["trial_id"]) <= set(after["trial_id"])
    assert (out / "tune" / "searchers" / "DONE").exists()
    results = glob.glob(str(out / "tune" / "searchers" / "*" / "result.json"))
    assert len(results) == 4
    for result in results:
        assert sorted({row["epoch"] for row in _epochs(result)}) == [1, 2]
    state = sorted((out / "tune" / "searchers").glob("searcher-state-*.pkl"))[-1]
    assert s2e_iteration(json.loads(state.read_text())) == 2  # N / K told


def _drive(kind: str, env: dict, out: Path, *extra: str) -> dict:
    """Run one driver of fault_drivers.py in its own process; what it measured."""
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(DRIVERS), kind, env["RAY_ADDRESS"], str(out), *extra]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return json.loads((out / "outcome.json").read_text())


def test_raising_nan_and_oom_trials_are_recorded_and_told(cluster, tmp_path):
    _, env, _ = cluster
    outcome = _drive("flaky", env, tmp_path)
    errors, values = outcome["errors"], outcome["values"]
    print(f"\n[bad trials] {outcome['trials']} trials: {len(errors)} errored, values {values}")
    assert outcome["trials"] == 6 and len(errors) == 2
    assert any("injected failure" in e for e in errors)
    assert any("MemoryError" in e or "OutOfMemory" in e for e in errors)
    assert sum(v is None or v != v for v in values) == 1  # one NaN recorded as such
    assert outcome["best"] > 0.5  # NaN never wins
    assert outcome["iteration"] == 3  # all 6 told, through the stream
    assert outcome["searchers"] == ["s2e"]


def test_killed_nas_search_worker_resumes_from_its_checkpoint(cluster, tmp_path):
    _, env, base = cluster
    pgids = [(base / f"{n}.pid").read_text().strip() for n in ("head", "worker")]
    outcome = _drive("nas", env, tmp_path, *pgids)
    print(f"\n[nas worker kill] killed pids {outcome['killed']}; final epoch "
          f"{outcome['epoch']}, start_epoch {outcome['start_epoch']}")  # fmt: skip
    assert outcome["killed"], "no Ray Train worker process found to kill"
    assert outcome["error"] is None and outcome["epoch"] == 4
    assert outcome["start_epoch"] > 0  # resumed from a checkpoint, not from scratch


def test_killed_worker_node_trials_restart_from_checkpoints(own_cluster, tmp_path):
    """Kills the worker node of its own cluster (the head finishes the experiment alone)."""
    address, env, base = own_cluster
    out = tmp_path / "run"
    command = [sys.executable, "-m", "raysearch.cli", "compare", "--searchers", "random",
               "--trials", "3", "--epochs", "5", "--seeds", "1", "--samples-per-iter", "2",
               "--max-batches-per-epoch", "150", "--concurrency", "2", "--references", "none",
               "--checkpoint-every-s", "0.1",  # a checkpoint at every epoch end
               "--address", address, "--out", str(out)]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    pattern = str(out / "tune" / "searchers" / "*" / "result.json")
    deadline = time.time() + 180
    worker_group = int((base / "worker.pid").read_text())
    victim = None
    # a trial on the worker node, checkpointed, and early enough (epoch <= 3 of 5 on disk) to
    # be still running: rows reach the folder with the next snapshot (0.5 s, ~0.7 epochs late)
    while victim is None and time.time() < deadline:
        node = set(node_pids(worker_group))
        for result in glob.glob(pattern):
            rows = _epochs(result)
            if len(rows) >= 2 and rows[-1]["pid"] in node and rows[-1]["epoch"] <= 3:
                victim = rows[-1]["trial_id"]
        time.sleep(0.2)
    assert victim is not None, "no trial ran on the worker node"
    for pid in node_pids(worker_group):  # the whole node dies
        os.kill(pid, signal.SIGKILL)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-3000:]
    frame = load_compare_dir(out)
    restored = []
    for result in glob.glob(pattern):
        rows = _epochs(result)
        assert rows[-1]["epoch"] == 5
        restored += [r for r in rows if r["iterations_since_restore"] == 1 and r["epoch"] > 1]
        if rows[0]["trial_id"] == victim:  # the node may die after an epoch's report and
            # before its checkpoint is saved: that epoch is trained again, with the same results
            epochs = [r["epoch"] for r in rows]
            assert sorted(set(epochs)) == [1, 2, 3, 4, 5] and len(epochs) <= 6, epochs
            first: dict[int, dict] = {}
            for row in rows:
                metrics = {k: row[k] for k in ("val_acc", "test_acc", "train_loss", "keep_rate")}
                assert first.setdefault(row["epoch"], metrics) == metrics, row["epoch"]
    print(
        f"\n[worker node kill] killed during trial {victim}; trials completed: {len(frame)} of 3; "
        f"restored trial rows: {[(r['trial_id'], r['epoch']) for r in restored]}"
    )
    assert len(frame) == 3 and (frame["epochs_trained"] == 5).all()
    assert victim in {r["trial_id"] for r in restored}  # continued from its checkpoint, not epoch 1
