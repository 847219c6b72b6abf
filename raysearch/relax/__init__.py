"""Stochastic relaxation (S2E Sec. 3.4): product of Dirichlet/Beta/categorical blocks, log-density
derivatives, Monte-Carlo gradient and Hessian of J(θ) = E[score], and an ask/tell optimizer with
Newton, gradient, natural-gradient and official-code updates. numpy + scipy only."""

from raysearch.relax.blocks import SAMPLE_EPS, Block, CategoricalBlock, SimplexBlock, UnitBlock
from raysearch.relax.distribution import ProductDistribution, Sample
from raysearch.relax.estimators import (
    centred_scores,
    leave_one_out_baseline,
    mc_gradient,
    mc_hessian,
)
from raysearch.relax.optimizer import UPDATES, RelaxationOptimizer
from raysearch.relax.steps import floored_solve, limit_step, official_step

__all__ = [
    "SAMPLE_EPS",
    "UPDATES",
    "Block",
    "CategoricalBlock",
    "ProductDistribution",
    "RelaxationOptimizer",
    "Sample",
    "SimplexBlock",
    "UnitBlock",
    "centred_scores",
    "floored_solve",
    "leave_one_out_baseline",
    "limit_step",
    "mc_gradient",
    "mc_hessian",
    "official_step",
]
