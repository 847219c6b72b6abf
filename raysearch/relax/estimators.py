"""Monte-Carlo estimates of ∇J and ∇²J for J(θ) = E_pθ[f(x)] (S2E eq. (6), (7), Prop. 1).

Sign convention: raysearch *maximises* the score f (e.g. validation accuracy), while the paper
minimises a loss f̄ = -f. J, its gradient and its Hessian here are those of E[f]; the paper's are
their negatives. The estimators are linear in f, so nothing else changes.

Baseline: both estimators take per-sample weights w_i = f(x_i) - b_i. Because
E[∇ log p_θ] = 0 and E[∇² log p_θ + ∇ log p_θ ∇ log p_θᵀ] = ∫ ∇² p_θ = 0, subtracting a baseline
b_i that does not depend on x_i leaves both estimates unbiased while it can cut their variance a
lot (scores such as accuracies sit far from 0). :func:`leave_one_out_baseline` gives such a b_i:
the mean score of the *other* samples of the batch, independent of x_i. (The plain batch mean
includes f(x_i) itself and shrinks both estimates by (K-1)/K in expectation.)
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from raysearch.relax.blocks import FloatArray

Baseline = Literal["loo", "none"]
BASELINES: tuple[str, ...] = ("loo", "none")


def leave_one_out_baseline(scores: FloatArray) -> FloatArray:
    """b_i = mean of the other K-1 scores; zeros when K = 1 (no other sample to use)."""
    scores = np.asarray(scores, dtype=np.float64)
    k = scores.size
    if k < 2:
        return np.zeros_like(scores)
    return np.asarray((scores.sum() - scores) / (k - 1), dtype=np.float64)


def centred_scores(scores: FloatArray, baseline: Baseline) -> FloatArray:
    """The weights w_i = f(x_i) - b_i for the baseline ``"loo"`` or ``"none"`` (b = 0)."""
    scores = np.asarray(scores, dtype=np.float64)
    if baseline == "loo":
        return scores - leave_one_out_baseline(scores)
    if baseline == "none":
        return scores
    raise ValueError(f"unknown baseline {baseline!r}; allowed: {list(BASELINES)}")


def mc_gradient(weights: FloatArray, scores: FloatArray) -> FloatArray:
    """S2E eq. (7): ∇J(θ) ≈ (1/K) Σ_i w_i ∇ log p_θ(x_i).

    ``weights`` ``(K,)`` are f(x_i) minus a baseline independent of x_i (see module docstring);
    ``scores`` ``(K, P)`` are the score vectors ∇ log p_θ(x_i).
    """
    w = np.asarray(weights, dtype=np.float64)
    return np.asarray(w @ np.asarray(scores, dtype=np.float64) / w.size, dtype=np.float64)


def mc_hessian(weights: FloatArray, scores: FloatArray, hessians: FloatArray) -> FloatArray:
    """S2E Prop. 1: ∇²J(θ) ≈ (1/K) Σ_i w_i [∇² log p_θ(x_i) + ∇ log p_θ(x_i) ∇ log p_θ(x_i)ᵀ].

    The mean runs over all K samples, as in the paper. ``hessians`` is ``(K, P, P)``.
    """
    w = np.asarray(weights, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    h = np.einsum("i,ijk->jk", w, np.asarray(hessians, dtype=np.float64))
    return np.asarray((h + (s.T * w) @ s) / w.size, dtype=np.float64)
