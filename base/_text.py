"""Text vcc prints: a submission's text made safe (no terminal control sequence gets through), and
figures quoted short."""

from __future__ import annotations

import re

__all__ = ["escape_control", "short_float"]

# C0 controls, DEL and the C1 controls (0x9b is a one-byte CSI on some terminals).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _escape(m: re.Match[str]) -> str:
    return f"\\x{ord(m.group()):02x}"


def escape_control(text: str, keep_newlines: bool = False) -> str:
    """`text` with every control character written as \\xNN (newlines and tabs kept with keep_newlines).

    For names, logs and messages that come from a submission: an ESC, a carriage return or a
    backspace can recolour the terminal, overwrite a line or forge one (`vcc run: OK`).
    """
    return (_CONTROL_BUT_LINES if keep_newlines else _CONTROL).sub(_escape, text)


def short_float(x: float) -> str:
    """Two significant digits, exponent without padding: 3.1e-8, 0 (a spread as a competitor quotes it)."""
    return re.sub(r"e([+-])0*(\d)", lambda m: f"e{m.group(1).replace('+', '')}{m.group(2)}", f"{x:.2g}")
