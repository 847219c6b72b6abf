"""Any raysearch results folder as one pandas DataFrame (no Ray needed).

:func:`load_experiment` detects what a folder is and returns the *long* frame: one row per
trial and epoch, with columns ``searcher``, ``seed``, ``trial_id``, ``epoch``, the reported
metrics and the trial config flattened (``config/schedule/tau``). :func:`final_rows` turns it
into one row per trial (its last epoch). The kind found is in ``frame.attrs["kind"]``:

- ``compare``: a ``raysearch compare`` output, ``DIR/tune/<searcher>-seed<s>/<trial>/``;
- ``tune``: one Tune experiment folder (``DIR/<trial>/params.json``) or a storage folder of them;
- ``nas-search``: a Ray Train NAS search (``checkpoint_manager_snapshot.json``, one row per
  epoch, ``searcher`` = the method);
- ``nas-compare``: ``raysearch nas compare``'s table of evaluated architectures, one row per
  (method, seed), with at least :data:`NAS_COMPARE_REQUIRED` (a CSV file, or a folder holding
  one, e.g. ``OUT/nas_compare.csv``);
- ``nas-evaluate``: ``raysearch nas evaluate``'s table, one row per (genotype, seed), with at
  least :data:`NAS_EVALUATE_REQUIRED` (``OUT/evaluation.csv``), ``searcher`` = the genotype;
- ``reweight``: a ``raysearch reweight`` folder (Tune trials whose config has ``num_meta``), one
  row per seed and epoch with its own metrics (``rare_class_acc``, ``class_acc/<c>``, ...).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from raysearch.analysis.experiments import flatten, load_trial_epochs, read_params

KINDS = ("compare", "tune", "nas-search", "nas-compare", "nas-evaluate", "reweight")
NAS_COMPARE_REQUIRED = ("method", "seed", "test_acc", "search_time_s")
NAS_EVALUATE_REQUIRED = ("genotype_name", "seed", "test_acc")
REWEIGHT_KEY = "num_meta"  # a config key only ReweightSettings has
NAS_SNAPSHOT = "checkpoint_manager_snapshot.json"
_SEED_NAME = re.compile(r"^(?P<searcher>.+)-seed(?P<seed>\d+)$")
EXPECTED = (
    "a `raysearch compare` output (tune/<searcher>-seed<s>/), a Tune experiment folder "
    f"(<trial>/params.json), a NAS search folder ({NAS_SNAPSHOT}), a NAS compare table "
    f"(CSV with columns {', '.join(NAS_COMPARE_REQUIRED)}), a NAS evaluation table (CSV with "
    f"columns {', '.join(NAS_EVALUATE_REQUIRED)}) or a `raysearch reweight` folder"
)


def _has_trials(folder: Path) -> bool:
    return any(folder.glob("*/params.json"))


def _tune_experiments(folder: Path) -> list[Path]:
    """``folder`` itself if it holds trials, else its sub-folders that do."""
    if _has_trials(folder):
        return [folder]
    return sorted(p for p in folder.iterdir() if p.is_dir() and _has_trials(p))


def _table_csv(path: Path, required: tuple[str, ...]) -> Path | None:
    """``path`` or the first CSV in it with the ``required`` columns (``nas_compare.csv``)."""
    candidates = [path] if path.is_file() else sorted(path.glob("*.csv"))
    for csv in candidates:
        if csv.suffix == ".csv":
            header = set(pd.read_csv(csv, nrows=0).columns)
            if set(required) <= header:
                return csv
    return None


def _is_reweight(experiments: list[Path]) -> bool:
    """Every trial config of the first experiment that has one is a ReweightSettings config."""
    for experiment in experiments:
        for trial_dir in sorted(p.parent for p in experiment.glob("*/params.json")):
            config = read_params(trial_dir)
            if config is not None:
                return REWEIGHT_KEY in config
    return False


def _nas_snapshot(folder: Path) -> Path | None:
    if (folder / NAS_SNAPSHOT).is_file():
        return folder / NAS_SNAPSHOT
    return next(iter(sorted(folder.glob(f"*/{NAS_SNAPSHOT}"))), None)


def detect_kind(path: str | Path) -> str:
    """Which of :data:`KINDS` ``path`` is; ``ValueError`` naming it and what was expected."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such results folder {str(path)!r}; expected {EXPECTED}")
    if _table_csv(path, NAS_COMPARE_REQUIRED) is not None:  # its folder also holds Ray folders
        return "nas-compare"
    if _table_csv(path, NAS_EVALUATE_REQUIRED) is not None:  # the same for nas evaluate
        return "nas-evaluate"
    if path.is_dir():
        if (path / "tune").is_dir() and _tune_experiments(path / "tune"):
            return "compare"
        if _tune_experiments(path):
            return "reweight" if _is_reweight(_tune_experiments(path)) else "tune"
        if _nas_snapshot(path) is not None:
            return "nas-search"
    raise ValueError(f"{str(path)!r} holds no raysearch results; expected {EXPECTED}")


