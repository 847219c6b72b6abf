"""Least-squares fit of a family's config to a target curve (S2E Appendix B.1).

Each continuous parameter is fitted on its unit coordinate (bounded in [0, 1]); mix weights
are fitted as non-negative raw weights that the family normalises onto the simplex.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import least_squares

from search_spaces.schedules import Config, ScheduleFamily


def fit_family(
    family: ScheduleFamily, target: np.ndarray, *, restarts: int = 8, seed: int = 0
) -> tuple[Config, float]:
    """The config of ``family`` whose R(t), t = 0..len(target)-1, is closest to ``target``.

    Returns the config and its root-mean-square error. Multi-start bounded least squares
    (``restarts`` random unit-cube starts); categorical parameters are not supported.
    """
    if any(p.choices is not None for p in family.params):
        raise ValueError(
            f"family {family.name!r} has categorical parameters; fit each choice separately"
        )
    target = np.asarray(target, dtype=float)
    epochs = len(target)

    def config_of(u: np.ndarray) -> Config:
        sample: dict[str, Any] = {}
        for p, value in zip(family.params, u, strict=True):
            sample[p.name] = max(float(value), 1e-9) if p.simplex else float(value)
        return family.decode(sample)

    def residual(u: np.ndarray) -> np.ndarray:
        return family.values(config_of(u), epochs) - target

    if restarts < 1:
        raise ValueError(f"restarts must be >= 1, got {restarts}")
    rng = np.random.default_rng(seed)
    fits = [
        least_squares(residual, rng.random(len(family.params)), bounds=(0.0, 1.0), diff_step=1e-4)
        for _ in range(restarts)
    ]
    best = min(fits, key=lambda fit: float(np.mean(fit.fun**2)))
    return config_of(best.x), float(np.sqrt(np.mean(best.fun**2)))
