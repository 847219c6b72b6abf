"""Reader for the IDX files of MNIST and Fashion-MNIST (plain or gzip-compressed)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np

_DTYPES: dict[int, Any] = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (``*-ubyte`` or ``*-ubyte.gz``) into a numpy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=_DTYPES[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} but holds {data.size} values")
    return data.reshape(shape).astype(np.uint8 if raw[2] == 0x08 else data.dtype)


def find_idx_pair(root: Path, prefix: str) -> tuple[Path, Path] | None:
    """Find ``{prefix}-images-idx3-ubyte[.gz]`` and its labels file in ``root``."""
    for suffix in ("", ".gz"):
        images = root / f"{prefix}-images-idx3-ubyte{suffix}"
        labels = root / f"{prefix}-labels-idx1-ubyte{suffix}"
        if images.is_file() and labels.is_file():
            return images, labels
    return None