def _label(experiment: Path) -> dict[str, Any]:
    match = _SEED_NAME.match(experiment.name)
    if match:
        return {"searcher": match["searcher"], "seed": int(match["seed"])}
    return {"searcher": experiment.name, "seed": None}


def _tune_rows(experiment: Path, labels: dict[str, Any]) -> list[pd.DataFrame]:
    frames = []
    for trial_dir in sorted(p.parent for p in experiment.glob("*/params.json")):
        epochs = load_trial_epochs(trial_dir)
        if epochs.empty:  # created, never run (cut off by a scheduler's budget)
            continue
        config = flatten(read_params(trial_dir) or {})
        seed = labels["seed"] if labels["seed"] is not None else config.get("config/seed")
        frames.append(
            epochs.assign(
                **{**config, **labels, "seed": seed},
                experiment=experiment.name,
                trial_dir=trial_dir.name,
            )  # fmt: skip
        )
    return frames


def _load_tune(experiments: list[Path]) -> pd.DataFrame:
    frames = [f for e in experiments for f in _tune_rows(e, _label(e))]
    if not frames:
        raise ValueError(f"no trial in {[str(e) for e in experiments]} reported any epoch")
    return pd.concat(frames, ignore_index=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"corrupted file {path}: {error}") from None


def _load_nas_search(folder: Path) -> pd.DataFrame:
    snapshot = _nas_snapshot(folder)
    assert snapshot is not None
    results = _read_json(snapshot).get("checkpoint_results", [])
    frame = pd.DataFrame([r["metrics"] for r in results if "metrics" in r])
    if frame.empty:
        raise ValueError(f"{snapshot} records no reported epoch")
    settings = next(
        (p for p in (folder / "settings.json", snapshot.parent / "settings.json") if p.is_file()),
        None,
    )
    config = _read_json(settings) if settings is not None else {}
    frame = frame.drop_duplicates(subset="epoch", keep="last").sort_values("epoch")
    return frame.assign(
        **flatten(config), searcher=config.get("method", "nas"), seed=config.get("seed"),
        trial_id=snapshot.parent.name,
    ).reset_index(drop=True)  # fmt: skip


def _load_table(path: Path, required: tuple[str, ...], searcher: str) -> pd.DataFrame:
    """A NAS compare or evaluation table; ``searcher`` names the column that labels a row."""
    csv = _table_csv(path, required)
    assert csv is not None
    frame = pd.read_csv(csv)
    if frame.empty:
        raise ValueError(f"{csv} has a header but no rows")
    labels = frame[searcher]
    return frame.assign(
        searcher=labels,
        trial_id=[f"{m}-seed{s}" for m, s in zip(labels, frame["seed"], strict=True)],
    )


def load_experiment(path: str | Path) -> pd.DataFrame:
    """The long frame (one row per trial x epoch) of any raysearch results folder.

    ``frame.attrs`` holds ``kind`` (one of :data:`KINDS`) and ``path``. Trials that never
    reported are left out; epochs repeated by a resumed trial are kept once.
    """
    path = Path(path).expanduser().resolve()
    kind = detect_kind(path)
    if kind == "compare":
        frame = _load_tune(_tune_experiments(path / "tune"))
    elif kind in ("tune", "reweight"):
        frame = _load_tune(_tune_experiments(path))
    elif kind == "nas-search":
        frame = _load_nas_search(path)
    elif kind == "nas-evaluate":
        frame = _load_table(path, NAS_EVALUATE_REQUIRED, "genotype_name")
    else:
        frame = _load_table(path, NAS_COMPARE_REQUIRED, "method")
    frame.attrs.update(kind=kind, path=str(path))
    return frame


def final_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per trial (its last epoch), with ``epochs_trained``, ``finished`` and
    ``trial_order`` (1-based rank of the finishing time within its searcher and seed)."""
    if "epoch" not in frame:  # a NAS compare/evaluation table is one row per trial already
        final = frame.copy()
    else:
        keys = ["searcher", "seed", "trial_id"]
        ordered = frame.sort_values("epoch")
        final = ordered.groupby(keys, dropna=False, sort=True).tail(1).copy()
        final["epochs_trained"] = final["epoch"].astype(int)
        if "timestamp" in frame:
            final["finished"] = final["timestamp"].astype(float)
            final = final.sort_values(["searcher", "seed", "finished", "trial_id"], kind="stable")
            final["trial_order"] = final.groupby(["searcher", "seed"], dropna=False).cumcount() + 1
    final = final.reset_index(drop=True)
    final.attrs.update(frame.attrs)
    return final
