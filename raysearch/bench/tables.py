"""Read the schedule benchmark's tables (``raysearch bench tabulate``'s parquet files; no Ray).

A table holds one row per (seed, schedule, epoch) of one task (columns
:data:`raysearch.bench.tabulate.TABLE_COLUMNS`). The shipped tables live in
:data:`TABLES_DIR` (``raysearch/bench/tables/<task>.parquet``); any folder of such files can be
read instead. :class:`TaskTable` arranges a table as arrays: one row per schedule, the seeds and
epochs along the other axes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TABLES_DIR = Path(__file__).resolve().parent / "tables"
METRICS = ("val_acc", "test_acc")
REQUIRED = ("task", "seed", "design_id", "kind", "family", "schedule", "epoch", "keep_rate",
            *METRICS)  # fmt: skip


def table_path(task: str, tables: str | Path | None = None) -> Path:
    """``<tables>/<task>.parquet`` (default folder: the shipped :data:`TABLES_DIR`)."""
    return (
        Path(tables).expanduser() / f"{task}.parquet" if tables else TABLES_DIR / f"{task}.parquet"
    )


def tabulated_tasks(tables: str | Path | None = None) -> list[str]:
    """The tasks with a table in ``tables`` (default: the shipped ones), sorted."""
    folder = Path(tables).expanduser() if tables else TABLES_DIR
    return sorted(p.stem for p in folder.glob("*.parquet"))


def load_table(task: str, tables: str | Path | None = None) -> pd.DataFrame:
    """The table of ``task``; ``KeyError`` listing the tabulated tasks when there is none."""
    path = table_path(task, tables)
    if not path.is_file():
        folder = path.parent
        raise KeyError(
            f"no table for task {task!r} in {folder}; tabulated tasks: "
            f"{', '.join(tabulated_tasks(folder)) or 'none (run raysearch bench tabulate)'}"
        )
    table = pd.read_parquet(path)
    missing = [c for c in REQUIRED if c not in table]
    if missing:
        raise ValueError(f"{path} lacks columns {missing}; a bench table has {list(REQUIRED)}")
    return table


@dataclass(frozen=True)
class TaskTable:
    """A task's table as arrays. ``curves[m]``: (schedules x seeds x epochs) of metric ``m``;
    ``keep``: (schedules x epochs) the R(t) each epoch used; ``configs``: the schedules."""

    task: str
    design_ids: tuple[str, ...]
    kinds: tuple[str, ...]
    configs: tuple[dict[str, Any], ...]
    seeds: tuple[int, ...]
    keep: np.ndarray
    curves: dict[str, np.ndarray]

    @property
    def epochs(self) -> int:
        return int(self.keep.shape[1])

    def mean(self, metric: str) -> np.ndarray:
        """(schedules x epochs): the seed mean of ``metric``."""
        return self.curves[metric].mean(axis=1)

    def final(self, metric: str) -> np.ndarray:
        """(schedules x seeds): ``metric`` after the last epoch."""
        return self.curves[metric][:, :, -1]

    def index(self, design_id: str) -> int:
        if design_id not in self.design_ids:
            raise KeyError(f"design {design_id!r} not in the table of {self.task}")
        return self.design_ids.index(design_id)

    @classmethod
    def from_frame(cls, table: pd.DataFrame) -> TaskTable:
        """Arrange a bench table; ``ValueError`` when it is not one task with every (seed,
        schedule, epoch) present once."""
        tasks = table["task"].unique()
        if len(tasks) != 1:
            raise ValueError(f"a task table holds one task, got {list(tasks)}")
        seeds = sorted(int(s) for s in table["seed"].unique())
        epochs = sorted(int(e) for e in table["epoch"].unique())
        if epochs != list(range(1, len(epochs) + 1)):
            raise ValueError(f"epochs must be 1..E, got {epochs}")
        ids = sorted(table["design_id"].unique())
        full = pd.MultiIndex.from_product(
            [ids, seeds, epochs], names=["design_id", "seed", "epoch"]
        )
        indexed = table.set_index(["design_id", "seed", "epoch"])
        if indexed.index.duplicated().any() or len(indexed) != len(full):
            counts = table.groupby("design_id").size()
            short = counts[counts != len(seeds) * len(epochs)]
            raise ValueError(
                f"every schedule needs {len(seeds)} seeds x {len(epochs)} epochs once; "
                f"schedules with other row counts: {dict(short.head(5))}"
            )
        indexed = indexed.reindex(full)
        shape = (len(ids), len(seeds), len(epochs))
        first = table.drop_duplicates("design_id").set_index("design_id").loc[ids]
        keep = indexed["keep_rate"].to_numpy(float).reshape(shape)[:, 0, :]
        return cls(
            task=str(tasks[0]), design_ids=tuple(ids), kinds=tuple(first["kind"]),
            configs=tuple(json.loads(s) for s in first["schedule"]), seeds=tuple(seeds),
            keep=keep, curves={m: indexed[m].to_numpy(float).reshape(shape) for m in METRICS},
        )  # fmt: skip
