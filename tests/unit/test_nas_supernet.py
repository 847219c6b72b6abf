"""The DARTS search supernet: shapes, alphas outside the module parameters, genotype derivation
(DARTS Sec. 2.4) against a brute-force recomputation, and the edge-weight hook (external
weights, per-sample weights, masked-out ops really skipped)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from raysearch.nas.ops import OPS, build_op
from raysearch.nas.supernet import EdgeWeights, MixedOp, SuperNet, derive_edges
from search_spaces.darts import DARTS_V2, PRIMITIVES, Genotype, parse_genotype

torch.set_num_threads(1)


def tiny(seed: int = 0, layers: int = 3) -> SuperNet:
    torch.manual_seed(seed)
    return SuperNet(in_channels=3, num_classes=5, C=4, layers=layers)


def test_ops_registry_covers_the_primitives_and_keeps_shapes() -> None:
    assert set(OPS) == set(PRIMITIVES)
    x = torch.randn(2, 4, 7, 7)
    for name in PRIMITIVES:
        assert build_op(name, 4, 1, affine=False)(x).shape == (2, 4, 7, 7)
        assert build_op(name, 4, 2, affine=True)(x).shape == (2, 4, 4, 4)
    with pytest.raises(KeyError, match="sep_conv_3x3"):
        build_op("conv_7x1_1x7", 4, 1, affine=True)


@pytest.mark.parametrize(("size", "layers"), [(16, 3), (16, 2), (15, 5)])
def test_output_shapes_and_alpha_shapes(size: int, layers: int) -> None:
    net = tiny(layers=layers)
    assert net(torch.randn(4, 3, size, size)).shape == (4, 5)
    for alpha in net.arch_parameters():
        assert alpha.shape == (14, 8) and alpha.requires_grad and alpha.is_leaf
        assert alpha.abs().max() < 1e-2  # 1e-3 * N(0, 1)


def test_alphas_are_not_module_parameters_or_state() -> None:
    net = tiny()
    ids = {id(a) for a in net.arch_parameters()}
    assert not ids & {id(p) for p in net.parameters()}
    assert [id(p) for p in net.weights()] == [id(p) for p in net.parameters()]
    assert not any("alpha" in k for k in net.state_dict())
    saved = net.arch_state_dict()
    with torch.no_grad():
        net.alpha_normal.add_(1.0)
    net.load_arch_state_dict(saved)
    assert torch.equal(net.alpha_normal, saved["alpha_normal"])


def test_alphas_follow_dtype_and_device_moves_keeping_identity() -> None:
    net = tiny()
    alpha = net.alpha_reduce
    net.double()
    assert net.alpha_reduce is alpha and alpha.dtype == torch.float64 and alpha.requires_grad
    assert net(torch.randn(2, 3, 16, 16, dtype=torch.float64)).dtype == torch.float64


def brute_force_genotype(alpha: torch.Tensor) -> list[tuple[str, int]]:
    """Independent numpy recomputation of DARTS' parse(): for node i, rank the i + 2 incoming
    edges by their best non-'none' softmax weight, keep two, take the best non-'none' op."""
    w = torch.softmax(alpha.detach(), dim=-1).numpy()
    edges, start = [], 0
    for i in range(4):
        rows = w[start : start + i + 2, 1:]  # column 0 is 'none'
        strength = rows.max(axis=1)
        for j in np.argsort(-strength, kind="stable")[:2]:
            edges.append((PRIMITIVES[1 + int(np.argmax(rows[j]))], int(j)))
        start += i + 2
    return edges


def test_genotype_derivation_matches_brute_force() -> None:
    torch.manual_seed(3)
    net = tiny()
    for trial in range(20):
        with torch.no_grad():
            for alpha in net.arch_parameters():
                alpha.normal_(0, 1 + trial)
            if trial % 2:  # make 'none' the strongest op everywhere
                net.alpha_normal[:, 0] = 50.0
        genotype = net.genotype()
        assert list(genotype.normal) == brute_force_genotype(net.alpha_normal)
        assert list(genotype.reduce) == brute_force_genotype(net.alpha_reduce)
        assert genotype.normal_concat == genotype.reduce_concat == (2, 3, 4, 5)
        for edges in (genotype.normal, genotype.reduce):
            assert all(op != "none" for op, _ in edges)
            for i in range(4):
                inputs = [j for _, j in edges[2 * i : 2 * i + 2]]
                assert len(set(inputs)) == 2 and all(0 <= j < i + 2 for j in inputs)
        assert parse_genotype(str(genotype)) == genotype


def test_kept_edges_are_the_strongest() -> None:
    torch.manual_seed(4)
    weights = torch.softmax(torch.randn(14, 8), dim=-1)
    edges = derive_edges(weights)
    start = 0
    for i in range(4):
        strength = weights[start : start + i + 2, 1:].max(dim=1).values
        kept = {j for _, j in edges[2 * i : 2 * i + 2]}
        for a, b in itertools.product(kept, set(range(i + 2)) - kept):
            assert strength[a] >= strength[b]
        start += i + 2


def test_darts_v2_is_derivable() -> None:
    """Alphas that put weight on exactly the DARTS_V2 edges derive DARTS_V2 back."""

    def alphas_for(edges: tuple[tuple[str, int], ...]) -> torch.Tensor:
        alpha = torch.zeros(14, 8)
        start = 0
        for i in range(4):
            for rank, (op, j) in enumerate(edges[2 * i : 2 * i + 2]):
                alpha[start + j, PRIMITIVES.index(op)] = 5.0 - rank
            start += i + 2
        return alpha

    net = tiny()
    net.load_arch_state_dict(
        {"alpha_normal": alphas_for(DARTS_V2.normal), "alpha_reduce": alphas_for(DARTS_V2.reduce)}
    )
    assert net.genotype() == DARTS_V2
    assert isinstance(net.genotype(), Genotype)


class Provider:
    """External op weights (XNAS-style): fixed ``weights`` and ``alive`` for every cell."""

    def __init__(self, weights: torch.Tensor, alive: torch.Tensor | None = None) -> None:
        self.weights, self.alive = weights, alive
        self.calls: list[tuple[int, bool]] = []

    def __call__(self, cell: int, reduction: bool) -> EdgeWeights:
        self.calls.append((cell, reduction))
        return EdgeWeights(self.weights, self.alive)


def test_edge_weight_provider_replaces_softmax() -> None:
    net = tiny().eval()
    x = torch.randn(3, 3, 16, 16)
    softmax_out = net(x)
    provider = Provider(torch.softmax(torch.randn(14, 8), dim=-1).requires_grad_())
    net.edge_weights = provider
    out = net(x)
    assert provider.calls == [(0, False), (1, True), (2, True)]
    assert not torch.allclose(out, softmax_out)
    out.sum().backward()
    assert provider.weights.grad is not None and provider.weights.grad.abs().sum() > 0
    # the provider giving softmax(alpha) reproduces the plain forward
    net.edge_weights = lambda i, r: net.softmax_weights(r)
    assert torch.allclose(net(x), softmax_out)


def test_masked_ops_are_skipped_in_forward() -> None:
    net = tiny().eval()
    calls = {k: 0 for k in range(8)}
    for edge in (m for m in net.modules() if isinstance(m, MixedOp)):
        for k, op in enumerate(edge.ops):
            op.register_forward_hook(lambda *_, k=k: calls.__setitem__(k, calls[k] + 1))
    weights = torch.softmax(torch.randn(14, 8), dim=-1)
    alive = torch.ones(14, 8, dtype=torch.bool)
    alive[:, [0, 4, 7]] = False  # none, sep_conv_3x3, dil_conv_5x5 wiped out on every edge
    alive[3, 5] = False
    net.edge_weights = Provider(weights, alive)
    x = torch.randn(2, 3, 16, 16)
    masked = net(x)
    assert calls[0] == calls[4] == calls[7] == 0
    assert calls[1] == calls[2] == calls[3] == calls[6] == 3 * 14
    assert calls[5] == 3 * 13
    # the same as zero weight on those ops (in eval mode, i.e. without batch statistics)
    net.edge_weights = Provider(weights * alive)
    assert torch.allclose(net(x), masked, atol=1e-6)
    alive[2] = False
    net.edge_weights = Provider(weights, alive)
    with pytest.raises(ValueError, match="masked out"):
        net(x)


def test_per_sample_edge_weights() -> None:
    """Attention-style weights ``[edges, batch, ops]``: each sample uses its own row."""
    net = tiny().eval()
    x = torch.randn(2, 3, 16, 16)
    per_sample = torch.softmax(torch.randn(14, 2, 8), dim=-1)
    net.edge_weights = Provider(per_sample)
    both = net(x)
    for b in range(2):
        net.edge_weights = Provider(per_sample[:, b])
        assert torch.allclose(net(x[b : b + 1])[0], both[b], atol=1e-6)
