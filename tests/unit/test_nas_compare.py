"""``raysearch nas compare`` without Ray: joins, resumability bookkeeping, table and figure."""

from __future__ import annotations

import math

import matplotlib.image
import pandas as pd
import pytest

from raysearch.nas.evaluation import EvalBudget
from raysearch.tune.nas_compare import (
    COLUMNS,
    NasCompareSettings,
    _finished_pairs,
    check_methods,
    compare_frame,
    write_report,
)
from raysearch.tune.nas_search import SearchSettings


def _search(method: str, seed: int, genotype: str | None, t: float, error=None) -> dict:
    return {"method": method, "seed": seed, "search_time_s": t, "search_wall_s": t + 20,
            "genotype": genotype, "cell_genotypes": None, "error": error}  # fmt: skip


SEARCHES = [
    _search("darts", 0, "G1", 10.0),
    _search("darts", 1, "G2", 14.0),
    _search("xnas", 0, "G1", 6.0),  # same genotype as darts seed 0: one evaluation serves both
    _search("xnas", 1, None, math.nan, error="search: boom"),
]
EVALS = pd.DataFrame(
    {
        "genotype_name": ["a", "b", "b"],
        "genotype": ["G1", "G2", "G2"],
        "seed": [0, 1, 1],
        "params_m": [0.10, 0.20, 0.20],
        "test_acc": [0.80, math.nan, 0.70],
        "wall_time_s": [30.0, 1.0, 40.0],
        "error": [None, "crash", None],
    }
)


def test_check_methods_lists_known_names() -> None:
    with pytest.raises(KeyError, match="darts-1st"):
        check_methods(["darts", "nope"])
    with pytest.raises(ValueError, match="repeat"):
        check_methods(["darts", "darts"])
    with pytest.raises(ValueError, match="no methods"):
        check_methods([])


def test_settings_validate_and_pass_base_to_wrappers_only() -> None:
    template = SearchSettings(method="lease", base="darts-1st")
    s = NasCompareSettings(methods=("darts", "lease"), seeds=(0, 1), search=template,
                           budget=EvalBudget())  # fmt: skip
    darts = s.search_settings("darts", 1)
    assert (darts.method, darts.seed, darts.base) == ("darts", 1, None)
    assert s.search_settings("lease", 0).base == "darts-1st"
    with pytest.raises(ValueError, match="lease"):
        SearchSettings(method="darts", base="darts-1st")
    with pytest.raises(ValueError, match="seeds"):
        NasCompareSettings(methods=("darts",), seeds=(0, 0), search=template, budget=EvalBudget())
    with pytest.raises(ValueError, match="seeds"):
        NasCompareSettings(methods=("darts",), seeds=(-1,), search=template, budget=EvalBudget())
    with pytest.raises(KeyError, match="asm"):
        NasCompareSettings(methods=("dart",), seeds=(0,), search=template, budget=EvalBudget())


def test_compare_frame_joins_search_and_evaluation() -> None:
    frame = compare_frame(SEARCHES, EVALS)
    assert list(frame.columns) == COLUMNS
    assert len(frame) == 4
    by = frame.set_index(["method", "seed"])
    assert by.loc[("darts", 0), "test_acc"] == 0.80
    assert by.loc[("xnas", 0), "test_acc"] == 0.80  # shared genotype and seed
    assert by.loc[("darts", 1), "test_acc"] == 0.70  # the successful retry, not the crash
    assert by.loc[("darts", 1), "eval_time_s"] == 40.0
    assert by.loc[("xnas", 1), "error"] == "search: boom"
    assert math.isnan(by.loc[("xnas", 1), "test_acc"])
    assert by[["error"]].isna().sum().item() == 3


def test_missing_evaluation_is_an_error_row() -> None:
    frame = compare_frame(SEARCHES[:1], pd.DataFrame())
    assert frame.loc[0, "error"] == "evaluate: no result"


def test_finished_pairs_skip_failed_evaluations() -> None:
    assert _finished_pairs(EVALS) == {("G1", 0), ("G2", 1)}
    assert _finished_pairs(EVALS.iloc[:2]) == {("G1", 0)}
    assert _finished_pairs(pd.DataFrame()) == set()


