"""The schedules the benchmark trains (no Ray): a scrambled Sobol design over the ``s2e`` family,
the grids of the ``coteaching``, ``single`` and ``constant`` families, and the two references.

Sobol points (Owen-scrambled, ``scipy.stats.qmc.Sobol``) live in the unit cube of the family's
relaxation: the four mix weights come from four coordinates through ``-log(1 - u)``, normalised
(a uniform point on the simplex when the u are uniform, Dirichlet(1, 1, 1, 1)), each of the 16
basis parameters from one coordinate mapped onto its range. Every design point is
``{"design_id", "kind", "schedule"}``; ids are stable (``sobol-0007``, ``coteaching-0012``).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from scipy.stats import qmc

from search_spaces.schedules import REFERENCES, get_family, reference_schedule

COTEACHING_GRID = {
    "tau": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
    "t_k": (5.0, 10.0, 20.0, 40.0, 80.0),  # reference epochs of 200
    "c": (0.5, 1.0, 2.0),
}
SINGLE_GRID = {
    "basis": (1, 2, 3, 4),
    "a1": (0.25, 0.75),
    "a2": (0.05, 0.25),
    "a3": (0.0, 0.25),
    "a4": (0.5, 1.5),
}
CONSTANT_GRID = {"keep": (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)}


def sobol_schedules(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` s2e-family configs at the first ``n`` points of a scrambled Sobol sequence."""
    if n < 1:
        raise ValueError(f"need at least one Sobol point, got {n}")
    family = get_family("s2e")
    weights = [p for p in family.params if p.simplex]
    boxes = [p for p in family.params if not p.simplex]
    points = qmc.Sobol(d=len(weights) + len(boxes), scramble=True, seed=seed).random(n)
    configs = []
    for u in points:
        raw = -np.log1p(-np.clip(u[: len(weights)], 0.0, 1.0 - 1e-12))
        config: dict[str, Any] = {p.name: float(w) for p, w in zip(weights, raw, strict=True)}
        for p, value in zip(boxes, u[len(weights) :], strict=True):
            config[p.name] = p.from_unit(float(value))
        configs.append(family.validate(config))
    return configs


def grid_schedules(family_name: str, grid: dict[str, tuple]) -> list[dict[str, Any]]:
    """Every combination of ``grid`` (parameter -> values) as a validated config."""
    family = get_family(family_name)
    names = list(grid)
    return [
        family.validate(dict(zip(names, values, strict=True)))
        for values in itertools.product(*(grid[n] for n in names))
    ]


def schedule_design(*, sobol: int, noise_rate: float, seed: int = 0) -> list[dict[str, Any]]:
    """The benchmark's schedules for a task with ``noise_rate``: the references first, then the
    grids, then ``sobol`` Sobol points (a prefix of a Sobol sequence is itself space-filling,
    so a partly tabulated design is still a spread-out sample)."""
    rows = [
        {"design_id": f"reference-{name}", "kind": "reference",
         "schedule": reference_schedule(name, noise_rate)}
        for name in REFERENCES
    ]  # fmt: skip
    for family_name, grid in (
        ("coteaching", COTEACHING_GRID),
        ("single", SINGLE_GRID),
        ("constant", CONSTANT_GRID),
    ):
        rows += [
            {"design_id": f"{family_name}-{i:04d}", "kind": "grid", "schedule": config}
            for i, config in enumerate(grid_schedules(family_name, grid))
        ]
    rows += [
        {"design_id": f"sobol-{i:04d}", "kind": "sobol", "schedule": config}
        for i, config in enumerate(sobol_schedules(sobol, seed))
    ]
    return rows
