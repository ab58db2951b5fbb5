"""vcc: the command line. A thin shell over the scorer, runner, submission and demo libraries.

Each package's `cli.register(subparsers)` adds its subcommands; handlers take the parsed args
and return an exit code (base.run_cli turns a VccError into its message and exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from base import Registrar, build_cli_parser, numerics_rerun, run_cli

__all__ = ["main", "build_parser"]

# Packages whose cli module registers subcommands, in help order.
_CLI_MODULES = ("scorer.cli", "scorer.report_cli", "runner.cli", "submission.cli", "demo.cli")


def _registrars() -> list[Registrar]:
    out = []
    for name in _CLI_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name in (name, name.split(".")[0]):  # that part of vcc is not installed
                continue
            raise
        out.append(module.register)
    return out


def build_parser() -> argparse.ArgumentParser:
    return build_cli_parser(_registrars())


def _official_env_rerun(argv: list[str]) -> int | None:
    """`score --env official` runs in the checkout's synced environment (loads runner: only then)."""
    if argv[:1] != ["score"] or not any(a.startswith("--en") for a in argv):
        return None
    from runner._env import official_env_rerun

    return official_env_rerun(argv, tops=("base", "vcc", *(n.split(".")[0] for n in _CLI_MODULES)))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return run_cli(argv, _registrars(), reruns=(_official_env_rerun, numerics_rerun))


if __name__ == "__main__":
    sys.exit(main())
