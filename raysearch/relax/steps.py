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

The official S2E code differs (official-code.md §1.3): it floors the *singular values* of H at
1e-5 (signs kept), uses only the best sample, multiplies element-wise, and clamps θ ≥ 1;
:func:`official_step` reproduces that.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from raysearch.relax.blocks import FloatArray

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
