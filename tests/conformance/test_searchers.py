"""Every registered search strategy on a tiny Tune experiment with a short function trainable:
equal epoch budget, a NaN trial survived, and a save/restore round trip."""

import math
import os
import time

import pytest
from ray import tune

from raysearch.tune.searchers import SearchRequest, make_search, searcher_names, tune_config

EPOCHS, TRIALS = 3, 8
SPACE = {
    "x": tune.uniform(0.0, 1.0),
    "w": {"a": tune.uniform(0.0, 1.0), "b": tune.uniform(0.0, 1.0)},
    "kind": tune.choice(["p", "q"]),
    "fixed": 7,
}
GROUPS = [("w/a", "w/b")]


def _first_trial(folder: str) -> bool:
    """True for exactly one trial of an experiment (an atomic create in a shared folder)."""
    try:
        os.close(os.open(os.path.join(folder, "nan-trial"), os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return False
    return True


def objective(config):
    """A short 'training run': val_acc rises with epochs; x < 0.35 gives NaN (a broken trial),
    and so does the experiment's first trial, so every strategy meets at least one NaN."""
    assert config["fixed"] == 7
    broken = config["x"] < 0.35 or _first_trial(config["nan_dir"])
    for epoch in range(1, EPOCHS + 1):
        time.sleep(0.02)
        value = math.nan if broken else (1 - (config["x"] - 0.7) ** 2) * epoch / EPOCHS
        tune.report({"val_acc": value, "epoch": epoch})


def _request(seed=0):
    return SearchRequest(metric="val_acc", mode="max", trials=TRIALS, epochs=EPOCHS, seed=seed, concurrency=2,
                         samples_per_iter=4, simplex_groups=GROUPS)  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("name", searcher_names())
def test_strategy_respects_budget_and_survives_nan_trials(local_ray, tmp_path, name):
    request = _request()
    setup = make_search(name, request)
    stoppers = [setup.budget] if setup.budget else None
    tuner = tune.Tuner(
        tune.with_resources(objective, {"cpu": 1}),
        param_space={**SPACE, "nan_dir": str(tmp_path)},
        tune_config=tune_config(setup, request),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name=name, stop=stoppers, verbose=0),
    )
    grid = tuner.fit()
    frame = grid.get_dataframe()
    epochs_spent = int(frame["epoch"].sum())
    assert not grid.errors
    if setup.scheduler is None:
        assert len(frame) == TRIALS and epochs_spent == TRIALS * EPOCHS
    else:  # schedulers stop trials early; the epoch budget ends the experiment
        assert (frame["epoch"] < EPOCHS).any(), "the scheduler never stopped a trial early"
        assert (
            len(frame) >= TRIALS
            and TRIALS * EPOCHS <= epochs_spent <= TRIALS * EPOCHS + request.concurrency
        )
    assert frame["val_acc"].isna().any(), (
        "the NaN branch was never hit: the test would prove nothing"
    )
    assert frame["val_acc"].max() > 0.5
    if name.startswith("s2e"):
        weights = frame["config/w/a"] + frame["config/w/b"]
        assert ((weights - 1).abs() < 1e-9).all()  # the simplex group is sampled on the simplex


def _feed(search_alg, n):
    """Suggest n trials and complete them with synthetic results."""
    configs = []
    for i in range(n):
        config = search_alg.suggest(f"t{i}")
        configs.append(config)
        x = config["x"]
        search_alg.on_trial_complete(
            f"t{i}", {"val_acc": math.nan if x < 0.35 else 1 - (x - 0.7) ** 2, "epoch": EPOCHS}
        )
    return configs


@pytest.mark.parametrize(
    "name", [n for n in searcher_names() if n not in ("random", "hyperband", "asha")]
)
def test_searcher_state_round_trip(tmp_path, name):
    original = make_search(name, _request()).search_alg
    original.set_search_properties("val_acc", "max", SPACE)
    _feed(original, 4)
    original.save(str(tmp_path / "state"))
    restored = make_search(name, _request()).search_alg
    restored.set_search_properties("val_acc", "max", SPACE)
    restored.restore(str(tmp_path / "state"))
    following_a, following_b = original.suggest("t4"), restored.suggest("t4")
    assert following_b is not None and 0 <= following_b["x"] <= 1
    if name.startswith("s2e") or name == "tpe":
        assert following_a == following_b  # seeded searchers continue exactly


def test_unknown_searcher_lists_the_registry():
    with pytest.raises(KeyError) as err:
        make_search("grid", _request())
    assert "grid" in str(err.value) and "s2e" in str(err.value) and "hyperband" in str(err.value)


def timed_objective(config):
    """Sleeps a little and reports when it ran, to see which trials overlapped."""
    start = time.time()
    time.sleep(2.0)  # long enough for the batch's second actor to start on a busy machine
    tune.report(
        {"val_acc": 1 - (config["x"] - 0.7) ** 2, "epoch": 1, "start": start, "end": time.time()}
    )


@pytest.mark.slow
@pytest.mark.parametrize("limiter_size", [1, 2, 3])
def test_s2e_runs_its_k_samples_side_by_side_and_never_hangs_a_batch_limiter(
    local_ray, tmp_path, limiter_size
):
    from ray.tune.search import ConcurrencyLimiter

    from raysearch.tune.s2e_searcher import S2ESearcher

    searcher = ConcurrencyLimiter(
        S2ESearcher(samples_per_iter=2, seed=0), max_concurrent=limiter_size, batch=True
    )
    tuner = tune.Tuner(
        tune.with_resources(timed_objective, {"cpu": 1}),
        param_space={"x": tune.uniform(0, 1)},
        tune_config=tune.TuneConfig(
            search_alg=searcher, num_samples=6, metric="val_acc", mode="max"
        ),
        run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0),
    )
    frame = tuner.fit().get_dataframe().sort_values("start")
    assert len(frame) == 6  # all three batches ran: no hang
    overlaps = [
        a.end > b.start
        for a, b in zip(frame.iloc[::2].itertuples(), frame.iloc[1::2].itertuples(), strict=True)
    ]
    if limiter_size >= 2:
        assert all(overlaps), "the two samples of a batch did not run at the same time"
    else:
        assert not any(overlaps)
    assert searcher.searcher.iteration == 3
