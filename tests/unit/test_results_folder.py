"""A results folder belongs to one set of settings; result files are replaced atomically."""

import dataclasses
import json
import os
import signal

import pytest

from raysearch.analysis.results_folder import (
    FINGERPRINT_FILE,
    FolderState,
    claim_folder,
    differences,
    mark_finished,
    resume_hint,
    settings_hash,
    write_atomic,
    write_fingerprint,
)
from raysearch.cli.main import main

SETTINGS = {"trials": 6, "trial": {"epochs": 3, "noise": "symmetric:0.5"}}


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_hash_is_independent_of_key_order_and_changes_with_a_value():
    assert settings_hash({"a": 1, "b": {"c": 2}}) == settings_hash({"b": {"c": 2}, "a": 1})
    assert settings_hash({"a": 1}) != settings_hash({"a": 2})


def test_differences_name_every_changed_dotted_setting():
    given = {"trials": 6, "trial": {"epochs": 4, "noise": "pair:0.45"}, "seeds": 2}
    assert differences(SETTINGS, given) == [
        "seeds: '<unset>' -> 2",
        "trial.epochs: 3 -> 4",
        "trial.noise: 'symmetric:0.5' -> 'pair:0.45'",
    ]


def test_folder_lifecycle_new_interrupted_finished(tmp_path):
    out = tmp_path / "run"
    assert claim_folder(out, "compare", SETTINGS, resume=False) is FolderState.NEW
    assert not out.exists()  # claiming writes nothing
    write_fingerprint(out, "compare", SETTINGS)
    with pytest.raises(ValueError, match="holds an interrupted run; add --resume to finish it"):
        claim_folder(out, "compare", SETTINGS, resume=False)
    assert claim_folder(out, "compare", SETTINGS, resume=True) is FolderState.INTERRUPTED
    mark_finished(out)
    for resume in (False, True):
        assert claim_folder(out, "compare", SETTINGS, resume=resume) is FolderState.FINISHED


@pytest.mark.parametrize("finished", [False, True])
@pytest.mark.parametrize("resume", [False, True])
def test_other_settings_are_refused_in_one_line_naming_them(tmp_path, finished, resume):
    write_fingerprint(tmp_path, "compare", SETTINGS, finished=finished)
    other = {"trials": 6, "trial": {"epochs": 5, "noise": "symmetric:0.5"}}
    with pytest.raises(ValueError, match="other settings") as error:
        claim_folder(tmp_path, "compare", other, resume=resume)
    assert "(trial.epochs: 3 -> 5); rerun with the stored ones" in str(error.value)
    assert "\n" not in str(error.value)


def test_another_command_and_a_foreign_folder_are_refused(tmp_path):
    write_fingerprint(tmp_path / "a", "nas search", SETTINGS)
    with pytest.raises(ValueError, match="holds results of `raysearch nas search`"):
        claim_folder(tmp_path / "a", "compare", SETTINGS, resume=True)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds files but no fingerprint.json"):
        claim_folder(tmp_path / "b", "compare", SETTINGS, resume=False)
    assert claim_folder(tmp_path / "c", "compare", SETTINGS, resume=True) is FolderState.NEW
    (tmp_path / "d").write_text("a file")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        claim_folder(tmp_path / "d", "compare", SETTINGS, resume=False)


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "summary.csv"
    write_atomic(path, "old\n")

    def broken(target):
        target.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, broken)
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.csv"]  # no temp file left
    write_atomic(path, lambda target: target.write_text("new\n"))
    assert path.read_text() == "new\n"


def test_atomic_write_keeps_the_suffix_for_format_detection(tmp_path):
    seen = []
    write_atomic(tmp_path / "plot.png", lambda target: seen.append(target.suffix) or target.touch())
    assert seen == [".png"]


def test_resume_hint_adds_resume_once():
    assert resume_hint(["raysearch", "compare", "--out", "a b"]) == (
        "raysearch compare --out 'a b' --resume"
    )
    assert resume_hint(["raysearch", "compare", "--resume"]) == "raysearch compare --resume"


def _compare_args(out, *extra):
    return ["compare", "--searchers", "s2e", "--seeds", "1", "--trials", "4", "--epochs", "3",
            "--out", str(out), *extra]  # fmt: skip


