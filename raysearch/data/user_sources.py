"""A user's own data set named by ``--dataset``: a folder, an ``.npz`` file or ``module:function``.

* a folder in torchvision's ``ImageFolder`` layout (:mod:`raysearch.data.image_folder`);
* an ``.npz`` with ``x_train, y_train, x_test, y_test`` (optional ``x_val, y_val``), read with
  ``np.load(allow_pickle=False)`` (numbers only, nothing in it can run);
* ``module:function``: the user's own code, imported from ``data_root`` (else the current
  folder, else the installed packages) and called with no arguments. It returns a tuple
  ``(x_train, y_train, x_test, y_test[, x_val, y_val])`` of arrays or tensors (a dict with
  those keys works too), or ``(train, test[, val])`` torch ``Dataset``\\ s of ``(image, label)``
  items (image: tensor ``[C, H, W]``/``[H, W]``, array or PIL image). Trials call it again in
  their own processes, so it must return the same data every call.

``y_train`` may be left out (``None``) when the training labels come from ``--labels`` and no
clean ones are known. Paths are made absolute before Ray starts (trials run in their own
folder); :func:`load_user_data` caches one data set per process.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from raysearch.data.image_folder import load_image_folder
from raysearch.data.user_arrays import UserData, user_data

ENTRY_POINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test", "x_val", "y_val")
FORMS = "a folder in ImageFolder layout, an .npz file, or module:function"


def user_kind(spec: str) -> str | None:
    """``"npz"``, ``"entry-point"`` or ``"folder"`` for a user data set, ``None`` otherwise."""
    if spec.endswith(".npz"):
        return "npz"
    if ENTRY_POINT.match(spec) and not Path(spec).exists():
        return "entry-point"
    if Path(spec).expanduser().is_dir():
        return "folder"
    return None


def resolve_user_spec(spec: str, data_root: str | None) -> tuple[str, str | None]:
    """``(spec, data_root)`` with paths absolute: a file or folder spec itself, and for an
    entry point the folder its module is imported from (``data_root``, else the current one).
    ``FileNotFoundError``/``ValueError`` for a missing file or a ``data_root`` given in vain."""
    kind = user_kind(spec)
    if kind == "entry-point":
        return spec, str(Path(data_root or ".").expanduser().resolve())
    if data_root is not None:
        raise ValueError(
            f"--data-root is for registered data sets and module:function, not {spec!r} "
            "(give the file or folder itself)"
        )
    path = Path(spec).expanduser().resolve()
    if kind == "npz" and not path.is_file():
        raise FileNotFoundError(f"dataset file not found: {path}")
    return str(path), None


def _read_npz(path: Path) -> UserData:
    try:
        with np.load(path, allow_pickle=False) as archive:
            unknown = sorted(set(archive.files) - set(NPZ_KEYS))
            if unknown:
                raise ValueError(
                    f"{path}: unknown array(s) {', '.join(unknown)}; allowed: {', '.join(NPZ_KEYS)}"
                )
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, EOFError) as error:
        raise ValueError(f"{path} is not a readable .npz file ({error})") from None
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise ValueError(f"{path} holds an object array; save numbers only") from None
        raise
    return user_data(arrays, source=str(path), channels_first=False)


@contextmanager
def _importable_from(folder: str) -> Iterator[None]:
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        sys.path.remove(folder)


def _call_entry_point(spec: str, folder: str) -> Any:
    module_name, _, function_name = spec.partition(":")
    with _importable_from(folder):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            raise ValueError(
                f"--dataset {spec}: cannot import {module_name!r} from {folder} or the installed "
                f"packages ({error})"
            ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ValueError(f"--dataset {spec}: {module_name} has no function {function_name!r}")
    return function()


def _dataset_arrays(dataset: Any, name: str) -> tuple[dict[str, Any], bool]:
    """The images and labels of a map-style ``Dataset`` of ``(image, label)`` items, and
    whether its images are channels-first (tensors) rather than channels-last (arrays, PIL)."""
    try:
        items = [dataset[i] for i in range(len(dataset))]
    except TypeError:
        raise ValueError(f"{name} Dataset needs __len__ and __getitem__ (map-style)") from None
    if not items or not all(isinstance(it, tuple | list) and len(it) == 2 for it in items):
        raise ValueError(f"{name} Dataset must yield (image, label) pairs, at least one")
    first = items[0][0]
    channels_first = hasattr(first, "dim")  # torch tensors; arrays and PIL images: last
    images = np.stack([np.asarray(image) for image, _ in items])
    labels = np.asarray([int(label) for _, label in items])
    return {"x": images, "y": labels}, channels_first


def _from_returned(value: Any, spec: str) -> UserData:
    source = f"--dataset {spec}"
    if isinstance(value, Mapping):
        return user_data(value, source=source, channels_first=True)
    if (
        isinstance(value, tuple | list)
        and len(value) in (2, 3)
        and all(isinstance(v, Dataset) for v in value)
    ):
        arrays: dict[str, Any] = {}
        channels_first = True
        for name, dataset in zip(("train", "test", "val"), value, strict=False):
            part, channels_first = _dataset_arrays(dataset, name)
            arrays[f"x_{name}"], arrays[f"y_{name}"] = part["x"], part["y"]
        return user_data(arrays, source=source, channels_first=channels_first)
    if isinstance(value, tuple | list) and len(value) in (4, 6):
        return user_data(dict(zip(NPZ_KEYS, value, strict=False)), source=source,
                         channels_first=True)  # fmt: skip
    raise ValueError(
        f"{source} returned {type(value).__name__}; expected (x_train, y_train, x_test, y_test"
        "[, x_val, y_val]) arrays or tensors, or (train, test[, val]) torch Datasets"
    )


@lru_cache(maxsize=2)
def _load_cached(spec: str, data_root: str | None, stamp: float) -> UserData:
    kind = user_kind(spec)
    if kind == "npz":
        return _read_npz(Path(spec))
    if kind == "folder":
        return load_image_folder(Path(spec))
    if kind == "entry-point":
        return _from_returned(_call_entry_point(spec, data_root or "."), spec)
    raise ValueError(f"--dataset {spec!r} is not {FORMS}")


def load_user_data(spec: str, data_root: str | None = None) -> UserData:
    """The checked :class:`UserData` of a resolved spec (see :func:`resolve_user_spec`);
    cached per process, re-read when an ``.npz`` file changes."""
    path = Path(spec)
    stamp = path.stat().st_mtime if path.is_file() else 0.0
    return _load_cached(spec, data_root, stamp)
