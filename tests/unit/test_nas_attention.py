"""ASM-NAS: attention sums to 1, per-cell derivation equals a brute-force average, string round
trip, state round trip."""

from __future__ import annotations

import copy

import pytest
import torch

from raysearch.nas.attention import AttentionNAS, AttentionSuperNet
from raysearch.nas.eval_net import EvalNetwork
from raysearch.nas.supernet import SuperNet, derive_edges
from raysearch.nas.unrolled import Batch
from search_spaces.darts import format_cell_genotypes, parse_cell_genotypes, reduction_indices

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
    for c, cell in enumerate(cells):  # Alg. 1 line 10: argmax on every edge, 2 + i per node
        assert [len(node) for node in cell.nodes] == [2, 3]
        flat = [e for node in cell.nodes for e in node]
        assert flat == [(net.primitives[int(means[c][e].argmax())], j)
                        for e, j in enumerate([0, 1, 0, 1, 2])]  # fmt: skip
    assert net.reductions == (True, True, False)  # ASM rule: layers//3 - 1, 2*layers//3 - 1
    g = method.genotype()  # the shared summary keeps DARTS' top-2 rule
    prims = net.primitives
    assert list(g.normal) == derive_edges(means[2], primitives=prims, steps=2)
    assert list(g.reduce) == derive_edges((means[0] + means[1]) / 2, primitives=prims, steps=2)
    top2 = AttentionNAS(net, epochs=2, selection="top2").derive(b)  # the rule before
    for c, cell in enumerate(top2):
        flat = [e for node in cell.nodes for e in node]
        assert flat == derive_edges(means[c], primitives=prims, steps=2)


def test_asm_reductions_sit_at_the_5th_and_10th_of_15_cells() -> None:
    """ASM-NAS Sec. 5.2 / Fig. 4: cells 5 and 10 of 15 (0-based 4, 9); DARTS keeps its own
    positions (2, 5 of 8; 6, 13 of 20; 5, 10 of 15). Before: the ASM supernet used DARTS'."""
    assert reduction_indices(15, "asm") == (4, 9)
    assert reduction_indices(15) == (5, 10)
    assert reduction_indices(8) == (2, 5) and reduction_indices(20) == (6, 13)
    torch.manual_seed(0)
    net = AttentionSuperNet(in_channels=1, num_classes=2, C=1, layers=15, steps=1, multiplier=1)
    assert [i for i, r in enumerate(net.reductions) if r] == [4, 9]
    darts = SuperNet(in_channels=1, num_classes=2, C=1, layers=15, steps=1, multiplier=1)
    assert [i for i, r in enumerate(darts.reductions) if r] == [5, 10]
    with pytest.raises(ValueError, match="unknown reduction rule 'nasnet'"):
        reduction_indices(15, "nasnet")


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


def test_every_edge_cells_build_and_train_an_evaluation_network() -> None:
    """A derived per-cell list (2 + i edges per node, ASM reductions, 'none' edges allowed)
    survives the string round trip and trains in the evaluation network."""
    net = tiny()
    method = AttentionNAS(net, epochs=2)
    b = batches(2)
    method.step(b[0], b[1])
    cells = parse_cell_genotypes(format_cell_genotypes(method.derive(b)))
    cells[0] = cells[0]._replace(nodes=(cells[0].nodes[0], tuple(("none", j) for j in range(3))))
    model = EvalNetwork(cells, in_channels=3, num_classes=4, C=4, layers=3, image_size=8)
    logits, aux = model.train()(b[0][0])
    assert logits.shape == (4, 4) and aux is not None
    (logits.logsumexp(1).mean() + aux.mean()).backward()
    assert all(p.grad is not None for p in model.classifier.parameters())
