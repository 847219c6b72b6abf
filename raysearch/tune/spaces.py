"""Tune search spaces of the schedule families, so Tune's own searchers search the same space."""

from __future__ import annotations

from typing import Any

from ray import tune

from search_spaces.schedules import Param, ScheduleFamily

SCHEDULE_KEY = "schedule"


def _domain(param: Param) -> Any:
    if param.choices is not None:
        return tune.choice(list(param.choices))
    if param.simplex:
        return tune.uniform(0.0, 1.0)  # raw mix weight; the family normalises the group
    if param.log:
        return tune.loguniform(param.low, param.high)
    return tune.uniform(param.low, param.high)


def family_space(family: ScheduleFamily) -> dict[str, Any]:
    """``{"family": name, param: domain, ...}``: a Tune space over the family's configs.

    Mix weights are independent ``uniform(0, 1)`` raw weights (normalised by the family) for
    Tune's searchers; S2E searches the same keys as one Dirichlet block (``simplex_groups``).
    """
    return {"family": family.name, **{p.name: _domain(p) for p in family.params}}


def simplex_groups(
    family: ScheduleFamily, prefix: str = SCHEDULE_KEY + "/"
) -> list[tuple[str, ...]]:
    """The family's mix-weight groups as flattened Tune keys (``schedule/alpha1`` ...)."""
    return [tuple(prefix + name for name in names) for names in family.simplex_groups().values()]
