"""Entry point of ``ray submit launchers/cluster.yaml launchers/launch.py`` (and of local runs).

``--preset NAME`` picks ``launchers/presets/NAME.yaml`` (``--list-presets`` shows them). With no
arguments it runs the ``small-s2e`` preset, the default schedule-search comparison on the
embedded ``fashion-mnist-mini`` (4,000 rows, pair 45 % noise; S2E vs random, TPE and Hyperband,
next to the standard and Co-teaching reference schedules) that fits a 2-core machine in about 5
minutes; ``--smoke-test`` runs the ``smoke`` preset instead (~1 min).
The preset is validated (option names and types) before any Ray work. ``--dry-run`` proves a
preset starts: the same command, shrunk to 1 epoch of 2 batches with tiny trial counts on the
CPU, on a tiny stand-in of its data set when the files are absent
(:mod:`raysearch.cli.dry_run`); results go to a temporary folder unless ``--out`` is given.
``--address auto`` (or
``RAY_ADDRESS`` in the environment, as ``ray job submit`` sets it) connects to a running
cluster. Thin: loads the preset, builds the ``raysearch`` arguments and calls it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from raysearch.analysis.results_folder import INTERRUPTED_EXIT, resume_hint
from raysearch.cli import main as raysearch_main
from raysearch.cli.dry_run import dry_run_argv
from raysearch.cli.presets import Preset, load_preset, preset_names


def _presets_dir() -> Path:
    """Beside this file, else in the raysearch checkout (``ray submit`` copies launch.py alone
    to the head node, where the package is installed with ``pip install -e``)."""
    here = Path(__file__).resolve().parent / "presets"
    if here.is_dir():
        return here
    import raysearch

    return Path(raysearch.__file__).resolve().parents[1] / "launchers" / "presets"


PRESETS = _presets_dir()
DEFAULT_PRESET, SMOKE_PRESET = "small-s2e", "smoke"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--preset", default=None, help=f"a preset in {PRESETS} (default: small-s2e)"
    )
    parser.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    parser.add_argument("--smoke-test", action="store_true", help="run the smoke preset (~1 min)")
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted run in --out"
    )
    parser.add_argument("--address", default=None, help="Ray address, e.g. auto on a cluster")
    parser.add_argument("--out", default=None, help="results folder (default: runs/PRESET)")
    parser.add_argument(
        "--dry-run", action="store_true",
        help="run the preset end to end in seconds on the CPU (1 epoch, 2 batches, tiny data)",
    )  # fmt: skip
    return parser


def build_args(argv: list[str]) -> tuple[Preset, list[str], str]:
    """The validated preset, the ``raysearch`` argument list and the absolute results folder.

    Raises ``KeyError``/``ValueError`` (unknown preset or option, bad value type) before any
    Ray work; options after the launch flags are passed on and override the preset's.
    """
    args, passthrough = _parser().parse_known_args(argv)
    if args.smoke_test and args.preset not in (None, SMOKE_PRESET):
        raise ValueError(
            f"--smoke-test runs the {SMOKE_PRESET!r} preset; drop --preset {args.preset}"
        )
    name = SMOKE_PRESET if args.smoke_test else args.preset or DEFAULT_PRESET
    preset = load_preset(name, PRESETS)
    dry = []
    if args.dry_run:
        folder = Path(tempfile.mkdtemp(prefix=f"raysearch-dry-run-{name}-"))
        dry = dry_run_argv(preset, folder)
        default_out = folder / "out"
    else:
        default_out = Path(f"runs/{name}")
    out = str(Path(args.out or default_out).expanduser().resolve())
    command = [*preset.argv(), *dry, *passthrough, "--out", out]
    command += ["--resume"] if args.resume else []
    command += ["--address", args.address] if args.address else []
    return preset, command, out


def _list_presets() -> int:
    for name in preset_names(PRESETS):
        preset = load_preset(name, PRESETS)
        print(f"{name:24s} {preset.command:11s} {preset.description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if _parser().parse_known_args(argv)[0].list_presets:
        return _list_presets()
    try:
        preset, command, out = build_args(argv)
    except (KeyError, ValueError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        print(f"launch.py: error: {message}", file=sys.stderr)
        return 2
    address = os.environ.get("RAY_ADDRESS") if "--address" not in command else None
    kind = "dry run of preset" if "--dry-run" in argv else "preset"
    print(f"{kind} {preset.name} ({preset.command}): raysearch {' '.join(command)}", flush=True)
    if address:
        print(f"connecting to the Ray cluster at {address} (RAY_ADDRESS)", flush=True)
    status = raysearch_main(command)
    if status == INTERRUPTED_EXIT:
        hint = resume_hint([sys.executable, sys.argv[0], *argv])
        print(f"launch.py: interrupted; resume with: {hint}", flush=True)
        return status
    print(f"launch.py: {'finished' if status == 0 else 'failed'}; results in {out}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
