"""One shared experiment suggests what separate experiments would (issue: one experiment for all
seeds), and so does the schedule benchmark's simulation. Every deterministic searcher's stream,
run in the shared ``searchers`` experiment beside the other streams and the references, hands
out the same configs in the same order as that searcher in a Tune experiment of its own for
that seed; ``raysearch bench``'s :func:`~raysearch.bench.simulate.simulate` of the searcher,
told the same scores, suggests them too. A toy trainable scores a schedule deterministically,
so the searchers see the same results in every run."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest
from ray import tune

from raysearch.analysis.experiments import flatten
from raysearch.bench.simulate import simulate
from raysearch.noisy.settings import TrialSettings
from raysearch.tune.compare_experiments import _pending_trials, streams
from raysearch.tune.compare_settings import METRIC, MODE, CompareSettings
from raysearch.tune.searchers import make_search
from raysearch.tune.spaces import SCHEDULE_KEY
from raysearch.tune.streams import StreamSearcher

pytestmark = pytest.mark.slow
DETERMINISTIC = ("s2e", "random", "tpe", "optuna")


def _leaves(value):
    if isinstance(value, dict):
        for key in sorted(value):
            yield from _leaves(value[key])
    elif isinstance(value, int | float):
        yield float(value)


def toy_score(schedule: dict) -> float:
    """A smooth, config-dependent score (no training)."""
    return sum(math.sin(3.0 * x + i) for i, x in enumerate(_leaves(schedule)))


def toy_trainable(config: dict) -> None:
    tune.report({METRIC: toy_score(config[SCHEDULE_KEY]), "epoch": config["epochs"]})


def toy_objective(config: dict, epoch: int) -> dict:
    """The toy trainable's result, as ``simulate`` asks for it."""
    return {METRIC: toy_score(config[SCHEDULE_KEY])}


def _tune(search_alg, param_space, samples, path, name):
    tuner = tune.Tuner(
        toy_trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            search_alg=search_alg, num_samples=samples, metric=METRIC, mode=MODE, reuse_actors=True
        ),  # fmt: skip
        run_config=tune.RunConfig(name=name, storage_path=str(path), verbose=0),
    )
    results = list(tuner.fit())
    # a trial folder is named <trainable>_<id>_<n>_...: n counts the trials in creation order
    order = [int(re.search(r"_[0-9a-f]{8}_(\d+)_", Path(r.path).name).group(1)) for r in results]
    rows = [{**r.metrics, **flatten(r.config)} for r in results]
    return pd.DataFrame([rows[i] for i in sorted(range(len(rows)), key=order.__getitem__)])


def _schedules(frame) -> list[dict]:
    keys = sorted(c for c in frame.columns if c.startswith(f"config/{SCHEDULE_KEY}/"))
    return [{k: row[k] for k in keys if not pd.isna(row[k])} for _, row in frame.iterrows()]


def test_every_stream_suggests_what_its_own_experiment_would(local_ray, tmp_path):
    settings = CompareSettings(
        trial=TrialSettings(epochs=3), searchers=DETERMINISTIC, trials=6, seeds=2,
        samples_per_iter=3, out=str(tmp_path / "out"),
    )  # fmt: skip
    shared_streams = streams(settings)
    total = sum(s.trials for s in shared_streams)
    with _pending_trials(4):
        shared = _tune(StreamSearcher(shared_streams, metric=METRIC, mode=MODE), {}, total,
                       tmp_path, "shared")  # fmt: skip
    assert len(shared) == total == 2 * (4 * 6 + 2)
    references = shared[shared["config/role"] == "reference"]
    assert sorted(references["config/searcher"]) == ["coteaching", "coteaching", "standard",
                                                     "standard"]  # fmt: skip
    # seed 1's streams are served after seed 0's, interleaved with them: all of them; seed 0: s2e
    for seed, names in ((1, DETERMINISTIC), (0, ("s2e",))):
        for name in names:
            setup = make_search(name, settings.request(seed))
            alone = _tune(setup.search_alg, settings.param_space(seed), setup.num_samples,
                          tmp_path, f"{name}-{seed}")  # fmt: skip
            mine = shared[(shared["config/searcher"] == name) & (shared["config/seed"] == seed)]
            assert len(mine) == len(alone) == settings.trials, (name, seed)
            assert _schedules(mine) == _schedules(alone), (name, seed)
            assert list(mine[METRIC]) == pytest.approx(list(alone[METRIC])), (name, seed)
            bench = simulate(name, settings.request(seed), settings.param_space(seed),
                             toy_objective)  # fmt: skip
            simulated = pd.DataFrame([flatten(config) for config in bench["config"]])
            assert _schedules(simulated) == _schedules(alone), (name, seed)
            assert list(bench[METRIC]) == pytest.approx(list(alone[METRIC])), (name, seed)
