"""The DARTS cell search space (Liu et al., ICLR 2019, Sec. 2.1), declared by name only.

A cell is a DAG of two input nodes (the outputs of the two previous cells) and ``STEPS``
intermediate nodes; the supernet puts a mixed op over ``PRIMITIVES`` on every edge, the derived
cell keeps ``INPUTS_PER_NODE`` edges per node. :class:`Genotype` is the official code's
``namedtuple('Genotype', 'normal normal_concat reduce reduce_concat')`` with an exact string
round trip (``parse_genotype(str(g)) == g``, read by a small parser, never ``eval``).
:class:`CellGenotype` describes one cell on its own (any number of edges per node, its own
reduction flag); a list of them, one per cell, is the per-cell genotype of attention-module NAS.

Published genotypes: DARTS_V1/V2 (quark0/darts ``cnn/genotypes.py``), PC-DARTS
(yuhuixu1993/PC-DARTS ``PC_DARTS_cifar``), P-DARTS (chenxin061/pdarts ``PDARTS``), XNAS
(NivNayman/XNAS ``XNAS``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, NoReturn

PRIMITIVES: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
STEPS = 4  # intermediate nodes per cell
INPUTS_PER_NODE = 2  # edges a derived DARTS cell keeps per intermediate node
MULTIPLIER = 4  # intermediate nodes concatenated into the cell output

Edge = tuple[str, int]  # (op name, index of the input state: 0, 1 = cell inputs, 2.. = nodes)


def num_edges(steps: int = STEPS) -> int:
    """Edges of a search cell: intermediate node i has 2 + i predecessors (14 for 4 steps)."""
    return sum(2 + i for i in range(steps))


REDUCTION_RULES = ("darts", "asm")


def reduction_indices(layers: int, rule: str = "darts") -> tuple[int, ...]:
    """0-based indices of the cells that reduce (stride 2, channels x2).

    ``darts``: layers//3 and 2*layers//3, the first cell past each third (official
    ``model_search.py``/``model.py``: cells 2, 5 of 8 and 6, 13 of 20). ``asm``: the last cell
    of the first and second thirds, layers//3 - 1 and 2*layers//3 - 1 (at least 0): ASM-NAS
    Sec. 5.2 and Fig. 4 put them at the 5th and 10th of 15 cells (0-based 4, 9; the DARTS rule
    gives 5, 10); the paper states only L = 15.
    """
    if rule == "darts":
        return tuple(sorted({layers // 3, 2 * layers // 3}))
    if rule == "asm":
        return tuple(sorted({max(0, layers // 3 - 1), max(0, 2 * layers // 3 - 1)}))
    raise ValueError(f"unknown reduction rule {rule!r}; allowed: {', '.join(REDUCTION_RULES)}")


class CellGenotype(NamedTuple):
    """One derived cell: for each intermediate node the edges ``(op, input)`` summed into it,
    the states concatenated into the output, and whether the cell reduces."""

    nodes: tuple[tuple[Edge, ...], ...]
    concat: tuple[int, ...]
    reduction: bool

    @classmethod
    def create(
        cls, nodes: Iterable[Iterable[Edge]], concat: Iterable[int], reduction: bool
    ) -> CellGenotype:
        """Canonical (all-tuple) and validated cell from any sequences."""
        cell = cls(
            tuple(tuple((str(op), int(j)) for op, j in node) for node in nodes),
            tuple(int(i) for i in concat),
            bool(reduction),
        )
        _check_cell(cell.nodes, cell.concat, "cell")
        return cell

    def __str__(self) -> str:
        nodes = [list(node) for node in self.nodes]
        return f"CellGenotype(nodes={nodes!r}, concat={list(self.concat)!r}, reduction={self.reduction!r})"


class Genotype(NamedTuple):
    """A DARTS architecture: ``INPUTS_PER_NODE`` edges ``(op, input)`` per node, flattened in node
    order, plus the concatenated states, for the normal and the reduction cell."""

    normal: tuple[Edge, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Edge, ...]
    reduce_concat: tuple[int, ...]

    @classmethod
    def create(
        cls,
        normal: Iterable[Edge],
        normal_concat: Iterable[int],
        reduce: Iterable[Edge],
        reduce_concat: Iterable[int],
    ) -> Genotype:
        """Canonical (all-tuple) and validated genotype from lists, tuples or ranges."""
        genotype = cls(
            tuple((str(op), int(j)) for op, j in normal),
            tuple(int(i) for i in normal_concat),
            tuple((str(op), int(j)) for op, j in reduce),
            tuple(int(i) for i in reduce_concat),
        )
        genotype.cell(reduction=False)  # validates
        genotype.cell(reduction=True)
        return genotype

    def cell(self, *, reduction: bool) -> CellGenotype:
        """The normal or the reduction cell as a :class:`CellGenotype`."""
        edges, concat, name = (
            (self.reduce, self.reduce_concat, "reduce")
            if reduction
            else (self.normal, self.normal_concat, "normal")
        )
        if not edges or len(edges) % INPUTS_PER_NODE:
            raise ValueError(
                f"{name}: need {INPUTS_PER_NODE} edges per node, got {len(edges)} edges"
            )
        nodes = tuple(
            tuple(edges[i : i + INPUTS_PER_NODE]) for i in range(0, len(edges), INPUTS_PER_NODE)
        )
        _check_cell(nodes, concat, name)
        return CellGenotype(nodes, tuple(concat), reduction)

    def __str__(self) -> str:
        return (
            f"Genotype(normal={list(self.normal)!r}, normal_concat={list(self.normal_concat)!r}, "
            f"reduce={list(self.reduce)!r}, reduce_concat={list(self.reduce_concat)!r})"
        )


def expand_genotype(genotype: Genotype, layers: int) -> list[CellGenotype]:
    """One cell per layer, reducing at :func:`reduction_indices` (the DARTS network layout)."""
    if layers < 1:
        raise ValueError(f"layers must be >= 1, got {layers}")
    reductions = reduction_indices(layers)
    return [genotype.cell(reduction=i in reductions) for i in range(layers)]


def _check_cell(nodes: Sequence[Sequence[Edge]], concat: Sequence[int], where: str) -> None:
    if not nodes:
        raise ValueError(f"{where}: a cell needs at least one intermediate node")
    for i, node in enumerate(nodes):
        if not node:
            raise ValueError(f"{where}: node {i + 2} has no incoming edge")
        for op, j in node:
            if op not in PRIMITIVES:
                raise ValueError(f"{where}: unknown op {op!r}; known ops: {list(PRIMITIVES)}")
            if not 0 <= j < i + 2:
                raise ValueError(
                    f"{where}: node {i + 2} cannot take input {j} (allowed 0..{i + 1})"
                )
    last = len(nodes) + 1
    if not concat or any(not 2 <= k <= last for k in concat) or len(set(concat)) != len(concat):
        raise ValueError(
            f"{where}: concat {list(concat)} must list distinct intermediate nodes in 2..{last}"
        )


# --------------------------------------------------------------------------- string parsing


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


_TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_]\w*)|(?P<int>-?\d+)|(?P<str>'[^'\\\n]*'|\"[^\"\\\n]*\")"
    r"|(?P<punct>[\[\](),=]))"
)
_CLOSE = {"[": "]", "(": ")"}


class _Parser:
    """Recursive descent over a literal language: calls ``Name(a, key=b)``, lists and tuples
    (read alike as sequences), quoted strings, integers, ``True``/``False``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        body, pos = text.rstrip(), 0
        while pos < len(body):
            match = _TOKEN.match(body, pos)
            if match is None or match.lastgroup is None:
                raise ValueError(f"unexpected text at {pos} in {text!r}")
            self.tokens.append((match.lastgroup, match.group(match.lastgroup)))
            pos = match.end()
        self.i = 0

    def parse(self) -> Any:
        value = self._value()
        if self.i != len(self.tokens):
            self._fail("end of input")
        return value

    def _fail(self, expected: str) -> NoReturn:
        got = self.tokens[self.i][1] if self.i < len(self.tokens) else "end of input"
        raise ValueError(f"expected {expected}, got {got!r} in {self.text!r}")

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "")

    def _take(self, text: str) -> None:
        if self._peek()[1] != text:
            self._fail(repr(text))
        self.i += 1

    def _value(self) -> Any:
        kind, text = self._peek()
        if kind == "int":
            self.i += 1
            return int(text)
        if kind == "str":
            self.i += 1
            return text[1:-1]
        if text in _CLOSE:
            self.i += 1
            return self._items(_CLOSE[text])[0]
        if kind == "name":
            self.i += 1
            if text in ("True", "False"):
                return text == "True"
            self._take("(")
            args, kwargs = self._items(")")
            return _Call(text, tuple(args), kwargs)
        self._fail("a value")

    def _items(self, close: str) -> tuple[list[Any], dict[str, Any]]:
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        while self._peek()[1] != close:
            kind, text = self._peek()
            if (
                kind == "name"
                and self.i + 1 < len(self.tokens)
                and self.tokens[self.i + 1][1] == "="
            ):
                if close != ")" or text in kwargs:
                    self._fail("a value (no keyword here)")
                self.i += 2
                kwargs[text] = self._value()
            elif kwargs:
                self._fail("a keyword argument")
            else:
                args.append(self._value())
            if self._peek()[1] != close:
                self._take(",")
        self._take(close)
        return args, kwargs


