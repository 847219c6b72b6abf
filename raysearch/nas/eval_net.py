"""The DARTS evaluation network, built from a genotype or from one cell genotype per cell.

DARTS (Liu et al., ICLR 2019), Sec. 3.2 and the official ``train.py``/``model.py``: a 3x3 conv
stem of 3C channels, ``layers`` cells (channels doubled at each reduction cell), an auxiliary
head after cell 2*layers//3 (weight 0.4 in the loss, training only), drop path on the
non-identity ops in training, global average pooling and a linear classifier.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from raysearch.nas.ops import FactorizedReduce, ReLUConvBN, build_op
from search_spaces.darts import CellGenotype, Genotype, expand_genotype


def drop_path(x: Tensor, drop_prob: float) -> Tensor:
    """Zero whole samples with probability ``drop_prob``, rescale the rest by 1/(1 - p)."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x.div(keep).mul(mask)


class EvalCell(nn.Module):
    """A derived cell: each node sums its edges' ops; the output concatenates ``cell.concat``."""

    def __init__(
        self, cell: CellGenotype, *, C_prev_prev: int, C_prev: int, C: int, reduction_prev: bool
    ) -> None:
        super().__init__()
        self.preprocess0: nn.Module = (
            FactorizedReduce(C_prev_prev, C, affine=True)
            if reduction_prev
            else ReLUConvBN(C_prev_prev, C, 1, 1, 0, affine=True)
        )
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0, affine=True)
        self.inputs = [[j for _, j in node] for node in cell.nodes]
        self.ops = nn.ModuleList(
            build_op(name, C, 2 if cell.reduction and j < 2 else 1, affine=True)
            for node in cell.nodes
            for name, j in node
        )
        self.concat = cell.concat
        self.out_channels = len(cell.concat) * C

    def forward(self, s0: Tensor, s1: Tensor, drop_prob: float) -> Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        ops = iter(self.ops)
        for inputs in self.inputs:
            node: Tensor | None = None
            for j in inputs:
                op = next(ops)
                h = op(states[j])
                if self.training and drop_prob > 0.0 and not isinstance(op, nn.Identity):
                    h = drop_path(h, drop_prob)
                node = h if node is None else node + h
            assert node is not None
            states.append(node)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS' ``AuxiliaryHeadCIFAR`` on a ``size`` x ``size`` map: ReLU, 5x5 average pool with
    stride 3 (8x8 -> 2x2), 1x1 conv to 128, a conv to 768 spanning what is left (2x2 on CIFAR),
    a linear classifier. Maps under 5x5 skip the pool; the last conv then spans the whole map."""

    def __init__(self, C: int, num_classes: int, size: int) -> None:
        super().__init__()
        self.size = size
        if size >= 5:
            pool: nn.Module = nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False)
            span = (size - 5) // 3 + 1
        else:
            pool, span = nn.Identity(), size
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            pool,
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, span, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != (self.size, self.size):
            raise ValueError(
                f"the auxiliary head was built for {self.size}x{self.size} maps, got "
                f"{tuple(x.shape[-2:])}: pass the input's image_size to EvalNetwork"
            )
        return self.classifier(self.features(x).flatten(1))


class EvalNetwork(nn.Module):
    """The network trained from scratch to evaluate an architecture (DARTS defaults: C=36,
    20 layers, auxiliary head, drop path 0.2). A :class:`Genotype` places reduction cells at
    layers//3 and 2*layers//3; a list of :class:`CellGenotype` (one per cell, ``layers`` long)
    uses each cell's own ``reduction`` flag. ``image_size`` sizes the auxiliary head.

    ``forward`` returns ``(logits, aux_logits)``; ``aux_logits`` is None outside training or
    without the head. Set ``drop_path_prob`` per epoch (DARTS ramps it as 0.2 * epoch / epochs).
    """

    def __init__(
        self,
        genotype: Genotype | Sequence[CellGenotype],
        *,
        in_channels: int = 3,
        num_classes: int = 10,
        C: int = 36,
        layers: int = 20,
        auxiliary: bool = True,
        drop_path_prob: float = 0.2,
        image_size: int = 32,
        stem_multiplier: int = 3,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        if isinstance(genotype, Genotype):
            cells = expand_genotype(genotype, layers)
        else:
            cells = list(genotype)
            if len(cells) != layers or not all(isinstance(c, CellGenotype) for c in cells):
                raise ValueError(
                    f"a per-cell genotype must list exactly layers={layers} CellGenotype, "
                    f"got {len(cells)} items"
                )
        if not 0.0 <= drop_path_prob < 1.0:
            raise ValueError(f"drop_path_prob must be in [0, 1), got {drop_path_prob}")
        self.drop_path_prob = drop_path_prob
        self.aux_index = 2 * layers // 3
        C_curr = stem_multiplier * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False), nn.BatchNorm2d(C_curr)
        )
        C_prev_prev, C_prev, C_curr = C_curr, C_curr, C
        size, reduction_prev = image_size, False
        self.cells = nn.ModuleList()
        for i, cell in enumerate(cells):
            if cell.reduction:
                C_curr *= 2
                size = math.ceil(size / 2)
            module = EvalCell(
                cell,
                C_prev_prev=C_prev_prev,
                C_prev=C_prev,
                C=C_curr,
                reduction_prev=reduction_prev,
            )
            self.cells.append(module)
            C_prev_prev, C_prev, reduction_prev = C_prev, module.out_channels, cell.reduction
            if i == self.aux_index:
                C_aux, aux_size = C_prev, size
        self.auxiliary_head = AuxiliaryHead(C_aux, num_classes, aux_size) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        aux = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_index and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        return self.classifier(self.global_pooling(s1).flatten(1)), aux


def count_parameters_millions(model: nn.Module) -> float:
    """Parameters in millions without the auxiliary head, as DARTS' ``count_parameters_in_MB``
    (every parameter whose name does not contain "auxiliary")."""
    total = sum(p.numel() for name, p in model.named_parameters() if "auxiliary" not in name)
    return total / 1e6
