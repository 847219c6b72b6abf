"""Fault tolerance on a real 2-node Ray cluster on this machine (launchers/local-cluster.sh):
a killed driver resumed by launch.py, a killed worker node, trials that raise / run out of memory /
report NaN, and a Ray Train NAS search whose worker process is killed."""

from __future__ import annotations

import glob
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from raysearch.analysis.experiments import load_compare_dir

# first in the session: after another module's ray.init in this process, trial actors this
# process starts on the external cluster die before running (seen with Ray 2.60; not isolated)
pytestmark = [pytest.mark.slow, pytest.mark.fresh_ray_process]
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "launchers" / "local-cluster.sh"
PORT = 6490  # not the script's default, so a debugging cluster can stay up beside the tests


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Head + worker node (1 CPU each) from local-cluster.sh; yields (address, env, pid dir)."""
    base = tmp_path_factory.mktemp("cluster")
    short = Path(f"/tmp/rs-ft-{os.getpid()}")  # Ray's socket paths must stay short
    env = {**os.environ, "RS_HEAD_PORT": str(PORT), "RS_DASHBOARD_PORT": str(PORT + 50),
           "RS_CLUSTER_DIR": str(base), "RS_TEMP_DIR": str(short), "RAY_AUTH_MODE": "disabled",
           "RAY": str(Path(sys.executable).parent / "ray")}  # fmt: skip
    subprocess.run(["bash", str(SCRIPT), "up"], env=env, check=True, timeout=240)
    address = f"127.0.0.1:{PORT}"
    env["RAY_ADDRESS"] = address
    yield address, env, base
    subprocess.run(["bash", str(SCRIPT), "down"], env=env, check=False, timeout=120)


def _launch(out: Path, env: dict, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "launchers" / "launch.py"), "--preset", "smoke", "--out",
            str(out), "--searchers", "s2e", "--trials", "4", "--samples-per-iter", "2",
            "--epochs", "2", "--max-batches-per-epoch", "6", "--address", env["RAY_ADDRESS"], *extra]  # fmt: skip


def _epochs(result_json: str) -> list[dict]:
    return [json.loads(line) for line in Path(result_json).read_text().splitlines() if line]


def test_killed_driver_is_resumed_by_launch_py(cluster, tmp_path):
    address, env, _ = cluster
    out = tmp_path / "run"
    process = subprocess.Popen(_launch(out, env), env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    deadline = time.time() + 180
    for line in process.stdout:
        if "trial 2 done" in line or time.time() > deadline:
            break
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    before = load_compare_dir(out)
    assert not (out / "tune" / "s2e-seed0" / "DONE").exists()

    subprocess.run(_launch(out, env, "--resume"), env=env, check=True, capture_output=True, timeout=300)  # fmt: skip
    after = load_compare_dir(out)
    print(f"\n[driver kill] trials before kill: {len(before)}, after resume: {len(after)}")
    assert 2 <= len(before) < 4
    assert len(after) == 4 and after["trial_id"].nunique() == 4  # none lost, none run twice
    assert set(before["trial_id"]) <= set(after["trial_id"])
    for result in glob.glob(str(out / "tune" / "s2e-seed0" / "*" / "result.json")):
        assert sorted({row["epoch"] for row in _epochs(result)}) == [1, 2]
    state = sorted(glob.glob(str(out / "tune" / "s2e-seed0" / "searcher-state-*.pkl")))[-1]
    assert json.loads(Path(state).read_text())["optimizer"]["iteration"] == 2  # N / K told


def _claim(folder: str) -> int:
    """The next free index in ``folder`` (one per trial start, across processes)."""
    for index in range(100):
        try:
            os.close(os.open(os.path.join(folder, f"claim{index}"), os.O_CREAT | os.O_EXCL))
            return index
        except FileExistsError:
            continue
    raise RuntimeError("no index left")


def flaky_trial(config: dict) -> None:
    """Trial 0 raises, 1 reports NaN, 2 runs out of memory (address-space limit), others 0.5."""
    from ray import tune

    index = _claim(config["claims"])
    if index == 0:
        raise RuntimeError("injected failure")
    if index == 2:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, hard))
        try:
            bytearray(16 << 30)  # beyond the limit: MemoryError, as a real OOM in the trial
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    tune.report({"val_acc": float("nan") if index == 1 else 0.5 + 0.01 * index, "epoch": 1})


def test_raising_nan_and_oom_trials_are_recorded_and_told(cluster, tmp_path):
    import ray
    from ray import tune

    from raysearch.noisy.settings import TrialSettings
    from raysearch.tune.compare import CompareSettings
    from raysearch.tune.searchers import make_search, tune_config

    address, env, _ = cluster
    settings = CompareSettings(trial=TrialSettings(epochs=1), searchers=("s2e",), trials=6,
                               seeds=1, samples_per_iter=2, out=str(tmp_path))  # fmt: skip
    request = settings.request(0)
    setup = make_search("s2e", request)
    (tmp_path / "claims").mkdir()
    ray.init(address=address, runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(sys.path)}})
    try:
        tuner = tune.Tuner(
            tune.with_resources(flaky_trial, {"cpu": 1}),
            param_space={**settings.param_space(0), "claims": str(tmp_path / "claims")},
            tune_config=tune_config(setup, request, reuse_actors=False),
            run_config=tune.RunConfig(
                name="flaky",
                storage_path=str(tmp_path / "tune"),
                failure_config=tune.FailureConfig(max_failures=0),
            ),  # fmt: skip
        )
        grid = tuner.fit()
    finally:
        ray.shutdown()
    errors = [r.error for r in grid if r.error is not None]
    values = [r.metrics.get("val_acc") for r in grid if r.error is None]
    print(f"\n[bad trials] {len(grid)} trials: {len(errors)} errored, values {values}")
    assert len(grid) == 6 and len(errors) == 2
    assert any("injected failure" in str(e) for e in errors)
    assert any("MemoryError" in str(e) or "OutOfMemory" in type(e).__name__ for e in errors)
    assert sum(v != v for v in values) == 1  # one NaN recorded as such
    best = grid.get_best_result(metric="val_acc", mode="max", filter_nan_and_inf=True)
    assert best.metrics["val_acc"] > 0.5  # NaN never wins
    state = sorted(glob.glob(str(tmp_path / "tune" / "flaky" / "searcher-state-*.pkl")))[-1]
    assert json.loads(Path(state).read_text())["optimizer"]["iteration"] == 3  # all 6 told


def _node_pids(pgid: int) -> list[int]:
    """The processes of one node: its ``ray start`` group and the group's children (Ray's
    worker processes lead their own process groups, under the node's raylet)."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), int(fields[2]))  # ppid, pgid
    group = {pid for pid, (_, g) in stats.items() if g == pgid}
    return sorted(group | {pid for pid, (ppid, _) in stats.items() if ppid in group})


