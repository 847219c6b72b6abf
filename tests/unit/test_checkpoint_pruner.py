"""prune_checkpoints on experiment folders laid out as Tune writes them (no Ray cluster).

The snapshot files are made with Tune's own classes and encoder (a trial's JSON state, its run
metadata with a cloudpickled checkpoint manager), so the pruner reads what a real experiment
leaves on disk. Rule: nothing a trial recorded as finished, and of an unfinished trial only
the checkpoint the newest snapshot records and any newer one; trials the snapshot does not
know (created after it) and everything that is not a checkpoint folder stay, until the
experiment has ended: then a trial folder the final snapshot does not record is deleted.
"""

from __future__ import annotations

import json
from pathlib import Path

from ray.train import Checkpoint, CheckpointConfig
from ray.train._internal.checkpoint_manager import _CheckpointManager
from ray.train._internal.session import _TrainingResult
from ray.tune.trainable.metadata import _TrainingRunMetadata
from ray.tune.utils.serialization import TuneFunctionEncoder

from raysearch.tune.checkpoint_pruner import prune_checkpoints


def _trial(experiment: Path, name: str, checkpoints: range) -> Path:
    folder = experiment / name
    folder.mkdir(parents=True)
    (folder / "result.json").write_text("{}\n")
    for index in checkpoints:
        checkpoint = folder / f"checkpoint_{index:06d}"
        checkpoint.mkdir()
        (checkpoint / "coteaching.pt").write_bytes(b"x")
    return folder


def _record(name: str, status: str, latest: Path | None) -> list[str]:
    """One ``trial_data`` entry: the trial's JSON state and its run metadata, as Tune writes."""
    metadata = _TrainingRunMetadata()
    manager = _CheckpointManager(CheckpointConfig(num_to_keep=None))
    if latest is not None:
        manager.register_checkpoint(
            _TrainingResult(checkpoint=Checkpoint(str(latest)), metrics={"epoch": 1})
        )
    metadata.checkpoint_manager = manager
    trial = json.dumps({"relative_logdir": name, "status": status}, cls=TuneFunctionEncoder)
    return [trial, metadata.get_json_state()]


def _snapshot(experiment: Path, session: str, records: list[list[str]]) -> None:
    state = {"trial_data": records, "runner_data": {}, "stats": {}}
    (experiment / f"experiment_state-{session}.json").write_text(
        json.dumps(state, cls=TuneFunctionEncoder)
    )


def _left(experiment: Path) -> dict[str, list[int]]:
    return {
        folder.name: sorted(
            int(c.name[len("checkpoint_") :])
            for c in folder.glob("checkpoint_*")
            if c.name[len("checkpoint_") :].isdigit()
        )
        for folder in sorted(p for p in experiment.iterdir() if p.is_dir())
    }


def test_keeps_exactly_what_the_newest_snapshot_needs(tmp_path):
    experiment = tmp_path / "searchers"
    done = _trial(experiment, "done_1", range(3))
    running = _trial(experiment, "running_2", range(5))
    paused = _trial(experiment, "paused_3", range(2))
    _trial(experiment, "fresh_4", range(1))  # no checkpoint recorded yet
    _trial(experiment, "unknown_5", range(2))  # created after the snapshot
    (running / "checkpoint_000009.tmp").mkdir()  # not a checkpoint folder of Tune's
    # an older snapshot that still needs more: only the newest one counts
    _snapshot(experiment, "2026-01-01_00-00-00", [
        _record("done_1", "RUNNING", done / "checkpoint_000000"),
        _record("running_2", "RUNNING", running / "checkpoint_000001"),
    ])  # fmt: skip
    _snapshot(experiment, "2026-01-01_00-00-05", [
        _record("done_1", "TERMINATED", done / "checkpoint_000002"),
        _record("running_2", "RUNNING", running / "checkpoint_000003"),
        _record("paused_3", "PAUSED", paused / "checkpoint_000001"),
        _record("fresh_4", "PENDING", None),
    ])  # fmt: skip
    assert prune_checkpoints(experiment) == 3 + 3 + 1
    assert _left(experiment) == {
        "done_1": [], "running_2": [3, 4], "paused_3": [1], "fresh_4": [0], "unknown_5": [0, 1],
    }  # fmt: skip
    assert (running / "checkpoint_000009.tmp").is_dir() and (done / "result.json").is_file()
    assert prune_checkpoints(experiment) == 0  # idempotent


def test_at_the_end_an_unrecorded_trial_folder_is_deleted(tmp_path):
    """A killed driver's trial that reached storage before any snapshot named it: the resumed
    run suggested it again in a new folder, so the old one is an orphan."""
    experiment = tmp_path / "searchers"
    done = _trial(experiment, "done_1", range(2))
    orphan = _trial(experiment, "orphan_2", range(1))
    _snapshot(experiment, "2026-01-01_00-00-00", [_record("done_1", "TERMINATED", done / "checkpoint_000001")])  # fmt: skip
    assert prune_checkpoints(experiment) == 2
    assert _left(experiment) == {"done_1": [], "orphan_2": [0]}  # still running: may be new
    assert prune_checkpoints(experiment, ended=True) == 1
    assert _left(experiment) == {"done_1": []}
    assert not orphan.exists() and (done / "result.json").is_file()


def test_an_errored_trial_keeps_the_checkpoint_it_resumes_from(tmp_path):
    experiment = tmp_path / "exp"
    errored = _trial(experiment, "errored_1", range(4))
    _snapshot(experiment, "2026-01-01_00-00-00", [_record("errored_1", "ERROR", errored / "checkpoint_000002")])  # fmt: skip
    assert prune_checkpoints(experiment) == 2
    assert _left(experiment) == {"errored_1": [2, 3]}


def test_a_checkpoint_recorded_at_another_path_is_read_by_its_name(tmp_path):
    """A copied or moved folder: the snapshot names the checkpoint where it was written."""
    experiment = tmp_path / "copy" / "searchers"
    _trial(experiment, "trial_1", range(3))
    elsewhere = tmp_path / "original" / "searchers" / "trial_1" / "checkpoint_000001"
    _snapshot(experiment, "2026-01-01_00-00-00", [_record("trial_1", "RUNNING", elsewhere)])
    assert prune_checkpoints(experiment) == 1
    assert _left(experiment) == {"trial_1": [1, 2]}


def test_no_readable_snapshot_deletes_nothing(tmp_path):
    experiment = tmp_path / "exp"
    _trial(experiment, "trial_1", range(2))
    assert prune_checkpoints(experiment) == 0  # no snapshot yet
    (experiment / "experiment_state-2026-01-01_00-00-00.json").write_text('{"trial_da')  # cut short
    assert prune_checkpoints(experiment) == 0
    assert _left(experiment) == {"trial_1": [0, 1]}
