"""Read a pickle's structure without running it: every global it names becomes an inert record.

``pickle.loads`` imports each global a pickle names and calls it (``REDUCE``, ``NEWOBJ``), so a
crafted file runs any code it likes. :func:`inert_loads` walks the same opcodes with an
unpickler whose ``find_class`` imports nothing: a global comes back as an :class:`InertObject`
subclass that only records its module, name, call arguments and state. What Tune pickles into
a results folder (``tuner.pkl``, the checkpoint manager in ``experiment_state-*.json``) can so
be checked and read by the pre-flight before ``Tuner.restore`` unpickles it for real.
"""

from __future__ import annotations

import io
import pickle
from typing import Any


class InertObject:
    """Stands for an object a pickle would build by calling ``module.name``; nothing is called."""

    GLOBAL: tuple[str, str] = ("", "")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs
        self.state: Any = None
        self.items: list[Any] = []

    def __new__(cls, *args: Any, **kwargs: Any) -> InertObject:  # NEWOBJ calls cls.__new__
        return super().__new__(cls)

    def __setstate__(self, state: Any) -> None:  # BUILD
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:  # SETITEM(S) on a dict subclass
        self.items.append((key, value))

    def append(self, value: Any) -> None:  # APPEND(S) on a list subclass
        self.items.append(value)

    def extend(self, values: Any) -> None:
        self.items.extend(values)

    def attribute(self, name: str) -> Any:
        """``name`` from the state a ``BUILD`` set (a dict, or the dict of a (dict, slots) pair)."""
        state = self.state[0] if isinstance(self.state, tuple) else self.state
        return state.get(name) if isinstance(state, dict) else None


class _InertUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.globals: set[tuple[str, str]] = set()

    def find_class(self, module: str, name: str) -> type[InertObject]:
        self.globals.add((module, name))
        return type("InertObject", (InertObject,), {"GLOBAL": (module, name)})

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(f"persistent id {pid!r} is not allowed")


def inert_loads(data: bytes) -> tuple[Any, set[tuple[str, str]]]:
    """The decoded structure and the set of ``(module, name)`` globals the pickle names.

    Raises ``pickle.UnpicklingError`` (or ``EOFError``, ``ValueError``) on a malformed or
    truncated pickle. No module is imported and no global is called.
    """
    unpickler = _InertUnpickler(data)
    return unpickler.load(), unpickler.globals
