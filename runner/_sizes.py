"""Sizes as people write them ('16G', '512M', '1.5GiB', '2048'), for `vcc run` options and sweep SPECs."""

from __future__ import annotations

import argparse
import re

__all__ = ["parse_size"]

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str | int) -> int:
    """Bytes from '16G', '100M', '1.5GiB', '2048' (binary units); an int is bytes already."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*", str(text), re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 16G, 512M)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])