def _call_fields(value: Any, name: str, fields: Sequence[str]) -> dict[str, Any]:
    if not isinstance(value, _Call) or value.name != name:
        found = f"{value.name}(...)" if isinstance(value, _Call) else repr(value)
        raise ValueError(f"expected {name}(...), got {found}")
    if len(value.args) > len(fields):
        raise ValueError(f"{name} takes {len(fields)} fields, got {len(value.args)} positional")
    got = dict(zip(fields, value.args, strict=False))
    for key, item in value.kwargs.items():
        if key not in fields or key in got:
            raise ValueError(
                f"{name}: unexpected or repeated field {key!r}; fields: {list(fields)}"
            )
        got[key] = item
    missing = [f for f in fields if f not in got]
    if missing:
        raise ValueError(f"{name}: missing fields {missing}")
    return got


def _sequence(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list, got {value!r}")
    return value


def _edges(value: Any, what: str) -> list[Edge]:
    edges = []
    for item in _sequence(value, what):
        if not (
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and type(item[1]) is int
        ):
            raise ValueError(f"{what}: each edge must be ('op', input), got {item!r}")
        edges.append((item[0], item[1]))
    return edges


def _indices(value: Any, what: str) -> list[int]:
    if isinstance(value, _Call) and value.name == "range" and not value.kwargs:
        if 1 <= len(value.args) <= 2 and all(type(a) is int for a in value.args):
            return list(range(*value.args))
    items = _sequence(value, what)
    if not all(type(i) is int for i in items):
        raise ValueError(f"{what} must hold integers, got {items!r}")
    return items


def parse_genotype(text: str) -> Genotype:
    """Read ``str(genotype)`` (or the official code's repr, lists or tuples, ``range(2, 6)``
    concats) back into a validated :class:`Genotype`; ``ValueError`` on anything else."""
    fields = _call_fields(_Parser(text).parse(), "Genotype", Genotype._fields)
    return Genotype.create(
        _edges(fields["normal"], "normal"),
        _indices(fields["normal_concat"], "normal_concat"),
        _edges(fields["reduce"], "reduce"),
        _indices(fields["reduce_concat"], "reduce_concat"),
    )


def _cell_from(value: Any) -> CellGenotype:
    fields = _call_fields(value, "CellGenotype", CellGenotype._fields)
    if not isinstance(fields["reduction"], bool):
        raise ValueError(f"reduction must be True or False, got {fields['reduction']!r}")
    nodes = [_edges(node, "node") for node in _sequence(fields["nodes"], "nodes")]
    return CellGenotype.create(nodes, _indices(fields["concat"], "concat"), fields["reduction"])


def parse_cell_genotype(text: str) -> CellGenotype:
    """Inverse of ``str(cell)`` for one :class:`CellGenotype`."""
    return _cell_from(_Parser(text).parse())


def format_cell_genotypes(cells: Sequence[CellGenotype]) -> str:
    """The string form of a per-cell genotype list (one :class:`CellGenotype` per cell)."""
    return "[" + ", ".join(str(cell) for cell in cells) + "]"


def parse_cell_genotypes(text: str) -> list[CellGenotype]:
    """Inverse of :func:`format_cell_genotypes` (also reads ``str(list_of_cells)``)."""
    cells = [_cell_from(item) for item in _sequence(_Parser(text).parse(), "cell list")]
    if not cells:
        raise ValueError("a per-cell genotype list needs at least one cell")
    return cells


# --------------------------------------------------------------------------- published genotypes

_CONCAT = range(2, 6)

DARTS_V1 = Genotype.create(
    normal=[
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("skip_connect", 0),
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("skip_connect", 2),
    ],
    normal_concat=_CONCAT,
    reduce=[
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 1),
        ("skip_connect", 2),
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 0),
        ("skip_connect", 2),
        ("skip_connect", 2),
        ("avg_pool_3x3", 0),
    ],
    reduce_concat=_CONCAT,
)

