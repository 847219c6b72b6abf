"""Hyperband is reproducible (issue: two identical default runs gave 0.8258 and 0.8183): two
runs of the same seed create the same trials, in the same order, with the same configs, train
each for the same epochs and get the same per-epoch results. The scheduler runs one trial at a
time (``PausingScheduler(one_at_a_time=True)``), so it sees the results in one order whatever
the timing; the sizes make it run a full bracket, halve a second one (trials stopped at the
first rung) and run out of its epoch budget mid-bracket, each of which used to depend on how
trials interleaved."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from raysearch.cli import main

pytestmark = pytest.mark.slow
# budget 12 epochs; max_t = 3, eta = 3: a bracket of 2 trials x 3 epochs (6), then one of 3
# trials stopped at epoch 1 but the best, which goes on to epoch 3 (5), then 1 more
TRIALS, EPOCHS = 4, 3
METRICS = ("epoch", "val_acc", "test_acc", "label_precision", "train_loss", "keep_rate")


def _trials(experiment: Path) -> list[dict]:
    """Per trial, in creation order (the count in its folder name, <trainable>_<id>_<count>_
    with Tune's random search): its schedule, the rows of its ``result.json`` (metrics only)
    and how often it was started or restored."""
    trials = []
    for params in experiment.glob("*/params.json"):
        folder = params.parent
        index = int(re.match(r"[A-Za-z]+_[0-9a-f]+_\d{5}_(\d+)_", folder.name).group(1))
        result = folder / "result.json"
        rows = [json.loads(line) for line in result.read_text().splitlines() if line] if result.exists() else []  # fmt: skip
        trials.append({
            "index": index,
            "schedule": json.loads(params.read_text())["schedule"],
            "epochs": [{k: row[k] for k in METRICS} for row in rows],
            "starts": sum(row["iterations_since_restore"] == 1 for row in rows),
        })  # fmt: skip
    return sorted(trials, key=lambda t: t["index"])


def _run(out: Path) -> list[dict]:
    argv = ["compare", "--searchers", "hyperband", "--references", "none", "--seeds", "1",
            "--trials", str(TRIALS), "--epochs", str(EPOCHS), "--max-batches-per-epoch", "2",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    experiment = out / "tune" / "hyperband-seed0"
    spent = json.loads((experiment / "epoch_budget.state").read_text())
    assert sum(spent.values()) == TRIALS * EPOCHS  # the whole budget, each epoch counted once
    spans = []  # per trial run: (start of its first epoch, end of its last), one at a time
    for result in experiment.glob("*/result.json"):
        rows = [json.loads(line) for line in result.read_text().splitlines() if line]
        if rows:
            spans.append((rows[0]["step_end"] - rows[0]["time_this_iter_s"], rows[-1]["step_end"]))
    spans.sort()
    assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:], strict=False)), spans
    return _trials(experiment)


def test_the_same_seed_gives_hyperband_the_same_trials(local_ray, tmp_path):
    first, second = _run(tmp_path / "first"), _run(tmp_path / "second")
    trained = [len(t["epochs"]) for t in first]
    print(f"\n[hyperband] epochs per trial: {trained}; starts: {[t['starts'] for t in first]}")
    assert first == second
    ran = [t for t in first if t["epochs"]]
    assert sum(trained) == TRIALS * EPOCHS
    for trial in ran:  # every epoch once, in order
        assert [row["epoch"] for row in trial["epochs"]] == list(range(1, len(trial["epochs"]) + 1))
    # what makes the order matter happened: trials stopped at the first rung and full ones in
    # two brackets; and each trial ran alone (checked in _run)
    assert any(len(t["epochs"]) == 1 for t in ran)
    assert sum(len(t["epochs"]) == EPOCHS for t in ran) >= 3
