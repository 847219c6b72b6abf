"""Factors of the S2E relaxation p_θ(x) (S2E Sec. 3.4.1, eq. (6)).

Each block owns a slice of the flat parameter vector θ and a few keys of a sample dict:

* :class:`SimplexBlock` -- Dirichlet(θ_1..θ_k) over weights that sum to 1 (S2E's mix weights α).
* :class:`UnitBlock` -- Beta(a, b) on [0, 1] (S2E's β's).
* :class:`CategoricalBlock` -- a categorical over {0..n-1} with reference-category softmax
  logits: θ ∈ R^(n-1), π = softmax([θ_1, .., θ_(n-1), 0]). Fixing the last logit at 0 makes θ
  identifiable, so the Fisher matrix is full rank, and θ = 0 is the uniform distribution.
  The gradient (e_c - π) and Hessian -(diag π - π πᵀ) of log π_c are closed form for every θ.

All three are exponential families whose natural parameter is affine in θ (Dirichlet/Beta:
θ - 1 with statistic log x; categorical: θ with the one-hot statistic), so ``log_partition``
A(θ) and ``mean_statistic`` ∇A(θ) = E[T(x)] give the exact KL divergence as a Bregman
divergence (:meth:`~raysearch.relax.distribution.ProductDistribution.kl`).

Block math works on batches: ``values`` is an ``(n, d)`` array (d = number of keys), gradients
are ``(n, p)`` and Hessians ``(n, p, p)`` with p = ``num_params``. For all three families the
Hessian of log p does not depend on x and the Fisher matrix is minus that Hessian.

Draws from Dirichlet/Beta are kept strictly inside the open simplex / interval: coordinates
are clipped at ``SAMPLE_EPS`` (and ``1 - SAMPLE_EPS``) and simplex draws renormalised, so log x
and log(1 - x) stay finite even when θ is tiny.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import digamma, gammaln, logsumexp, polygamma

FloatArray = npt.NDArray[np.float64]

SAMPLE_EPS = 1e-10
"""Smallest distance of a Dirichlet/Beta draw from the boundary of its domain."""

SIMPLEX_SUM_TOL = 1e-6
"""How far from 1 the weights of a simplex sample given to ``log_prob`` may sum."""


def _check_name(name: object, what: str) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} name must be a non-empty string, got {name!r}")


def _trigamma(x: FloatArray | float) -> Any:
    return polygamma(1, x)


def _dirichlet_log_prob(logx: FloatArray, theta: FloatArray) -> FloatArray:
    const = gammaln(theta.sum()) - gammaln(theta).sum()
    return np.asarray(const + logx @ (theta - 1.0), dtype=np.float64)


def _dirichlet_grad(logx: FloatArray, theta: FloatArray) -> FloatArray:
    return np.asarray(logx + (digamma(theta.sum()) - digamma(theta)), dtype=np.float64)


def _dirichlet_hess(theta: FloatArray) -> FloatArray:
    """∇²_θ log Dir(x; θ) = ψ1(Σθ) 11ᵀ - diag ψ1(θ); independent of x, negative definite."""
    k = theta.size
    return np.asarray(
        np.full((k, k), _trigamma(theta.sum())) - np.diag(_trigamma(theta)), dtype=np.float64
    )


def _dirichlet_log_partition(theta: FloatArray) -> float:
    """A(θ) = Σ lnΓ(θ_i) - lnΓ(Σθ): log-partition of Dir(θ) in its natural parameter θ - 1."""
    return float(gammaln(theta).sum() - gammaln(theta.sum()))


def _dirichlet_mean_statistic(theta: FloatArray) -> FloatArray:
    """E[log x] = ψ(θ) - ψ(Σθ) = ∇A(θ)."""
    return np.asarray(digamma(theta) - digamma(theta.sum()), dtype=np.float64)


_NUMBER = (int, float, np.integer, np.floating)
_INTEGER = (int, np.integer)


def _column(samples: Sequence[Mapping[str, Any]], key: str, kinds: tuple[type, ...]) -> FloatArray:
    """The values of ``key`` as floats; ValueError naming the key for a non-number."""
    values = [sample[key] for sample in samples]
    for value in values:
        if isinstance(value, bool) or not isinstance(value, kinds):
            what = "an int" if kinds is _INTEGER else "a number"
            raise ValueError(f"sample value for {key!r} must be {what}, got {value!r}")
    return np.array(values, dtype=np.float64)


@dataclass(frozen=True)
class SimplexBlock:
    """Dirichlet(θ_1..θ_k) over ``names`` (k ≥ 2), whose sampled values sum to 1 (S2E's α)."""

    names: tuple[str, ...]
    positive = True  # θ must stay > 0 (a class attribute, not a field)

    def __post_init__(self) -> None:
        if isinstance(self.names, str) or not isinstance(self.names, (tuple, list)):
            raise ValueError(f"SimplexBlock names must be a tuple of strings, got {self.names!r}")
        object.__setattr__(self, "names", tuple(self.names))
        if len(self.names) < 2:
            raise ValueError(
                f"SimplexBlock needs at least 2 names, got {list(self.names)}; "
                "use UnitBlock for a single value in [0, 1]"
            )
        for name in self.names:
            _check_name(name, "SimplexBlock")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"SimplexBlock names must be distinct, got {list(self.names)}")

    @property
    def num_params(self) -> int:
        return len(self.names)

    def initial_theta(self) -> FloatArray:
        return np.ones(len(self.names))

    def draw(self, rng: np.random.Generator, theta: FloatArray, n: int) -> FloatArray:
        x = np.clip(rng.dirichlet(theta, size=n), SAMPLE_EPS, None)
        return np.asarray(x / x.sum(axis=1, keepdims=True), dtype=np.float64)

    def encode(self, samples: Sequence[Mapping[str, Any]]) -> FloatArray:
        """The ``(K, k)`` weights of ``samples``; ValueError off the open simplex."""
        x = np.stack([_column(samples, name, _NUMBER) for name in self.names], axis=1)
        ok = (x > 0).all(axis=1) & (x < 1).all(axis=1)
        ok &= np.abs(x.sum(axis=1) - 1.0) <= SIMPLEX_SUM_TOL
        if not ok.all():
            row = x[int(np.argmin(ok))].tolist()
            raise ValueError(
                f"simplex values {dict(zip(self.names, row, strict=True))} must lie in (0, 1) "
                "and sum to 1"
            )
        return x

    def decode(self, row: FloatArray) -> dict[str, float | int]:
        return {name: float(v) for name, v in zip(self.names, row, strict=True)}

    def log_prob(self, values: FloatArray, theta: FloatArray) -> FloatArray:
        return _dirichlet_log_prob(np.log(values), theta)

    def grad(self, values: FloatArray, theta: FloatArray) -> FloatArray:
        return _dirichlet_grad(np.log(values), theta)

    def hess(self, values: FloatArray, theta: FloatArray) -> FloatArray:
        return np.broadcast_to(_dirichlet_hess(theta), (len(values), theta.size, theta.size))

    def fisher(self, theta: FloatArray) -> FloatArray:
        return -_dirichlet_hess(theta)

    def log_partition(self, theta: FloatArray) -> float:
        return _dirichlet_log_partition(theta)

    def mean_statistic(self, theta: FloatArray) -> FloatArray:
        return _dirichlet_mean_statistic(theta)

    def best_guess(self, theta: FloatArray) -> dict[str, float | int]:
        """The mean E[α] = θ / Σθ."""
        return self.decode(theta / theta.sum())

    def spec(self) -> dict[str, Any]:
        return {"type": "simplex", "names": list(self.names)}


