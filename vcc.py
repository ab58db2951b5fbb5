"""vcc: the command line. A thin shell over the scorer, runner and submission libraries.

Each package's `cli.register(subparsers)` adds its subcommands; handlers take the
parsed args and return an exit code. VccError becomes its message and exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "build_parser"]

# Packages whose cli module registers subcommands, in help order.
_CLI_MODULES = ("scorer.cli", "runner.cli", "submission.cli")


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


def main(argv: list[str] | None = None) -> int:
    from scorer import EXIT_HARNESS, VccError

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
