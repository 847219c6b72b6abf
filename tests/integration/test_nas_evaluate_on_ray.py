"""The shared evaluation stage on a real local Ray (2 CPUs): one Train job per (genotype, seed),
run side by side as Tune trials; a crashing job becomes an error row."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from raysearch.nas.evaluation import EvalBudget, EvalJob, genotype_to_text
from raysearch.tune.nas_evaluate import COLUMNS, evaluate, run_jobs
from search_spaces.darts import DARTS_V2, PC_DARTS, expand_genotype

pytestmark = pytest.mark.slow

TINY = EvalBudget(C=4, layers=3, batch_size=16, max_batches=2, auxiliary_weight=0.4)


def test_two_genotypes_two_seeds_run_side_by_side(local_ray, tmp_path):
    frame = evaluate(["DARTS_V2", str(PC_DARTS)], [0, 1], TINY, storage_path=str(tmp_path))
    print(frame.drop(columns="genotype").to_string())
    assert list(frame.columns) == COLUMNS
    assert list(zip(frame.genotype_name.str[:9], frame.seed, strict=True)) == [
        ("DARTS_V2", 0), ("DARTS_V2", 1), ("genotype-", 0), ("genotype-", 1),
    ]  # fmt: skip
    assert frame.genotype.tolist() == [str(DARTS_V2)] * 2 + [str(PC_DARTS)] * 2
    assert frame.error.isna().all()
    assert frame.test_acc.between(0.0, 1.0).all() and (frame.epochs == 1).all()
    assert frame.params_m.iloc[0] == frame.params_m.iloc[1] != frame.params_m.iloc[2]
    assert (frame.wall_time_s > frame.train_end - frame.train_start).all()
    # 4 one-worker jobs on 2 CPUs, 2 at a time: some pair of training loops overlapped
    spans = list(zip(frame.train_start, frame.train_end, strict=True))
    overlaps = [
        min(a[1], b[1]) - max(a[0], b[0]) for i, a in enumerate(spans) for b in spans[i + 1 :]
    ]
    assert max(overlaps) > 0


def test_a_crashing_job_gives_an_error_row_and_the_other_finishes(local_ray, tmp_path):
    too_short = genotype_to_text(expand_genotype(DARTS_V2, 2))  # 2 cells for a 3-layer budget
    jobs = [EvalJob(0, "broken", too_short, 0), EvalJob(1, "DARTS_V2", str(DARTS_V2), 0)]
    frame = run_jobs(jobs, TINY, storage_path=str(tmp_path), name="crash")
    print(frame.drop(columns="genotype").to_string())
    broken, fine = frame.iloc[0], frame.iloc[1]
    assert math.isnan(broken.test_acc) and "2 cells but the budget has layers=3" in broken.error
    assert pd.isna(fine.error) and 0.0 <= fine.test_acc <= 1.0
