"""Bootstrap intervals, Mann–Whitney and paired Wilcoxon p-values and the summary table against
independent computations (a brute-force bootstrap loop, exact enumerations of every split and of
every sign flip)."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from raysearch.analysis.stats import (
    MIN_SEEDS,
    bootstrap_band,
    bootstrap_ci,
    display_table,
    few_seeds_note,
    mann_whitney_greater,
    mean_std_text,
    paired_difference,
    paired_notes,
    pick_baseline,
    summary_markdown,
    summary_table,
    wilcoxon_greater,
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
    # one seed each, tied (a 1-seed smoke run): no test, and no crash in scipy's permutation test
    assert math.isnan(mann_whitney_greater([0.5], [0.5])) and math.isnan(
        mann_whitney_greater([0.5], [0.5, 0.7])
    )


def _frame(seeds=6):
    rng = np.random.default_rng(0)
    rows = []
    for method, centre in (("random", 0.80), ("s2e", 0.86), ("tpe", 0.80)):
        for seed in range(seeds):
            rows.append({"method": method, "seed": seed, "acc": centre + rng.normal(0, 0.005)})
    return pd.DataFrame(rows)


def _enumerated_signed_rank_p(differences):
    """P(T+ >= T+_observed) over all 2^n sign flips of the non-zero differences (rounded to 12
    decimals), T+ being the sum of the average ranks of |d| over the positive differences."""
    d = [round(v, 12) for v in differences if round(v, 12) != 0]
    size = [abs(v) for v in d]
    ranks = [1 + sum(s < a for s in size) + (sum(s == a for s in size) - 1) / 2 for a in size]
    observed = sum(r for r, v in zip(ranks, d, strict=True) if v > 0)
    flips = list(itertools.product((0, 1), repeat=len(d)))
    hits = sum(
        sum(r for r, up in zip(ranks, f, strict=True) if up) >= observed - 1e-9 for f in flips
    )
    return hits / len(flips)


@pytest.mark.parametrize(
    "differences",
    [
        [0.012, 0.03, -0.005, 0.021, 0.008, -0.017],  # no ties: scipy's exact distribution
        [0.01, 0.01, 0.03, -0.01, 0.04],  # tied magnitudes: a permutation distribution
        [0.0, 0.01, 0.03, -0.02, 0.04, 0.0],  # zeros are dropped
        [0.83 - 0.82, 0.84 - 0.83, 0.1 + 0.2 - 0.3, 0.05, -0.02],  # float noise: a tie, a zero
        [-0.01, -0.02, 0.005, -0.03],
    ],
)
def test_wilcoxon_p_equals_an_enumeration_of_every_sign_flip(differences):
    p, note = wilcoxon_greater(differences)
    assert p == pytest.approx(_enumerated_signed_rank_p(differences), abs=1e-12) and note == ""


def test_paired_difference_aligns_by_seed_and_leaves_out_missing_and_failed_seeds():
    values = {3: 0.84, 0: 0.81, 1: 0.86, 2: 0.83, 4: 0.80, 5: math.nan}  # seed 5 failed
    baseline = pd.Series({0: 0.80, 1: 0.83, 2: 0.84, 3: 0.82, 4: 0.795, 5: 0.8, 9: 0.5})
    paired = paired_difference(values, baseline)
    d = [0.01, 0.03, -0.01, 0.02, 0.005]  # seeds 0..4
    assert paired.seeds == 5 and paired.mean == pytest.approx(np.mean(d)) and paired.note == ""
    assert paired.p == pytest.approx(_enumerated_signed_rank_p(d))
    assert (paired.ci_low, paired.ci_high) == pytest.approx(bootstrap_ci(np.array(d)), abs=1e-12)
    assert paired_difference({k: v + 0.01 for k, v in baseline.items()}, baseline).p == 1 / 2**7
    assert paired_difference(baseline, {k: v + 0.01 for k, v in baseline.items()}).p == 1.0
    with pytest.raises(ValueError, match=r"values has more than one value for seed\(s\) \[0\]"):
        paired_difference(pd.Series([0.8, 0.9], index=[0, 0]), baseline)


def test_paired_bootstrap_resamples_seeds_and_shrinks_with_more_of_them():
    rng = np.random.default_rng(5)
    seed_effect = rng.uniform(0.70, 0.90, 40)  # seeds differ far more than the methods do
    gain = 0.01 + rng.normal(0, 0.004, 40)
    x, y = pd.Series(seed_effect + gain), pd.Series(seed_effect)
    five = paired_difference(x[:5], y[:5])
    idx = rng.integers(0, 5, size=(20000, 5))  # brute force: resample the 5 seeds, keep pairs
    d5 = (x[:5] - y[:5]).to_numpy()
    expected = np.percentile(d5[idx].mean(axis=1), [2.5, 97.5])
    assert (five.ci_low, five.ci_high) == pytest.approx(tuple(expected), abs=5e-4)
    assert five.ci_low < five.mean < five.ci_high and 0 < five.ci_low
    unpaired = bootstrap_ci(x[:5].to_numpy() - y[:5].mean())  # ignoring the pairing: wide
    assert unpaired[1] - unpaired[0] > 5 * (five.ci_high - five.ci_low)
    widths = [paired_difference(x[:n], y[:n]) for n in (5, 10, 40)]
    for small, large in itertools.pairwise(widths):
        assert large.ci_high - large.ci_low < small.ci_high - small.ci_low
        assert large.ci_low < large.mean < large.ci_high


def test_paired_difference_without_a_test_says_why():
    zero = paired_difference({0: 0.8, 1: 0.7, 2: 0.9}, {0: 0.8, 1: 0.7, 2: 0.9})
    assert zero.seeds == 3 and zero.mean == 0 and (zero.ci_low, zero.ci_high) == (0, 0)
    assert math.isnan(zero.p) and zero.note == "every paired difference is 0"
    one = paired_difference({0: 0.82, 1: 0.9}, {0: 0.80, 2: 0.7})
    assert one.seeds == 1 and one.mean == pytest.approx(0.02)
    assert math.isnan(one.ci_low) and math.isnan(one.p) and one.note == "only 1 paired seed"
    none = paired_difference({0: 0.82}, {1: 0.80})
    assert none.seeds == 0 and math.isnan(none.mean) and none.note == "no seed in common"
    assert wilcoxon_greater([]) == (pytest.approx(math.nan, nan_ok=True), "no paired seed")


def _paired_frame(seeds=6):
    """random, s2e (+0.01 on every seed) and tpe (random's values shuffled across seeds) share
    a seed effect; only s2e gains on each seed."""
    rng = np.random.default_rng(0)
    effect = rng.uniform(0.78, 0.86, seeds)
    values = {"random": effect, "s2e": effect + 0.01 + rng.uniform(0, 0.002, seeds),
              "tpe": effect[::-1]}  # fmt: skip
    return pd.DataFrame(
        [{"method": m, "seed": s, "acc": v[s]} for m, v in values.items() for s in range(seeds)]
    )


def test_summary_table_pairs_every_method_with_the_baseline_by_seed():
    frame = _paired_frame()
    table = summary_table(frame, value="acc", group="method", baseline="random")
    assert list(table.index) == ["random", "s2e", "tpe"]
    assert list(table.columns) == [
        "seeds", "mean", "ci_low", "ci_high", "pairs_vs_random", "diff_vs_random",
        "diff_vs_random_low", "diff_vs_random_high", "p_vs_random", "note_vs_random",
    ]  # fmt: skip
    assert (table["seeds"] == 6).all()
    assert ((table["ci_low"] < table["mean"]) & (table["mean"] < table["ci_high"])).all()
    s2e = frame[frame.method == "s2e"]["acc"]
    assert table.loc["s2e", "mean"] == pytest.approx(s2e.mean())
    assert math.isnan(table.loc["random", "p_vs_random"])
    assert table.loc["s2e", "p_vs_random"] == pytest.approx(1 / 64)  # 1 of 2^6 sign flips
    assert 0.01 < table.loc["s2e", "diff_vs_random_low"] < table.loc["s2e", "diff_vs_random"]
    tpe = frame[frame.method == "tpe"].acc.to_numpy() - frame[frame.method == "random"].acc
    assert table.loc["tpe", "p_vs_random"] == pytest.approx(_enumerated_signed_rank_p(list(tpe)))
    assert table.loc["tpe", "p_vs_random"] > 0.05
    # unpaired, the seed effect hides the gain: Mann-Whitney cannot see what the pairs show
    assert mann_whitney_greater(s2e, frame[frame.method == "random"]["acc"]) > 0.1
    assert summary_table(frame, value="acc", group="method", baseline=None).shape[1] == 4
    both = summary_table(frame, value="acc", group="method", baseline=["random", "s2e"])
    assert both.loc["random", "p_vs_s2e"] == 1.0 and "p_vs_random" in both


def test_mann_whitney_only_for_a_method_that_shares_no_seed():
    frame = pd.concat([_paired_frame(5), pd.DataFrame(
        [{"method": "bohb", "seed": s, "acc": 0.9 + s / 1000} for s in (10, 11, 12, 13, 14)]
    )])  # fmt: skip
    table = summary_table(frame, value="acc", group="method", baseline="random")
    assert table.loc["bohb", "pairs_vs_random"] == 0 and math.isnan(
        table.loc["bohb", "p_vs_random"]
    )
    assert table.loc["bohb", "p_mw_vs_random"] == pytest.approx(1 / 252)
    assert table["p_mw_vs_random"].drop(index="bohb").isna().all()
    shown = display_table(table, points=True)
    assert shown.loc["bohb", "p (Mann-Whitney) vs random"] == "0.00397"
    assert shown.loc["s2e", "p (Mann-Whitney) vs random"] == ""
    assert shown.loc["bohb", "Δ vs random (points) [95 % CI]"] == "n/a"
    assert paired_notes(table) == "p = n/a (no seed in common): bohb vs random."
    assert (
        "p (Mann-Whitney)"
        not in display_table(
            summary_table(_paired_frame(5), value="acc", group="method", baseline="random")
        ).columns
    )


def test_display_table_shows_differences_with_their_paired_interval():
    frame = pd.DataFrame({"method": ["a"] * 3 + ["b"] * 3, "seed": [0, 1, 2] * 2,
                          "acc": [0.80, 0.82, 0.81, 0.80, 0.82, 0.81]})  # fmt: skip
    table = summary_table(frame, value="acc", group="method", baseline="a")
    shown = display_table(table, points=True)
    assert list(shown.columns) == ["seeds", "mean", "95 % CI", "Δ vs a (points) [95 % CI]",
                                   "p vs a"]  # fmt: skip
    assert shown.loc["a", "Δ vs a (points) [95 % CI]"] == "baseline"
    assert shown.loc["b", "Δ vs a (points) [95 % CI]"] == "+0.00 [0.00, 0.00]"
    assert shown.loc["b", "p vs a"] == "n/a"
    assert paired_notes(table) == "p = n/a (every paired difference is 0): b vs a."
    assert "p = n/a (every paired difference is 0): b vs a." in summary_markdown(table)
    in_units = display_table(summary_table(_paired_frame(), value="acc", group="method",
                                           baseline="random"))  # fmt: skip
    assert in_units.loc["s2e", "Δ vs random [95 % CI]"].startswith("+0.01")


def test_summary_markdown_shows_every_method_and_warns_below_five_seeds():
    many = summary_table(_frame(MIN_SEEDS), value="acc", group="method", baseline="random")
    extra = pd.DataFrame({"trials": [12, 12, 12]}, index=many.index)
    text = summary_markdown(many, legend="acc: clean test accuracy", extra=extra)
    lines = text.splitlines()
    assert (
        lines[0]
        == "| method | seeds | mean | 95 % CI | Δ vs random [95 % CI] | p vs random | trials |"
    )
    assert lines[2].startswith("| random | 5 | ") and lines[2].endswith(
        "| baseline | baseline | 12 |"
    )
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