DARTS_V2 = Genotype.create(
    normal=[
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("skip_connect", 0),
        ("dil_conv_3x3", 2),
    ],
    normal_concat=_CONCAT,
    reduce=[
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 1),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
        ("max_pool_3x3", 0),
        ("skip_connect", 2),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
    ],
    reduce_concat=_CONCAT,
)

PC_DARTS = Genotype.create(
    normal=[
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("sep_conv_3x3", 0),
        ("dil_conv_3x3", 1),
        ("sep_conv_5x5", 0),
        ("sep_conv_3x3", 1),
        ("avg_pool_3x3", 0),
        ("dil_conv_3x3", 1),
    ],
    normal_concat=_CONCAT,
    reduce=[
        ("sep_conv_5x5", 1),
        ("max_pool_3x3", 0),
        ("sep_conv_5x5", 1),
        ("sep_conv_5x5", 2),
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 3),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 2),
    ],
    reduce_concat=_CONCAT,
)

P_DARTS = Genotype.create(
    normal=[
        ("skip_connect", 0),
        ("dil_conv_3x3", 1),
        ("skip_connect", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 3),
        ("sep_conv_3x3", 0),
        ("dil_conv_5x5", 4),
    ],
    normal_concat=_CONCAT,
    reduce=[
        ("avg_pool_3x3", 0),
        ("sep_conv_5x5", 1),
        ("sep_conv_3x3", 0),
        ("dil_conv_5x5", 2),
        ("max_pool_3x3", 0),
        ("dil_conv_3x3", 1),
        ("dil_conv_3x3", 1),
        ("dil_conv_5x5", 3),
    ],
    reduce_concat=_CONCAT,
)

