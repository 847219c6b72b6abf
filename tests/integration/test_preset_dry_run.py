"""Every preset in launchers/presets/ is proven to start: ``launch.py --preset NAME --dry-run``
runs its own command end to end on a real local Ray (shared by the module), on the CPU, with
tiny data where the real files are absent. A new preset file is covered without editing this;
presets whose dry-run command lines are identical (the same command and options once shrunk)
run once."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

import pytest

from raysearch.cli.dry_run import dry_run_options
from raysearch.cli.presets import load_preset, preset_names

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PRESETS = ROOT / "launchers" / "presets"
_FINISHED: dict[Any, tuple[str, int]] = {}  # dry-run command line -> (preset that ran it, status)


def _launch():
    spec = importlib.util.spec_from_file_location("launch", ROOT / "launchers" / "launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shrunk_command(name: str) -> Any:
    """The preset's command and options as the dry run runs them (data folder aside)."""
    preset = load_preset(name, PRESETS)
    options = {**preset.options, **dry_run_options(preset)}
    options.pop("data-root", None)
    return preset.command, tuple(sorted((k, str(v)) for k, v in options.items()))


@pytest.mark.parametrize("name", preset_names(PRESETS))
def test_preset_dry_run_finishes_and_writes_its_results(local_ray, tmp_path, capsys, name):
    key = _shrunk_command(name)
    if key in _FINISHED:
        ran, status = _FINISHED[key]
        with capsys.disabled():
            print(f"\ndry run of preset {name}: the same command line as {ran}, status {status}")
        assert status == 0
        return
    out = tmp_path / "out"
    start = time.perf_counter()
    status = _launch().main(["--preset", name, "--dry-run", "--out", str(out)])
    seconds = time.perf_counter() - start
    _FINISHED[key] = (name, status)
    printed = capsys.readouterr().out
    with capsys.disabled():
        print(f"\ndry run of preset {name}: {seconds:.1f} s, status {status}")
    assert status == 0, printed[-3000:]
    assert f"dry run of preset {name}" in printed and "--epochs 1" in printed
    written = [p for p in out.rglob("*") if p.is_file()]
    assert written, f"dry run of {name} wrote nothing to {out}"
