"""Drivers of tests/integration/test_fault_tolerance.py, each run in its own Python process.

``python fault_drivers.py flaky ADDRESS OUT`` or ``... nas ADDRESS OUT HEAD_PGID WORKER_PGID``
joins the external cluster at ADDRESS, runs one experiment and writes what the test checks to
``OUT/outcome.json``. A driver in its own process makes the tests independent of any
``ray.init`` the pytest process ran before (one in-process Ray breaks a later driver that
joins an external cluster), so the suite passes in any order.
"""

from __future__ import annotations

import base64
import glob
import json
import os
import resource
import signal
import sys
import threading
import time
from pathlib import Path


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


def flaky(address: str, out: Path) -> dict:
    """Six trials of the S2E stream of a shared comparison experiment (``StreamSearcher``, as
    ``raysearch compare`` runs it) of which one raises, one reports NaN, one hits MemoryError."""
    import ray
    from ray import tune

    from raysearch.noisy.settings import TrialSettings
    from raysearch.tune.compare import CompareSettings
    from raysearch.tune.compare_experiments import streams
    from raysearch.tune.compare_settings import METRIC, MODE
    from raysearch.tune.streams import StreamSearcher

    settings = CompareSettings(trial=TrialSettings(epochs=1), searchers=("s2e",), references=(),
                               trials=6, seeds=1, samples_per_iter=2, out=str(out))  # fmt: skip
    search = StreamSearcher(streams(settings), metric=METRIC, mode=MODE)
    (out / "claims").mkdir()
    ray.init(address=address, runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(sys.path)}})
    try:
        tuner = tune.Tuner(
            tune.with_resources(flaky_trial, {"cpu": 1}),
            param_space={"claims": str(out / "claims")},  # merged into every stream's configs
            tune_config=tune.TuneConfig(
                search_alg=search,
                num_samples=settings.trials,
                metric=METRIC,
                mode=MODE,
                reuse_actors=False,
            ),  # fmt: skip
            run_config=tune.RunConfig(
                name="flaky",
                storage_path=str(out / "tune"),
                failure_config=tune.FailureConfig(max_failures=0),
            ),  # fmt: skip
        )
        grid = tuner.fit()
    finally:
        ray.shutdown()
    best = grid.get_best_result(metric="val_acc", mode="max", filter_nan_and_inf=True)
    state = sorted(glob.glob(str(out / "tune" / "flaky" / "searcher-state-*.pkl")))[-1]
    return {
        "trials": len(grid),
        "errors": [f"{type(r.error).__name__}: {r.error}" for r in grid if r.error is not None],
        "values": [r.metrics.get("val_acc") for r in grid if r.error is None],
        "best": best.metrics["val_acc"],
        "searchers": sorted({r.config["searcher"] for r in grid}),
        "iteration": s2e_iteration(json.loads(Path(state).read_text())),
    }


def s2e_iteration(state: dict, stream: str = "s2e/seed0") -> int:
    """The iteration S2E reached, from a saved ``StreamSearcher`` state: the stream's chain is
    the batching ``ConcurrencyLimiter``'s own state, then S2E's file (base64 JSON)."""
    chain = state["streams"][stream]["searcher"]
    while "limiter" in chain:
        chain = chain["inner"]
    return int(json.loads(base64.b64decode(chain["file"]))["optimizer"]["iteration"])


def node_pids(pgid: int) -> list[int]:
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
    for pid in (p for g in pgids for p in node_pids(g)):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if cmdline.startswith("ray::") and "TrainWorker" in cmdline:
            pids.append(pid)
    return pids


def nas(address: str, out: Path, pgids: list[int]) -> dict:
    """A DARTS search whose Ray Train worker is SIGKILLed once it has trained epoch 2."""
    import ray

    from raysearch.tune.nas_search import SearchSettings, run_search

    digests = out / "digests"
    digests.mkdir()
    settings = SearchSettings(method="darts-1st", epochs=4, C=4, layers=2, batch_size=16,
                              max_batches=6, trace_dir=str(digests))  # fmt: skip
    killed: list[int] = []

    def kill_after_first_epoch() -> None:
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
        result = run_search(settings, workers=1, storage_path=str(out), name="nas", max_failures=2)
        killer.join(timeout=5)
    finally:
        ray.shutdown()
    return {"killed": killed, "error": None if result.error is None else str(result.error),
            "epoch": result.metrics.get("epoch"), "start_epoch": result.metrics.get("start_epoch")}  # fmt: skip


if __name__ == "__main__":
    kind, address, folder = sys.argv[1:4]
    out = Path(folder)
    if kind == "flaky":
        outcome = flaky(address, out)
    else:
        outcome = nas(address, out, [int(g) for g in sys.argv[4:]])
    (out / "outcome.json").write_text(json.dumps(outcome))