def test_compare_rerun_with_other_settings_changes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    write_fingerprint(out, "compare", {"placeholder": 1})
    assert main(_compare_args(out, "--resume")) == 2  # before Ray: nothing to set up
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"raysearch: error: {out} was run with other settings (")
    assert "placeholder: 1 -> '<unset>'" in error and len(error.splitlines()) == 1
    before = _snapshot(out)
    assert main(_compare_args(out)) == 2
    assert _snapshot(out) == before == {FINGERPRINT_FILE: before[FINGERPRINT_FILE]}


def test_compare_interrupted_folder_without_resume_is_refused(tmp_path, capsys):
    from raysearch.cli.main import build_parser, compare_settings

    out = tmp_path / "run"
    settings = compare_settings(build_parser().parse_args(_compare_args(out)))
    write_fingerprint(out, "compare", settings.fingerprint())
    before = _snapshot(out)
    assert main(_compare_args(out)) == 2
    assert capsys.readouterr().err.strip() == (
        f"raysearch: error: {out} holds an interrupted run; add --resume to finish it"
    )
    assert _snapshot(out) == before


def test_keyboard_interrupt_exits_130_with_the_resume_command(tmp_path, capsys, monkeypatch):
    import raysearch.tune.compare as compare

    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # as a Ctrl-C outside Tune's own handler

    monkeypatch.setattr(compare, "run_compare", interrupted)
    assert main(_compare_args(tmp_path / "run")) == 130
    line = capsys.readouterr().err.strip()
    assert line == (
        "raysearch: interrupted; resume with: raysearch "
        + " ".join(_compare_args(tmp_path / "run"))
        + " --resume"
    )


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ("nas search", ["nas", "search", "--C", "2", "--layers", "1", "--batch-size", "8"]),
        ("nas evaluate", ["nas", "evaluate", "--genotype", "DARTS_V2", "--C", "4"]),
        ("nas compare", ["nas", "compare", "--methods", "darts-1st", "--C", "2", "--layers", "1"]),
        ("reweight", ["reweight", "--method", "none", "--epochs", "1"]),
    ],
)
def test_every_command_refuses_other_settings_before_writing(tmp_path, capsys, command, argv):
    out = tmp_path / "run"
    write_fingerprint(out, command, {"placeholder": 1}, finished=True)
    before = _snapshot(out)
    for extra in ([], ["--resume"]):
        assert main([*argv, *extra, "--out", str(out)]) == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith(f"raysearch: error: {out} was run with other settings (")
        assert "placeholder: 1 -> '<unset>'" in error and len(error.splitlines()) == 1
    assert _snapshot(out) == before


def _state(folder, *statuses):
    folder.mkdir(parents=True, exist_ok=True)
    data = [[json.dumps({"status": s}), json.dumps({})] for s in statuses]
    (folder / "experiment_state-2026.json").write_text(json.dumps({"trial_data": data}))


def test_plan_ran_reads_the_saved_statuses_not_the_count_of_returned_trials(tmp_path):
    from raysearch.tune.preflight import plan_ran

    assert not plan_ran(tmp_path / "none", 1)  # nothing saved: nothing ran
    _state(tmp_path / "a", "TERMINATED", "ERROR", "TERMINATED")
    assert plan_ran(tmp_path / "a", 3) and not plan_ran(tmp_path / "a", 4)
    for unfinished in ("RUNNING", "PAUSED", "PENDING"):
        _state(tmp_path / unfinished, "TERMINATED", unfinished)
        assert not plan_ran(tmp_path / unfinished, 2)


def test_compare_settings_survive_the_json_handed_to_side_by_side_drivers(tmp_path):
    from raysearch.cli.main import build_parser, compare_settings
    from raysearch.tune.compare import CompareSettings

    args = build_parser().parse_args([*_compare_args(tmp_path), "--noise", "pair:0.45"])
    settings = compare_settings(args)
    assert (
        CompareSettings.from_dict(json.loads(json.dumps(dataclasses.asdict(settings)))) == settings
    )


def test_experiments_at_once_below_one_is_refused_before_the_folder_exists(tmp_path, capsys):
    assert main(_compare_args(tmp_path / "run", "--experiments-at-once", "0")) == 2
    assert "experiments_at_once must be >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_only_a_folder_with_an_experiment_snapshot_is_restorable(tmp_path):
    from raysearch.tune.preflight import restorable

    assert not restorable(tmp_path)
    (tmp_path / "tuner.pkl").write_bytes(b"")
    assert not restorable(tmp_path)  # killed before Tune's first snapshot
    (tmp_path / "experiment_state-2026-12-01_00-00-00.json").write_text("{}")
    assert restorable(tmp_path)
