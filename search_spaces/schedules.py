"""Schedule families R(t): the fraction of each mini-batch *kept* (small-loss samples) at epoch t.

Every family (S2E Sec. 3.3 and its Table 3 ablations) declares its parameters, gives the
relaxation blocks S2E searches over (a simplex for mix weights, [0, 1] for the rest), decodes a
relaxation sample into a plain-JSON config, and turns a config into ``t -> R(t)`` in [0, 1].

Time convention: the papers train for ``T_REF = 200`` epochs and their parameter ranges are
tuned for that. A run of ``T`` epochs evaluates a family at the reference time
``t_ref = t * T_REF / T``, so a config means the same *shape* of R over relative training time
whatever ``T`` is (Co-teaching's ``T_k = 10`` is 5 % of training).

Note: the official S2E code works with a *forget* rate ``1 - R``; here R is always kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from raysearch.relax import CategoricalBlock, SimplexBlock, UnitBlock

T_REF = 200.0

Config = dict[str, Any]
Curve = Callable[[Mapping[str, Any], np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Param:
    """One schedule parameter: a box ``[low, high]`` (log scale if ``log``), a categorical
    ``choices``, or a mix weight that belongs to the simplex group ``simplex``."""

    name: str
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    choices: tuple[int, ...] | None = None
    simplex: str | None = None

    def from_unit(self, u: float) -> float:
        """Map ``u`` in [0, 1] onto the parameter's range (linear or logarithmic)."""
        if self.log:
            return float(np.exp(np.log(self.low) + u * (np.log(self.high) - np.log(self.low))))
        return float(self.low + u * (self.high - self.low))

    def check(self, value: Any) -> None:
        if isinstance(value, bool):  # a bool is an int to Python, not a number to a user
            raise ValueError(f"parameter {self.name!r} must be a number, got {value!r}")
        if self.choices is not None:
            if value not in self.choices:
                raise ValueError(
                    f"parameter {self.name!r} must be one of {list(self.choices)}, got {value!r}"
                )
            return
        if self.simplex and isinstance(value, (int, float)) and np.isfinite(value) and value >= 0:
            return  # raw mix weights: any non-negative numbers, normalised by `validate`
        if (
            not isinstance(value, (int, float))
            or not np.isfinite(value)
            or not self.low <= value <= self.high
        ):
            raise ValueError(
                f"parameter {self.name!r} must be a number in [{self.low}, {self.high}], got {value!r}"
            )


