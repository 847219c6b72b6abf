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

Scale-free utilities (not in the paper; see :mod:`raysearch.relax.optimizer`): the scores may
first be replaced by :func:`rank_utilities` (NES fitness shaping, Wierstra et al. 2014) or
:func:`standardised_scores`, so the update does not depend on the metric's units.

Reuse of earlier batches (not in the paper): samples drawn from p_θj are reweighted by the
self-normalised importance weights :func:`importance_weights` r ∝ p_θ(x) / p_θj(x).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from raysearch.relax.blocks import FloatArray

Baseline = Literal["loo", "none"]
BASELINES: tuple[str, ...] = ("loo", "none")
Utility = Literal["raw", "rank", "standardised"]
UTILITIES: tuple[str, ...] = ("raw", "rank", "standardised")


def rank_utilities(scores: FloatArray) -> FloatArray:
    """NES fitness shaping: the j-th best of K gets max(0, log(K/2 + 1) - log j), normalised
    to sum 1, minus 1/K (so they sum to 0). Tied scores share the mean of their utilities."""
    scores = np.asarray(scores, dtype=np.float64)
    k = scores.size
    raw = np.maximum(0.0, np.log(k / 2 + 1) - np.log(np.arange(1, k + 1)))
    table = raw / raw.sum() - 1.0 / k
    order = np.argsort(-scores, kind="stable")
    out = np.empty(k)
    out[order] = table
    for value in np.unique(scores):
        tied = scores == value
        out[tied] = out[tied].mean()
    return out


def standardised_scores(scores: FloatArray) -> FloatArray:
    """(f - mean) / std over the batch; zeros when all scores are equal."""
    scores = np.asarray(scores, dtype=np.float64)
    std = float(scores.std())
    return np.zeros_like(scores) if std == 0 else (scores - scores.mean()) / std


def shaped_scores(scores: FloatArray, utility: Utility) -> FloatArray:
    """The scores as the update uses them: ``raw`` (the paper), ``rank`` or ``standardised``."""
    if utility == "raw":
        return np.asarray(scores, dtype=np.float64)
    if utility == "rank":
        return rank_utilities(scores)
    if utility == "standardised":
        return standardised_scores(scores)
    raise ValueError(f"unknown utility {utility!r}; allowed: {list(UTILITIES)}")


def importance_weights(log_p: FloatArray, log_q: FloatArray) -> FloatArray:
    """Self-normalised r_i ∝ p(x_i) / q_i(x_i) (x_i drawn from q_i), scaled to mean 1."""
    log_r = np.asarray(log_p, dtype=np.float64) - np.asarray(log_q, dtype=np.float64)
    r = np.exp(log_r - log_r.max())
    return np.asarray(r * r.size / r.sum(), dtype=np.float64)


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
