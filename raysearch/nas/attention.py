"""ASM-NAS: architecture self-attention modules (the attention-module method).

Every edge (i, j) runs all candidate ops, y^k = o^k(x_i), embeds each output by its mean over
H, W, C (eq. (4.3), per sample), passes E = [e^1..e^|O|] through 4 fully connected layers
z = sigma(Theta_4 delta(Theta_3 delta(Theta_2 delta(Theta_1 E)))) (eq. (4.4), delta = ReLU,
sigma = sigmoid), normalises a = softmax(z) (eq. (4.5)) and outputs sum_k a^k y^k (eq. (4.2)).
The modules' weights Theta are network weights: (w, Theta) are trained jointly by SGD on the
training split only (single level, eq. (4.6) / Algorithm 1). Architecture selection (Sec. 4.3)
runs the fixed network forward over the validation split, averages a^k per edge of every cell
and keeps, on every edge, the op with the largest mean a^k (Algorithm 1 line 10; ``none``
included, as O holds it): one cell genotype per cell of the search network.
``selection="top2"`` applies DARTS' rule instead (per node the 2 strongest incoming edges,
``none`` excluded), the behaviour before. The reduction cells sit where ASM-NAS puts them (Sec.
5.2: the 5th and 10th of 15 cells; :func:`search_spaces.darts.reduction_indices` rule ``asm``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from raysearch.nas.supernet import EdgeWeights, MixedOp, SuperNet, derive_edges
from raysearch.nas.unrolled import Batch
from raysearch.nas.weight_learner import SGDOptions, WeightLearner, accuracy
from search_spaces.darts import INPUTS_PER_NODE, CellGenotype, Genotype

SELECTIONS = ("every-edge", "top2")


class AttentionMixedOp(nn.Module):
    """Eqs. (4.2)-(4.5) on one edge; wraps the ops of a :class:`MixedOp`. The ``weights``
    argument of the cell's call is ignored: the weights come from the op outputs."""

    def __init__(self, mixed: MixedOp, *, hidden: int | None = None) -> None:
        super().__init__()
        self.ops = mixed.ops
        n = len(self.ops)
        h = n if hidden is None else hidden
        self.attention = nn.Sequential(
            nn.Linear(n, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(),
            nn.Linear(h, h), nn.ReLU(), nn.Linear(h, n), nn.Sigmoid(),
        )  # fmt: skip
        self.last_attention: Tensor | None = None

    def forward(self, x: Tensor, weights: Tensor, alive: Sequence[bool] | None = None) -> Tensor:
        ys = torch.stack([op(x) for op in self.ops], dim=1)  # [B, ops, C, H, W]
        e = ys.mean(dim=(2, 3, 4))  # eq. (4.3)
        a = torch.softmax(self.attention(e), dim=1)  # eqs. (4.4)-(4.5), [B, ops]
        self.last_attention = a.detach()
        return (a.view(*a.shape, 1, 1, 1) * ys).sum(dim=1)  # eq. (4.2)


class AttentionSuperNet(SuperNet):
    """The DARTS search network with an attention module on every edge (ASM-NAS Sec. 4.2),
    reducing at ASM-NAS' positions unless ``reduction_rule`` says otherwise."""

    def __init__(self, *, attention_hidden: int | None = None, **kwargs: Any) -> None:
        super().__init__(**{"reduction_rule": "asm", **kwargs})
        for cell in self.cells:
            edges = cast(nn.ModuleList, cell.edges)
            for e, mixed in enumerate(edges):
                edges[e] = AttentionMixedOp(cast(MixedOp, mixed), hidden=attention_hidden)
        self.edge_weights = self._dummy_weights

    def _dummy_weights(self, cell_index: int, reduction: bool) -> EdgeWeights:
        return EdgeWeights(torch.zeros_like(self.alpha_normal.detach()))

    def attention(self) -> list[Tensor]:
        """The last forward's attention per cell, ``[edges, batch, ops]``."""
        out = []
        for cell in self.cells:
            rows = [
                cast(AttentionMixedOp, edge).last_attention
                for edge in cast(nn.ModuleList, cell.edges)
            ]
            if any(r is None for r in rows):
                raise RuntimeError("no forward has run yet")
            out.append(torch.stack([r for r in rows if r is not None]))
        return out


class AttentionNAS:
    """ASM-NAS method (Algorithm 1): ``step`` trains (w, Theta) on ``train_batch`` by SGD
    (cosine, clipping as in DARTS); ``val_batch`` is only evaluated. ``derive`` is Sec. 4.3."""

    def __init__(
        self,
        supernet: AttentionSuperNet,
        *,
        weight_options: SGDOptions | Mapping[str, float] | None = None,
        epochs: int = 50,
        selection: str = "every-edge",
        model_forward: Callable[[Tensor], Tensor] | None = None,
        arch_grad_hook: Callable[[list[Tensor]], None] | None = None,
    ) -> None:
        if not isinstance(supernet, AttentionSuperNet):
            raise TypeError("AttentionNAS needs an AttentionSuperNet")
        if selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
        self.selection = selection
        self.supernet = supernet
        self.arch_grad_hook = arch_grad_hook
        self.weights = WeightLearner(
            supernet.weights(),
            model_forward if model_forward is not None else supernet,
            SGDOptions.of(weight_options),
            epochs=epochs,
        )
        self.num_steps = 0
        self._derived: tuple[Tensor, ...] | None = None

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, float]:
        """Algorithm 1: an SGD step on (w, Theta) with ``train_batch``; ``val_batch`` is only
        evaluated (single level: the validation split never trains anything)."""
        lr = self.weights.lr
        self.supernet.train()
        device = self.supernet.alpha_normal.device
        train_batch = (train_batch[0].to(device), train_batch[1].to(device))
        val_batch = (val_batch[0].to(device), val_batch[1].to(device))
        train_loss, train_acc = self.weights.step(train_batch)
        with torch.no_grad():
            vlogits = self.supernet(val_batch[0])
            vloss = float(F.cross_entropy(vlogits, val_batch[1]))
        self.num_steps += 1
        return {
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": vloss,
            "val_acc": accuracy(vlogits, val_batch[1]),
            "lr": lr,
        }

    def epoch_end(self) -> None:
        self.weights.epoch_end()

    def arch_tensors(self) -> list[Tensor]:
        """log of the last derived mean attention per cell type (empty before :meth:`derive`)."""
        return [] if self._derived is None else [m.clamp_min(1e-30).log() for m in self._derived]

    def mean_attention(self, val_batches: Iterable[Batch]) -> list[Tensor]:
        """Per cell ``[edges, ops]``: a^k averaged over every validation sample (Sec. 4.3),
        network fixed (eval mode, no backward). With ``arch_grad_hook`` (an in-place average
        across workers) the sums and the count are averaged first, so every worker gets the
        mean over the union of the shards."""
        net = self.supernet
        was_training = net.training
        net.eval()
        sums: list[Tensor] | None = None
        count = 0
        with torch.no_grad():
            for x, *_ in val_batches:
                x = x.to(net.alpha_normal.device)
                net(x)
                per_cell = [a.sum(dim=1) for a in net.attention()]
                sums = (
                    per_cell
                    if sums is None
                    else [s + p for s, p in zip(sums, per_cell, strict=True)]
                )
                count += x.shape[0]
        net.train(was_training)
        if sums is None or count == 0:
            raise ValueError("val_batches is empty")
        if self.arch_grad_hook is None:
            return [s / count for s in sums]
        stats = [*sums, torch.tensor(float(count), dtype=sums[0].dtype, device=sums[0].device)]
        self.arch_grad_hook(stats)  # in-place average over workers: the mean over all shards
        return [s / stats[-1] for s in stats[:-1]]

    def derive(self, val_batches: Iterable[Batch]) -> list[CellGenotype]:
        """One :class:`CellGenotype` per cell from the averaged attention (Sec. 4.3); also
        stores the per-type average used by :meth:`genotype`."""
        means = self.mean_attention(val_batches)
        net = self.supernet
        concat = range(2 + net.steps - net.multiplier, 2 + net.steps)
        cells = [
            _cell(m, red, net.primitives, net.steps, concat, self.selection)
            for m, red in zip(means, net.reductions, strict=True)
        ]
        normal = [m for m, r in zip(means, net.reductions, strict=True) if not r]
        reduce = [m for m, r in zip(means, net.reductions, strict=True) if r]
        n = torch.stack(normal).mean(0) if normal else means[0]
        r = torch.stack(reduce).mean(0) if reduce else means[0]
        self._derived = (n, r)
        return cells

    def genotype(self) -> Genotype:
        """Shared normal/reduce genotype: attention averaged over the cells of each type (from
        the last :meth:`derive`)."""
        if self._derived is None:
            raise RuntimeError("call derive(val_batches) first")
        net = self.supernet
        n, r = self._derived
        concat = range(2 + net.steps - net.multiplier, 2 + net.steps)
        kw = {"primitives": net.primitives, "steps": net.steps}
        return Genotype.create(derive_edges(n, **kw), concat, derive_edges(r, **kw), concat)  # type: ignore[arg-type]

    def state_dict(self) -> dict[str, Any]:
        return {
            "weights": self.supernet.state_dict(),
            "weight_learner": self.weights.state_dict(),
            "num_steps": self.num_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.supernet.load_state_dict(state["weights"])
        self.weights.load_state_dict(state["weight_learner"])
        self.num_steps = int(state["num_steps"])


def every_edge_argmax(
    mean: Tensor, *, primitives: Sequence[str], steps: int
) -> list[list[tuple[str, int]]]:
    """ASM-NAS Algorithm 1 line 10: on every edge (i, j) the op argmax_k a^k, per node all its
    2 + i incoming edges (ties: first in ``primitives``)."""
    best = mean.detach().cpu().argmax(dim=1).tolist()
    nodes, edge = [], 0
    for i in range(steps):
        nodes.append([(primitives[best[edge + j]], j) for j in range(2 + i)])
        edge += 2 + i
    return nodes


def _cell(
    mean: Tensor,
    reduction: bool,
    primitives: Sequence[str],
    steps: int,
    concat: Iterable[int],
    selection: str,
) -> CellGenotype:
    if selection == "every-edge":
        return CellGenotype.create(
            every_edge_argmax(mean, primitives=primitives, steps=steps), concat, reduction
        )
    edges = derive_edges(mean, primitives=primitives, steps=steps)
    nodes = [edges[i : i + INPUTS_PER_NODE] for i in range(0, len(edges), INPUTS_PER_NODE)]
    return CellGenotype.create(nodes, concat, reduction)
