"""The cross-method benchmark's summary on synthetic runs (no training): intervals and paired
(by seed) differences and p-values against plain training, per setting."""

import numpy as np
import pandas as pd
import pytest

from benchmarks.cross_method_table import flat_table, markdown, plot, summarize


def _runs(seeds=5):
    rng = np.random.default_rng(2)
    levels = {"plain": 0.80, "LFM-DR": 0.86, "Co-teaching": 0.80}
    return pd.DataFrame(
        [
            {
                "setting": setting,
                "seed": seed,
                "method": method,
                "test_acc": level + rng.normal(0, 0.005),
                "rare_class_acc": 0.5 + rng.normal(0, 0.05),
            }
            for setting in ("symmetric 40%", "imbalance 100")
            for seed in range(seeds)
            for method, level in levels.items()
        ]  # fmt: skip
    )


def test_table_has_intervals_around_the_mean_and_p_values_against_plain_training(tmp_path):
    runs = _runs()
    table = flat_table(summarize(runs)).set_index(["setting", "method"])
    assert (table["seeds"] == 5).all()
    for metric in ("test_acc", "rare_class_acc"):
        mean, low, high = (table[f"{metric}_{c}"] for c in ("mean", "ci_low", "ci_high"))
        assert ((low < mean) & (mean < high)).all()
        p = table[f"{metric}_p_vs_plain"].drop(index="plain", level="method")
        assert ((0 <= p) & (p <= 1)).all()
    expected = runs[(runs.setting == "imbalance 100") & (runs.method == "LFM-DR")].test_acc.mean()
    assert table.loc[("imbalance 100", "LFM-DR"), "test_acc_mean"] == pytest.approx(expected)
    lfm = runs[(runs.setting == "imbalance 100") & (runs.method == "LFM-DR")].set_index("seed")
    plain = runs[(runs.setting == "imbalance 100") & (runs.method == "plain")].set_index("seed")
    row = table.loc[("imbalance 100", "LFM-DR")]
    assert row["test_acc_diff_vs_plain"] == pytest.approx((lfm.test_acc - plain.test_acc).mean())
    assert row["test_acc_pairs_vs_plain"] == 5
    assert row["test_acc_p_vs_plain"] == pytest.approx(1 / 32)  # better on each of the 5 seeds
    assert table.loc[("imbalance 100", "Co-teaching"), "test_acc_p_vs_plain"] > 0.05
    text = markdown(summarize(runs))
    assert text.startswith("### symmetric 40%\n\n| method | seeds | test_acc mean |")
    assert "| plain | 5 |" in text and "| baseline |" in text and "Warning" not in text
    assert "test_acc Δ vs plain (points) [95 % CI]" in text and "Wilcoxon" in text
    assert "Mann-Whitney" not in text  # every method ran every seed: all paired
    plot(table.reset_index(), tmp_path / "table.png", "synthetic")
    assert (tmp_path / "table.png").stat().st_size > 0


def test_fewer_than_five_seeds_are_flagged_per_setting():
    text = markdown(summarize(_runs(seeds=2)))
    assert text.count("Warning: fewer than 5 seeds in every row (2)") == 2
