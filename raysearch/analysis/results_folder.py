"""A results folder belongs to one set of settings; result files are replaced atomically.

Every command (``compare``, ``nas search``, ``nas evaluate``, ``nas compare``, ``reweight``)
calls :func:`claim_folder` before anything is written or Ray starts. The folder's
``fingerprint.json`` holds the command, its settings (JSON), their SHA-256 and whether the run
finished. A rerun with other settings is refused with one line naming the differences; a
finished folder is a no-op; an interrupted one is continued only with ``--resume``.

Ray-free (it sits in ``raysearch.analysis`` so the report writers use :func:`write_atomic`
too): the CLI checks a folder before Ray is imported or started.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FINGERPRINT_FILE = "fingerprint.json"
INTERRUPTED_EXIT = 130  # 128 + SIGINT, as a shell reports a Ctrl-C


class Interrupted(Exception):
    """A run stopped before it was complete (Ctrl-C, SIGTERM); its folder can be resumed."""


class FolderState(enum.Enum):
    NEW = "new"
    INTERRUPTED = "interrupted"
    FINISHED = "finished"


def settings_hash(settings: Mapping[str, Any]) -> str:
    """SHA-256 of the settings as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        items: dict[str, Any] = {}
        for key, inner in value.items():
            items.update(_flat(inner, f"{prefix}{key}."))
        return items
    return {prefix.rstrip("."): value}


def differences(stored: Mapping[str, Any], given: Mapping[str, Any]) -> list[str]:
    """``name: stored -> given`` for every (dotted) setting whose value differs."""
    old, new = (
        _flat(json.loads(json.dumps(stored, default=str))),
        _flat(json.loads(json.dumps(given, default=str))),
    )
    return [
        f"{key}: {old.get(key, '<unset>')!r} -> {new.get(key, '<unset>')!r}"
        for key in sorted(set(old) | set(new))
        if old.get(key, "<unset>") != new.get(key, "<unset>")
    ]


def read_fingerprint(folder: Path) -> dict[str, Any] | None:
    path = Path(folder) / FINGERPRINT_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except ValueError:
        raise ValueError(f"{path} is not valid JSON; move {folder} away or restore it") from None
    if not isinstance(record, dict) or not {"command", "settings", "sha256"} <= set(record):
        raise ValueError(f"{path} is not a raysearch fingerprint; choose another --out")
    return record


def claim_folder(
    folder: str | Path, command: str, settings: Mapping[str, Any], *, resume: bool
) -> FolderState:
    """Decide what a run of ``command`` with ``settings`` may do with ``folder``; write nothing.

    ``NEW``: empty or missing folder (with ``resume``: says there is nothing to resume).
    ``FINISHED``: the same settings finished there; the caller does nothing.
    ``INTERRUPTED``: the same settings stopped early there, and ``resume`` is set.
    ``ValueError`` (one line) for another command or other settings, an interrupted folder
    without ``resume``, or a non-empty folder with no fingerprint.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out {folder} is a file, not a folder")
    record = read_fingerprint(folder) if folder.is_dir() else None
    if record is None:
        if folder.is_dir() and any(folder.iterdir()):
            raise ValueError(
                f"{folder} holds files but no {FINGERPRINT_FILE} (not a raysearch results "
                "folder, or one made before fingerprints); choose another --out"
            )
        if resume:  # e.g. stopped before it wrote anything: a resume is a start
            print(f"nothing to resume in {folder}; starting it", flush=True)
        return FolderState.NEW
    if record["command"] != command:
        raise ValueError(
            f"{folder} holds results of `raysearch {record['command']}`, not "
            f"`raysearch {command}`; choose another --out"
        )
    if record["sha256"] != settings_hash(settings):
        changed = "; ".join(differences(record["settings"], settings)) or "hash differs"
        raise ValueError(
            f"{folder} was run with other settings ({changed}); rerun with the stored ones "
            f"(in {folder / FINGERPRINT_FILE}) or choose another --out"
        )
    if record.get("finished"):
        return FolderState.FINISHED
    if not resume:
        raise ValueError(f"{folder} holds an interrupted run; add --resume to finish it")
    return FolderState.INTERRUPTED


def write_fingerprint(
    folder: str | Path, command: str, settings: Mapping[str, Any], *, finished: bool = False
) -> None:
    """Create ``folder`` and record ``command``'s ``settings`` (and whether it finished)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record = {"command": command, "settings": settings, "sha256": settings_hash(settings),
              "finished": finished}  # fmt: skip
    write_atomic(folder / FINGERPRINT_FILE, json.dumps(record, indent=2, default=str))


def mark_finished(folder: str | Path) -> None:
    """Record that the run in ``folder`` is complete (a rerun is then a no-op)."""
    record = read_fingerprint(Path(folder))
    if record is None:
        raise ValueError(f"{folder} has no {FINGERPRINT_FILE} to mark finished")
    write_fingerprint(folder, record["command"], record["settings"], finished=True)


def write_atomic(path: str | Path, content: str | bytes | Callable[[Path], None]) -> None:
    """Write ``path`` through a temporary file in the same folder and ``os.replace``: a reader
    (or a run killed mid-write) sees the old file or the new one, never a partial one.
    ``content`` is text, bytes, or a function that writes the file it is given."""
    path = Path(path)
    # same suffix: pandas and matplotlib pick the format from it
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        if callable(content):
            content(tmp)
        elif isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            tmp.write_text(content)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def sigint_handler_kept() -> Iterator[None]:
    """Put back the SIGINT handler after ``Tuner.fit``: Tune installs its own (first Ctrl-C:
    stop gracefully) and restores ours only when it fires, so a finished ``fit`` would leave a
    stale handler that swallows the next Ctrl-C."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    try:
        yield
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)


def resume_hint(argv: list[str]) -> str:
    """The command that continues an interrupted run: ``argv`` with ``--resume`` added."""
    import shlex

    args = list(argv)
    if "--resume" not in args:
        args.append("--resume")
    return shlex.join(args)
