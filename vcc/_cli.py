"""The `vcc` command line: a thin shell over the scorer, runner, submission and demo libraries.

Each part's `cli.register(subparsers)` adds its subcommands; handlers take the parsed args and
return an exit code (vcc.base.run_cli turns a VccError into its message and exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from vcc.base import Registrar, build_cli_parser, numerics_rerun, run_cli

__all__ = ["main", "build_parser"]

# The modules whose `register` adds subcommands, in help order.
_CLI_MODULES = ("vcc.scorer.cli", "vcc.scorer.report_cli", "vcc.runner.cli", "vcc.submission.cli", "vcc.demo.cli")


def _registrars() -> list[Registrar]:
    out = []
    for name in _CLI_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):  # that part of vcc is not installed
                continue
            raise
        out.append(module.register)
    return out


def build_parser() -> argparse.ArgumentParser:
    return build_cli_parser(_registrars())


def _official_env_rerun(argv: list[str]) -> int | None:
    """`score --env official` runs in the checkout's synced environment; the runner's pre-parser
    reads --env as argparse would (abbreviations included), so only `score` is tested here."""
    if argv[:1] != ["score"]:
        return None
    from vcc.runner._env import official_env_rerun

    return official_env_rerun(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return run_cli(argv, _registrars(), reruns=(_official_env_rerun, numerics_rerun))
