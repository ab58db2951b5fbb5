"""vcc: the command line. A thin shell over the scorer, runner and submission libraries.

Each package's `cli.register(subparsers)` adds its subcommands; handlers take the
parsed args and return an exit code. VccError becomes its message and exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
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


def _rerun_elsewhere(argv: list[str]) -> int | None:
    """The exit code of this command run in another interpreter, when it must be; else None.

    `score --env official` runs in the checkout's synced environment; a --numerics profile
    must be in the environment before torch is imported.
    """
    if argv[:1] == ["score"] and any(a.startswith("--en") for a in argv):
        from runner._env import official_env_rerun  # loads runner (and torch): only when asked

        code = official_env_rerun(argv, tops=("base", "vcc", *(n.split(".")[0] for n in _CLI_MODULES)))
        if code is not None:
            return code
    from base import numerics_rerun

    return numerics_rerun(argv)


def main(argv: list[str] | None = None) -> int:
    from base import EXIT_HARNESS, BadInput, VccError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        rerun = _rerun_elsewhere(argv)
    except VccError as err:
        print(f"vcc: error: {err.render()}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("vcc: interrupted", file=sys.stderr)
        return 130
    if rerun is not None:
        return rerun
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "score" and getattr(args, "env", "vcc") == "official" and not os.environ.get(
            "VCC_SCORING_ENV"
        ):
            raise BadInput("--env official was not applied", fix="spell it out: --env official")
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
