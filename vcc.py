"""vcc: the command line. A thin shell over the scorer, runner and submission libraries.

Each package's `cli.register(subparsers)` adds its subcommands; handlers take the
parsed args and return an exit code. VccError becomes its message and exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys

__all__ = ["main", "build_parser"]

# Packages whose cli module registers subcommands, in help order.
_CLI_MODULES = ("scorer.cli", "runner.cli", "submission.cli", "demo.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vcc",
        description="Score comma video compression challenge submissions exactly as the official runner.",
        epilog="exit codes: 0 ok, 1 gate bound not met, 2 bad input, 3 submission failed while running, "
        "4 harness or environment error",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _CLI_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name in (name, name.split(".")[0]):  # that part of vcc is not installed
                continue
            raise
        module.register(sub)
    return parser


def _numerics_rerun(argv: list[str]) -> int | None:
    """Apply --numerics before torch is imported: its caps are read when torch initialises.

    Sets the caps in this process when torch is not loaded yet; otherwise (vcc.main called from
    a Python program that imported torch) runs the same command in a fresh interpreter and
    returns its exit code. None: carry on in this process.
    """
    from base import NUMERICS_PROFILES, check_profile_supported, numerics_from_argv, profile_env

    profile = NUMERICS_PROFILES.get(numerics_from_argv(argv) or "native")
    if profile is None or not profile.env:
        return None  # native, or a wrong name that argparse reports
    check_profile_supported(profile)
    if all(os.environ.get(k) == v for k, v in profile.env.items()):
        return None
    if "torch" not in sys.modules:
        os.environ.update(profile.env)
        return None
    return subprocess.run([sys.executable, "-m", "vcc", *argv], env=profile_env(profile)).returncode


def main(argv: list[str] | None = None) -> int:
    from base import EXIT_HARNESS, VccError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        rerun = _numerics_rerun(argv)
    except VccError as err:
        print(f"vcc: error: {err.render()}", file=sys.stderr)
        return err.exit_code
    if rerun is not None:
        return rerun
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except VccError as err:
        print(f"vcc {args.command}: error: {err.render()}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("vcc: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("vcc: out of memory", file=sys.stderr)
        return EXIT_HARNESS


if __name__ == "__main__":
    sys.exit(main())