def _train_worker_pids(pgids: list[int]) -> list[int]:
    """Ray Train worker processes on the cluster's nodes (by process title)."""
    pids = []
    for pid in (p for g in pgids for p in _node_pids(g)):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if cmdline.startswith("ray::") and "TrainWorker" in cmdline:
            pids.append(pid)
    return pids


def test_killed_nas_search_worker_resumes_from_its_checkpoint(cluster, tmp_path):
    import ray

    from raysearch.tune.nas_search import SearchSettings, run_search

    address, env, base = cluster
    pgids = [int((base / f"{n}.pid").read_text()) for n in ("head", "worker")]
    digests = tmp_path / "digests"
    digests.mkdir()
    settings = SearchSettings(method="darts-1st", epochs=4, C=4, layers=2, batch_size=16,
                              max_batches=6, trace_dir=str(digests))  # fmt: skip
    killed: list[int] = []

    def kill_after_first_epoch() -> None:
        """SIGKILL the worker once it has trained epoch 2 (epoch 1's checkpoint is registered)."""
        deadline = time.time() + 180
        while time.time() < deadline and not (digests / "rank0_epoch2.pt").exists():
            time.sleep(0.1)
        for pid in _train_worker_pids(pgids):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    ray.init(address=address)
    try:
        killer = threading.Thread(target=kill_after_first_epoch, daemon=True)
        killer.start()
        result = run_search(
            settings, workers=1, storage_path=str(tmp_path), name="nas", max_failures=2
        )
        killer.join(timeout=5)
    finally:
        ray.shutdown()
    print(f"\n[nas worker kill] killed pids {killed}; final epoch {result.metrics.get('epoch')}, "
          f"start_epoch {result.metrics.get('start_epoch')}")  # fmt: skip
    assert killed, "no Ray Train worker process found to kill"
    assert result.error is None and result.metrics["epoch"] == 4
    assert result.metrics["start_epoch"] > 0  # resumed from a checkpoint, not from scratch


def test_killed_worker_node_trials_restart_from_checkpoints(cluster, tmp_path):
    """Runs last: it kills the worker node (the head finishes the experiment alone)."""
    address, env, base = cluster
    out = tmp_path / "run"
    command = [sys.executable, "-m", "raysearch.cli", "compare", "--searchers", "random",
               "--trials", "3", "--epochs", "5", "--seeds", "1", "--samples-per-iter", "2",
               "--max-batches-per-epoch", "30", "--concurrency", "2", "--address", address,
               "--out", str(out)]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    pattern = str(out / "tune" / "random-seed0" / "*" / "result.json")
    deadline = time.time() + 180
    worker_group = int((base / "worker.pid").read_text())
    victim = None
    while victim is None and time.time() < deadline:  # a trial on the worker node, checkpointed
        node = set(_node_pids(worker_group))
        for result in glob.glob(pattern):
            rows = _epochs(result)
            if len(rows) >= 2 and rows[-1]["pid"] in node and rows[-1]["epoch"] < 5:
                victim = rows[-1]["trial_id"]
        time.sleep(0.2)
    assert victim is not None, "no trial ran on the worker node"
    for pid in _node_pids(worker_group):  # the whole node dies
        os.kill(pid, signal.SIGKILL)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-3000:]
    frame = load_compare_dir(out)
    restored = []
    for result in glob.glob(pattern):
        rows = _epochs(result)
        assert rows[-1]["epoch"] == 5
        restored += [r for r in rows if r["iterations_since_restore"] == 1 and r["epoch"] > 1]
        if rows[0]["trial_id"] == victim:
            assert [r["epoch"] for r in rows] == sorted({r["epoch"] for r in rows})  # none twice
    print(
        f"\n[worker node kill] killed during trial {victim}; trials completed: {len(frame)} of 3; "
        f"restored trial rows: {[(r['trial_id'], r['epoch']) for r in restored]}"
    )
    assert len(frame) == 3 and (frame["epochs_trained"] == 5).all()
    assert victim in {r["trial_id"] for r in restored}  # continued from its checkpoint, not epoch 1
