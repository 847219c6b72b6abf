"""Checks a driver runs before starting Ray: data files, the Ray address, resumable state.

Each fails in seconds with a message naming the bad input, instead of a trial failing on a
worker or ``ray.init`` retrying an unreachable address for minutes.
"""

from __future__ import annotations

import json
import os
import pickle
import pickletools
import re
import socket
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ray
import torch

from raysearch.analysis.results_folder import write_atomic
from raysearch.data import check_dataset_files
from raysearch.noisy.settings import TrialSettings
from raysearch.tune.inert_pickle import InertObject, inert_loads

CONNECT_TIMEOUT_S = 5.0
_LOCAL_ADDRESSES = ("", "auto", "local")


def check_ray_address(address: str | None, *, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """``ConnectionError`` if ``HOST:PORT`` (or ``ray://HOST:PORT``) accepts no TCP connection.

    ``None`` falls back to ``RAY_ADDRESS`` as ``ray.init`` does; ``auto``/``local`` are left
    to Ray, which reports a missing cluster itself.
    """
    address = address if address is not None else os.environ.get("RAY_ADDRESS", "")
    if address in _LOCAL_ADDRESSES:
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"Ray address {address!r} is not HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise ConnectionError(
            f"cannot reach the Ray cluster at {address!r} ({error}); start one with "
            "`ray start --head` (or launchers/local-cluster.sh up), or leave --address out "
            "to start a local Ray"
        ) from None


def init_ray(address: str | None) -> None:
    """Check ``address``, then connect to it (or start a local Ray) unless Ray is up already."""
    if not ray.is_initialized():
        check_ray_address(address)
        ray.init(address=address, include_dashboard=False, configure_logging=False)


def check_trial_inputs(settings: TrialSettings, address: str | None) -> None:
    """The data files exist where trials will look (skipped for a remote ``ray://`` driver)."""
    if not (address or "").startswith("ray://"):
        check_dataset_files(settings.dataset, root=settings.data_root, download=settings.download)


def _latest(paths: list[Path]) -> list[Path]:
    return sorted(paths)[-1:]


def _check_file(path: Path, out: Path) -> None:
    """Read ``path`` as Tune or the trainable will, without running anything it contains: JSON,
    a pickle's opcodes walked (only its structure is checked: Tune's cloudpickled
    ``tuner.pkl`` rebuilds classes by calling what it decoded), a checkpoint with
    ``torch.load(weights_only=True)`` (plain tensors and containers, never a global)."""
    try:
        if path.suffix in (".json", ".pkl"):
            raw = path.read_bytes()
            try:  # the S2E searcher saves JSON as *.pkl, Tune's search generator a pickle as *.json
                json.loads(raw)
            except ValueError:
                for _ in pickletools.genops(raw):  # opcodes only: a truncated file raises
                    pass
        else:
            torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any failure to read means a corrupted file
        raise ValueError(
            f"corrupted checkpoint file {path} ({type(error).__name__}: {error}); nothing in "
            f"{out} was changed or deleted. Restore that file, or move its experiment folder "
            "away to run that experiment again"
        ) from None


