"""``--help`` of every ``raysearch`` subcommand states every option's default, and a searcher
named twice is refused with one line naming it, before Ray starts."""

import argparse

import pytest
import ray

from raysearch.cli import main
from raysearch.cli.main import build_parser, searcher_list


def _commands(parser, words=()):
    """(command words, parser) of the top-level parser and every (nested) subcommand."""
    yield words, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*words, name))


def _option_helps(parser):
    """(flag, help as --help prints it) of each option that has a default to show."""
    formatter = parser._get_formatter()
    for action in parser._actions:
        if action.option_strings and action.default is not argparse.SUPPRESS:
            yield action.option_strings[-1], formatter._expand_help(action)


COMMANDS = list(_commands(build_parser()))


def test_the_walk_reaches_every_subcommand():
    names = {" ".join(words) for words, _ in COMMANDS}
    assert {"trial", "compare", "analyze", "reweight", "nas search", "nas evaluate",
            "nas compare", "bench tabulate"} <= names  # fmt: skip


@pytest.mark.parametrize(
    ("words", "parser"), COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_every_option_help_states_its_default_once(words, parser):
    helps = dict(_option_helps(parser))
    missing = [flag for flag, text in helps.items() if "default:" not in text]
    assert not missing, f"raysearch {' '.join(words)}: no default shown for {missing}"
    twice = [flag for flag, text in helps.items() if text.count("default:") > 1]
    assert not twice, f"raysearch {' '.join(words)}: default shown twice for {twice}"


def test_compare_help_prints_the_values(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["compare", "--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for shown in ("(default: s2e,random,tpe,hyperband)", "(default: 12)", "(default: 128)",
                   "(default: runs/compare)", "(default: 2)"):  # fmt: skip
        assert shown in text


def test_an_option_whose_help_names_its_default_keeps_that_wording():
    compare = dict(COMMANDS)[("compare",)]
    helps = dict(_option_helps(compare))
    assert helps["--train-size"].endswith("(default: all)")
    assert "None" not in helps["--train-size"]


@pytest.fixture
def no_ray(monkeypatch):
    def fail(*args, **kwargs):
        pytest.fail("ray.init was called: the error came after Ray work started")

    monkeypatch.setattr(ray, "init", fail)


@pytest.mark.parametrize(
    ("searchers", "named"),
    [("s2e,s2e", "s2e"), ("s2e,random, s2e,tpe,random", "random, s2e")],
)
def test_a_searcher_named_twice_is_refused_before_ray(no_ray, capsys, tmp_path, searchers, named):
    out = tmp_path / "out"
    assert main(["compare", "--searchers", searchers, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"raysearch: error: --searchers {searchers!r} names {named} more than once; "
        "give each searcher once"
    )
    assert not out.exists()


def test_distinct_searchers_are_kept_in_order():
    assert searcher_list(" tpe, s2e,,random ") == ("tpe", "s2e", "random")
