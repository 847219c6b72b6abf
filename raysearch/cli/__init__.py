"""The ``raysearch`` console script: one module per subcommand group, presets for launch.py."""

from raysearch.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
