"""The DARTS search supernet: mixed ops on every edge of a stack of cells.

DARTS (Liu et al., ICLR 2019), Sec. 2.2, eq. (2): every edge (i, j) computes the mixed op
``o_bar(x) = sum_o softmax(alpha^(i,j))_o o(x)``; every intermediate node sums all its
predecessors, eq. (1). Normal cells share ``alpha_normal``, reduction cells ``alpha_reduce``
(14 edges x 8 ops each for 4 steps). Sec. 2.4: the genotype keeps, per node, the 2 strongest
predecessors and on each the strongest op, 'none' excluded (:func:`derive_genotype`).

The alphas are plain leaf tensors, not ``nn.Parameter``: they stay out of ``parameters()`` and
``state_dict()`` (a DDP wrapper synchronises weights only) and follow ``.to()`` / ``.double()``.
Other methods replace the softmax through :attr:`SuperNet.edge_weights` (XNAS: normalised EG
weights with a wipeout mask; attention-module NAS: per-edge, per-sample attention).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from raysearch.nas.ops import FactorizedReduce, ReLUConvBN, build_op
from search_spaces.darts import (
    INPUTS_PER_NODE,
    MULTIPLIER,
    PRIMITIVES,
    STEPS,
    Edge,
    Genotype,
    num_edges,
    reduction_indices,
)


class EdgeWeights(NamedTuple):
    """Op weights of one cell: ``weights`` is ``[edges, ops]`` or per sample ``[edges, batch, ops]``;
    ``alive`` (bool ``[edges, ops]``, optional) marks removed ops False: they are not run. Keep
    ``alive`` on the CPU: it is read as Python booleans once per cell."""

    weights: Tensor
    alive: Tensor | None = None


EdgeWeightProvider = Callable[[int, bool], EdgeWeights]  # (cell index, reduction) -> weights


class MixedOp(nn.Module):
    """DARTS eq. (2): the weighted sum of all candidate ops on one edge. Pooling is followed by
    an affine-free BatchNorm, as in the official search code."""

    def __init__(self, C: int, stride: int, primitives: Sequence[str]) -> None:
        super().__init__()
        self.ops = nn.ModuleList()
        for name in primitives:
            op = build_op(name, C, stride, affine=False)
            if "pool" in name:
                op = nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
            self.ops.append(op)

    def forward(self, x: Tensor, weights: Tensor, alive: Sequence[bool] | None = None) -> Tensor:
        """``weights``: ``[ops]`` or ``[batch, ops]``; ops with ``alive[k]`` False are skipped."""
        out: Tensor | None = None
        for k, (op, w) in enumerate(zip(self.ops, weights.unbind(-1), strict=True)):
            if alive is not None and not alive[k]:
                continue
            term = (w.view(-1, 1, 1, 1) if w.dim() else w) * op(x)
            out = term if out is None else out + term
        if out is None:
            raise ValueError("every op on this edge is masked out; keep at least one alive")
        return out


class SearchCell(nn.Module):
    """A search cell: ``steps`` nodes, node i fed by mixed ops from all 2 + i earlier states
    (DARTS eq. (1)); the output concatenates the last ``multiplier`` nodes."""

    def __init__(
        self,
        *,
        steps: int,
        multiplier: int,
        C_prev_prev: int,
        C_prev: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
        primitives: Sequence[str],
    ) -> None:
        super().__init__()
        self.steps = steps
        self.multiplier = multiplier
        self.preprocess0: nn.Module = (
            FactorizedReduce(C_prev_prev, C, affine=False)
            if reduction_prev
            else ReLUConvBN(C_prev_prev, C, 1, 1, 0, affine=False)
        )
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0, affine=False)
        self.edges = nn.ModuleList(
            MixedOp(C, 2 if reduction and j < 2 else 1, primitives)
            for i in range(steps)
            for j in range(2 + i)
        )

    def forward(self, s0: Tensor, s1: Tensor, weights: EdgeWeights) -> Tensor:
        alive = None if weights.alive is None else weights.alive.tolist()
        rows = weights.weights.unbind(0)  # one autograd node, not one per edge
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        edge = 0
        for _ in range(self.steps):
            node: Tensor | None = None
            for h in states:
                mask = None if alive is None else alive[edge]
                term = self.edges[edge](h, rows[edge], mask)
                node = term if node is None else node + term
                edge += 1
            assert node is not None
            states.append(node)
        return torch.cat(states[-self.multiplier :], dim=1)


class SuperNet(nn.Module):
    """The DARTS search network (official defaults C=16, layers=8): a 3x3 conv stem of
    ``stem_multiplier * C`` channels, ``layers`` search cells reducing at layers//3 and
    2*layers//3 (``reduction_rule``, :func:`search_spaces.darts.reduction_indices`), global
    average pooling and a linear classifier."""

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        C: int = 16,
        layers: int = 8,
        steps: int = STEPS,
        multiplier: int = MULTIPLIER,
        stem_multiplier: int = 3,
        primitives: Sequence[str] = PRIMITIVES,
        reduction_rule: str = "darts",
    ) -> None:
        super().__init__()
        if layers < 1 or steps < 1 or not 1 <= multiplier <= steps:
            raise ValueError(
                f"need layers >= 1, steps >= 1 and 1 <= multiplier <= steps; got layers={layers}, "
                f"steps={steps}, multiplier={multiplier}"
            )
        self.primitives = tuple(primitives)
        self.steps = steps
        self.multiplier = multiplier
        C_curr = stem_multiplier * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False), nn.BatchNorm2d(C_curr)
        )
        C_prev_prev, C_prev, C_curr = C_curr, C_curr, C
        reducing = reduction_indices(layers, reduction_rule)
        self.reductions = tuple(i in reducing for i in range(layers))
        self.cells = nn.ModuleList()
        reduction_prev = False
        for reduction in self.reductions:
            if reduction:
                C_curr *= 2
            self.cells.append(
                SearchCell(
                    steps=steps,
                    multiplier=multiplier,
                    C_prev_prev=C_prev_prev,
                    C_prev=C_prev,
                    C=C_curr,
                    reduction=reduction,
                    reduction_prev=reduction_prev,
                    primitives=self.primitives,
                )
            )
            C_prev_prev, C_prev, reduction_prev = C_prev, multiplier * C_curr, reduction
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)
        shape = (num_edges(steps), len(self.primitives))
        self.alpha_normal = (1e-3 * torch.randn(shape)).requires_grad_()
        self.alpha_reduce = (1e-3 * torch.randn(shape)).requires_grad_()
        # Replaces softmax(alpha) when set; an nn.Module provider becomes a submodule.
        self.edge_weights: EdgeWeightProvider | None = None

    def arch_parameters(self) -> list[Tensor]:
        """``[alpha_normal, alpha_reduce]``, each ``[edges, ops]`` (DARTS Sec. 2.2)."""
        return [self.alpha_normal, self.alpha_reduce]

    def weights(self) -> list[nn.Parameter]:
        """The network weights w: every parameter (the alphas are not parameters)."""
        return list(self.parameters())

    def softmax_weights(self, reduction: bool) -> EdgeWeights:
        """DARTS eq. (2) op weights: softmax of the cell type's alpha over the ops."""
        alpha = self.alpha_reduce if reduction else self.alpha_normal
        return EdgeWeights(torch.softmax(alpha, dim=-1))

    def forward(self, x: Tensor) -> Tensor:
        s0 = s1 = self.stem(x)
        shared: dict[bool, EdgeWeights] = {}
        for i, (cell, reduction) in enumerate(zip(self.cells, self.reductions, strict=True)):
            if self.edge_weights is not None:
                weights = self.edge_weights(i, reduction)
            else:
                if reduction not in shared:
                    shared[reduction] = self.softmax_weights(reduction)
                weights = shared[reduction]
            s0, s1 = s1, cell(s0, s1, weights)
        return self.classifier(self.global_pooling(s1).flatten(1))

    def genotype(self) -> Genotype:
        """The discrete architecture of DARTS Sec. 2.4 from softmax(alpha)."""
        with torch.no_grad():
            return derive_genotype(
                self.softmax_weights(False).weights,
                self.softmax_weights(True).weights,
                primitives=self.primitives,
                steps=self.steps,
                multiplier=self.multiplier,
            )

    def arch_state_dict(self) -> dict[str, Tensor]:
        """Copies of the alphas (the module ``state_dict`` holds the weights only)."""
        return {
            "alpha_normal": self.alpha_normal.detach().clone(),
            "alpha_reduce": self.alpha_reduce.detach().clone(),
        }

    def load_arch_state_dict(self, state: dict[str, Tensor]) -> None:
        """Copy saved alphas in place (optimisers holding them stay valid)."""
        with torch.no_grad():
            for name, alpha in zip(
                ("alpha_normal", "alpha_reduce"), self.arch_parameters(), strict=True
            ):
                if state[name].shape != alpha.shape:
                    raise ValueError(
                        f"{name}: saved shape {tuple(state[name].shape)} != {tuple(alpha.shape)}"
                    )
                alpha.copy_(state[name])

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> SuperNet:
        """Move/cast the alphas with the module, keeping their identity (as for parameters)."""
        super()._apply(fn, recurse)
        for alpha in self.arch_parameters():
            alpha.data = fn(alpha.data)
        return self


