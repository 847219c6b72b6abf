"""The ``raysearch`` console script. Thin: parse, validate, call raysearch."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from raysearch.cli.analyze import add_analyze_parser
from raysearch.cli.bench import add_bench_parser
from raysearch.cli.checks import at_least, check_out_folder
from raysearch.cli.nas import add_nas_parser
from raysearch.cli.reweight import add_reweight_parser
from raysearch.data import DEFAULT_DATASET, dataset_names
from raysearch.noisy import VAL_KINDS
from search_spaces.schedules import default_config, family_names


def parse_schedule(text: str, *, noise_rate: float) -> dict[str, Any]:
    """A family name (its default config for ``noise_rate``), a JSON config, or a path to a
    JSON file."""
    if text in family_names():
        return default_config(text, noise_rate=noise_rate)
    candidate = Path(text)
    if candidate.suffix == ".json" and not candidate.is_file():
        raise FileNotFoundError(f"--schedule file not found: {text}")
    raw = candidate.read_text() if candidate.suffix == ".json" else text
    try:
        config = json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError(
            f"--schedule {text!r} is neither a family ({', '.join(family_names())}) nor a JSON config"
        ) from None
    if not isinstance(config, dict):
        raise ValueError(f"--schedule JSON must be an object with a 'family' key, got {config!r}")
    return config


ONE_EPOCH_WARNING = (
    "raysearch: warning: --epochs 1: a schedule R(t) is read at t = 0 only (t x 200/E, see "
    "search_spaces/schedules.py), and R(0) = 1 (keep every sample) for every s2e, coteaching "
    "and single config, so every trial trains alike and scores the same; use --epochs >= 2"
)


def _add_trial_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset", default=DEFAULT_DATASET,
        help=f"one of {', '.join(dataset_names())}, or your own: a folder in ImageFolder layout, "
        "an .npz file or module:function (docs/data-and-labels.md)",
    )  # fmt: skip
    parser.add_argument(
        "--labels", default=None,
        help="real noisy training labels replacing synthetic noise: .npy, .csv (one label per "
        "training row) or a CIFAR-10N-style .pt dict (with --labels-key)",
    )  # fmt: skip
    parser.add_argument(
        "--labels-key", default=None, help="the entry of a .pt label file, e.g. worse_label"
    )
    parser.add_argument("--data-root", default=None, help="folder holding the data set files")
    parser.add_argument(
        "--download", action="store_true", help="let torchvision download the data set"
    )
    parser.add_argument(
        "--noise", default=None,
        help="KIND:RATE (symmetric, pair) or none (default: symmetric:0.5; none with --labels)",
    )  # fmt: skip
    parser.add_argument(
        "--val",
        default="clean",
        help=f"{' or '.join(VAL_KINDS)}: score trials on a clean validation split (the S2E "
        "paper's D_val, default) or on a noisy one (for users without clean labels)",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="share of the data set's training part held out as the validation split",
    )
    parser.add_argument(
        "--train-size",
        type=int,
        default=None,
        help="train on this many (seeded) rows of the rest (default: all)",
    )
    parser.add_argument(
        "--model", default=None, help="model name (default: the S2E code's net for the data set)"
    )
    parser.add_argument("--epochs", type=int, default=20, help="E: epochs of one full trial")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--address", default=None, help="Ray address (default: start a local Ray)")


def _trial(args: argparse.Namespace) -> int:
    from raysearch.noisy.settings import (
        TrialSettings,
        check_schedule_config,
        noise_or_default,
        trial_noise_report,
    )

    settings = TrialSettings(
        dataset=args.dataset, data_root=args.data_root, download=args.download,
        noise=noise_or_default(args.noise, args.labels), labels=args.labels, labels_key=args.labels_key,
        val=args.val, val_fraction=args.val_fraction, train_size=args.train_size,
        model=args.model, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
    )  # fmt: skip
    schedule = check_schedule_config(
        parse_schedule(args.schedule, noise_rate=settings.schedule_noise_rate)
    )
    at_least("--cpus", args.cpus, 1)
    check_out_folder(args.out)
    report = trial_noise_report(settings)
    print("\n".join(report.lines(matrix=settings.labels is not None)))
    print(f"schedule: {json.dumps(schedule)}")

    from raysearch.tune.single_trial import run_single_trial  # imports Ray only after validation

    frame = run_single_trial(
        settings, schedule, storage_path=args.out, address=args.address, cpus=args.cpus
    )
    where = Path(args.out).expanduser().resolve() / "trial" / "noise_report.json"
    print(f"noise report: {report.write(where)}")
    last = frame.iloc[-1]
    print(
        f"final: test_acc={last.test_acc:.4f} val_acc={last.val_acc:.4f} label_precision={last.label_precision:.4f}"
    )
    return 0


def _references(text: str) -> tuple[str, ...]:
    """``--references``: a comma list, or ``none`` for no reference schedules."""
    if text.strip().lower() == "none":
        return ()
    return tuple(part.strip() for part in text.split(",") if part.strip())


def searcher_list(text: str) -> tuple[str, ...]:
    """``--searchers``: a comma list; a name given twice is refused (``ValueError`` naming it)."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(
            f"--searchers {text!r} names {', '.join(repeated)} more than once; give each searcher once"
        )
    return names