_SESSION = re.compile(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d")


RAY_TEMP_DIRS_FILE = "ray-temp-dirs.json"


def record_ray_temp_dir(out: Path) -> None:
    """Add the connected Ray's temp folder (``ray start --temp-dir``, else ``/tmp/ray``) to
    ``OUT/ray-temp-dirs.json``, so a later ``--resume`` finds its staging copies
    (:func:`staging_copies`) before Ray starts. Nothing for a ``ray://`` client, whose staging
    folder is on the cluster."""
    node = ray._private.worker._global_node  # None in a ray:// client
    if node is None:
        return
    folders = recorded_ray_temp_dirs(out)
    folder = str(Path(node.get_temp_dir_path()).resolve())
    if folder not in folders:
        write_atomic(out / RAY_TEMP_DIRS_FILE, json.dumps([*folders, folder], indent=2))


def recorded_ray_temp_dirs(out: Path) -> list[str]:
    """The folders :func:`record_ray_temp_dir` wrote (none if the file is missing or not a JSON
    list of strings: it is only a hint for repairs)."""
    try:
        folders = json.loads((out / RAY_TEMP_DIRS_FILE).read_text())
    except (OSError, ValueError):
        return []
    ok = isinstance(folders, list) and all(isinstance(f, str) for f in folders)
    return folders if ok else []


def staging_copies(path: Path, ray_temps: Sequence[str] = ()) -> list[Path]:
    """Ray's own copies of a top-level experiment file such as ``searcher-state-<session>.pkl``
    or ``tuner.pkl``: Tune writes it in the driver's staging folder
    (``<ray temp>/session_*/artifacts/<session>/<experiment>/driver_artifacts/``) and copies it
    into the results folder with every snapshot, not atomically, so a SIGKILL mid-copy can cut
    the results copy short while the staging one is whole (on the machine that ran it). A
    resumed run stages under the folder of the experiment's first session, so every session
    the experiment's snapshots name (``experiment_state-<session>.json``) is looked under,
    the file's own first, in the default Ray temp folder and then in ``ray_temps``."""
    own = _SESSION.search(path.name)
    named = (_SESSION.search(p.name) for p in path.parent.glob("experiment_state-*.json"))
    others = sorted({m.group() for m in named if m is not None})
    sessions = [own.group()] if own is not None else []
    sessions += [session for session in others if session not in sessions]
    default = Path(os.environ.get("RAY_TMPDIR", tempfile.gettempdir())) / "ray"
    roots = list(dict.fromkeys([default, *map(Path, ray_temps)]))
    return [
        copy
        for session in sessions
        for root in roots
        for copy in sorted(root.glob(
            f"session_*/artifacts/{session}/{path.parent.name}/driver_artifacts/{path.name}"
        ))
    ]  # fmt: skip


def _check_or_repair(path: Path, out: Path) -> None:
    """:func:`_check_file`; a snapshot file cut short is first restored from a whole staging
    copy whose start is the damaged bytes (printed), else the error stands."""
    try:
        _check_file(path, out)
    except ValueError:
        damaged = path.read_bytes()
        for copy in staging_copies(path, recorded_ray_temp_dirs(out)):
            whole = copy.read_bytes()
            if len(whole) <= len(damaged) or not whole.startswith(damaged):
                continue
            try:
                _check_file(copy, out)
            except ValueError:
                continue
            write_atomic(path, whole)
            print(f"{path} was cut short by a kill while Tune copied it; restored from Ray's "
                  f"staging copy {copy}", flush=True)  # fmt: skip
            return
        raise


def _json_field(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# The globals of a checkpoint manager as Tune 2.x cloudpickles it (local or pyarrow storage),
# all data-only constructors. ``Tuner.restore`` unpickles the manager for real, so one naming
# anything else is refused.
_MANAGER_GLOBALS = {
    ("ray.train._internal.checkpoint_manager", "_CheckpointManager"),
    ("ray.train._internal.session", "_TrainingResult"),
    ("ray.tune", "CheckpointConfig"),  # what a Tune run writes (Tune's re-exports) ...
    ("ray.tune", "Checkpoint"),
    ("ray.train", "CheckpointConfig"),  # ... and the same classes under Ray Train's names
    ("ray.train", "Checkpoint"),
    ("ray.train._checkpoint", "Checkpoint"),
    ("uuid", "UUID"),
    # numpy scalars and arrays in a checkpoint's metrics (e.g. a searcher's float64 config)
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("collections", "OrderedDict"),
}
_PYARROW_FS = re.compile(r"pyarrow\._(fs|s3fs|gcsfs|azurefs|hdfs)")
_FS_CONSTRUCTORS = ("FileSystem._from_uri", "_reconstruct")


def _allowed_in_manager(module: str, name: str) -> bool:
    return (module, name) in _MANAGER_GLOBALS or (
        _PYARROW_FS.fullmatch(module) is not None and name.endswith(_FS_CONSTRUCTORS)
    )


def _attribute(obj: Any, name: str) -> Any:
    return obj.attribute(name) if isinstance(obj, InertObject) else None


def _latest_checkpoint_path(manager: Any) -> str | None:
    """The path of the latest checkpoint in Tune's cloudpickled checkpoint manager, read from an
    inert decode that refuses any global Tune never writes there."""
    if not (isinstance(manager, dict) and "value" in manager):
        return None
    decoded, names = inert_loads(bytes.fromhex(manager["value"]))
    unexpected = sorted(f"{m}.{n}" for m, n in names if not _allowed_in_manager(m, n))
    if unexpected:
        raise ValueError(f"the checkpoint manager names {unexpected}, which Tune never writes "
                         "there (a crafted file?); refusing to restore it")  # fmt: skip
    result = _attribute(decoded, "_latest_checkpoint_result")
    path = _attribute(_attribute(result, "checkpoint"), "path")
    return path if isinstance(path, str) else None


def _snapshot_entries(state_file: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(trial, run metadata) of every trial of a Tune experiment snapshot, read as JSON."""
    trial_data = _json_field(json.loads(state_file.read_text()))["trial_data"]
    return [(_json_field(trial), _json_field(metadata)) for trial, metadata in trial_data]


def trial_records(state_file: Path) -> list[tuple[str, str, str | None]]:
    """Per trial of a Tune experiment snapshot: its folder name, status and the path of the
    latest checkpoint recorded for it (``None``: none), read without running anything."""
    return [
        (str(trial.get("relative_logdir", "")), str(trial.get("status")),
         _latest_checkpoint_path(metadata.get("checkpoint_manager")))
        for trial, metadata in _snapshot_entries(state_file)
    ]  # fmt: skip


def recorded_epochs(experiment: Path, time_attr: str = "epoch") -> dict[str, int]:
    """Per trial of the newest snapshot of the Tune experiment in ``experiment`` that recorded
    a result: trial id -> the last ``time_attr`` of that result (``{}`` without a snapshot)."""
    states = _latest(list(Path(experiment).glob("experiment_state-*.json")))
    return {
        str(trial["trial_id"]): int(last[time_attr])
        for trial, metadata in (_snapshot_entries(states[0]) if states else [])
        if time_attr in (last := metadata.get("last_result") or {})
    }


def restored_checkpoints(experiment: Path, state_file: Path) -> list[Path]:
    """The checkpoint folder ``Tuner.restore`` resumes each unfinished trial from: the latest one
    recorded in the experiment state (a newer, half-written folder of a killed run is ignored).
    Paths are taken relative to ``experiment``, so a moved results folder is read correctly."""
    return [
        experiment / Path(path).parent.name / Path(path).name
        for _, status, path in trial_records(state_file)
        if status != "TERMINATED" and path
    ]


def restorable(experiment: str | Path) -> bool:
    """Whether ``Tuner.restore`` can continue ``experiment``: its ``tuner.pkl`` and at least one
    experiment snapshot. A driver killed in its first controller step leaves the first without
    the second (and no trial results); such an experiment starts afresh."""
    experiment = Path(experiment)
    return (experiment / "tuner.pkl").is_file() and any(experiment.glob("experiment_state-*.json"))


def plan_ran(experiment: str | Path, planned: int) -> bool:
    """Whether the Tune experiment in ``experiment`` created ``planned`` trials and each ended
    (finished or failed), by the experiment state Tune saved last: that snapshot is taken
    before a Ctrl-C'd run stops its trials, unlike the ``ResultGrid`` ``fit`` returns, where
    every stopped trial reads ``TERMINATED``."""
    states = _latest(list(Path(experiment).glob("experiment_state-*.json")))
    if not states:
        return False
    statuses = [trial.get("status") for trial, _ in _snapshot_entries(states[0])]
    return len(statuses) >= planned and all(s in ("TERMINATED", "ERROR") for s in statuses)


def check_resumable(out: str | Path) -> None:
    """Read every file ``Tuner.restore`` reads in the unfinished experiments of a
    ``raysearch compare`` folder: ``tuner.pkl``, the newest experiment, searcher and
    search-generator states and the checkpoint each unfinished trial resumes from.
    ``ValueError`` naming the first corrupted one, before Ray starts and without touching
    anything, except a snapshot file
    that a kill cut short while Tune copied it, restored from Ray's whole copy when one is
    still on this machine (:func:`staging_copies`, also under the Ray temp folders the run
    recorded: :func:`record_ray_temp_dir`)."""
    out = Path(out)
    for experiment in sorted(p for p in (out / "tune").glob("*") if p.is_dir()):
        if (experiment / "DONE").exists() or not (experiment / "tuner.pkl").exists():
            continue
        states = _latest(list(experiment.glob("experiment_state-*.json")))
        files = [experiment / "tuner.pkl", *states]
        for kind in ("searcher-state", "search_gen_state", "basic-variant-state"):
            files += _latest(list(experiment.glob(f"{kind}-*.*")))
        for path in files:
            _check_or_repair(path, out)
        for state in states:
            try:
                folders = restored_checkpoints(experiment, state)
            except (KeyError, TypeError, ValueError, EOFError, pickle.UnpicklingError) as error:
                raise ValueError(f"corrupted experiment state {state} ({error}); nothing in "
                                 f"{out} was changed or deleted") from None  # fmt: skip
            for folder in folders:
                if not folder.is_dir():
                    raise ValueError(f"missing checkpoint folder {folder}, recorded in {state}; "
                                     f"nothing in {out} was changed or deleted")  # fmt: skip
                for path in sorted(folder.glob("*.pt")):
                    _check_file(path, out)
