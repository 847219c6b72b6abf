"""The progress lines of ``raysearch compare``: one per trial however it ends, each with the
stream's count, the metrics and where the whole comparison stands."""

import json

from raysearch.tune.progress import PROGRESS_FILE, ComparisonProgress
from raysearch.tune.tune_logging import VERBOSE_ENV


class _Trial:
    def __init__(self, folder, trial_id, result, status="TERMINATED", searcher="hyperband"):
        self.trial_id, self.last_result, self.status = trial_id, result, status
        self.config = {"searcher": searcher, "seed": 0}
        self.path = str(folder / trial_id)


def test_every_trial_that_ran_gets_one_line_however_it_ended(tmp_path, capsys, monkeypatch):
    """As Hyperband leaves them: two completed, one failed, one paused and one terminated
    when the epoch budget ran out (Tune calls no trial hook for those), one never run (a
    line with ``--verbose`` only)."""
    folder = tmp_path / "tune" / "hyperband-seed0"
    folder.mkdir(parents=True)
    progress = ComparisonProgress("hyperband-seed0", {"hyperband-seed0": 10})
    done = [_Trial(folder, "t1", {"epoch": 3, "val_acc": 0.5}),
            _Trial(folder, "t2", {"epoch": 1, "val_acc": 0.6})]  # fmt: skip
    failed = _Trial(folder, "t3", {"epoch": 2}, "ERROR")
    paused = [_Trial(folder, "t4", {"epoch": 1, "val_acc": 0.4}, "PAUSED"),
              _Trial(folder, "t5", {"epoch": 2, "val_acc": 0.5}, "TERMINATED")]  # fmt: skip
    never = _Trial(folder, "t6", {"trial_id": "t6"}, "PENDING")  # Tune's default result
    for trial in done:
        progress.on_trial_complete(0, [], trial)
    progress.on_trial_error(0, [], failed)
    monkeypatch.setenv(VERBOSE_ENV, "1")
    progress.on_experiment_end([*done, failed, *paused, never])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6
    assert lines[0].startswith("[hyperband seed 0] trial 1 done: epochs=3 val_acc=0.5000 ")
    assert "trial 2 done: epochs=1" in lines[1] and "best_val=0.6000" in lines[1]
    assert "a trial failed after epoch 2; traceback in" in lines[2] and "t3/error.txt" in lines[2]
    assert lines[3].startswith("[hyperband seed 0] trial 3 ended while paused: epochs=1 ")
    assert lines[4].startswith("[hyperband seed 0] trial 4 stopped: epochs=2 ")
    assert lines[5] == "[hyperband-seed0] 1 trial(s) created but never run"
    progress.on_experiment_end([*done, failed, *paused, never])  # printed trials: no repeat
    assert capsys.readouterr().out.splitlines() == [lines[5]]
    monkeypatch.delenv(VERBOSE_ENV)
    progress.on_experiment_end([*done, failed, *paused, never])
    assert capsys.readouterr().out == ""


def test_lines_count_a_streams_trials_and_the_whole_comparison(tmp_path, capsys):
    tune_dir = tmp_path / "tune"
    shared, other = tune_dir / "searchers", tune_dir / "hyperband-seed0"
    shared.mkdir(parents=True)
    other.mkdir()
    (other / PROGRESS_FILE).write_text(json.dumps({"epochs": 6}))  # the other driver's work
    planned = {"searchers": 8, "hyperband-seed0": 12}
    progress = ComparisonProgress("searchers", planned, {"s2e seed 0": 2, "random seed 0": 2})
    first = _Trial(shared, "a", {"epoch": 2, "val_acc": 0.7, "test_acc": 0.6}, searcher="s2e")
    for _ in range(2):
        progress.on_trial_result(0, [], first, first.last_result)
    progress.on_trial_complete(0, [], first)
    line = capsys.readouterr().out.strip()
    assert line.startswith("[s2e seed 0] trial 1/2 done: epochs=2 val_acc=0.7000 test_acc=0.6000")
    assert "· experiment 1/2 · comparison 40 %" in line  # (6 + 2) of 20 epochs
    assert json.loads((shared / PROGRESS_FILE).read_text()) == {"epochs": 2}
    resumed = ComparisonProgress("searchers", planned)  # a later session reads the counts
    resumed.on_trial_result(0, [], first, first.last_result)
    assert resumed.epochs == 3 and resumed.status().startswith("experiment 1/2 · comparison 45 %")
