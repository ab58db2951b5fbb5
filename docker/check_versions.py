"""Fail an image build when an installed package is not the version that was asked for.

Usage: python check_versions.py NAME=VERSION ... [--requirements FILE]
       (NAME= with no version: NAME must not be installed)

pip may satisfy a pin from an unexpected index or keep an older install; the image labels and
the reports state versions, so the build checks them instead of trusting the resolver.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib.metadata import PackageNotFoundError, version


def _pins(items: list[str], requirements: str | None) -> dict[str, str]:
    pins: dict[str, str] = {}
    for item in items:
        name, _, wanted = item.partition("=")
        pins[name] = wanted
    if requirements:
        with open(requirements, encoding="utf-8") as fh:
            for line in fh:
                m = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s#;]+)", line)
                if m:
                    pins[m.group(1)] = m.group(2)
    return pins


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pins", nargs="*", help="NAME=VERSION")
    parser.add_argument("--requirements", help="a requirements file with NAME==VERSION lines")
    args = parser.parse_args(argv)
    bad = 0
    for name, wanted in sorted(_pins(args.pins, args.requirements).items()):
        try:
            got = version(name)
        except PackageNotFoundError:
            got = "(not installed)"
        ok = got == (wanted or "(not installed)")
        bad += not ok
        print(f"{'ok ' if ok else 'BAD'} {name:32s} wanted {wanted or '(none)':16s} got {got}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
