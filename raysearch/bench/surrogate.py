"""A surrogate of a bench task: a schedule's per-epoch ``val_acc`` and ``test_acc`` curves from
its R(t), with the measured seed spread replayed (no Ray, no training).

* **features**: R(t) at the task's E epochs, t = 0 .. E-1 (epoch e trains with R(e-1)), from the
  schedule's family (``search_spaces.schedules``, S2E eq. (4) for the ``s2e`` family); checked
  against the table's ``keep_rate`` column when the surrogate is fitted.
* **model**: a scikit-learn regressor of the seed-mean curves (2E outputs), one of
  :data:`CANDIDATES` (k-NN, a Gaussian process with a Matérn kernel, gradient-boosted
  trees), picked by the Spearman of predicted vs measured final test accuracy on held-out
  schedules (``model="auto"``, :func:`select_model`; :data:`CHOSEN` per shipped task).
* **seed spread**: a run at seed s of a schedule gets the mean curves plus the deviation of one
  measured seed of the *nearest* tabulated schedule (Euclidean in R(t)), the seed drawn from
  ``default_rng([s, nearest])``: deterministic per (seed, schedule). The deviation from an
  n-seed mean is scaled by sqrt(n / (n - 1)) to have one run's variance.

:func:`validate` measures a model on held-out schedules (each fold predicted by a fit on the
others): Spearman of predicted vs measured final test accuracy and the error on the best 10 %.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from raysearch.bench.tables import METRICS, TaskTable
from search_spaces.schedules import family_of

KEEP_RATE_TOLERANCE = 1e-6
FOLDS = 5
TOP_SHARE = 0.10  # "the best 10 %" of :func:`validate`


def schedule_features(config: Mapping[str, Any], epochs: int) -> np.ndarray:
    """R(t) for t = 0 .. ``epochs``-1 of a schedule config (its ``family`` key names the family)."""
    return family_of(config).values(config, epochs)


def _knn(k: int) -> Callable[[int], Any]:
    def build(epochs: int) -> Any:
        from sklearn.neighbors import KNeighborsRegressor

        return KNeighborsRegressor(n_neighbors=k, weights="distance")

    return build


def _gp(epochs: int) -> Any:
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    # one length scale: per-epoch (ARD) scales cost minutes to fit and chase seed noise
    kernel = ConstantKernel(1.0) * Matern(1.0, (1e-2, 1e3), nu=2.5) + WhiteKernel(
        0.1, noise_level_bounds=(1e-6, 1.0)
    )
    return GaussianProcessRegressor(kernel, normalize_y=True, random_state=0)


class EpochStackedBoosting:
    """Gradient-boosted trees, one model per metric over rows (R(t) at every epoch, epoch e):
    the (schedules x E) features and (schedules x kE) targets stacked to one row per
    (schedule, epoch), so k models learn every epoch's value (not kE separate models)."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.models: list[Any] = []

    def _rows(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        return np.column_stack(
            [np.repeat(x, self.epochs, axis=0), np.tile(np.arange(self.epochs), n)]
        )

    def fit(self, x: np.ndarray, y: np.ndarray) -> EpochStackedBoosting:
        from sklearn.ensemble import HistGradientBoostingRegressor

        rows, e = self._rows(x), self.epochs
        self.models = [
            HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, random_state=0).fit(
                rows, y[:, k * e : (k + 1) * e].ravel()
            )
            for k in range(y.shape[1] // e)
        ]
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        rows = self._rows(x)
        return np.concatenate(
            [m.predict(rows).reshape(len(x), self.epochs) for m in self.models], axis=1
        )


CANDIDATES: dict[str, Callable[[int], Any]] = {
    "knn-3": _knn(3), "knn-8": _knn(8), "gp": _gp, "gbt": EpochStackedBoosting,
}  # fmt: skip
"""Model name -> ``build(epochs)``, an unfitted multi-output scikit-learn regressor."""

CHOSEN: dict[str, str] = {"sym50-e20-n6000": "gp", "pair45-e20-n4000": "gbt"}
"""Task -> the model :func:`select_model` picked on its shipped table (``bench run``'s default)."""


def check_models(names: Sequence[str]) -> None:
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown or not names:
        raise KeyError(
            f"unknown surrogate model(s) {list(unknown)}; models: {', '.join(CANDIDATES)}"
        )


def table_features(table: TaskTable) -> np.ndarray:
    """(schedules x E) R(t) of the table's schedules; ``ValueError`` where it differs from the
    ``keep_rate`` the runs used."""
    features = np.array([schedule_features(c, table.epochs) for c in table.configs])
    gap = np.abs(features - table.keep)
    if gap.max() > KEEP_RATE_TOLERANCE:
        worst = int(gap.max(axis=1).argmax())
        raise ValueError(
            f"R(t) of {table.design_ids[worst]} differs from the table's keep_rate by "
            f"{gap.max():.3g} (> {KEEP_RATE_TOLERANCE}): the table was made by another schedule code"
        )
    return features


def targets(table: TaskTable) -> np.ndarray:
    """(schedules x 2E): seed-mean val_acc curve, then test_acc curve."""
    return np.concatenate([table.mean(m) for m in METRICS], axis=1)


def fold_of(features: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold per schedule, schedules with equal R(t) in one fold (a reference and its grid twin)."""
    _, group = np.unique(features.round(9), axis=0, return_inverse=True)
    order = np.random.default_rng(seed).permutation(group.max() + 1)
    return (np.argsort(order)[group.ravel()] % folds).astype(int)


def _fit_predict(name: str, x: np.ndarray, y: np.ndarray, x_new: np.ndarray) -> np.ndarray:
    model = CANDIDATES[name](x.shape[1]).fit(x, y)
    return np.clip(np.asarray(model.predict(x_new), dtype=float).reshape(len(x_new), -1), 0.0, 1.0)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(stats.spearmanr(a, b).statistic)


def cross_validated(
    features: np.ndarray, y: np.ndarray, model: str, *, folds: int = FOLDS, seed: int = 0
) -> np.ndarray:
    """Every row of ``y`` predicted by ``model`` fitted on the other folds (:func:`fold_of`)."""
    check_models([model])
    fold = fold_of(features, folds, seed)
    predicted = np.empty_like(y)
    for k in range(folds):
        train, test = fold != k, fold == k
        predicted[test] = _fit_predict(model, features[train], y[train], features[test])
    return predicted


def select_model(
    table: TaskTable, *, models: Sequence[str] = tuple(CANDIDATES), folds: int = FOLDS,
    seed: int = 0,
) -> tuple[str, dict[str, dict[str, Any]]]:  # fmt: skip
    """The model of ``models`` with the highest held-out Spearman (:func:`validate`), and every
    model's :func:`validate` scores."""
    check_models(models)
    scores = {name: validate(table, model=name, folds=folds, seed=seed) for name in models}
    return max(scores, key=lambda n: scores[n]["spearman"]), scores


@dataclass
class Surrogate:
    """A fitted surrogate of one task (module docstring). ``curves`` and :meth:`objective`
    give what a trial of a schedule reports; :meth:`expected` the seed-mean prediction."""

    task: str
    epochs: int
    model_name: str
    model: Any
    features: np.ndarray  # (schedules x E) R(t) of the tabulated schedules
    residuals: np.ndarray  # (schedules x seeds x 2E) measured curves less their seed mean
    scores: dict[str, float] = field(default_factory=dict)  # selection Spearman per model

    def expected(self, schedules: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """(schedules x 2E): predicted seed-mean val_acc curve, then test_acc curve."""
        x = np.array([schedule_features(s, self.epochs) for s in schedules])
        return np.clip(np.asarray(self.model.predict(x), dtype=float).reshape(len(x), -1), 0, 1)

    def nearest(self, schedule: Mapping[str, Any]) -> int:
        """Index of the tabulated schedule nearest ``schedule`` in R(t)."""
        gap = self.features - schedule_features(schedule, self.epochs)
        return int(np.einsum("ij,ij->i", gap, gap).argmin())

    def deviation(self, schedule: Mapping[str, Any], seed: int) -> np.ndarray:
        """(2E,): the replayed seed deviation of a run of ``schedule`` at ``seed``."""
        near = self.nearest(schedule)
        n = self.residuals.shape[1]
        if n < 2:
            return np.zeros(self.residuals.shape[2])
        pick = int(np.random.default_rng([seed, near]).integers(n))
        return math.sqrt(n / (n - 1)) * self.residuals[near, pick]

    def curves(self, schedule: Mapping[str, Any], seed: int) -> dict[str, np.ndarray]:
        """Per-epoch ``val_acc``, ``test_acc`` of a run at ``seed``, and ``test_acc_expected``."""
        mean = self.expected([schedule])[0]
        run = np.clip(mean + self.deviation(schedule, seed), 0.0, 1.0)
        e = self.epochs
        return {"val_acc": run[:e], "test_acc": run[e:], "test_acc_expected": mean[e:]}

    def objective(self, seed: int) -> Callable[[Mapping[str, Any], int], dict[str, float]]:
        """``objective(trial config, epoch) -> metrics`` for :func:`raysearch.bench.simulate.simulate`
        (the config's ``schedule`` entry is the schedule), one schedule's curves computed once."""
        cache: dict[str, dict[str, np.ndarray]] = {}

        def objective(config: Mapping[str, Any], epoch: int) -> dict[str, float]:
            if not 1 <= epoch <= self.epochs:
                raise ValueError(f"epoch {epoch} outside the task's 1..{self.epochs}")
            schedule = config["schedule"]
            key = json.dumps(schedule, sort_keys=True)
            if key not in cache:
                cache[key] = self.curves(schedule, seed)
            return {name: float(curve[epoch - 1]) for name, curve in cache[key].items()}

        return objective


def fit_surrogate(
    table: TaskTable, *, model: str | None = None, models: Sequence[str] = tuple(CANDIDATES),
    seed: int = 0,
) -> Surrogate:  # fmt: skip
    """The surrogate of ``table`` with ``model`` (a :data:`CANDIDATES` name; ``None``: the
    task's :data:`CHOSEN` model, else ``"auto"``), or with the one of ``models`` that
    :func:`select_model` picks (``"auto"``)."""
    model = model or CHOSEN.get(table.task, "auto")
    scores: dict[str, float] = {}
    if model == "auto":
        model, validated = select_model(table, models=models, seed=seed)
        scores = {name: v["spearman"] for name, v in validated.items()}
    check_models([model])
    features, y = table_features(table), targets(table)
    measured = np.concatenate([table.curves[m] for m in METRICS], axis=2)
    return Surrogate(
        task=table.task, epochs=table.epochs, model_name=model,
        model=CANDIDATES[model](table.epochs).fit(features, y), features=features,
        residuals=measured - measured.mean(axis=1, keepdims=True), scores=scores,
    )  # fmt: skip


def validate(table: TaskTable, *, model: str, folds: int = FOLDS, seed: int = 0) -> dict[str, Any]:
    """Held-out quality of ``model`` on ``table``: every schedule predicted by the model fitted
    without its fold. ``spearman``: predicted vs measured seed-mean final test accuracy over all
    schedules; ``best10_mae`` / ``best10_bias``: mean |error| / mean error on the measured best
    10 %; ``best10_overlap``: the share of those the predictions also rank in their best 10 %;
    ``rmse`` (final test accuracy). For scale: ``seed_spearman`` (between the first two
    measured seeds) and ``best10_se`` (the pooled standard error of the seed means of the
    best 10 %: the error a perfect model of the true mean would show there)."""
    features, y = table_features(table), targets(table)
    predicted = cross_validated(features, y, model, folds=folds, seed=seed)
    real, guess = y[:, -1], predicted[:, -1]
    top = max(1, round(TOP_SHARE * len(real)))
    best, ranked = np.argsort(-real)[:top], np.argsort(-guess)[:top]
    finals = table.final("test_acc")
    n_seeds = finals.shape[1]
    return {
        "task": table.task, "model": model, "schedules": len(real), "folds": folds,
        "spearman": _spearman(guess, real),
        "best10_mae": float(np.abs(guess[best] - real[best]).mean()),
        "best10_bias": float((guess[best] - real[best]).mean()),
        "best10_overlap": len(set(best) & set(ranked)) / top,
        "rmse": float(np.sqrt(np.mean((guess - real) ** 2))),
        "seed_spearman": _spearman(finals[:, 0], finals[:, 1]) if n_seeds > 1 else math.nan,
        "best10_se": float(np.sqrt(finals[best].var(axis=1, ddof=1).mean() / n_seeds))
        if n_seeds > 1 else math.nan,
    }  # fmt: skip
