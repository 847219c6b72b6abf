"""The job profile's core-time accounting, on a hand-made timeline (no Ray)."""

import pandas as pd
import pytest

from benchmarks.job_profile import core_time_shares

# (experiment, trial, start, end): two sequential experiments on 2 cores, wall 0..10 s
TIMELINE = [
    ("s2e-seed0", "zz", 1.0, 3.0), ("s2e-seed0", "yy", 1.0, 2.0),  # S2E batch 0 (K = 2)
    ("s2e-seed0", "aa", 3.5, 5.0), ("s2e-seed0", "bb", 3.5, 4.5),  # batch 1 (ids sort first)
    ("random-seed0", "a", 6.0, 8.0), ("random-seed0", "b", 6.2, 9.0),
]  # fmt: skip


def test_core_time_is_split_into_the_categories_and_sums_to_wall_times_cores():
    its = pd.DataFrame(TIMELINE, columns=["experiment", "trial", "start", "end"])
    its["seconds"] = its.end - its.start
    shares = core_time_shares(its, wall=(0.0, 10.0), cores=2, epoch_s=1.5, eval_share=0.25, k=2)
    expected = {  # 6 epochs of 1.5 s when quiet; they took 10.3 s
        "training": 6 * 1.5 * 0.75,
        "evaluation": 6 * 1.5 * 0.25,
        "slow-down inside trials": 10.3 - 9.0,
        "experiment tail": 0.5 + 1.0,  # s2e 4.5..5 one core free; random 8..9 one core free
        "S2E batch wait": 1.0,  # batch 0: trial 0 runs alone 2..3
        "Ray/Tune overhead in experiments": 1.0 + 0.2,  # s2e 3..3.5 both free; random 6..6.2
        "between experiments": 6.0,  # 0..1, 5..6, 9..10 with both cores free
    }
    assert shares == pytest.approx(expected, abs=0.05)
    assert sum(shares.values()) == pytest.approx(20.0, abs=0.05)


def test_processes_are_classed_by_every_command_line_they_showed():
    from benchmarks.process_cpu import classify

    assert classify({"python ray::IDLE", "python ray::CoteachingTrainable.train"}) == "trial actors"
    assert classify({"python -m raysearch.tune.side_by_side {...}"}) == "raysearch drivers"
    assert classify({"/ray/core/src/ray/raylet/raylet --node"}) == "Ray daemons (gcs, raylet)"
    assert classify({"python ray::DashboardAgent"}) == "other Ray workers"
    assert classify({"bash"}) == "other processes"


def test_the_process_table_splits_wall_times_cores(tmp_path):
    from benchmarks.job_profile import process_table

    cpu = {"trial actors": 12.0, "raysearch drivers": 3.0, "other processes": 1.0}
    table = process_table(cpu, wall=10.0, cores=2, useful=9.0, out=tmp_path)
    assert table.core_seconds.to_dict() == pytest.approx({
        "training + evaluation (best case)": 9.0, "trial actors beyond that": 3.0,
        "raysearch drivers": 3.0, "other processes": 1.0, "idle": 4.0,
    })  # fmt: skip
    assert table.share.sum() == pytest.approx(1.0)
    assert (tmp_path / "job_profile_processes.csv").exists()