@dataclass(frozen=True)
class UnitBlock:
    """Beta(a, b) on [0, 1] for the key ``name`` (S2E's β's); θ = (a, b)."""

    name: str
    num_params = 2
    positive = True  # θ must stay > 0

    def __post_init__(self) -> None:
        _check_name(self.name, "UnitBlock")

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,)

    def initial_theta(self) -> FloatArray:
        return np.ones(2)

    def draw(self, rng: np.random.Generator, theta: FloatArray, n: int) -> FloatArray:
        x = rng.beta(theta[0], theta[1], size=n)
        return np.clip(x, SAMPLE_EPS, 1.0 - SAMPLE_EPS)[:, None]

    def encode(self, samples: Sequence[Mapping[str, Any]]) -> FloatArray:
        """The ``(K, 1)`` values of ``samples``; ValueError outside the open interval (0, 1)."""
        x = _column(samples, self.name, _NUMBER)
        bad = ~((x > 0) & (x < 1))
        if bad.any():
            value = x[int(np.argmax(bad))]
            raise ValueError(
                f"value {value!r} of {self.name!r} must lie in the open interval (0, 1)"
            )
        return x[:, None]

    def decode(self, row: FloatArray) -> dict[str, float | int]:
        return {self.name: float(row[0])}

    @staticmethod
    def _logx(values: FloatArray) -> FloatArray:
        x = values[:, 0]
        return np.stack([np.log(x), np.log1p(-x)], axis=1)

    def log_prob(self, values: FloatArray, theta: FloatArray) -> FloatArray:
        return _dirichlet_log_prob(self._logx(values), theta)

    def grad(self, values: FloatArray, theta: FloatArray) -> FloatArray:
        return _dirichlet_grad(self._logx(values), theta)

    def hess(self, values: FloatArray, theta: FloatArray) -> FloatArray:
        return np.broadcast_to(_dirichlet_hess(theta), (len(values), 2, 2))

    def fisher(self, theta: FloatArray) -> FloatArray:
        return -_dirichlet_hess(theta)

    def log_partition(self, theta: FloatArray) -> float:
        return _dirichlet_log_partition(theta)

    def mean_statistic(self, theta: FloatArray) -> FloatArray:
        return _dirichlet_mean_statistic(theta)

    def best_guess(self, theta: FloatArray) -> dict[str, float | int]:
        """The mean E[β] = a / (a + b)."""
        return {self.name: float(theta[0] / theta.sum())}

    def spec(self) -> dict[str, Any]:
        return {"type": "unit", "name": self.name}


