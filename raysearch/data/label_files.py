"""Noisy training labels from a file (``--labels``): real label noise instead of synthetic.

Formats, one label per training row in the data set's row order:

* ``.npy``: a 1-D integer array, read with ``np.load(allow_pickle=False)``;
* ``.csv``: one integer per line (an optional header line that is not a number is skipped);
* ``.pt``: a CIFAR-10N/100N-style dict (``worse_label``, ``aggre_label``, ``random_label1``,
  ``noisy_label``, ``clean_label``, ...) of integer arrays or tensors, read with
  ``torch.load(weights_only=True)`` (numpy integer arrays allowed, nothing that runs code);
  ``key`` (``--labels-key``) picks the array. A ``clean_label`` entry beside it is returned as
  ``clean``, to check the file against the data set's own labels (same row order).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

LABEL_SUFFIXES = (".npy", ".csv", ".pt")
CLEAN_KEY = "clean_label"


@dataclass(frozen=True)
class LabelFile:
    """The labels read from one file, and its ``clean_label`` entry when it has one."""

    labels: np.ndarray
    clean: np.ndarray | None
    source: str


def check_label_file(path: str | Path, key: str | None) -> Path:
    """The absolute path of a label file; ``ValueError``/``FileNotFoundError`` for a bad
    suffix, a missing file, or a key given to a format that has none."""
    resolved = Path(path).expanduser().resolve()
    if resolved.suffix not in LABEL_SUFFIXES:
        raise ValueError(
            f"--labels {path}: unknown label file type {resolved.suffix or '(none)'!r}; "
            f"allowed: {', '.join(LABEL_SUFFIXES)}"
        )
    if not resolved.is_file():
        raise FileNotFoundError(f"label file not found: {resolved}")
    if key is not None and resolved.suffix != ".pt":
        raise ValueError(f"--labels-key {key!r} is for .pt label files, not {resolved.name}")
    return resolved


def _integers(values: Any, name: str) -> np.ndarray:
    array = (
        values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    )
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per row), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        raise ValueError(f"{name} must hold integer class indices, got {array.dtype}")
    return array.astype(np.int64)


def _read_csv(path: Path) -> np.ndarray:
    lines = path.read_text().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    labels: list[int] = []
    for number, line in enumerate(lines, start=1):
        field = line.strip()
        if "," in field or ";" in field or "\t" in field:
            raise ValueError(
                f"{path} line {number} has several fields ({field!r}); expected one label per line"
            )
        try:
            labels.append(int(field))
        except ValueError:
            if number == 1:
                continue  # a header
            raise ValueError(f"{path} line {number}: {field!r} is not an integer label") from None
    return np.asarray(labels, dtype=np.int64)


def _numpy_safe_globals() -> list[Any]:
    """The numpy globals an integer array pickles with (under numpy 1's and numpy 2's names)."""
    reconstruct = np._core.multiarray._reconstruct  # type: ignore[attr-defined]
    dtypes = [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return [np.ndarray, np.dtype, reconstruct, (reconstruct, "numpy.core.multiarray._reconstruct"),
            *dtypes]  # fmt: skip


def _read_pt(path: Path, key: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any failure: the file is not plain data
        first = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise ValueError(f"{path} is not a plain-data .pt file ({first[:200]})") from None
    if not isinstance(content, dict):
        if key is not None:
            raise ValueError(f"{path} holds one array, not a dict; leave --labels-key out")
        return _integers(content, str(path)), None
    keys = ", ".join(map(str, content)) or "(none)"
    if key is None:
        raise ValueError(f"{path} is a dict: pick its labels with --labels-key; keys: {keys}")
    if key not in content:
        raise ValueError(f"--labels-key {key!r} is not in {path}; keys: {keys}")
    clean = content.get(CLEAN_KEY) if key != CLEAN_KEY else None
    name = f"{path}[{key!r}]"
    return _integers(content[key], name), None if clean is None else _integers(clean, CLEAN_KEY)


def read_label_file(path: str | Path, *, key: str | None = None) -> LabelFile:
    """Read a label file (see the module docstring); one-line ``ValueError`` for bad content."""
    resolved = check_label_file(path, key)
    clean = None
    if resolved.suffix == ".npy":
        try:
            labels = _integers(np.load(resolved, allow_pickle=False), str(resolved))
        except (OSError, EOFError) as error:
            raise ValueError(f"{resolved} is not a readable .npy file ({error})") from None
        except ValueError as error:
            if "allow_pickle" in str(error):
                raise ValueError(f"{resolved} holds an object array; save integers") from None
            raise
    elif resolved.suffix == ".csv":
        labels = _read_csv(resolved)
    else:
        labels, clean = _read_pt(resolved, key)
    source = f"{resolved}[{key}]" if key is not None else str(resolved)
    return LabelFile(labels=labels, clean=clean, source=source)


def check_labels_fit(
    file: LabelFile, *, rows: int, num_classes: int, clean: np.ndarray | None
) -> None:
    """``ValueError`` unless the file has one label 0..C-1 per training row and its
    ``clean_label`` entry (if any) agrees with the data set's own labels ``clean``."""
    labels = file.labels
    if len(labels) != rows:
        raise ValueError(
            f"label file {file.source} has {len(labels)} labels but the data set has {rows} "
            "training rows; expected one label per training row"
        )
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"label file {file.source} has labels {low}..{high}, outside the data set's "
            f"{num_classes} classes 0..{num_classes - 1}"
        )
    if file.clean is not None and clean is not None:
        if len(file.clean) != rows:
            raise ValueError(f"{CLEAN_KEY} of {file.source} has {len(file.clean)} rows, not {rows}")
        differ = int((file.clean != clean).sum())
        if differ:
            raise ValueError(
                f"{CLEAN_KEY} of {file.source} differs from the data set's labels on {differ} of "
                f"{rows} rows: a different data set or row order?"
            )
