"""Presets: every shipped one is a valid ``raysearch`` command line; bad keys, types and names
fail before any Ray work with the allowed names; launch.py's default run is unchanged."""

import importlib.util
from pathlib import Path

import pytest

from raysearch.cli import build_parser
from raysearch.cli.presets import allowed_options, load_preset, preset_names, validate_preset
from raysearch.nas.methods import method_names
from raysearch.noisy.settings import TrialSettings

ROOT = Path(__file__).resolve().parents[2]
PRESETS = ROOT / "launchers" / "presets"
PAPER = {"s2e-cifar10-pair45", "s2e-cifar10-sym50", "darts-cifar10", "xnas-cifar10"}


def _launch():
    spec = importlib.util.spec_from_file_location("launch", ROOT / "launchers" / "launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_paper_scale_and_small_presets_are_shipped():
    names = set(preset_names(PRESETS))
    assert PAPER | {"small-s2e", "smoke", "small-darts"} <= names


@pytest.mark.parametrize("name", preset_names(PRESETS))
def test_every_preset_parses_and_its_values_are_valid(name):
    preset = load_preset(name, PRESETS)
    args = build_parser().parse_args([*preset.argv(), "--out", "/tmp/x"])
    if preset.command == "compare":
        from raysearch.tune.searchers import check_searcher_names

        check_searcher_names(args.searchers.split(","))
        settings = TrialSettings(dataset=args.dataset, noise=args.noise, epochs=args.epochs,
                                 batch_size=args.batch_size, data_root=args.data_root,
                                 val=args.val, val_fraction=args.val_fraction,
                                 train_size=args.train_size)  # fmt: skip
        assert preset.options.get("val") == "clean"  # every schedule preset says how it scores
        assert settings.data_root is None or Path(settings.data_root).is_absolute()
    else:
        assert args.method in method_names()


def test_paper_scale_s2e_presets_follow_the_paper():
    pair, sym = (
        load_preset("s2e-cifar10-pair45", PRESETS),
        load_preset("s2e-cifar10-sym50", PRESETS),
    )
    assert pair.options["noise"] == "pair:0.45" and sym.options["noise"] == "symmetric:0.5"
    for preset in (pair, sym):
        assert preset.options["dataset"] == "cifar10" and preset.options["epochs"] == 200
        assert preset.options["batch-size"] == 128 and preset.options["gpus-per-trial"] > 0


def test_unknown_option_names_the_key_and_the_allowed_ones():
    with pytest.raises(KeyError) as error:
        validate_preset("bad", {"command": "compare", "options": {"trails": 3}})
    message = str(error.value)
    assert "'trails'" in message and "trials" in message and "samples-per-iter" in message


def test_underscores_read_as_dashes_and_bools_become_flags():
    preset = validate_preset(
        "ok", {"command": "compare", "options": {"samples_per_iter": 2, "download": True}}
    )
    assert preset.argv() == ["compare", "--samples-per-iter", "2", "--download"]


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ({"command": "compare", "options": {"trials": "many"}}, "an integer"),
        ({"command": "compare", "options": {"trials": True}}, "an integer"),
        ({"command": "compare", "options": {"download": "yes"}}, "true or false"),
        ({"command": "train", "options": {}}, "compare, nas-search"),
        ({"options": {}}, "'command' is required"),
        (["compare"], "YAML mapping"),
    ],
)
def test_bad_values_are_value_errors(raw, fragment):
    with pytest.raises(ValueError, match=fragment):
        validate_preset("bad", raw)


def test_unknown_top_level_key_and_run_time_options_are_refused():
    with pytest.raises(KeyError, match="'option'"):
        validate_preset("bad", {"command": "compare", "option": {}})
    for key in ("address", "resume", "out"):
        assert key not in allowed_options("compare")
    assert {"method", "workers", "C"} <= set(allowed_options("nas-search"))


def test_unknown_preset_lists_the_presets():
    with pytest.raises(KeyError) as error:
        load_preset("nope", PRESETS)
    assert "'nope'" in str(error.value) and "small-s2e" in str(error.value)


def test_launch_default_is_the_default_comparison():
    """Issue 12: the chosen task, >= 5 seeds, all four searchers, the paper's clean reward."""
    launch = _launch()
    preset, command, out = launch.build_args([])
    assert preset.name == "small-s2e" and Path(out).is_absolute()
    args = build_parser().parse_args(command)
    assert args.searchers.split(",") == ["s2e", "random", "tpe", "hyperband"]
    assert args.seeds >= 5 and args.val == "clean"
    assert (args.dataset, args.noise, args.train_size, args.epochs) == (
        "fashion-mnist-mini", "pair:0.45", 4000, 20,
    )  # fmt: skip
    assert args.address is None and not args.resume


def test_launch_flags_and_overrides():
    launch = _launch()
    _, command, out = launch.build_args(
        ["--smoke-test", "--resume", "--address", "auto", "--out", "r", "--trials", "3"]
    )
    args = build_parser().parse_args(command)
    assert args.trials == 3 and args.epochs == 2 and args.resume and args.address == "auto"
    assert args.out == out == str(Path("r").resolve())


def test_launch_reports_bad_presets_without_running(capsys):
    launch = _launch()
    assert launch.main(["--preset", "nope"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="smoke"):
        launch.build_args(["--smoke-test", "--preset", "small-s2e"])
