"""The progress lines of ``raysearch compare``: one per trial, however the trial ends."""

from raysearch.tune.compare import _Progress


class _Trial:
    def __init__(self, trial_id, result, status="TERMINATED"):
        self.trial_id, self.last_result, self.status = trial_id, result, status
        self.path = f"/runs/tune/hyperband-seed0/{trial_id}"


def test_every_trial_that_ran_gets_one_line_however_it_ended(capsys):
    """As Hyperband leaves them: two completed, one failed, one paused and one terminated
    when the epoch budget ran out (Tune calls no trial hook for those), one never run."""
    progress = _Progress("hyperband-seed0")
    done = [_Trial("t1", {"epoch": 3, "val_acc": 0.5}), _Trial("t2", {"epoch": 1, "val_acc": 0.6})]
    failed = _Trial("t3", {"epoch": 2}, "ERROR")
    paused = [_Trial("t4", {"epoch": 1, "val_acc": 0.4}, "PAUSED"),
              _Trial("t5", {"epoch": 2, "val_acc": 0.5}, "TERMINATED")]  # fmt: skip
    never = _Trial("t6", {"trial_id": "t6"}, "PENDING")  # Tune's default result: no epoch
    for trial in done:
        progress.on_trial_complete(0, [], trial)
    progress.on_trial_error(0, [], failed)
    progress.on_experiment_end([*done, failed, *paused, never])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6
    assert [line.split(": ")[1].split()[0] for line in lines[:2]] == ["t1", "t2"]
    assert "trial t3 failed after epoch 2" in lines[2]
    assert lines[3].startswith("[hyperband-seed0] trial 3 ended while paused: t4 ")
    assert lines[4].startswith("[hyperband-seed0] trial 4 stopped: t5 epochs=2 ")
    assert lines[4].endswith("best_val=0.6000")
    assert lines[5] == "[hyperband-seed0] 1 trial(s) created but never run"
    progress.on_experiment_end([*done, failed, *paused, never])  # printed trials: no repeat
    assert capsys.readouterr().out.splitlines() == [lines[5]]
