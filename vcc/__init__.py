"""vcc: score a comma video compression challenge submission exactly as the official runner does.

One distribution, one import namespace: the checkout's top-level folders install as
`vcc.base`, `vcc.scorer`, `vcc.runner`, `vcc.submission` and `vcc.demo` (pyproject's
package-dir), so site-packages holds `vcc` and nothing generic. This module stays light:
importing `vcc.scorer` runs it first, and it must not pull in the CLI or torch.
"""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__", "build_parser", "main"]

try:
    __version__ = version("vcc")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    """The `vcc` command's argparse parser, every installed part's subcommands registered."""
    from vcc._cli import build_parser as cli_parser

    return cli_parser()


def main(argv: list[str] | None = None) -> int:
    """The `vcc` command (see vcc._cli); argv without the program name, default sys.argv[1:]."""
    from vcc._cli import main as cli_main

    return cli_main(argv)