def compare_settings(args: argparse.Namespace) -> Any:
    """The validated ``CompareSettings`` of parsed ``compare`` arguments (no Ray started)."""
    from raysearch.noisy.settings import TrialSettings, noise_or_default
    from raysearch.tune.compare import CompareSettings

    return CompareSettings(
        trial=TrialSettings(
            dataset=args.dataset, data_root=args.data_root, download=args.download,
            noise=noise_or_default(args.noise, args.labels), labels=args.labels, labels_key=args.labels_key,
            val=args.val, val_fraction=args.val_fraction, train_size=args.train_size,
            model=args.model, epochs=args.epochs, batch_size=args.batch_size,
            max_batches_per_epoch=args.max_batches_per_epoch,
        ),
        space=args.space, searchers=searcher_list(args.searchers),
        trials=args.trials, seeds=args.seeds, samples_per_iter=args.samples_per_iter,
        concurrency=args.concurrency, cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
        references=_references(args.references), checkpoint_every_s=args.checkpoint_every_s,
        out=args.out,
    )  # fmt: skip


def _compare(args: argparse.Namespace) -> int:
    settings = compare_settings(args)  # validation only; Ray starts in run_compare
    check_out_folder(args.out)
    if settings.trial.epochs == 1:
        print(ONE_EPOCH_WARNING, file=sys.stderr, flush=True)
    from raysearch.noisy.settings import trial_noise_report

    report = trial_noise_report(settings.trial)
    print("\n".join(report.lines(matrix=settings.trial.labels is not None)), flush=True)
    from raysearch.analysis.compare_report import summary_markdown, summary_table
    from raysearch.tune.compare import run_compare
    from raysearch.tune.tune_logging import quiet_tune_console

    quiet_tune_console(args.verbose)

    trials = run_compare(  # writes the report
        settings, address=args.address, resume=args.resume,
        experiments_at_once=args.experiments_at_once,
    )  # fmt: skip
    print(summary_markdown(summary_table(trials, settings.trial.epochs)))
    report.write(Path(settings.out) / "noise_report.json")
    print(f"results: {settings.out} (trials.csv, best_so_far.png, schedules.png, summary.md, "
          "noise_report.json)")  # fmt: skip
    return 0


