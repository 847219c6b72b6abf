"""The README's Python example and its cheap commands, run for real on a local Ray.

* The "S2E on your own Tune trainable" block is executed as written (8 trials per searcher of
  a toy function trainable, on the 2-CPU local Ray of ``local_ray``), in a temporary folder.
* The README's ``raysearch compare / trial / analyze`` commands and ``launch.py
  --list-presets`` run as subprocesses in smoke size: the smoke preset's budget options
  (``launchers/presets/smoke.yaml``) are appended, which argparse lets override the command's
  own, and every ``runs/...`` folder lands in the temporary folder. The other commands (NAS,
  paper-scale presets) are parsed by tests/unit/test_doc_commands.py; every preset's dry run is
  tests/integration/test_preset_dry_run.py.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from raysearch.cli.presets import load_preset

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SMOKE_BUDGET = ("trials", "epochs", "seeds", "samples-per-iter", "max-batches-per-epoch")
RUN = ("compare", "trial", "analyze")  # the README's cheap subcommands


def _doc_commands():
    """tests/unit/test_doc_commands.py, loaded by path (test folders are not packages)."""
    path = ROOT / "tests" / "unit" / "test_doc_commands.py"
    spec = importlib.util.spec_from_file_location("doc_commands_for_readme", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def readme_example() -> str:
    """The python block under the README's "S2E on your own Tune trainable" heading."""
    section = README.read_text().split("## S2E on your own Tune trainable", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match, "README.md lost its S2ESearcher example"
    return match.group(1)


@pytest.mark.slow
def test_readme_s2e_example_searches_a_users_trainable_next_to_hyperopt(
    local_ray, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(readme_example(), str(README), "exec"), namespace)

    results = namespace["results"]
    assert set(results) == {"s2e", "tpe"}
    for name, grid in results.items():
        assert len(grid) == 8 and grid.num_errors == 0, name
        for result in grid:
            config = result.config
            assert 1e-4 <= config["lr"] <= 1e-1 and config["layers"] in {1, 2, 3, 4}
            assert config["act"] in {"relu", "tanh"}
            assert result.metrics["epoch"] == 5 and math.isfinite(result.metrics["score"])
        assert (tmp_path / "runs" / "own-trainable" / name).is_dir()
    trials = namespace["trials"]
    assert len(trials) == 8 and {"config/lr", "config/layers", "config/act", "score"} <= set(trials)
    assert trials["error"].isna().all()
    printed = capsys.readouterr().out
    assert re.search(r"^s2e \{.*\} -?\d", printed, flags=re.M)
    assert re.search(r"^tpe \{.*\} -?\d", printed, flags=re.M)


def _smoke_argv(args: tuple[str, ...]) -> list[str]:
    """The command with the smoke preset's budget appended (the last value wins)."""
    smoke = load_preset("smoke", ROOT / "launchers" / "presets").options
    if args[0] == "compare":
        return [*args, *(a for key in SMOKE_BUDGET for a in (f"--{key}", str(smoke[key])))]
    if args[0] == "trial":
        return [*args, "--epochs", str(smoke["epochs"]), "--out", "runs/trial"]
    return list(args)


@pytest.mark.slow
def test_readme_cheap_commands_run_in_smoke_size(tmp_path):
    commands = _doc_commands().document_commands(README)
    chosen = [c.args for c in commands if c.program == "raysearch" and c.args[0] in RUN]
    chosen += [c.args for c in commands if c.args[-1:] == ("--list-presets",)]
    assert [a[0] for a in chosen] == [
        "compare",
        "compare",
        "analyze",
        "trial",
        "launchers/launch.py",
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_RUNTIME_ENV_HOOK")}
    outputs = []
    for args in chosen:
        if args[0] == "launchers/launch.py":
            argv = [sys.executable, str(ROOT / args[0]), *args[1:]]
        else:
            argv = [sys.executable, "-m", "raysearch.cli", *_smoke_argv(args)]
        done = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, (
            f"{' '.join(argv)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        outputs.append(done.stdout)

    _, resumed, analyze, trial, presets = outputs
    trials = pd.read_csv(tmp_path / "runs" / "compare" / "trials.csv")
    assert {"s2e", "random", "tpe", "hyperband"} <= set(trials["searcher"])
    assert (trials["epochs_trained"] <= 2).all()
    assert "finished earlier with these settings; nothing to run" in resumed
    assert (tmp_path / "runs" / "compare" / "analysis" / "summary.md").is_file()
    assert "written:" in analyze
    assert re.search(r"^final: test_acc=0\.\d{4}", trial, flags=re.M)
    assert "smoke" in presets and "small-s2e" in presets
