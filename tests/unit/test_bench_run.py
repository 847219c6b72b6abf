"""``raysearch bench run``: the searchers it drives suggest what the same searchers suggest in a
real ``compare`` (its streams, same seed, same results), best-so-far curves follow the
incumbent by validation, bad input fails before any work, and the default job's task is tied
to the measured table. No Ray is started."""

import dataclasses
import importlib.util
import math
from pathlib import Path

import pandas as pd
import pytest
from ray.tune.search import Searcher

from raysearch.bench.run import BenchRun, best_so_far, run_bench, run_one, summary_table
from raysearch.bench.surrogate import fit_surrogate
from raysearch.bench.synthetic import synthetic_table
from raysearch.bench.tables import TaskTable
from raysearch.bench.tasks import TASKS
from raysearch.cli import build_parser

TASK = "sym50-e20-n6000"


@pytest.fixture(scope="module")
def table():
    return TaskTable.from_frame(synthetic_table(TASK, sobol=32, seeds=2))


@pytest.fixture(scope="module")
def surrogate(table):
    return fit_surrogate(table, model="knn-3")


def compare_suggestions(run: BenchRun, surrogate, max_live: int = 4) -> dict:
    """Schedules per (searcher, seed) as a real ``compare`` hands them out: its shared
    experiment's streams (references included) behind one ``StreamSearcher``, Tune asking for
    trials while fewer than ``max_live`` run, the oldest ending first with the surrogate's
    result for the trial's seed."""
    from raysearch.tune.compare_experiments import streams
    from raysearch.tune.compare_settings import METRIC, MODE
    from raysearch.tune.streams import StreamSearcher

    settings = run.compare_settings()
    settings = dataclasses.replace(settings, references=("standard", "coteaching"))
    searcher = StreamSearcher(streams(settings), metric=METRIC, mode=MODE)
    objectives = {s: surrogate.objective(s) for s in range(settings.seeds)}
    live: list[tuple[str, dict]] = []
    out: dict[tuple[str, int], list] = {}
    count, finished = 0, False
    while not finished or live:
        while not finished and len(live) < max_live:
            config = searcher.suggest(f"t{count:05d}")
            if config == Searcher.FINISHED:
                finished = True
            if config is None or finished:
                break
            live.append((f"t{count:05d}", config))
            out.setdefault((config["searcher"], config["seed"]), []).append(config["schedule"])
            count += 1
        if not live:
            break
        trial_id, config = live.pop(0)
        epochs = settings.trial.epochs
        result = {**objectives[config["seed"]](config, epochs), "epoch": epochs}
        searcher.on_trial_complete(trial_id, result)
    return out


@pytest.mark.parametrize("name", ["random", "s2e", "tpe"])
def test_bench_run_suggests_what_the_compare_streams_suggest(surrogate, name):
    run = BenchRun(task=TASK, searchers=(name,), trials=8, seeds=2, samples_per_iter=4)
    real = compare_suggestions(run, surrogate)
    settings = run.compare_settings()
    for seed in range(2):
        bench = run_one(settings, name, seed, surrogate)
        assert list(bench["config"].map(lambda c: c["schedule"])) == real[(name, seed)]
    assert real[(name, 0)] != real[(name, 1)]  # the seed matters


def test_best_so_far_follows_the_incumbent_by_validation():
    trials = pd.DataFrame({
        "searcher": "x", "seed": 0, "epochs_trained": [20, 5, 20, 20],
        "spent_epochs": [20, 25, 60, 80], "val_acc": [0.5, 0.9, 0.7, 0.6],
        "test_acc": [0.4, 0.95, 0.65, 0.9], "test_acc_expected": [0.41, 0.9, 0.66, 0.8],
    })  # fmt: skip
    curves = best_so_far(trials, epochs=20, networks=5)
    assert list(curves["trained_networks"]) == [1, 2, 3, 4, 5]
    # n=2: the 5-epoch trial is no incumbent and the 3rd full trial ends at 60 epochs
    assert list(curves["best_val_acc"]) == [0.5, 0.5, 0.7, 0.7, 0.7]
    assert list(curves["incumbent_test_acc"]) == [0.4, 0.4, 0.65, 0.65, 0.65]
    empty = best_so_far(trials.assign(spent_epochs=[40, 45, 60, 80]), epochs=20, networks=1)
    assert math.isnan(empty["incumbent_test_acc"].iloc[0])


def test_the_summary_pairs_seeds_against_random_and_the_reference():
    curves = pd.DataFrame({
        "searcher": ["random"] * 3 + ["s2e"] * 3, "seed": [0, 1, 2] * 2, "trained_networks": 10,
        "incumbent_test_acc": [0.80, 0.81, 0.82, 0.81, 0.83, 0.83],
    })  # fmt: skip
    table = summary_table(curves, {"coteaching": (0.80, 0.01)}).set_index("searcher")
    assert table.loc["s2e", "diff_vs_random"] == pytest.approx(0.0133333, abs=1e-6)
    assert table.loc["s2e", "gain_vs_coteaching"] == pytest.approx(0.0233333, abs=1e-6)
    assert table.loc["coteaching", "kind"] == "reference (tabulated)"