@dataclass(frozen=True)
class ScheduleFamily:
    """A search space of schedules (DESIGN.md "Schedule family" contract)."""

    name: str
    description: str
    params: tuple[Param, ...]
    curve: Curve  # raw R on reference time t_ref in [0, T_REF); clipped to [0, 1] by `values`

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.params]

    def simplex_groups(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for p in self.params:
            if p.simplex:
                groups.setdefault(p.simplex, []).append(p.name)
        return groups

    def blocks(self) -> list[SimplexBlock | UnitBlock | CategoricalBlock]:
        """Relaxation blocks: Dirichlet per simplex group, Beta per box, categorical per choice (S2E Sec. 3.4.1)."""
        blocks: list[SimplexBlock | UnitBlock | CategoricalBlock] = [
            SimplexBlock(tuple(names)) for names in self.simplex_groups().values()
        ]
        for p in self.params:
            if p.choices is not None:
                blocks.append(CategoricalBlock(p.name, len(p.choices)))
            elif not p.simplex:
                blocks.append(UnitBlock(p.name))
        return blocks

    def decode(self, sample: Mapping[str, Any]) -> Config:
        """A relaxation sample (simplex weights, [0, 1] values, category indices) to a config."""
        config: Config = {"family": self.name}
        for p in self.params:
            value = sample[p.name]
            if p.choices is not None:
                config[p.name] = p.choices[int(value)]
            elif p.simplex:
                config[p.name] = float(value)
            else:
                config[p.name] = p.from_unit(float(np.clip(value, 0.0, 1.0)))
        return self.validate(config)

    def validate(self, config: Mapping[str, Any]) -> Config:
        """Check a config; return it with mix weights normalised onto the simplex."""
        if config.get("family", self.name) != self.name:
            raise ValueError(f"config of family {config['family']!r} given to family {self.name!r}")
        missing = [n for n in self.param_names if n not in config]
        if missing:
            raise KeyError(
                f"schedule family {self.name!r} config lacks {missing}; expected keys: {self.param_names}"
            )
        unknown = sorted(set(config) - set(self.param_names) - {"family"})
        if unknown:
            raise KeyError(
                f"schedule family {self.name!r} has no parameters {unknown}; expected keys: {self.param_names}"
            )
        out: Config = {"family": self.name}
        for p in self.params:
            p.check(config[p.name])
            out[p.name] = config[p.name]
        for names in self.simplex_groups().values():
            total = sum(float(out[n]) for n in names)
            if total <= 0:
                raise ValueError(
                    f"mix weights {names} of family {self.name!r} sum to {total}; need a positive sum"
                )
            for n in names:
                out[n] = float(out[n]) / total
        return out

    def values(self, config: Mapping[str, Any], epochs: int) -> np.ndarray:
        """R(t) for t = 0 .. epochs-1, clipped to [0, 1]."""
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        checked = self.validate(config)
        t_ref = np.arange(epochs, dtype=float) * T_REF / epochs
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            raw = np.asarray(self.curve(checked, t_ref), dtype=float)
        return np.clip(np.nan_to_num(raw, nan=0.0), 0.0, 1.0)

    def schedule(self, config: Mapping[str, Any], epochs: int) -> Callable[[int], float]:
        """``t -> R(t)`` for a run of ``epochs`` epochs (t in 0 .. epochs-1)."""
        table = self.values(config, epochs)

        def keep_rate(t: int) -> float:
            if not 0 <= t < epochs:
                raise ValueError(f"epoch {t} outside the schedule's 0..{epochs - 1}")
            return float(table[t])

        return keep_rate

    def center_config(self) -> Config:
        """The config at the centre of the space (uniform mix weights, mid-range values)."""
        sample: dict[str, Any] = {}
        for names in self.simplex_groups().values():
            sample.update({n: 1.0 / len(names) for n in names})
        for p in self.params:
            if p.choices is not None:
                sample[p.name] = 0
            elif not p.simplex:
                sample[p.name] = 0.5
        return self.decode(sample)


# --- S2E's four basis functions (S2E Table 1) -------------------------------------------------


def _decreasing(kind: str, a1: float, a2: float, t: np.ndarray) -> np.ndarray:
    """exp(-a2 t^a1) ("exp") or (1 + a2 t)^(-a1) ("power"): 1 at t = 0, then falling."""
    return np.exp(-a2 * t**a1) if kind == "exp" else (1.0 + a2 * t) ** (-a1)


def _increasing(kind: str, a4: float, t: np.ndarray) -> np.ndarray:
    """(t/T)^a4 ("poly") or log(1 + t^a4) / log(1 + T^a4) ("log"): rising from 0 to 1."""
    return (t / T_REF) ** a4 if kind == "poly" else np.log1p(t**a4) / np.log1p(T_REF**a4)


BASES = {1: ("exp", "poly"), 2: ("exp", "log"), 3: ("power", "poly"), 4: ("power", "log")}


def basis(i: int, a1: float, a2: float, a3: float, a4: float, t: np.ndarray) -> np.ndarray:
    """S2E Table 1, f_i(t; a) = decreasing(t; a1, a2) + a3 * increasing(t; a4)."""
    dec, inc = BASES[i]
    return _decreasing(dec, a1, a2, t) + a3 * _increasing(inc, a4, t)


def _basis_params(prefix: str) -> tuple[Param, ...]:
    """a1 (decay exponent) in [0, 1], a2 (decay rate) in [0, 0.5], a3 (rise weight) in [0, 0.5],
    a4 (rise exponent) in [0, 2]: the official S2E code's ranges for the same roles."""
    return (
        Param(f"{prefix}a1", 0.0, 1.0),
        Param(f"{prefix}a2", 0.0, 0.5),
        Param(f"{prefix}a3", 0.0, 0.5),
        Param(f"{prefix}a4", 0.0, 2.0),
    )


def _s2e_curve(c: Mapping[str, Any], t: np.ndarray) -> np.ndarray:
    """S2E eq. (4): R(t) = sum_i alpha_i f_i(t; beta_i)."""
    return sum(
        c[f"alpha{i}"] * basis(i, c[f"f{i}_a1"], c[f"f{i}_a2"], c[f"f{i}_a3"], c[f"f{i}_a4"], t)
        for i in BASES
    )


def _single_curve(c: Mapping[str, Any], t: np.ndarray) -> np.ndarray:
    return basis(int(c["basis"]), c["a1"], c["a2"], c["a3"], c["a4"], t)


def _coteaching_curve(c: Mapping[str, Any], t: np.ndarray) -> np.ndarray:
    """S2E eq. (1) / Co-teaching: R(t) = 1 - tau * min((t / T_k)^c, 1)."""
    ratio = np.divide(t, c["t_k"], out=np.full_like(t, np.inf), where=c["t_k"] > 0)
    ratio[t == 0] = 0.0
    ramp = np.minimum(ratio ** c["c"], 1.0)
    return 1.0 - c["tau"] * ramp


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _rbf_curve(c: Mapping[str, Any], t: np.ndarray) -> np.ndarray:
    """RBF network of s = t/T: sigmoid(b + sum_j w_j exp(-(s - c_j)^2 / (2 width_j^2))) (S2E Sec. 4.3.1)."""
    s = t / T_REF
    z = c["bias"] + sum(
        c[f"w{j}"] * np.exp(-((s - c[f"c{j}"]) ** 2) / (2 * c[f"width{j}"] ** 2))
        for j in range(1, 5)
    )
    return _sigmoid(z)


def _mlp_curve(c: Mapping[str, Any], t: np.ndarray) -> np.ndarray:
    """One-hidden-layer ReLU MLP of s = t/T with a sigmoid output (S2E Sec. 4.3.1)."""
    s = t / T_REF
    z = c["bias"] + sum(
        c[f"v{j}"] * np.maximum(c[f"u{j}"] * s + c[f"d{j}"], 0.0) for j in range(1, 5)
    )
    return _sigmoid(z)


FAMILIES: dict[str, ScheduleFamily] = {
    f.name: f
    for f in (
        ScheduleFamily(
            "s2e",
            "S2E eq. (4): a convex mix (alpha on the 4-simplex) of the four basis functions of Table 1",
            tuple(Param(f"alpha{i}", simplex="alpha") for i in BASES)
            + sum((_basis_params(f"f{i}_") for i in BASES), ()),
            _s2e_curve,
        ),
        ScheduleFamily(
            "coteaching",
            "Co-teaching / S2E eq. (1): 1 - tau min((t/T_k)^c, 1); T_k in reference epochs (of 200)",
            (Param("tau", 0.0, 1.0), Param("t_k", 0.0, T_REF), Param("c", 0.0, 2.0)),
            _coteaching_curve,
        ),
        ScheduleFamily(
            "single",
            "one basis function of S2E Table 1 (which one is searched too)",
            (Param("basis", choices=tuple(BASES)),) + _basis_params(""),
            _single_curve,
        ),
        ScheduleFamily(
            "rbf",
            "RBF network with 4 Gaussian units of t/T and a sigmoid output (S2E Table 3)",
            sum(
                (
                    (
                        Param(f"w{j}", -10.0, 10.0),
                        Param(f"c{j}", 0.0, 1.0),
                        Param(f"width{j}", 0.05, 1.0, log=True),
                    )
                    for j in range(1, 5)
                ),
                (),
            )
            + (Param("bias", -5.0, 5.0),),
            _rbf_curve,
        ),
        ScheduleFamily(
            "mlp",
            "MLP with 4 ReLU units of t/T and a sigmoid output (S2E Table 3)",
            sum(
                (
                    (
                        Param(f"u{j}", -10.0, 10.0),
                        Param(f"d{j}", -5.0, 5.0),
                        Param(f"v{j}", -10.0, 10.0),
                    )
                    for j in range(1, 5)
                ),
                (),
            )
            + (Param("bias", -5.0, 5.0),),
            _mlp_curve,
        ),
        ScheduleFamily(
            "constant",
            "a fixed keep rate; keep = 1 is standard training on all samples",
            (Param("keep", 0.0, 1.0),),
            lambda c, t: np.full_like(t, c["keep"]),
        ),
    )
}


def family_names() -> list[str]:
    return list(FAMILIES)


def get_family(name: str) -> ScheduleFamily:
    """The family called ``name``; ``KeyError`` listing the registered names otherwise."""
    if name not in FAMILIES:
        raise KeyError(
            f"unknown schedule family {name!r}; registered families: {', '.join(FAMILIES)}"
        )
    return FAMILIES[name]


def family_of(config: Mapping[str, Any]) -> ScheduleFamily:
    if "family" not in config:
        raise KeyError(
            f"schedule config {dict(config)} has no 'family' key; families: {', '.join(FAMILIES)}"
        )
    return get_family(str(config["family"]))


def default_config(name: str, *, noise_rate: float = 0.5) -> Config:
    """A sensible config of family ``name``: Co-teaching's own defaults (tau = noise rate,
    T_k = 10 of 200 epochs, c = 1), standard training for ``constant``, else the centre."""
    family = get_family(name)
    if name == "coteaching":
        return family.validate({"tau": noise_rate, "t_k": 10.0, "c": 1.0})
    if name == "constant":
        return family.validate({"keep": 1.0})
    return family.center_config()


REFERENCES = ("standard", "coteaching")
"""The schedules a user would run without search, the references of every comparison."""


def reference_schedule(name: str, noise_rate: float) -> Config:
    """``standard``: R = 1 (every sample kept); ``coteaching``: Co-teaching's published schedule
    (tau = the noise rate, T_k = 10 of 200 reference epochs, c = 1)."""
    if name == "standard":
        return default_config("constant")
    if name == "coteaching":
        return default_config("coteaching", noise_rate=noise_rate)
    raise KeyError(f"unknown reference {name!r}; references: {', '.join(REFERENCES)}")
