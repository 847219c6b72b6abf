"""Stochastic relaxation (S2E Sec. 3.4): product of Dirichlet/Beta/categorical blocks, log-density
derivatives, Monte-Carlo gradient and Hessian of J(θ) = E[score], and an ask/tell optimizer with
Newton, gradient, natural-gradient and official-code updates. numpy + scipy only."""

from raysearch.relax.blocks import SAMPLE_EPS, Block, CategoricalBlock, SimplexBlock, UnitBlock
from raysearch.relax.distribution import ProductDistribution, Sample
from raysearch.relax.estimators import (
    UTILITIES,
    centred_scores,
    importance_weights,
    leave_one_out_baseline,
    mc_gradient,
    mc_hessian,
    rank_utilities,
    shaped_scores,
    standardised_scores,
)
from raysearch.relax.optimizer import HESSIANS, UPDATES, RelaxationOptimizer
from raysearch.relax.steps import (
    floor_limit,
    floored_kl_step,
    floored_solve,
    kl_step_length,
    limit_step,
    official_step,
    trust_region_direction,
)

__all__ = [
    "HESSIANS",
    "SAMPLE_EPS",
    "UPDATES",
    "UTILITIES",
    "Block",
    "CategoricalBlock",
    "ProductDistribution",
    "RelaxationOptimizer",
    "Sample",
    "SimplexBlock",
    "UnitBlock",
    "centred_scores",
    "floor_limit",
    "floored_kl_step",
    "floored_solve",
    "importance_weights",
    "kl_step_length",
    "leave_one_out_baseline",
    "limit_step",
    "mc_gradient",
    "mc_hessian",
    "official_step",
    "rank_utilities",
    "shaped_scores",
    "standardised_scores",
    "trust_region_direction",
]
