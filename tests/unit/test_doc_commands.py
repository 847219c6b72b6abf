"""Every command in the code blocks of README.md and docs/*.md parses with the real parser.

A ``raysearch ...`` (or ``python -m raysearch.cli ...``) line goes through
``raysearch.cli.main.build_parser``; ``python launchers/launch.py ...`` (also after ``ray submit
CLUSTER launch.py --`` or ``ray job submit ... --``) through launch.py's own parser and preset
validation, and the ``raysearch`` command line the preset builds through ``build_parser``;
``python -m benchmarks.NAME ...`` through the script's own ``argparse`` parser (its ``main`` is
stopped right after parsing; ``python benchmarks/NAME.py`` is refused: run by path, a script
cannot import the ``benchmarks`` package it belongs to); ``python -m pytest ...`` must be CI's test command (.ci/run).
Lines of other programs (pip, ray up, tensorboard, ...) are not ours and are skipped. No Ray.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from raysearch.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PYTHONS = {"python", "python3", ".venv/bin/python"}
SHELL_BLOCKS = {"", "bash", "sh", "shell", "console"}


@dataclass(frozen=True)
class Command:
    """One command of a document: ``program`` is ``raysearch`` or ``python``."""

    document: str
    program: str
    args: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.document}: {self.program} {shlex.join(self.args)}"


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced code block."""
    return re.findall(r"^```(\w*)[^\n]*\n(.*?)^```", text, flags=re.M | re.S)


def _segments(line: str) -> list[list[str]]:
    """The ``&&``-separated commands of one shell line, as token lists (comments dropped)."""
    tokens = shlex.split(line, comments=True)
    segments: list[list[str]] = [[]]
    for token in tokens:
        if token in ("&&", ";", "||"):
            segments.append([])
        else:
            segments[-1].append(token)
    return [s for s in segments if s]


def _ours(tokens: list[str]) -> tuple[str, tuple[str, ...]] | None:
    """(program, args) of a raysearch or python command, also behind ``ray (job) submit``."""
    head = tokens[0]
    if head == "raysearch":
        return "raysearch", tuple(tokens[1:])
    if head in PYTHONS:
        return "python", tuple(tokens[1:])
    if tokens[:3] == ["ray", "job", "submit"] and "--" in tokens:
        return _ours(tokens[tokens.index("--") + 1 :])
    if tokens[:2] == ["ray", "submit"] and "--" in tokens:  # ray submit CLUSTER SCRIPT -- ARGS
        return "python", (tokens[3], *tokens[tokens.index("--") + 1 :])
    return None


def document_commands(path: Path) -> list[Command]:
    """Every raysearch / python command in the shell code blocks of ``path``."""
    name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    commands = []
    for language, body in code_blocks(path.read_text()):
        if language not in SHELL_BLOCKS:
            continue
        for line in body.replace("\\\n", " ").splitlines():
            for tokens in _segments(line):
                found = _ours(tokens)
                if found:
                    commands.append(Command(name, *found))
    return commands


def all_commands() -> list[Command]:
    return [command for path in DOCUMENTS for command in document_commands(path)]


COMMANDS = all_commands()


class _Parsed(Exception):
    """Raised by the patched ``parse_args``: the script's parser accepted its arguments."""


def _load(path: Path, name: str, monkeypatch):
    """The module at ``path``, registered as ``name`` for the test only (dataclasses need it)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def parse_raysearch(args: tuple[str, ...]) -> argparse.Namespace:
    return build_parser().parse_args(list(args))


def parse_launch(args: tuple[str, ...], monkeypatch) -> None:
    """launch.py's flags, its preset (names and types) and the raysearch line it builds."""
    from raysearch.cli.dry_run import dry_run_options

    launch = _load(ROOT / "launchers" / "launch.py", "doc_launch", monkeypatch)
    flags, _ = launch._parser().parse_known_args(list(args))
    if flags.list_presets:
        return
    preset, command, _ = launch.build_args([a for a in args if a != "--dry-run"])
    parse_raysearch(tuple(command))
    if flags.dry_run:
        dry_run_options(preset)  # the preset's command knows how to shrink