def test_bad_input_fails_before_any_work_and_names_what_is_allowed():
    with pytest.raises(KeyError, match="registered: s2e"):
        BenchRun(task=TASK, searchers=("s2e", "grid")).compare_settings()
    with pytest.raises(KeyError, match="tasks: "):
        BenchRun(task="mnist").compare_settings()
    with pytest.raises(ValueError, match="use --epochs 20"):
        BenchRun(task=TASK, epochs=30).compare_settings()
    with pytest.raises(ValueError, match="trials must be >= 1"):
        BenchRun(task=TASK, trials=0).compare_settings()


def test_bench_run_end_to_end_on_a_table_folder(tmp_path, capsys):
    synthetic_table(TASK, sobol=32, seeds=2).to_parquet(tmp_path / f"{TASK}.parquet")
    args = build_parser().parse_args([
        "bench", "run", "--task", TASK, "--searchers", "random,s2e,asha", "--trials", "4",
        "--seeds", "2", "--model", "knn-3", "--tables", str(tmp_path), "--out", str(tmp_path / "o"),
    ])  # fmt: skip
    assert args.func(args) == 0
    curves = pd.read_csv(tmp_path / "o" / "best_so_far.csv")
    assert len(curves) == 3 * 2 * 4 and curves["incumbent_test_acc"].between(0, 1).all()
    summary = pd.read_csv(tmp_path / "o" / "summary.csv")
    assert {"random", "s2e", "asha", "standard", "coteaching"} == set(summary["searcher"])
    assert "search gain over Co-teaching's schedule" in capsys.readouterr().out
    with pytest.raises(KeyError, match="tabulated tasks: " + TASK):
        run_bench(BenchRun(task="pair45-e20-n4000", trials=2, seeds=1), out=tmp_path / "p",
                  tables=tmp_path)  # fmt: skip


def test_the_default_jobs_task_is_tabulated_and_rewards_search():
    """Issue 18, item 6: the default comparison's task, measured on its shipped table, has rare
    good schedules and a search gain over Co-teaching's schedule that the default job's budget
    (its trials and seeds) can show with a paired interval."""
    from raysearch.bench.tables import load_table, tabulated_tasks
    from raysearch.bench.task_measure import default_job_misfits, measure_task

    if not tabulated_tasks():
        pytest.skip("no shipped bench table yet (raysearch/bench/tables/)")
    launch_py = Path(__file__).resolve().parents[2] / "launchers" / "launch.py"
    spec = importlib.util.spec_from_file_location("launch", launch_py)
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)
    _, command, _ = launch.build_args([])
    args = build_parser().parse_args(command)
    task = {"noise": args.noise, "epochs": args.epochs, "train_size": args.train_size}
    names = [n for n, t in TASKS.items() if {"train_size": None, **t} == task]
    assert names and names[0] in tabulated_tasks(), (task, names, tabulated_tasks())
    measure = measure_task(TaskTable.from_frame(load_table(names[0])), networks=args.trials)
    assert default_job_misfits(measure, args.seeds) == [], measure


def test_the_default_job_criteria_read_the_measure():
    from raysearch.bench.task_measure import TaskMeasure, default_job_misfits

    fields = dict(task="t", schedules=100, seeds=2, seed_std=0.01, seed_std_all=0.02,
                  best_design="d", best_in_sample=0.8, best_held_out=0.79, share_within_std=0.05,
                  share_within_std_all=0.05, coteaching=0.7, standard=0.6,
                  gain_over_coteaching=0.09, gain_in_std=9.0, networks=6, random_gain=0.02)  # fmt: skip
    assert (
        default_job_misfits(TaskMeasure(**fields), seeds=5) == []
    )  # 0.02 > 2 sqrt(2) 0.01/sqrt(5)
    misfits = default_job_misfits(TaskMeasure(**{**fields, "share_within_std": 0.2,
                                                 "random_gain": 0.01}), seeds=5)  # fmt: skip
    assert len(misfits) == 2 and "20.0%" in misfits[0] and "+0.0100 < 0.0126" in misfits[1]


def test_bench_runs_keep_hyperband_and_optuna_info_lines_off_the_console(surrogate, capfd):
    """Hyperband logs every bracket it fills too small and Optuna every study it creates: at
    INFO, hundreds of lines per ``bench run``; only warnings reach the console."""
    run = BenchRun(task=TASK, searchers=("hyperband", "optuna"), trials=12, seeds=2)
    settings = run.compare_settings()
    for name in run.searchers:
        for seed in range(2):
            assert len(run_one(settings, name, seed, surrogate)) > 0
    printed = capfd.readouterr()
    console = printed.out + printed.err
    assert "Bracket too small" not in console and "A new study created" not in console
