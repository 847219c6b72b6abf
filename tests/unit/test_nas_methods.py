"""Ray-free method registry: names, builders, unknown-name error."""

from __future__ import annotations

import pytest
import torch

from raysearch.nas.attention import AttentionNAS
from raysearch.nas.darts import Darts
from raysearch.nas.methods import build_method, method_names
from raysearch.nas.xnas import XNAS

torch.set_num_threads(1)
KW = {"in_channels": 3, "num_classes": 4, "C": 4, "layers": 3, "steps": 2, "multiplier": 2}


def test_names_and_types() -> None:
    assert method_names() == ["asm", "darts", "darts-1st", "xnas"]
    assert build_method("darts", KW).order == 2
    assert build_method("darts-1st", KW).order == 1
    assert isinstance(build_method("darts", KW), Darts)
    assert isinstance(build_method("xnas", KW, epochs=2), XNAS)
    assert isinstance(build_method("asm", KW, epochs=2), AttentionNAS)


def test_unknown_name_lists_names() -> None:
    with pytest.raises(KeyError, match="xnas"):
        build_method("nope", KW)
