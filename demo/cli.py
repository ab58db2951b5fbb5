"""`vcc demo`: argument parsing only; the work is in demo._example.run_demo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vcc.base import EXIT_OK, run_cli

from ._scene import DEMO_DEFAULT_FRAMES

__all__ = ["register", "main"]


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("demo", help="build a synthetic stand-in challenge and example submission, run and score it")
    d.add_argument("--frames", type=int, default=DEMO_DEFAULT_FRAMES, help="frames in the synthetic video")
    d.add_argument("--workdir", type=Path, default=None, help="where the example submission and run go")
    d.add_argument("--rebuild", action="store_true", help="rebuild the cached fixture")
    d.add_argument("--json", type=Path, default=None, help="also write the score JSON here")
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from vcc.base import write_json_atomic

    from ._example import run_demo

    result = run_demo(workdir=args.workdir, frames=args.frames, rebuild=args.rebuild, progress=not args.quiet)
    if args.json:
        write_json_atomic(args.json, result)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """`vcc demo ...` with argv after the subcommand."""
    return run_cli(["demo", *(sys.argv[1:] if argv is None else argv)], [register])
