"""Bootstrap intervals, Mann–Whitney p-values and the summary table against independent
computations (a brute-force bootstrap loop, an exact permutation enumeration)."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from raysearch.analysis.stats import (
    MIN_SEEDS,
    bootstrap_band,
    bootstrap_ci,
    few_seeds_note,
    mann_whitney_greater,
    mean_std_text,
    pick_baseline,
    summary_markdown,
    summary_table,
)

SAMPLE = np.array([0.8113, 0.7902, 0.8437, 0.8021, 0.8345, 0.7768, 0.8619, 0.8254])


def test_bootstrap_interval_agrees_with_a_brute_force_percentile_bootstrap():
    rng = np.random.default_rng(123)
    means = [rng.choice(SAMPLE, size=len(SAMPLE), replace=True).mean() for _ in range(20000)]
    expected = np.percentile(means, [2.5, 97.5])
    low, high = bootstrap_ci(SAMPLE, n_resamples=20000, seed=7)
    assert low == pytest.approx(expected[0], abs=1e-3)
    assert high == pytest.approx(expected[1], abs=1e-3)
    assert SAMPLE.min() < low < SAMPLE.mean() < high < SAMPLE.max()
    narrow = bootstrap_ci(SAMPLE, confidence=0.5, seed=7)
    assert low < narrow[0] < narrow[1] < high


def test_bootstrap_is_reproducible_and_handles_degenerate_samples():
    assert bootstrap_ci(SAMPLE, seed=3) == bootstrap_ci(SAMPLE, seed=3)
    assert all(math.isnan(v) for v in bootstrap_ci([0.5]))
    assert all(math.isnan(v) for v in bootstrap_ci([]))
    assert bootstrap_ci([0.7, 0.7, 0.7]) == (0.7, 0.7)
    assert bootstrap_ci([0.7, math.nan, 0.9]) == bootstrap_ci([0.7, 0.9])  # failed seed dropped
    with pytest.raises(ValueError, match="confidence must be in"):
        bootstrap_ci(SAMPLE, confidence=95)


def _enumerated_p(x, y):
    """P(U >= U_observed) over every split of the pooled values (U counts ties as 1/2)."""

    def u(a, b):
        return sum((ai > bj) + 0.5 * (ai == bj) for ai in a for bj in b)

    pooled = list(x) + list(y)
    observed = u(x, y)
    splits = list(itertools.combinations(range(len(pooled)), len(x)))
    hits = 0
    for chosen in splits:
        a = [pooled[i] for i in chosen]
        b = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        hits += u(a, b) >= observed - 1e-12
    return hits / len(splits)


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([0.83, 0.81, 0.86], [0.80, 0.82, 0.79, 0.78]),  # no ties: scipy's exact distribution
        ([0.82, 0.80, 0.82, 0.85], [0.80, 0.81, 0.82]),  # ties: permutation distribution
        ([0.5, 0.5, 0.6], [0.5, 0.6, 0.6]),
    ],
)
def test_mann_whitney_p_equals_an_exact_permutation_enumeration(x, y):
    assert mann_whitney_greater(x, y) == pytest.approx(_enumerated_p(x, y), abs=1e-9)


def test_mann_whitney_is_small_when_one_sample_dominates_and_nan_when_empty():
    high, low = [0.90, 0.91, 0.92, 0.93, 0.94], [0.80, 0.81, 0.82, 0.83, 0.84]
    assert mann_whitney_greater(high, low) == pytest.approx(1 / 252)  # 1 of C(10, 5) splits
    assert mann_whitney_greater(low, high) == pytest.approx(1.0)
    assert math.isnan(mann_whitney_greater([], low)) and math.isnan(mann_whitney_greater(low, []))


def _frame(seeds=6):
    rng = np.random.default_rng(0)
    rows = []
    for method, centre in (("random", 0.80), ("s2e", 0.86), ("tpe", 0.80)):
        for seed in range(seeds):
            rows.append({"method": method, "seed": seed, "acc": centre + rng.normal(0, 0.005)})
    return pd.DataFrame(rows)


def test_summary_table_has_intervals_around_the_mean_and_p_values_against_the_baseline():
    frame = _frame()
    table = summary_table(frame, value="acc", group="method", baseline="random")
    assert list(table.index) == ["random", "s2e", "tpe"]
    assert list(table.columns) == ["seeds", "mean", "ci_low", "ci_high", "p_vs_random"]
    assert (table["seeds"] == 6).all()
    assert ((table["ci_low"] < table["mean"]) & (table["mean"] < table["ci_high"])).all()
    s2e = frame[frame.method == "s2e"]["acc"]
    assert table.loc["s2e", "mean"] == pytest.approx(s2e.mean())
    assert math.isnan(table.loc["random", "p_vs_random"])
    assert table.loc["s2e", "p_vs_random"] == pytest.approx(1 / 924)  # 1 of C(12, 6) splits
    assert 0.05 < table.loc["tpe", "p_vs_random"] <= 1.0
    assert "p_vs_random" not in summary_table(frame, value="acc", group="method", baseline=None)


def test_summary_markdown_shows_every_method_and_warns_below_five_seeds():
    many = summary_table(_frame(MIN_SEEDS), value="acc", group="method", baseline="random")
    extra = pd.DataFrame({"trials": [12, 12, 12]}, index=many.index)
    text = summary_markdown(many, legend="acc: clean test accuracy", extra=extra)
    lines = text.splitlines()
    assert lines[0] == "| method | seeds | mean | 95 % CI | p_vs_random | trials |"
    assert lines[2].startswith("| random | 5 | ") and lines[2].endswith("| baseline | 12 |")
    assert lines[-1] == "acc: clean test accuracy" and "Warning" not in text
    few = summary_table(_frame(3), value="acc", group="method", baseline="random")
    note = few_seeds_note(few["seeds"])
    assert note.startswith("Warning: fewer than 5 seeds in every row (3):")
    assert summary_markdown(few).endswith(note + "\n")
    mixed = pd.Series({"random": 5, "s2e": 3, "tpe": 1})
    assert few_seeds_note(mixed).startswith("Warning: fewer than 5 seeds for s2e (3), tpe (1):")
    assert few_seeds_note(many["seeds"]) == ""


def test_bootstrap_band_is_the_interval_of_each_column_and_nan_without_two_values():
    stack = np.array([[0.1, 0.5, np.nan], [0.2, 0.7, np.nan], [0.4, 0.6, 0.3]])
    low, high = bootstrap_band(stack, n_resamples=500)
    for k in range(2):
        assert (low[k], high[k]) == bootstrap_ci(stack[:, k], n_resamples=500)
    assert np.isnan(low[2]) and np.isnan(high[2])


def test_small_helpers_baseline_choice_and_mean_std_text():
    assert pick_baseline(["s2e", "random", "s2e"], "random") == "random"
    assert pick_baseline(["s2e", "tpe"], "random") == "s2e"  # first one when absent
    assert pick_baseline([], "random") is None
    assert mean_std_text(0.5, 0.01) == "0.5000 ± 0.0100"
    assert mean_std_text(0.5, math.nan) == "0.5000" and mean_std_text(math.nan, 0.1) == "n/a"


def test_summary_table_rejects_bad_input_naming_it():
    frame = _frame()
    with pytest.raises(KeyError, match="baseline 'plain' is not a method"):
        summary_table(frame, value="acc", group="method", baseline="plain")
    with pytest.raises(KeyError, match="columns \\['accuracy'\\] not in the frame"):
        summary_table(frame, value="accuracy", group="method", baseline=None)
    with pytest.raises(ValueError, match="more than one row for \\(method, seed\\)"):
        summary_table(pd.concat([frame, frame]), value="acc", group="method", baseline=None)