def parse_script(path: Path, args: tuple[str, ...], monkeypatch) -> None:
    """The script's own argparse parser on ``args``; a script without one takes none."""
    assert path.is_file(), f"no such script: {path}"
    if "argparse" not in path.read_text():
        assert not args, f"{path.name} takes no arguments"
        return
    original = argparse.ArgumentParser.parse_args

    def stop_after_parsing(self, argv=None, namespace=None):
        raise _Parsed(original(self, argv, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", stop_after_parsing)
    monkeypatch.setattr(sys, "argv", [str(path), *args])
    module = _load(path, f"benchmarks.{path.stem}", monkeypatch)
    with pytest.raises(_Parsed):
        module.main()


def ci_test_command() -> list[str]:
    """The pytest arguments of .ci/run (what the README's test command must be)."""
    for line in (ROOT / ".ci" / "run").read_text().splitlines():
        tokens = shlex.split(line, comments=True)
        if tokens[:3] == [".venv/bin/python", "-m", "pytest"]:
            return tokens[3:]
    raise AssertionError(".ci/run has no `.venv/bin/python -m pytest` line")


def check(command: Command, monkeypatch) -> None:
    """Parse ``command`` with the parser that would run it (AssertionError / SystemExit if not)."""
    args = command.args
    if command.program == "raysearch":
        parse_raysearch(args)
    elif args[:2] == ("-m", "raysearch.cli"):
        parse_raysearch(args[2:])
    elif args[:2] == ("-m", "pytest"):
        assert list(args[2:]) == ci_test_command(), "the test command differs from .ci/run's"
    elif len(args) > 1 and args[0] == "-m" and args[1].startswith("benchmarks."):
        parse_script(ROOT / "benchmarks" / f"{args[1].removeprefix('benchmarks.')}.py", args[2:],
                     monkeypatch)  # fmt: skip
    elif args[:2] == ("-m", "venv"):
        assert len(args) == 3, "python -m venv takes one folder"
    elif args[:1] == ("-m",):
        assert importlib.util.find_spec(args[1]) is not None, f"no module {args[1]}"
        assert len(args) == 2, f"python -m {args[1]} takes no arguments"
    elif args[0] == "launchers/launch.py":
        parse_launch(args[1:], monkeypatch)
    else:
        raise AssertionError(f"no parser known for `{command}`: add it to this test")


def test_the_documents_hold_the_commands_a_newcomer_needs():
    programs = {(c.document, c.program) for c in COMMANDS}
    assert ("README.md", "raysearch") in programs and ("README.md", "python") in programs
    readme = [c for c in COMMANDS if c.document == "README.md"]
    assert Command("README.md", "python", ("-m", "pytest", *ci_test_command())) in readme, (
        "README.md does not show CI's test command"
    )
    pages = {"schedule-search", "nas", "reweight", "cluster", "results-and-resume", "measurements"}
    assert {f"docs/{page}.md" for page in pages} <= {c.document for c in COMMANDS}


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_command_parses_with_the_real_parser(command, monkeypatch):
    try:
        check(command, monkeypatch)
    except SystemExit as stop:  # argparse's error exit: its message is on stderr
        pytest.fail(f"`{command}` is refused by its parser (exit {stop.code})")


@pytest.mark.parametrize(
    "bad",
    [
        Command("x", "raysearch", ("compare", "--trails", "3")),
        Command("x", "python", ("launchers/launch.py", "--preset", "nope")),
        Command("x", "python", ("launchers/launch.py", "--preset", "smoke", "--trails", "3")),
        Command("x", "python", ("-m", "benchmarks.trainable_throughput", "--nope", "2")),
        Command("x", "python", ("benchmarks/trainable_throughput.py",)),
        Command("x", "python", ("-m", "pytest", "-q")),
    ],
    ids=str,
)
def test_a_wrong_command_is_caught(bad, monkeypatch):
    """The check is real: a misspelt option, an unknown preset or another test command fails."""
    with pytest.raises((SystemExit, KeyError, ValueError, AssertionError)):
        check(bad, monkeypatch)


def test_continuations_and_chains_are_split_into_commands(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\n"
        "python3 -m venv .venv && raysearch compare --trials 2 \\\n"
        "    --epochs 3   # a comment\n"
        "ray submit c.yaml launchers/launch.py -- --smoke-test\n"
        "pip install tensorboard\n"
        "```\n"
        "```python\nraysearch = 1\n```\n"
    )
    found = [(c.program, c.args) for c in document_commands(page)]
    assert found == [
        ("python", ("-m", "venv", ".venv")),
        ("raysearch", ("compare", "--trials", "2", "--epochs", "3")),
        ("python", ("launchers/launch.py", "--smoke-test")),
    ]


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_relative_links_reach_a_file_and_heading(document):
    text = re.sub(r"^```.*?^```", "", document.read_text(), flags=re.M | re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        assert linked.exists(), f"{document.name}: link to missing {target}"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", linked.read_text(), flags=re.M)
            assert anchor in {_slug(h) for h in headings}, f"{document.name}: no heading #{anchor}"
