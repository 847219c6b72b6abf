"""EpochBudget: counts each trial's epochs once and keeps the count across Tuner.restore."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from raysearch.tune.budget import EpochBudget


def test_counts_the_highest_epoch_of_each_trial_and_stops_at_the_budget() -> None:
    budget = EpochBudget(5)
    for trial, epoch in [("a", 1), ("a", 2), ("b", 1), ("a", 2)]:  # "a" resumed at 2 once
        assert budget("t" + trial, {"epoch": epoch}) is False
    assert budget.total == 3 and not budget.stop_all()
    budget("tb", {"epoch": 3})
    assert budget.total == 5 and budget.stop_all()


def test_rejects_an_empty_budget() -> None:
    with pytest.raises(ValueError, match="epoch budget must be >= 1, got 0"):
        EpochBudget(0)


def test_count_survives_the_pickle_round_trip_of_a_restore(tmp_path: Path) -> None:
    path = tmp_path / "exp" / "epoch_budget.json"
    budget = EpochBudget(6)
    budget.persist_to(path)
    pickled_at_start = pickle.dumps(budget)  # what Tuner.restore brings back
    budget("a", {"epoch": 2})
    budget("b", {"epoch": 3})
    restored = pickle.loads(pickled_at_start)
    assert restored.total == 5 and not restored.stop_all()
    restored("a", {"epoch": 3})  # trial "a" resumed from its checkpoint
    assert restored.total == 6 and restored.stop_all()
    fresh = EpochBudget(6)
    fresh.persist_to(path)
    assert fresh.spent == {"a": 3, "b": 3}


def test_without_a_file_pickling_keeps_the_count() -> None:
    budget = EpochBudget(4)
    budget("a", {"epoch": 2})
    assert pickle.loads(pickle.dumps(budget)).total == 2


def test_a_stopper_unpickled_from_a_copied_folder_writes_into_the_copy(tmp_path, monkeypatch):
    import pickle
    import shutil

    monkeypatch.setattr(EpochBudget, "_folders", {})
    original, copy = tmp_path / "a" / "hyperband-seed0", tmp_path / "b" / "hyperband-seed0"
    budget = EpochBudget(10)
    budget.persist_to(original / "epoch_budget.json")
    budget("t1", {"epoch": 2})
    pickled = pickle.dumps(budget)  # as Tune's experiment state holds it
    shutil.copytree(original, copy)
    before = (original / "epoch_budget.json").read_bytes()

    EpochBudget.locate(copy)  # what the driver does before resuming the copy
    restored = pickle.loads(pickled)
    assert restored.total == 2  # the count comes from the copy's file
    restored("t2", {"epoch": 3})
    assert json.loads((copy / "epoch_budget.json").read_text()) == {"t1": 2, "t2": 3}
    assert (original / "epoch_budget.json").read_bytes() == before


def test_after_a_kill_the_count_is_that_of_the_snapshot_the_restore_resumes(tmp_path: Path):
    """The file is written at every result, the snapshot every few seconds: after a SIGKILL the
    file counts an epoch of trial "a" and a trial "late" that the snapshot never recorded (the
    restored run trains the first again and suggests a new trial instead of the second)."""
    from raysearch.tune.preflight import recorded_epochs

    experiment = tmp_path / "hyperband-seed0"
    experiment.mkdir()
    assert recorded_epochs(experiment) == {}
    trial_data = [
        [json.dumps({"trial_id": "a", "status": "RUNNING"}), json.dumps({"last_result": {"epoch": 2}})],
        [json.dumps({"trial_id": "b", "status": "TERMINATED"}), json.dumps({"last_result": {"epoch": 1}})],
        [json.dumps({"trial_id": "new", "status": "PENDING"}), json.dumps({"last_result": {}})],
    ]  # fmt: skip
    (experiment / "experiment_state-2026-01-01_00-00-00.json").write_text("{}")
    (experiment / "experiment_state-2026-01-01_00-00-09.json").write_text(
        json.dumps({"trial_data": trial_data})
    )
    assert recorded_epochs(experiment) == {"a": 2, "b": 1}  # the newest snapshot
    budget = EpochBudget(9)
    budget.persist_to(experiment / "epoch_budget.state")
    pickled_at_start = pickle.dumps(budget)
    for trial, epoch in [("a", 3), ("b", 1), ("late", 1)]:
        budget(trial, {"epoch": epoch})
    assert budget.total == 5
    budget.recount(recorded_epochs(experiment))
    restored = pickle.loads(pickled_at_start)  # Tune's stopper, unpickled by the restore
    assert restored.total == 3 and restored.spent == {"a": 2, "b": 1}
    restored("a", {"epoch": 3})  # epoch 3 of "a" trained again: counted once
    assert restored.total == 4
