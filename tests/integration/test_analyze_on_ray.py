"""A tiny real ``raysearch compare``: TensorBoard event files, progress lines, then ``analyze``.
Its searcher streams share the one ``OUT/tune/searchers`` experiment."""

import pytest

from raysearch.analysis import final_rows, load_experiment
from raysearch.analysis.experiments import load_compare_dir
from raysearch.cli import main

pytestmark = pytest.mark.slow
TRIALS, EPOCHS = 2, 2


def test_compare_writes_tensorboard_events_and_analyze_reads_it(local_ray, tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", "--searchers", "random", "--trials", str(TRIALS), "--seeds", "1",
            "--epochs", str(EPOCHS), "--max-batches-per-epoch", "2", "--references", "none",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert (
        printed.count("label_precision=") >= TRIALS
        and f"[random seed 0] trial {TRIALS}/{TRIALS} done" in printed
    )
    assert f"TensorBoard: tensorboard --logdir {out / 'tune'}" in printed

    trial_dirs = sorted(p.parent for p in (out / "tune" / "searchers").glob("*/params.json"))
    assert len(trial_dirs) == TRIALS
    for trial in trial_dirs:  # Tune's default TBX logger: one event file per trial
        events = list(trial.glob("events.out.tfevents.*"))
        assert len(events) == 1 and b"ray/tune/val_acc" in events[0].read_bytes()

    frame = load_experiment(out)
    assert frame.attrs["kind"] == "compare" and len(frame) == TRIALS * EPOCHS
    final = final_rows(frame).sort_values("trial_id").reset_index(drop=True)
    legacy = load_compare_dir(out).sort_values("trial_id").reset_index(drop=True)
    assert list(final["val_acc"]) == list(legacy["val_acc"])
    assert (final["epochs_trained"] == EPOCHS).all()

    assert main(["analyze", str(out)]) == 0
    assert "| random |" in (out / "analysis" / "summary.md").read_text()
    assert (out / "analysis" / "schedules_top.png").stat().st_size > 0