@dataclass(frozen=True)
class CategoricalBlock:
    """Categorical over {0..num_choices-1} for the key ``name``; the sample value is an int.

    θ ∈ R^(num_choices-1) are logits against the last category (its logit is fixed at 0).
    """

    name: str
    num_choices: int
    positive = False  # logits are unconstrained

    def __post_init__(self) -> None:
        _check_name(self.name, "CategoricalBlock")
        if (
            isinstance(self.num_choices, bool)
            or not isinstance(self.num_choices, (int, np.integer))
            or self.num_choices < 2
        ):
            raise ValueError(
                f"CategoricalBlock {self.name!r} needs an int num_choices >= 2, "
                f"got {self.num_choices!r}"
            )
        object.__setattr__(self, "num_choices", int(self.num_choices))

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,)

    @property
    def num_params(self) -> int:
        return self.num_choices - 1

    def initial_theta(self) -> FloatArray:
        return np.zeros(self.num_choices - 1)

    def log_probs(self, theta: FloatArray) -> FloatArray:
        """log π = log softmax([θ, 0])."""
        logits = np.append(theta, 0.0)
        return np.asarray(logits - logsumexp(logits), dtype=np.float64)

    def probs(self, theta: FloatArray) -> FloatArray:
        """π = softmax([θ, 0])."""
        return np.exp(self.log_probs(theta))

    def draw(self, rng: np.random.Generator, theta: FloatArray, n: int) -> FloatArray:
        cdf = np.cumsum(self.probs(theta))
        index = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
        return np.minimum(index, self.num_choices - 1).astype(np.float64)[:, None]

    def encode(self, samples: Sequence[Mapping[str, Any]]) -> FloatArray:
        """The ``(K, 1)`` category indices of ``samples`` (as floats); ValueError if out of range."""
        x = _column(samples, self.name, _INTEGER)
        bad = (x < 0) | (x >= self.num_choices)
        if bad.any():
            value = int(x[int(np.argmax(bad))])
            raise ValueError(
                f"value {value!r} of {self.name!r} must be an int in 0..{self.num_choices - 1}"
            )
        return x[:, None]

    def decode(self, row: FloatArray) -> dict[str, float | int]:
        return {self.name: int(row[0])}

    def _onehot(self, values: FloatArray) -> FloatArray:
        index = values[:, 0].astype(np.int64)
        return np.asarray(np.eye(self.num_choices)[index], dtype=np.float64)

    def log_prob(self, values: FloatArray, theta: FloatArray) -> FloatArray:
        return self.log_probs(theta)[values[:, 0].astype(np.int64)]

    def grad(self, values: FloatArray, theta: FloatArray) -> FloatArray:
        """∇ log π_c = e_c - π (first n-1 coordinates)."""
        return self._onehot(values)[:, :-1] - self.probs(theta)[:-1]

    def hess(self, values: FloatArray, theta: FloatArray) -> FloatArray:
        return np.broadcast_to(-self.fisher(theta), (len(values), theta.size, theta.size))

    def fisher(self, theta: FloatArray) -> FloatArray:
        """diag π' - π'π'ᵀ with π' the first n-1 probabilities; equals -∇² log π_c."""
        p = self.probs(theta)[:-1]
        return np.asarray(np.diag(p) - np.outer(p, p), dtype=np.float64)

    def log_partition(self, theta: FloatArray) -> float:
        """A(θ) = log Σ exp([θ, 0])."""
        return float(logsumexp(np.append(theta, 0.0)))

    def mean_statistic(self, theta: FloatArray) -> FloatArray:
        """E[one-hot of the first n-1 categories] = π' = ∇A(θ)."""
        return self.probs(theta)[:-1]

    def best_guess(self, theta: FloatArray) -> dict[str, float | int]:
        """The mode: the most probable category (the lowest index on ties)."""
        return {self.name: int(np.argmax(self.probs(theta)))}

    def spec(self) -> dict[str, Any]:
        return {"type": "categorical", "name": self.name, "num_choices": self.num_choices}


Block = SimplexBlock | UnitBlock | CategoricalBlock
"""Any factor of a :class:`~raysearch.relax.distribution.ProductDistribution`."""