def test_table_and_figure_from_a_synthetic_csv(tmp_path) -> None:
    synthetic = pd.DataFrame(
        {
            "method": ["darts", "darts", "asm", "asm"],
            "seed": [0, 1, 0, 1],
            "search_time_s": [10.0, 14.0, 5.0, math.nan],
            "search_wall_s": [30.0, 34.0, 25.0, math.nan],
            "genotype": ["G1", "G2", "G3", None],
            "params_m": [0.1, 0.3, 0.2, math.nan],
            "test_acc": [0.8, 0.6, 0.75, math.nan],
            "eval_time_s": [1.0, 1.0, 1.0, math.nan],
            "error": [None, None, None, "search: boom"],
        }
    )
    synthetic.to_csv(tmp_path / "in.csv", index=False)
    frame = pd.read_csv(tmp_path / "in.csv")
    table = write_report(frame, tmp_path)
    assert list(table.index) == ["darts", "asm"]  # the order given, not sorted
    assert table.loc["darts", "test acc"] == "0.7000"
    assert table.loc["darts", "95 % CI"] == "[0.6000, 0.8000]"
    assert table.loc["darts", "search time (s)"] == f"12.0 ± {pd.Series([10.0, 14.0]).std():.1f}"
    assert table.loc["asm", "test acc"] == "0.7500"  # one finished seed: the value ...
    assert table.loc["asm", "95 % CI"] == "n/a"  # ... and no interval
    # paired by seed: asm's one finished seed (0) vs darts' seed 0, -5 points, too few to test
    assert table.loc["asm", "Δ vs darts (points) [95 % CI]"] == "-5.00 [n/a]"
    assert table.loc["asm", "p vs darts"] == "n/a"
    assert table.loc["asm", "seeds ok"] == "1/2"
    md = (tmp_path / "nas_compare.md").read_text()
    assert md.splitlines()[0].startswith("| method | search time (s)")
    assert "| asm |" in md and "Warning: fewer than 5 seeds in every row (1/2)" in md
    assert "p = n/a (only 1 paired seed): asm vs darts." in md and "Wilcoxon" in md
    assert pd.read_csv(tmp_path / "nas_compare.csv").shape == (4, len(COLUMNS))
    image = matplotlib.image.imread(tmp_path / "nas_compare.png")
    assert image.shape[0] > 100 and image.shape[1] > 100


def test_table_with_five_seeds_has_intervals_around_the_mean_and_a_p_value_vs_darts(
    tmp_path,
) -> None:
    accs = {"darts": [0.80, 0.81, 0.79, 0.805, 0.795], "asm": [0.85, 0.86, 0.84, 0.855, 0.845],
            "xnas": [0.81, 0.78, 0.80, 0.79, 0.815]}  # fmt: skip
    frame = pd.DataFrame(
        [
            {
                "method": m,
                "seed": seed,
                "search_time_s": 10.0,
                "search_wall_s": 20.0,
                "params_m": 0.1,
                "test_acc": a,
            }
            for m, values in accs.items()
            for seed, a in enumerate(values)
        ]  # fmt: skip
    )
    table = write_report(frame, tmp_path)
    for method, values in accs.items():
        mean = sum(values) / 5
        assert table.loc[method, "test acc"] == f"{mean:.4f}"
        low, high = (float(v) for v in table.loc[method, "95 % CI"].strip("[]").split(", "))
        assert min(values) <= low < mean < high <= max(values)
    # paired: asm beats darts on each of the 5 seeds, 1 of the 2^5 sign flips
    assert float(table.loc["asm", "p vs darts"]) == pytest.approx(1 / 32, abs=1e-4)
    assert table.loc["asm", "Δ vs darts (points) [95 % CI]"] == "+5.00 [5.00, 5.00]"
    assert 0.05 < float(table.loc["xnas", "p vs darts"]) <= 1
    assert "Warning" not in (tmp_path / "nas_compare.md").read_text()
