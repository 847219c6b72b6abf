"""Update directions and step safeguards for S2E eq. (8) (maximisation form).

The paper writes θ ← θ + ρ H⁻¹ ∇J (eq. (8)) and analyses θ ← θ - Δ⁻¹(∇J - e) (eq. (9)) with
η ≤ σ(Δ) ≤ L (Assumption 3(i)). raysearch maximises J = E[score], so every update here is
θ ← θ + t ρ M⁻¹ g with g the gradient of J and M positive definite:

* ``gd``: M = I.
* ``ng``: M = F, the closed-form Fisher matrix.
* ``newton``: M = |H|_η, the "saddle-free" absolute value of the Hessian H of J (S2E Prop. 1):
  H = V diag(λ) Vᵀ, M = V diag(max(|λ|, η)) Vᵀ. Where H is negative definite (J concave, the
  regime Newton's method for a maximum needs) this is exactly θ - ρ H⁻¹ g. Positive or tiny
  eigenvalues -- an indefinite or near-singular H -- are flipped and floored, so M⁻¹g is
  always an ascent direction and σ(M) ∈ [η, max|λ|] as in Assumption 3(i).

η is relative: η = ``eig_floor`` · max|λ| (η = 1 when M = 0), which bounds the condition number
of M by 1/eig_floor and keeps the direction invariant to a rescaling of the scores.

Two safeguards then act on the step ρ M⁻¹ g:
1. trust region (optional): the whole step is shortened by t ∈ (0, 1] (direction kept) so that
   the second-order KL divergence between p_θ and p_θ+step, ½ stepᵀ F step, is ≤ ``max_kl``;
2. domain, per coordinate (fraction to the boundary): a Dirichlet/Beta parameter moves down by
   at most half of its distance to the floor ``theta_min``, so θ ≥ theta_min > 0 always holds
   without a hard clamp and a parameter approaches the floor only geometrically.

Step control by length (``kl_step`` = ε, not in the paper, see :mod:`raysearch.relax.optimizer`):
the direction d = M⁻¹ g only gives the direction; :func:`kl_step_length` finds t with the exact
KL(p_θ ‖ p_θ+td) = ε by bracketing and root finding (Brent). The KL along a ray is convex in t
and 0 at t = 0 (a Bregman divergence of the log-partition), so the root is unique.
:func:`floored_kl_step` keeps θ ≥ ``theta_min`` without clipping a component: parameters at
their floor that point down are held (active set), a parameter that would hit its floor within
the first half of the step is held too, and otherwise the *whole* step is shortened to the
first floor hit (so every step keeps at least half its KL length).

:func:`trust_region_direction` is the Newton variant of the same idea: it maximises the
quadratic model g·δ + ½ δᵀHδ under the second-order KL ½ δᵀFδ ≤ ε, whose solution is
δ = (λF - H)⁻¹ g with the smallest λ ≥ max(0, λ_max(F⁻¹H)) meeting the constraint (Moré and
Sorensen 1983): the Fisher matrix damps the sampled Hessian, and the step tends to the natural
gradient when H carries no information.

The official S2E code differs (official-code.md §1.3): it floors the *singular values* of H at
1e-5 (signs kept), uses only the best sample, multiplies element-wise, and clamps θ ≥ 1;
:func:`official_step` reproduces that.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import numpy.typing as npt
from scipy.linalg import solve_triangular
from scipy.optimize import brentq

from raysearch.relax.blocks import FloatArray

SHORTEN_FROM = 0.5
"""A floor hit after this fraction of the KL step shortens the step; an earlier one holds the
parameter where it is."""

FLOOR_TOL = 1e-9
"""A Dirichlet/Beta parameter within this (relative) distance of ``theta_min`` is at its floor."""

BOUNDARY_FRACTION = 0.5
"""Largest fraction of the distance to ``theta_min`` that one step may cover."""

OFFICIAL_SVD_FLOOR = 1e-5
OFFICIAL_THETA_FLOOR = 1.0


def floored_solve(matrix: FloatArray, vector: FloatArray, eig_floor: float) -> FloatArray:
    """M⁻¹ v with M = V diag(max(|λ|, η)) Vᵀ, H = V diag(λ) Vᵀ the symmetric part of ``matrix``.

    η = eig_floor · max|λ|, or 1 if ``matrix`` is zero ("saddle-free" Newton; S2E Assumption 3(i)).
    """
    sym = 0.5 * (matrix + matrix.T)
    lam, vecs = np.linalg.eigh(sym)
    mag = np.abs(lam)
    top = float(mag.max()) if mag.size else 0.0
    eta = eig_floor * top if top > 0 else 1.0
    return np.asarray(vecs @ ((vecs.T @ vector) / np.maximum(mag, eta)), dtype=np.float64)


def limit_step(
    theta: FloatArray,
    step: FloatArray,
    positive_mask: npt.NDArray[np.bool_],
    *,
    theta_min: float,
    fisher: FloatArray | None = None,
    max_kl: float | None = None,
) -> tuple[FloatArray, float]:
    """Apply the KL trust region (factor t) and the per-coordinate θ ≥ theta_min rule.

    Returns the safe step and t. ``theta[positive_mask]`` must already be ≥ ``theta_min``.
    """
    scale = 1.0
    if max_kl is not None and fisher is not None:
        kl = 0.5 * float(step @ fisher @ step)
        if kl > max_kl:
            scale = float(np.sqrt(max_kl / kl))
    out = scale * step
    down = positive_mask & (out < 0)
    floor = theta[down] - BOUNDARY_FRACTION * (theta[down] - theta_min)
    out[down] = np.maximum(theta[down] + out[down], floor) - theta[down]
    return out, scale


def official_step(
    score: FloatArray, hessian: FloatArray, num_samples: int, step_size: float
) -> FloatArray:
    """The official S2E update direction for the best sample (official-code.md §1.3).

    ``score``/``hessian`` are ∇ log p and ∇² log p at the best of the K samples. As in the code:
    g = score / K, H = (score scoreᵀ + hessian) / K (the *un-divided* score in the outer
    product, no reward factor), singular values of H floored at 1e-5 (signs kept by U, Vᵀ),
    and the step ρ · (H⁻¹ * g)[:, 0] -- an element-wise broadcast, i.e. component i moves by
    ρ H⁻¹[i, 0] g[i], not (H⁻¹ g)[i]. That product is a quirk of the code, kept on purpose.
    """
    g = score / num_samples
    h = (np.outer(score, score) + hessian) / num_samples
    u, s, vh = np.linalg.svd(h)
    h_inv = np.linalg.inv(u @ np.diag(np.maximum(s, OFFICIAL_SVD_FLOOR)) @ vh)
    return np.asarray(step_size * h_inv[:, 0] * g, dtype=np.float64)


def floor_limit(
    theta: FloatArray, direction: FloatArray, positive_mask: npt.NDArray[np.bool_], theta_min: float
) -> tuple[FloatArray, FloatArray]:
    """(d without the components that push an at-floor parameter further down, the step t_i
    at which each parameter reaches ``theta_min``; inf where it does not move down)."""
    d = np.array(direction, dtype=np.float64)
    at_floor = positive_mask & (theta <= theta_min * (1 + FLOOR_TOL)) & (d < 0)
    d[at_floor] = 0.0
    down = positive_mask & (d < 0)
    reach = np.full(d.shape, np.inf)
    reach[down] = (theta[down] - theta_min) / -d[down]
    return d, reach


def floored_kl_step(
    theta: FloatArray,
    direction: FloatArray,
    positive_mask: npt.NDArray[np.bool_],
    theta_min: float,
    kl: Callable[[FloatArray], float],
    target: float,
    fisher: FloatArray,
) -> tuple[FloatArray, float]:
    """A step θ' - θ = t d' with exact KL ``kl(d')`` ... = ``target`` that keeps θ' ≥ theta_min.

    d' is ``direction`` without the components of parameters at their floor that point down
    (:func:`floor_limit`); a parameter that would reach its floor in less than half of the KL
    step t* is held where it is (its component dropped, t* recomputed); otherwise the step is
    shortened to t = the first floor hit ≥ t*/2. No component is clipped. ``kl(step)`` is the
    exact KL(p_θ ‖ p_θ+step). Returns (step, t).
    """
    d, reach = floor_limit(theta, direction, positive_mask, theta_min)
    while True:
        quad = 0.5 * float(d @ fisher @ d)
        if quad <= 0 or not np.isfinite(quad):
            return np.zeros_like(d), 0.0
        t_kl = kl_step_length(
            partial(_kl_along, kl, d.copy()), target, np.inf, float(np.sqrt(target / quad))
        )
        first = float(reach.min())
        if first >= t_kl:
            return t_kl * d, t_kl
        if first >= SHORTEN_FROM * t_kl:
            return first * d, first
        held = reach < SHORTEN_FROM * t_kl
        d[held] = 0.0
        reach[held] = np.inf


def _kl_along(kl: Callable[[FloatArray], float], direction: FloatArray, t: float) -> float:
    return kl(t * direction)


def kl_step_length(
    kl: Callable[[float], float], target: float, t_max: float, t_guess: float
) -> float:
    """The t in (0, t_max] with ``kl(t)`` = ``target`` by bisection (relative accuracy 1e-7),
    or ``t_max`` when even that step stays below the target. ``kl`` must increase from
    kl(0) = 0 and may be +inf where θ + t d leaves the domain; ``t_guess`` > 0 starts the bracket."""
    if np.isfinite(t_max) and kl(t_max) <= target:
        return t_max
    lo, hi = 0.0, min(t_guess, t_max)
    while kl(hi) < target:
        lo, hi = hi, 2.0 * hi
    while hi - lo > 1e-7 * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if kl(mid) < target else (lo, mid)
    return 0.5 * (lo + hi)


def trust_region_direction(
    grad: FloatArray, hessian: FloatArray, fisher: FloatArray, max_kl: float
) -> FloatArray:
    """argmax_δ g·δ + ½ δᵀHδ subject to ½ δᵀFδ ≤ ``max_kl``: δ = (λF - H)⁻¹ g (see module doc)."""
    low = np.linalg.cholesky(fisher)
    sym = 0.5 * (hessian + hessian.T)
    scaled = solve_triangular(low, solve_triangular(low, sym, lower=True).T, lower=True)
    mu, vecs = np.linalg.eigh(0.5 * (scaled + scaled.T))
    c = vecs.T @ solve_triangular(low, grad, lower=True)

    def kl2(lam: float) -> float:
        return 0.5 * float(np.sum(c**2 / (lam - mu) ** 2))

    floor = max(float(mu.max()), 0.0)
    scale = max(float(np.abs(mu).max()), float(np.sqrt(c @ c / (2 * max_kl))), 1e-300)
    start = floor + 1e-9 * scale
    if mu.max() < 0 and kl2(0.0) <= max_kl:
        lam = 0.0
    elif kl2(start) <= max_kl:
        lam = start  # the "hard case": g has no weight on the top eigenvector
    else:
        lam = brentq(lambda v: kl2(v) - max_kl, start, floor + 2 * scale, rtol=1e-12)
    delta = solve_triangular(low.T, vecs @ (c / (lam - mu)), lower=False)
    return np.asarray(delta, dtype=np.float64)