def add_compare_parser(commands: Any) -> argparse.ArgumentParser:
    compare = commands.add_parser(
        "compare", help="compare schedule searchers on one space and epoch budget"
    )
    _add_trial_options(compare)
    compare.add_argument(
        "--space", default="s2e", help=f"schedule family: {', '.join(family_names())}"
    )
    compare.add_argument(
        "--searchers", default="s2e,random,tpe,hyperband", help="comma-separated registry names"
    )
    compare.add_argument(
        "--trials", type=int, default=12, help="N: full trials per searcher and seed"
    )
    compare.add_argument("--seeds", type=int, default=2)
    compare.add_argument("--samples-per-iter", type=int, default=4, help="K of S2E")
    compare.add_argument(
        "--references", default="standard,coteaching",
        help="reference schedules trained on every seed: standard (R = 1) and coteaching "
        "(Co-teaching's published schedule), comma-separated, or none",
    )  # fmt: skip
    compare.add_argument(
        "--concurrency", type=int, default=1,
        help="trials of one searcher and seed at a time (S2E runs its K); 1 makes every "
        "searcher deterministic for its seed",
    )  # fmt: skip
    compare.add_argument(
        "--checkpoint-every-s", type=float, default=30.0,
        help="a running trial saves a checkpoint this often (and whenever it is paused)",
    )  # fmt: skip
    compare.add_argument(
        "--cpus-per-trial", type=float, default=1.0,
        help="Ray CPUs per trial (torch threads: at least 1); below 1, trials share cores",
    )  # fmt: skip
    compare.add_argument("--gpus-per-trial", type=float, default=0.0)
    compare.add_argument("--max-batches-per-epoch", type=int, default=None)
    compare.add_argument(
        "--experiments-at-once", type=int, default=2,
        help="experiments run side by side on the one Ray cluster (the shared searchers one "
        "beside the one-trial-at-a-time scheduler ones)",
    )  # fmt: skip
    compare.add_argument(
        "--resume", action="store_true", help="continue an interrupted comparison in --out"
    )
    compare.add_argument("--out", default="runs/compare")
    compare.add_argument(
        "--verbose", action="store_true",
        help="also Tune's per-experiment banners and Ray's checkpoint-restore lines",
    )  # fmt: skip
    compare.set_defaults(func=_compare)
    return compare


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raysearch", description="Schedule search (S2E) and supernet NAS on Ray."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    trial = commands.add_parser(
        "trial", help="run one Co-teaching trial on Ray and print per-epoch metrics"
    )
    _add_trial_options(trial)
    trial.add_argument(
        "--schedule",
        default="coteaching",
        help=f"a family ({', '.join(family_names())}) or a JSON config",
    )
    trial.add_argument("--seed", type=int, default=0, help="training seed")
    trial.add_argument(
        "--cpus", type=int, default=1, help="CPUs for the trial (torch threads follow)"
    )
    trial.add_argument("--out", default="runs", help="Tune storage folder (made absolute)")
    trial.set_defaults(func=_trial)
    add_compare_parser(commands)
    add_nas_parser(commands)
    add_analyze_parser(commands)
    add_reweight_parser(commands)
    add_bench_parser(commands)
    show_defaults(parser)
    return parser


def show_defaults(parser: argparse.ArgumentParser) -> None:
    """Append ``(default: ...)`` to the help of every option of ``parser`` and its subcommands
    whose help does not state its default already (``--help`` shows every default)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases share a parser
                show_defaults(sub)
        elif action.option_strings and action.default is not argparse.SUPPRESS:
            text = action.help or ""
            if "%(default)" not in text and "default:" not in text:
                action.help = f"{text} (default: %(default)s)".lstrip()


def _command_line(argv: Sequence[str] | None) -> list[str]:
    """The command as the user typed it (``python -m raysearch.cli`` or ``raysearch``)."""
    if argv is not None:
        return ["raysearch", *argv]
    program = (
        [sys.executable, "-m", "raysearch.cli"]
        if sys.argv[0].endswith("__main__.py")
        else ["raysearch"]
    )
    return [*program, *sys.argv[1:]]


def is_failed_lookup(error: BaseException) -> bool:
    """A ``KeyError`` carrying a bare key (``frame["val_acc"]`` failed: a bug, not bad input).
    Validation ``KeyError``s carry a sentence naming the value and what is allowed."""
    if not isinstance(error, KeyError):
        return False
    return not (len(error.args) == 1 and isinstance(error.args[0], str) and " " in error.args[0])


def main(argv: Sequence[str] | None = None) -> int:
    from raysearch.analysis.results_folder import INTERRUPTED_EXIT, Interrupted, resume_hint

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (Interrupted, KeyboardInterrupt) as error:
        where = f" ({error})" if isinstance(error, Interrupted) else ""
        hint = ""
        if hasattr(args, "resume"):  # the commands whose folder can be resumed
            hint = f"; resume with: {resume_hint(_command_line(argv))}"
        print(f"raysearch: interrupted{where}{hint}", file=sys.stderr, flush=True)
        return INTERRUPTED_EXIT
    except (KeyError, ValueError, FileNotFoundError, ConnectionError) as error:
        if os.environ.get("RAYSEARCH_DEBUG"):  # the full traceback, e.g. for an error mid-run
            raise
        command = " ".join(filter(None, (args.command, getattr(args, "nas_command", None))))
        if is_failed_lookup(error):
            traceback.print_exc()
            print(f"raysearch: internal error in `raysearch {command}`: missing key {error} "
                  "(traceback above)", file=sys.stderr)  # fmt: skip
            return 1
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        print(f"raysearch: error: {message}", file=sys.stderr)
        return 2
