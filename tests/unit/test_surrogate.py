"""The bench surrogate on a synthetic table with a known answer: features are the R(t) the runs
used, held-out predictions rank schedules as the table does, the seed spread is a measured one
replayed deterministically, and the task measure reads the table as documented."""

import json
import math

import numpy as np
import pytest

from raysearch.bench.surrogate import (
    CANDIDATES,
    fit_surrogate,
    schedule_features,
    select_model,
    table_features,
    validate,
)
from raysearch.bench.synthetic import synthetic_curve, synthetic_table
from raysearch.bench.tables import TaskTable, load_table, tabulated_tasks
from raysearch.bench.task_measure import expected_best_of, measure_task

TASK = "sym50-e20-n6000"


@pytest.fixture(scope="module")
def frame():
    return synthetic_table(TASK, sobol=32, seeds=2, noise=0.004)


@pytest.fixture(scope="module")
def table(frame):
    return TaskTable.from_frame(frame)


@pytest.fixture(scope="module")
def surrogate(table):
    return fit_surrogate(table, model="knn-3")


def test_the_table_arrays_hold_every_seed_schedule_and_epoch(frame, table):
    assert table.curves["val_acc"].shape == (table.keep.shape[0], 2, 20)
    row = frame[(frame.design_id == "sobol-0003") & (frame.seed == 1) & (frame.epoch == 7)]
    i = table.index("sobol-0003")
    assert table.curves["test_acc"][i, 1, 6] == pytest.approx(row.test_acc.iloc[0])
    assert table.configs[i] == json.loads(row.schedule.iloc[0])
    with pytest.raises(ValueError, match="seeds x 20 epochs"):
        TaskTable.from_frame(frame.drop(index=row.index))


def test_features_are_the_keep_rates_the_runs_used(frame, table):
    assert np.allclose(table_features(table), table.keep, atol=1e-12)
    reference = table.configs[table.index("reference-coteaching")]  # tau 0.5, T_k 10 of 200
    assert schedule_features(reference, 20)[:3] == pytest.approx([1.0, 0.5, 0.5])
    broken = frame.copy()
    broken.loc[broken.design_id == "sobol-0001", "keep_rate"] += 0.01
    with pytest.raises(ValueError, match="sobol-0001.*keep_rate"):
        table_features(TaskTable.from_frame(broken))


def test_load_table_names_the_tabulated_tasks(tmp_path, frame):
    frame.to_parquet(tmp_path / f"{TASK}.parquet")
    assert tabulated_tasks(tmp_path) == [TASK]
    assert len(load_table(TASK, tmp_path)) == len(frame)
    with pytest.raises(KeyError, match=f"tabulated tasks: {TASK}"):
        load_table("pair45-e20-n4000", tmp_path)


def test_held_out_predictions_rank_the_schedules_as_the_table_does(table):
    scores = validate(table, model="knn-3")
    assert scores["spearman"] >= 0.9
    assert scores["best10_mae"] < 0.02 and 0 <= scores["best10_overlap"] <= 1
    assert scores["schedules"] == len(table.design_ids) and scores["seed_spearman"] > 0.5
    assert scores["best10_se"] == pytest.approx(0.004 * math.sqrt(1.25 / 2), rel=0.5)
    best, all_scores = select_model(table, models=["knn-3", "knn-8"])
    assert best in ("knn-3", "knn-8") and set(all_scores) == {"knn-3", "knn-8"}
    with pytest.raises(KeyError, match="models: " + ", ".join(CANDIDATES)):
        validate(table, model="svm")


def test_a_run_is_the_predicted_mean_plus_one_measured_seed_deviation(table, surrogate):
    i = table.index("sobol-0005")
    config = table.configs[i]
    mean = surrogate.expected([config])[0]
    assert mean[-1] == pytest.approx(table.mean("test_acc")[i, -1], abs=1e-9)  # k-NN at a point
    measured = np.concatenate([table.curves[m][i] for m in ("val_acc", "test_acc")], axis=1)
    runs = {seed: surrogate.curves(config, seed) for seed in range(8)}
    for seed, run in runs.items():
        replayed = np.concatenate([run["val_acc"], run["test_acc"]])
        deviation = (replayed - mean) / math.sqrt(2)  # an n-seed deviation scaled by sqrt(n/(n-1))
        assert any(np.allclose(deviation, m - measured.mean(axis=0)) for m in measured)
        again = surrogate.curves(config, seed)
        assert np.array_equal(
            again["test_acc"], run["test_acc"]
        )  # deterministic per (seed, config)
    assert len({round(r["test_acc"][-1], 9) for r in runs.values()}) == 2  # both seeds replayed


def test_the_objective_reads_the_trial_configs_schedule_at_an_epoch(table, surrogate):
    config = {"schedule": table.configs[0], "lr": 0.001}
    objective = surrogate.objective(seed=3)
    curves = surrogate.curves(table.configs[0], 3)
    assert objective(config, 4) == {k: pytest.approx(float(v[3])) for k, v in curves.items()}
    with pytest.raises(ValueError, match="outside the task's 1..20"):
        objective(config, 21)


def test_the_surrogate_finds_the_hidden_best_shape():
    """On a noiseless table the predicted best of many s2e schedules is near the hidden one."""
    table = TaskTable.from_frame(synthetic_table(TASK, sobol=32, seeds=2, noise=0.0))
    surrogate = fit_surrogate(table, model="knn-3")
    predicted = surrogate.expected(table.configs)[:, -1]
    real = np.array([synthetic_curve(k)[-1] for k in table.keep])
    assert real[predicted.argmax()] >= np.sort(real)[-3]


def test_the_task_measure_reads_the_table(table):
    measure = measure_task(table, networks=6)
    finals = table.final("test_acc")
    top = np.argsort(-finals.mean(axis=1))[: round(len(finals) / 4)]
    assert measure.seed_std == pytest.approx(np.sqrt(finals[top].var(axis=1, ddof=1).mean()))
    assert measure.seed_std_all == pytest.approx(np.sqrt(finals.var(axis=1, ddof=1).mean()))
    assert measure.best_in_sample == pytest.approx(finals.mean(axis=1).max())
    best_on = [finals[finals[:, a].argmax(), 1 - a] for a in (0, 1)]
    assert measure.best_held_out == pytest.approx(np.mean(best_on))
    coteaching = finals[table.index("reference-coteaching")]
    assert measure.gain_over_coteaching == pytest.approx(measure.best_held_out - coteaching.mean())
    sobol = np.array([k == "sobol" for k in table.kinds])
    within = finals.mean(axis=1)[sobol] >= measure.best_held_out - measure.seed_std
    assert measure.share_within_std == pytest.approx(within.mean())
    # random search's pick: the best by validation of 6 Sobol schedules, by exact order statistics
    val = table.final("val_acc").mean(axis=1)[sobol]
    rng = np.random.default_rng(0)
    draws = [rng.choice(sobol.sum(), 6, replace=False) for _ in range(4000)]
    simulated = np.mean([finals.mean(axis=1)[sobol][d[val[d].argmax()]] for d in draws])
    assert measure.random_gain + coteaching.mean() == pytest.approx(simulated, abs=2e-3)
    assert expected_best_of(np.arange(10.0), 3) == pytest.approx(7.25)  # E[max of 3 of 0..9]
    with pytest.raises(ValueError, match=">= 2 seeds"):
        measure_task(TaskTable.from_frame(synthetic_table(TASK, sobol=4, seeds=1)))
