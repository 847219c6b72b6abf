"""YAML presets of ``raysearch`` runs (what ``launchers/launch.py --preset NAME`` loads).

A preset is a YAML mapping with ``command`` (``compare``, ``nas-search`` or ``nas-evaluate``), an optional
``description``, and ``options``: the command's own long options without the leading dashes
(``samples-per-iter: 2``; underscores are read as dashes). Every key and value type is checked
against the ``raysearch`` argument parser before anything runs, so a typo fails at once with
the allowed names instead of after Ray has started. No Ray here.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# preset command -> the ``raysearch`` subcommand words it runs
COMMANDS: dict[str, tuple[str, ...]] = {
    "compare": ("compare",),
    "nas-search": ("nas", "search"),
    "nas-evaluate": ("nas", "evaluate"),
}
# run-time flags that belong to the launch, not to a preset
RUNTIME_OPTIONS = frozenset({"address", "resume", "out", "help"})
TOP_LEVEL_KEYS = ("command", "description", "options")


@dataclass(frozen=True)
class Preset:
    """A validated preset: its name, the command it runs and that command's options."""

    name: str
    command: str
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def argv(self) -> list[str]:
        """The ``raysearch`` argument list (subcommand words, then ``--key value`` pairs)."""
        args = list(COMMANDS[self.command])
        for key, value in self.options.items():
            if isinstance(value, bool):
                args += [f"--{key}"] if value else []
            else:
                args += [f"--{key}", str(value)]
        return args


def preset_names(directory: Path) -> list[str]:
    """Names of the presets (``*.yaml`` files) in ``directory``, sorted."""
    return sorted(p.stem for p in Path(directory).glob("*.yaml"))


def _command_parser(command: str) -> argparse.ArgumentParser:
    from raysearch.cli.main import build_parser

    parser: argparse.ArgumentParser = build_parser()
    for word in COMMANDS[command]:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    return parser


def _option_actions(command: str) -> dict[str, argparse.Action]:
    actions = {}
    for action in _command_parser(command)._actions:
        for flag in action.option_strings:
            name = flag.removeprefix("--")
            if flag.startswith("--") and name not in RUNTIME_OPTIONS:
                actions[name] = action
    return actions


def allowed_options(command: str) -> list[str]:
    """The option names a preset of ``command`` may set (``raysearch`` flags less run-time ones)."""
    check_command(command)
    return sorted(_option_actions(command))


def check_command(command: str) -> None:
    if command not in COMMANDS:
        raise ValueError(f"unknown preset command {command!r}; allowed: {', '.join(COMMANDS)}")


def _check_type(where: str, key: str, value: Any, action: argparse.Action) -> None:
    if isinstance(action, argparse._StoreTrueAction):
        ok, wanted = isinstance(value, bool), "true or false"
    elif action.type is int:
        ok, wanted = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif action.type is float:
        ok, wanted = isinstance(value, int | float) and not isinstance(value, bool), "a number"
    else:
        ok, wanted = (
            isinstance(value, str | int | float) and not isinstance(value, bool),
            "a string",
        )
    if not ok:
        raise ValueError(f"{where}: option {key!r} must be {wanted}, got {value!r}")


def validate_preset(name: str, raw: Any) -> Preset:
    """Check a loaded YAML mapping (keys, command, option names and value types)."""
    where = f"preset {name!r}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must be a YAML mapping with keys {', '.join(TOP_LEVEL_KEYS)}")
    unknown = sorted(set(raw) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise KeyError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(TOP_LEVEL_KEYS)}"
        )
    command = raw.get("command")
    if not isinstance(command, str):
        raise ValueError(f"{where}: 'command' is required, one of {', '.join(COMMANDS)}")
    check_command(command)
    options = raw.get("options") or {}
    if not isinstance(options, dict):
        raise ValueError(f"{where}: 'options' must be a mapping of option: value")
    actions = _option_actions(command)
    checked: dict[str, Any] = {}
    for raw_key, value in options.items():
        key = str(raw_key).replace("_", "-")
        if key not in actions:
            raise KeyError(
                f"{where}: unknown {command} option {raw_key!r}; allowed: {', '.join(sorted(actions))}"
            )
        _check_type(where, key, value, actions[key])
        checked[key] = value
    return Preset(
        name=name, command=command, options=checked, description=str(raw.get("description", ""))
    )


def load_preset(name: str, directory: Path) -> Preset:
    """Load and validate ``directory/NAME.yaml``; an unknown name lists the presets there."""
    path = Path(directory) / f"{name}.yaml"
    if not path.is_file():
        raise KeyError(
            f"unknown preset {name!r}; presets in {directory}: {', '.join(preset_names(directory))}"
        )
    return validate_preset(name, yaml.safe_load(path.read_text()))
