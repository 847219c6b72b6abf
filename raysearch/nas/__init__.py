"""Differentiable NAS on the DARTS cell space: ops, supernet, DARTS, evaluation network.

Ray-free (DESIGN.md): the Ray Train loops in ``raysearch.tune`` only distribute these objects.
Genotypes and the search space itself live in :mod:`search_spaces.darts`.
"""

from raysearch.nas.darts import Darts
from raysearch.nas.eval_net import EvalNetwork, count_parameters_millions
from raysearch.nas.supernet import EdgeWeights, SuperNet, derive_edges, derive_genotype
from search_spaces.darts import CellGenotype, Genotype, parse_genotype, published_genotype

__all__ = [
    "CellGenotype",
    "Darts",
    "EdgeWeights",
    "EvalNetwork",
    "Genotype",
    "SuperNet",
    "count_parameters_millions",
    "derive_edges",
    "derive_genotype",
    "parse_genotype",
    "published_genotype",
]