XNAS = Genotype.create(
    normal=[
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 2),
        ("sep_conv_3x3", 3),
        ("sep_conv_3x3", 1),
        ("dil_conv_5x5", 4),
        ("sep_conv_3x3", 0),
    ],
    normal_concat=_CONCAT,
    reduce=[
        ("max_pool_3x3", 0),
        ("avg_pool_3x3", 1),
        ("avg_pool_3x3", 0),
        ("skip_connect", 2),
        ("dil_conv_3x3", 3),
        ("max_pool_3x3", 0),
        ("dil_conv_5x5", 4),
        ("avg_pool_3x3", 0),
    ],
    reduce_concat=_CONCAT,
)

PUBLISHED_GENOTYPES: dict[str, Genotype] = {
    "DARTS_V1": DARTS_V1,
    "DARTS_V2": DARTS_V2,
    "PC_DARTS": PC_DARTS,
    "P_DARTS": P_DARTS,
    "XNAS": XNAS,
}
# "DARTS" is DARTS_V2 as in the official genotypes.py; spellings with '-' or no separator also work.
_ALIASES = {"DARTS": "DARTS_V2", "PCDARTS": "PC_DARTS", "PDARTS": "P_DARTS"}


def published_genotype(name: str) -> Genotype:
    """A published genotype by name (case-insensitive, '-' or '_': "PC-DARTS", "p_darts")."""
    key = name.strip().upper().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in PUBLISHED_GENOTYPES:
        raise KeyError(
            f"unknown published genotype {name!r}; known: {sorted(PUBLISHED_GENOTYPES)} "
            f"(aliases: {sorted(_ALIASES)})"
        )
    return PUBLISHED_GENOTYPES[key]
