"""S2ESearcher driven directly (no Ray cluster): batching, failures, min/max, persistence."""

import math

import pytest
from ray import tune
from ray.tune.search import Searcher

from raysearch.tune.s2e_searcher import S2ESearcher

SPACE = {"x": tune.uniform(0, 1), "mix": {"a": tune.uniform(0, 1), "b": tune.uniform(0, 1)}, "c": 3}


def _searcher(**kwargs):
    searcher = S2ESearcher(
        samples_per_iter=3, seed=1, simplex_groups=[("mix/a", "mix/b")], **kwargs
    )
    searcher.set_search_properties("acc", "max", SPACE)
    return searcher


def test_hands_out_k_samples_then_waits_until_the_whole_batch_is_told():
    searcher = _searcher()
    configs = [searcher.suggest(f"t{i}") for i in range(3)]
    assert all(c["c"] == 3 and abs(c["mix"]["a"] + c["mix"]["b"] - 1) < 1e-12 for c in configs)
    assert searcher.suggest("t3") is None  # the next batch needs this one's scores
    searcher.on_trial_complete("t1", {"acc": 0.5})
    searcher.on_trial_complete("t0", {"acc": 0.7})
    assert searcher.suggest("t3") is None and searcher.iteration == 0
    searcher.on_trial_complete("t2", {"acc": 0.6})
    assert searcher.iteration == 1 and searcher.suggest("t3") is not None


def test_failed_nan_and_missing_metric_trials_are_penalised_not_fatal():
    searcher = _searcher()
    for i in range(3):
        searcher.suggest(f"t{i}")
    searcher.on_trial_complete("t0", {"acc": math.nan})
    searcher.on_trial_complete("t1", None, error=True)
    searcher.on_trial_complete("t2", {"other": 1.0})
    assert searcher.iteration == 1  # an all-failed batch is consumed, theta unchanged
    assert searcher.optimizer.history[-1]["num_finite"] == 0
    searcher.suggest("t3")
    searcher.on_trial_complete("unknown-trial", {"acc": 1.0})  # ignored


def test_min_mode_maximises_the_negated_metric():
    low, high = _searcher(), _searcher()
    low.set_search_properties(None, "min", {})
    for s in (low, high):
        for i in range(3):
            s.suggest(f"t{i}")
        for i, value in enumerate((0.1, 0.5, 0.9)):
            s.on_trial_complete(f"t{i}", {"acc": value})
    assert low.optimizer.best_observed[1] == -0.1 and high.optimizer.best_observed[1] == 0.9


def test_stops_after_max_iterations():
    searcher = _searcher(max_iterations=1)
    for i in range(3):
        searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", {"acc": 0.1 * i})
    assert searcher.suggest("t3") == Searcher.FINISHED


def test_state_restored_mid_batch_continues_identically(tmp_path):
    original = _searcher()
    for i in range(3):
        original.suggest(f"t{i}")
    original.on_trial_complete("t0", {"acc": 0.3})
    original.save(str(tmp_path / "state.json"))
    restored = S2ESearcher(samples_per_iter=3, seed=99, simplex_groups=[("mix/a", "mix/b")])
    restored.restore(str(tmp_path / "state.json"))  # before Tune hands over the space
    restored.set_search_properties("acc", "max", SPACE)
    for s in (original, restored):
        s.on_trial_complete("t1", {"acc": 0.4})
        s.on_trial_complete("t2", {"acc": 0.2})
    assert restored.iteration == original.iteration == 1
    assert restored.suggest("t3") == original.suggest("t3")


def test_bad_arguments_fail_before_any_search():
    with pytest.raises(ValueError, match="samples_per_iter"):
        S2ESearcher(samples_per_iter=1)
    with pytest.raises(ValueError, match="newtonn"):
        S2ESearcher(update="newtonn")
    with pytest.raises(ValueError, match=r"key .x.: domain Float\(Normal\)"):
        S2ESearcher().set_search_properties("acc", "max", {"x": tune.randn()})
