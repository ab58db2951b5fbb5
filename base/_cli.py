"""Running a command line: parse, call the handler, turn a VccError into its message and exit code.

Every package's `cli.main(argv)` and `vcc.main` share this, so each tool is callable on its own
(tests call `runner.cli.main([...])`) without importing the layers above it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from ._errors import EXIT_HARNESS, VccError
from ._numerics import numerics_rerun

__all__ = ["Registrar", "Rerun", "build_cli_parser", "run_cli"]

# A package's `register(subparsers)`: adds its subcommands, each with `handler` in its defaults.
Registrar = Callable[[argparse._SubParsersAction], None]

_EPILOG = ("exit codes: 0 ok, 1 gate bound not met, 2 bad input, 3 submission failed while running, "
           "4 harness or environment error")


def build_cli_parser(registrars: Sequence[Registrar]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vcc",
        description="Score comma video compression challenge submissions exactly as the official runner.",
        epilog=_EPILOG,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in registrars:
        register(sub)
    return parser


# Runs the command elsewhere when it must be (its exit code), else None: carry on here.
Rerun = Callable[[list[str]], int | None]


def run_cli(argv: Sequence[str], registrars: Sequence[Registrar], reruns: Sequence[Rerun] = (numerics_rerun,)) -> int:
    """Run one command line over the given subcommands; the process exit code.

    `reruns` are tried first, in order: by default a --numerics profile, which acts only if set
    before torch loads (the command re-runs in a fresh interpreter when torch is already loaded).
    """
    argv = list(argv)
    for rerun in reruns:
        try:
            code = rerun(argv)
        except VccError as err:
            print(f"vcc: error: {err.render()}", file=sys.stderr)
            return err.exit_code
        if code is not None:
            return code
    args = build_cli_parser(registrars).parse_args(argv)
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
