"""DARTS genotypes (search_spaces.darts): exact string round trips without eval, the official
repr accepted, malformed strings rejected, published genotypes by name, per-cell lists."""

from __future__ import annotations

import random

import pytest

from search_spaces.darts import (
    DARTS_V2,
    PRIMITIVES,
    PUBLISHED_GENOTYPES,
    CellGenotype,
    Genotype,
    expand_genotype,
    format_cell_genotypes,
    num_edges,
    parse_cell_genotype,
    parse_cell_genotypes,
    parse_genotype,
    published_genotype,
    reduction_indices,
)

OPS = [op for op in PRIMITIVES if op != "none"]


def random_genotype(rng: random.Random, steps: int = 4) -> Genotype:
    def edges() -> list[tuple[str, int]]:
        return [(rng.choice(OPS), j) for i in range(steps) for j in rng.sample(range(i + 2), 2)]

    concat = range(2, 2 + steps)
    return Genotype.create(edges(), concat, edges(), concat)


def random_cell(rng: random.Random) -> CellGenotype:
    steps = rng.randint(1, 5)
    nodes = [
        [(rng.choice(PRIMITIVES), j) for j in rng.sample(range(i + 2), rng.randint(1, i + 2))]
        for i in range(steps)
    ]
    concat = rng.sample(range(2, steps + 2), rng.randint(1, steps))
    return CellGenotype.create(nodes, concat, rng.random() < 0.5)


def test_primitives_are_darts_eight_in_official_order() -> None:
    assert PRIMITIVES == (
        "none",
        "max_pool_3x3",
        "avg_pool_3x3",
        "skip_connect",
        "sep_conv_3x3",
        "sep_conv_5x5",
        "dil_conv_3x3",
        "dil_conv_5x5",
    )
    assert num_edges() == 14
    assert reduction_indices(8) == (2, 5) and reduction_indices(20) == (6, 13)


@pytest.mark.parametrize("name", sorted(PUBLISHED_GENOTYPES))
def test_published_genotypes_round_trip(name: str) -> None:
    genotype = PUBLISHED_GENOTYPES[name]
    assert parse_genotype(str(genotype)) == genotype
    assert parse_genotype(repr(genotype)) == genotype  # the tuple form reads back too
    assert len(genotype.normal) == len(genotype.reduce) == 8
    assert genotype.normal_concat == genotype.reduce_concat == (2, 3, 4, 5)


def test_random_genotypes_round_trip() -> None:
    rng = random.Random(0)
    for _ in range(200):
        genotype = random_genotype(rng, steps=rng.randint(1, 6))
        text = str(genotype)
        assert parse_genotype(text) == genotype
        assert str(parse_genotype(text)) == text


def test_official_repr_with_range_concat_parses() -> None:
    """The form printed by the official code and pasted in the PC-DARTS/P-DARTS genotypes.py."""
    text = (
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
        "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
        "('dil_conv_3x3', 2)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), "
        "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
        "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
    )
    assert parse_genotype(text) == DARTS_V2
    assert parse_genotype(text.replace("'", '"')) == DARTS_V2


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Genotype(",
        "Genotype(normal=[])",
        "Genotyp(normal=[], normal_concat=[], reduce=[], reduce_concat=[])",
        "__import__('os').system('true')",
        str(DARTS_V2) + ")",
        str(DARTS_V2).replace("sep_conv_3x3", "conv_9x9", 1),  # unknown op
        str(DARTS_V2).replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"),  # input out of range
        str(DARTS_V2).replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', True)"),  # not an int
        str(DARTS_V2).replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 2, 3)"),
        str(DARTS_V2).replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3, 9]"),
        str(DARTS_V2).replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[]"),
        str(DARTS_V2).replace("('dil_conv_3x3', 2)], ", "], "),  # odd number of edges
        str(DARTS_V2).replace("reduce_concat=", "normal_concat="),  # repeated field
        str(DARTS_V2).replace("reduce=", "reduced="),
        str(DARTS_V2).replace("[2, 3, 4, 5]", "range(2, x)", 1),
    ],
)
def test_malformed_genotype_strings_raise(text: str) -> None:
    with pytest.raises(ValueError):
        parse_genotype(text)


def test_unknown_op_error_names_the_op_and_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="conv_9x9.*sep_conv_3x3"):
        parse_genotype(str(DARTS_V2).replace("sep_conv_3x3", "conv_9x9", 1))


def test_published_lookup_by_name_and_aliases() -> None:
    assert published_genotype("DARTS") is published_genotype("darts_v2") is DARTS_V2
    assert published_genotype("PC-DARTS") is published_genotype("PC_DARTS")
    assert published_genotype("P-DARTS") is published_genotype("pdarts")
    with pytest.raises(KeyError, match="DARTS_V1.*XNAS"):
        published_genotype("ENAS")


def test_per_cell_lists_round_trip() -> None:
    rng = random.Random(1)
    for _ in range(50):
        cells = [random_cell(rng) for _ in range(rng.randint(1, 8))]
        assert parse_cell_genotypes(format_cell_genotypes(cells)) == cells
        assert parse_cell_genotypes(str(cells)) == cells  # plain list repr reads back too
        assert all(parse_cell_genotype(str(cell)) == cell for cell in cells)


def test_expand_genotype_places_darts_reductions() -> None:
    cells = expand_genotype(DARTS_V2, 8)
    assert [c.reduction for c in cells] == [i in (2, 5) for i in range(8)]
    assert cells[0].nodes[3] == (("skip_connect", 0), ("dil_conv_3x3", 2))
    assert cells[2] == DARTS_V2.cell(reduction=True)
    assert parse_cell_genotypes(format_cell_genotypes(cells)) == cells


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "CellGenotype(nodes=[], concat=[2], reduction=False)",
        "[CellGenotype(nodes=[[('skip_connect', 2)]], concat=[2], reduction=False)]",
        "[CellGenotype(nodes=[[('skip_connect', 0)]], concat=[2], reduction=1)]",
        "[CellGenotype(nodes=[[]], concat=[2], reduction=False)]",
        "[CellGenotype(nodes=[[('skip_connect', 0)]], concat=[2], reduction=False), 3]",
    ],
)
def test_malformed_cell_lists_raise(text: str) -> None:
    with pytest.raises(ValueError):
        parse_cell_genotypes(text)
