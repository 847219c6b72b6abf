"""ASM-NAS: attention sums to 1, per-cell derivation equals a brute-force average, string round
trip, state round trip."""

from __future__ import annotations

import copy

import torch

from raysearch.nas.attention import AttentionNAS, AttentionSuperNet
from raysearch.nas.supernet import derive_edges
from raysearch.nas.unrolled import Batch
from search_spaces.darts import format_cell_genotypes, parse_cell_genotypes

torch.set_num_threads(1)


def tiny(seed: int = 0) -> AttentionSuperNet:
    torch.manual_seed(seed)
    return AttentionSuperNet(in_channels=3, num_classes=4, C=4, layers=3, steps=2, multiplier=2)


def batches(n: int, seed: int = 1) -> list[Batch]:
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(4, 3, 8, 8, generator=g), torch.randint(0, 4, (4,), generator=g))
        for _ in range(n)
    ]


def test_attention_sums_to_one_per_sample_and_edge() -> None:
    net = tiny()
    net(batches(1)[0][0])
    for a in net.attention():
        assert a.shape == (5, 4, 8)
        torch.testing.assert_close(a.sum(-1), torch.ones(5, 4))
        assert (a > 0).all()


def test_derive_matches_brute_force_and_round_trips() -> None:
    net = tiny()
    method = AttentionNAS(net, epochs=2)
    b = batches(3)
    method.step(b[0], b[1])
    cells = method.derive(b)
    assert len(cells) == 3
    assert [c.reduction for c in cells] == list(net.reductions)
    assert parse_cell_genotypes(format_cell_genotypes(cells)) == cells
    net.eval()
    with torch.no_grad():
        totals = [torch.zeros(5, 8) for _ in range(3)]
        for x, _ in b:
            for k in range(x.shape[0]):
                net(x[k : k + 1])
                for c, a in enumerate(net.attention()):
                    totals[c] += a[:, 0]
    means = [t / 12 for t in totals]
    torch.testing.assert_close(method.mean_attention(b)[0], means[0], rtol=1e-4, atol=1e-5)
    for c, cell in enumerate(cells):
        flat = [e for node in cell.nodes for e in node]
        assert flat == derive_edges(means[c], primitives=net.primitives, steps=2)
    assert net.reductions == (False, True, True)
    g = method.genotype()
    prims = net.primitives
    assert list(g.normal) == derive_edges(means[0], primitives=prims, steps=2)
    assert list(g.reduce) == derive_edges((means[1] + means[2]) / 2, primitives=prims, steps=2)


def test_state_round_trip() -> None:
    b = batches(4)
    method = AttentionNAS(tiny(), epochs=2)
    method.step(b[0], b[1])
    method.epoch_end()
    state = copy.deepcopy(method.state_dict())
    m1 = method.step(b[2], b[3])
    other = AttentionNAS(tiny(seed=5), epochs=2)
    other.load_state_dict(state)
    assert other.step(b[2], b[3]) == m1
