"""The CLI package and ``raysearch.tune``'s lazy public names."""

import subprocess
import sys

import raysearch.tune as tune_package
from raysearch.cli import build_parser


def test_every_public_tune_name_resolves_to_its_module():
    for name in tune_package.__all__:
        obj = getattr(tune_package, name)
        assert obj.__name__ == name
        assert obj.__module__.startswith("raysearch.tune.")


def test_unknown_tune_name_is_an_attribute_error():
    try:
        tune_package.no_such_name  # noqa: B018
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("expected AttributeError")


def test_importing_the_cli_does_not_import_ray():
    code = "import sys, raysearch.cli, raysearch.tune; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_python_dash_m_runs_the_console_script():
    out = subprocess.run(
        [sys.executable, "-m", "raysearch.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "compare" in out.stdout
    assert {"trial", "compare", "nas", "analyze", "reweight"} <= set(
        build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    )
