"""``raysearch nas compare``: search with every method, evaluate every genotype in one stage.

XNAS issue item 4 / DESIGN.md "Evaluation stage": for each (method, seed) one supernet search as
a Ray Train job (:func:`raysearch.tune.nas_search.run_search`), then each found genotype trained
from scratch with the same seed by :func:`raysearch.tune.nas_evaluate.evaluate` (one call per
seed, the methods side by side). Resumable: a finished search leaves
``OUT/searches/<method>-seed<s>.json`` and is not run again; evaluated (genotype, seed) pairs
are kept in ``OUT/evaluations.csv`` and not trained again. Output: ``OUT/nas_compare.csv``
(one row per (method, seed)), ``OUT/nas_compare.md`` (per method: search time, parameters,
accuracy, mean ± std over seeds) and ``OUT/nas_compare.png`` (accuracy vs search time).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from raysearch.analysis.nas_report import (
    nas_summary_markdown,
    nas_summary_table,
    plot_accuracy_vs_search_time,
)
from raysearch.nas.evaluation import EvalBudget
from raysearch.nas.methods import method_names, takes_base
from raysearch.tune.nas_search import SearchSettings, check_search, run_search

COLUMNS = ["method", "seed", "search_time_s", "search_wall_s", "genotype", "params_m",
           "test_acc", "eval_time_s", "error"]  # fmt: skip
EVAL_FILE, CSV, TABLE, FIGURE = (
    "evaluations.csv",
    "nas_compare.csv",
    "nas_compare.md",
    "nas_compare.png",
)


def check_methods(methods: Sequence[str]) -> None:
    """Raise (before any Ray work) on an empty list, a repeated or an unknown method name."""
    if not methods:
        raise ValueError(f"no methods given; known: {method_names()}")
    unknown = [m for m in methods if m not in method_names()]
    if unknown:
        raise KeyError(f"unknown NAS method(s) {unknown}; known: {method_names()}")
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods repeat: {list(methods)}")


@dataclass(frozen=True, kw_only=True)
class NasCompareSettings:
    """Methods x seeds; ``search`` is the template search (its method and seed are replaced per
    run; its ``base`` goes to the wrapper methods only); ``budget`` is the evaluation size."""

    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    search: SearchSettings
    budget: EvalBudget
    workers: int = 1
    gpus_per_worker: float = 0.0
    max_concurrent: int | None = None

    def __post_init__(self) -> None:
        check_methods(self.methods)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ValueError(f"seeds must be distinct integers >= 0, got {list(self.seeds)}")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ValueError(f"max_concurrent must be >= 1 or None, got {self.max_concurrent}")

    def search_settings(self, method: str, seed: int) -> SearchSettings:
        base = self.search.base if takes_base(method) else None
        return replace(self.search, method=method, seed=seed, base=base)


def run_compare(settings: NasCompareSettings, out: str | Path) -> pd.DataFrame:
    """Search, evaluate, write the CSV, table and figure; returns the (method, seed) frame."""
    folder = Path(out).expanduser().resolve()
    for method in settings.methods:  # every method built once: bad options fail before Ray
        check_search(settings.search_settings(method, settings.seeds[0]),
                     workers=settings.workers, gpus_per_worker=settings.gpus_per_worker)  # fmt: skip
    (folder / "searches").mkdir(parents=True, exist_ok=True)
    searches = [
        _search(settings, method, seed, folder)
        for method in settings.methods
        for seed in settings.seeds
    ]
    evaluations = _evaluate(settings, searches, folder)
    frame = compare_frame(searches, evaluations)
    write_report(frame, folder)
    return frame


def _search(settings: NasCompareSettings, method: str, seed: int, folder: Path) -> dict[str, Any]:
    path = folder / "searches" / f"{method}-seed{seed}.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    start = time.perf_counter()
    result = run_search(
        settings.search_settings(method, seed), workers=settings.workers,
        gpus_per_worker=settings.gpus_per_worker, storage_path=str(folder / "ray"),
        name=f"search-{method}-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}",
    )  # fmt: skip
    metrics = result.metrics or {}
    record = {
        "method": method,
        "seed": seed,
        "search_time_s": float(metrics.get("search_time_s", math.nan)),
        "search_wall_s": time.perf_counter() - start,
        "genotype": metrics.get("genotype"),
        "cell_genotypes": metrics.get("cell_genotypes"),
        "error": None if result.error is None else f"search: {result.error}",
    }
    if record["error"] is None:  # a failed search is retried by the next run
        path.write_text(json.dumps(record, indent=1))
    return record


def _evaluate(
    settings: NasCompareSettings, searches: list[dict[str, Any]], folder: Path
) -> pd.DataFrame:
    from raysearch.tune.nas_evaluate import evaluate

    path = folder / EVAL_FILE
    done = pd.read_csv(path) if path.exists() else pd.DataFrame()
    for seed in settings.seeds:
        finished = _finished_pairs(done)
        todo = sorted({r["genotype"] for r in searches
                       if r["error"] is None and r["seed"] == seed
                       and (r["genotype"], seed) not in finished})  # fmt: skip
        if not todo:
            continue
        rows = evaluate(
            todo, [seed], settings.budget, storage_path=str(folder / "ray"),
            name=f"evaluate-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}",
            max_concurrent=settings.max_concurrent,
        )  # fmt: skip
        done = pd.concat([done, rows], ignore_index=True)
        done.to_csv(path, index=False)
    return done


def _finished_pairs(evaluations: pd.DataFrame) -> set[tuple[str, int]]:
    if evaluations.empty:
        return set()
    ok = evaluations["test_acc"].notna()
    if "error" in evaluations:
        ok &= evaluations["error"].isna()
    return {
        (str(g), int(s))
        for g, s in evaluations.loc[ok, ["genotype", "seed"]].itertuples(index=False)
    }


def compare_frame(searches: list[dict[str, Any]], evaluations: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, seed): the search's time and genotype joined with its evaluation
    (the last successful one of that genotype and seed); ``error`` says which stage failed."""
    index: dict[tuple[str, int], dict[str, Any]] = {}
    for row in [] if evaluations.empty else evaluations.to_dict("records"):
        key = (str(row["genotype"]), int(row["seed"]))
        if key not in index or not _failed(row):
            index[key] = row
    rows = []
    for s in searches:
        ev = index.get((str(s["genotype"]), int(s["seed"])), {})
        error = s["error"]
        if error is None and not ev:
            error = "evaluate: no result"
        elif error is None and _failed(ev):
            error = f"evaluate: {ev.get('error')}"
        rows.append({
            "method": s["method"], "seed": s["seed"], "search_time_s": s["search_time_s"],
            "search_wall_s": s["search_wall_s"], "genotype": s["genotype"],
            "params_m": ev.get("params_m", math.nan), "test_acc": ev.get("test_acc", math.nan),
            "eval_time_s": ev.get("wall_time_s", math.nan), "error": error,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def _failed(row: dict[str, Any]) -> bool:
    error = row.get("error")
    acc = row.get("test_acc")
    has_error = isinstance(error, str) and error != ""
    return has_error or acc is None or not math.isfinite(float(acc))


def write_report(frame: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """``nas_compare.csv``, ``nas_compare.md`` and ``nas_compare.png`` in ``folder``."""
    frame.to_csv(folder / CSV, index=False)
    table = nas_summary_table(frame)
    (folder / TABLE).write_text(nas_summary_markdown(frame))
    plot_accuracy_vs_search_time(frame, folder / FIGURE)
    return table
