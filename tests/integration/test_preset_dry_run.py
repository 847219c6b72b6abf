"""Every preset in launchers/presets/ is proven to start: ``launch.py --preset NAME --dry-run``
runs its own command end to end on a real local Ray (shared by the module), on the CPU, with
tiny data where the real files are absent. A new preset file is covered without editing this."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

from raysearch.cli.presets import preset_names

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PRESETS = ROOT / "launchers" / "presets"


def _launch():
    spec = importlib.util.spec_from_file_location("launch", ROOT / "launchers" / "launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", preset_names(PRESETS))
def test_preset_dry_run_finishes_and_writes_its_results(local_ray, tmp_path, capsys, name):
    out = tmp_path / "out"
    start = time.perf_counter()
    status = _launch().main(["--preset", name, "--dry-run", "--out", str(out)])
    seconds = time.perf_counter() - start
    printed = capsys.readouterr().out
    with capsys.disabled():
        print(f"\ndry run of preset {name}: {seconds:.1f} s, status {status}")
    assert status == 0, printed[-3000:]
    assert f"dry run of preset {name}" in printed and "--epochs 1" in printed
    written = [p for p in out.rglob("*") if p.is_file()]
    assert written, f"dry run of {name} wrote nothing to {out}"
