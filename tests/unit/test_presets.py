"""Presets: every shipped one is a valid ``raysearch`` command line; bad keys, types and names
fail before any Ray work with the allowed names; launch.py's default run is unchanged."""

import importlib.util
from pathlib import Path

import pytest

from raysearch.cli import build_parser
from raysearch.cli.dry_run import DRY_RUN_OPTIONS, dry_run_argv, dry_run_options
from raysearch.cli.presets import (
    COMMANDS,
    Preset,
    allowed_options,
    load_preset,
    preset_names,
    validate_preset,
)
from raysearch.data import load_dataset
from raysearch.nas.evaluation import EvalBudget, check_fits, resolve_genotype
from raysearch.nas.methods import method_names
from raysearch.noisy.settings import TrialSettings

ROOT = Path(__file__).resolve().parents[2]
PRESETS = ROOT / "launchers" / "presets"
PAPER = {
    "s2e-cifar10-pair45",
    "s2e-cifar10-sym50",
    "darts-cifar10",
    "xnas-cifar10",
    "darts-eval-cifar10",
}


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
    elif preset.command == "nas-search":
        assert args.method in method_names()
    else:
        budget = evaluate_budget(args)
        for genotype in args.genotype:
            check_fits(resolve_genotype(genotype)[1], budget)


def evaluate_budget(args) -> EvalBudget:
    return EvalBudget(
        dataset=args.dataset, epochs=args.epochs, C=args.C, layers=args.layers,
        batch_size=args.batch_size, auxiliary_weight=args.auxiliary_weight,
        drop_path_prob=args.drop_path_prob, cutout_length=args.cutout_length, lr=args.lr,
        bn_recalibration_batches=args.bn_recalibration_batches, augment=args.augment,
        workers=args.workers, gpus_per_worker=args.gpus_per_worker,
    )  # fmt: skip


def test_paper_scale_evaluation_preset_is_darts_train_py():
    """DARTS train.py --auxiliary --cutout: 600 epochs, C=36, 20 cells, batch 96, lr 0.025,
    auxiliary 0.4, drop path 0.2, cutout 16, crop+flip+normalisation, no BN recalibration."""
    preset = load_preset("darts-eval-cifar10", PRESETS)
    assert preset.command == "nas-evaluate"
    args = build_parser().parse_args([*preset.argv(), "--out", "/tmp/x"])
    assert args.genotype == ["DARTS_V2"]
    assert evaluate_budget(args) == EvalBudget(
        dataset="cifar10", epochs=600, C=36, layers=20, batch_size=96, lr=0.025,
        auxiliary_weight=0.4, drop_path_prob=0.2, cutout_length=16, augment="standard",
        bn_recalibration_batches=0, gpus_per_worker=1,
    )  # fmt: skip
    launched = _launch().build_args(["--preset", "darts-eval-cifar10"])[1]
    assert launched[:2] == ["nas", "evaluate"]


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
    assert args.seeds >= 5 and args.val == "clean" and args.dataset == "fashion-mnist-mini"
    assert args.address is None and not args.resume


def test_the_default_task_is_the_one_the_schedule_benchmark_measured_best_for_search():
    """Issue 18 item 6: on the shipped bench tables, the default job's task has rare good
    schedules (<= 10 % of the Sobol sample within one seed-std of the best) and the largest
    gain of the best schedules over Co-teaching's, several seed-stds above the noise."""
    from raysearch.bench.tables import TaskTable, load_table, tabulated_tasks
    from raysearch.bench.task_measure import measure_task
    from raysearch.bench.tasks import TASKS

    _, command, _ = _launch().build_args([])
    args = build_parser().parse_args(command)
    task = {"noise": args.noise, "epochs": args.epochs, "train_size": args.train_size}
    tabulated = tabulated_tasks()
    assert len(tabulated) >= 2
    names = [name for name in tabulated if TASKS[name] == task]
    assert names == ["pair45-e20-n4000"], (task, tabulated)
    measures = {name: measure_task(TaskTable.from_frame(load_table(name))) for name in tabulated}
    chosen = measures[names[0]]
    assert chosen.share_within_std <= 0.10
    assert chosen.gain_in_std >= 3
    assert chosen.gain_over_coteaching == max(m.gain_over_coteaching for m in measures.values())


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


def test_every_preset_command_says_how_a_dry_run_shrinks_it():
    for command in COMMANDS:
        assert command in DRY_RUN_OPTIONS, f"add a dry run for preset command {command!r}"
        assert set(DRY_RUN_OPTIONS[command]) <= set(allowed_options(command))


@pytest.mark.parametrize("name", preset_names(PRESETS))
def test_dry_run_of_every_preset_is_its_command_shrunk_to_one_epoch_of_two_batches(name, tmp_path):
    preset = load_preset(name, PRESETS)
    extra = dry_run_argv(preset, tmp_path)
    args = build_parser().parse_args([*preset.argv(), *extra, "--out", str(tmp_path / "out")])
    assert args.epochs == 1
    assert (
        getattr(args, "max_batches_per_epoch", None) == 2 or getattr(args, "max_batches", None) == 2
    )
    assert (getattr(args, "gpus_per_trial", 0) or getattr(args, "gpus_per_worker", 0)) == 0
    assert args.dataset == preset.options.get("dataset", args.dataset)  # same data set shape
    if "--data-root" in extra:  # absent files: a tiny stand-in in the loader's own format
        assert args.data_root.startswith(str(tmp_path))
        splits = load_dataset(args.dataset, root=args.data_root)
        assert len(splits.train) + len(splits.val) < 1000 and splits.num_classes >= 10


def test_dry_run_of_an_unknown_preset_command_fails_loudly():
    with pytest.raises(KeyError, match="no dry run for preset command 'retrain'"):
        dry_run_options(Preset(name="future", command="retrain"))


def test_dry_run_writes_tiny_data_only_when_the_files_are_absent(tmp_path):
    present = Preset(name="p", command="compare", options={"dataset": "fashion-mnist-mini"})
    absent = Preset(name="a", command="compare",
                    options={"dataset": "cifar10", "data-root": str(tmp_path / "none")})  # fmt: skip
    assert "--data-root" not in dry_run_argv(present, tmp_path / "p")
    extra = dry_run_argv(absent, tmp_path / "a")
    root = extra[extra.index("--data-root") + 1]
    assert (Path(root) / "cifar-10-batches-py" / "data_batch_1").is_file()
    splits = load_dataset("cifar10", root=root)
    assert splits.train.images.shape[1:] == (3, 32, 32) and splits.num_classes == 10


def test_launch_dry_run_appends_the_shrinking_options_after_the_presets(tmp_path):
    preset, command, out = _launch().build_args(["--preset", "darts-cifar10", "--dry-run"])
    args = build_parser().parse_args(command)
    assert preset.name == "darts-cifar10" and command[:2] == ["nas", "search"]
    assert (args.epochs, args.max_batches, args.gpus_per_worker) == (1, 2, 0)
    assert args.C == 16 and args.layers == 8  # the preset's own network shape is kept
    assert "raysearch-dry-run-darts-cifar10-" in out and args.out == out