def derive_edges(
    weights: Tensor, *, primitives: Sequence[str] = PRIMITIVES, steps: int = STEPS
) -> list[Edge]:
    """One cell of DARTS Sec. 2.4 from op weights ``[edges, ops]``: per node the
    ``INPUTS_PER_NODE`` predecessors with the largest non-'none' weight (ties: lower input
    first), each with its best non-'none' op (ties: first in ``primitives``), strongest first."""
    rows = weights.detach().cpu().tolist()
    candidates = [k for k, name in enumerate(primitives) if name != "none"]
    edges: list[Edge] = []
    start = 0
    for i in range(steps):
        node = rows[start : start + 2 + i]
        strongest = sorted(range(2 + i), key=lambda j: -max(node[j][k] for k in candidates))
        for j in strongest[:INPUTS_PER_NODE]:
            best = max(candidates, key=lambda k: node[j][k])
            edges.append((primitives[best], j))
        start += 2 + i
    return edges


def derive_genotype(
    normal_weights: Tensor,
    reduce_weights: Tensor,
    *,
    primitives: Sequence[str] = PRIMITIVES,
    steps: int = STEPS,
    multiplier: int = MULTIPLIER,
) -> Genotype:
    """DARTS Sec. 2.4 for both cell types; concat = the last ``multiplier`` nodes."""
    concat = range(2 + steps - multiplier, 2 + steps)
    return Genotype.create(
        derive_edges(normal_weights, primitives=primitives, steps=steps),
        concat,
        derive_edges(reduce_weights, primitives=primitives, steps=steps),
        concat,
    )
