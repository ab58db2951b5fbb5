"""Helpers shared by the `vcc run` tests: tiny submissions and wrappers that return run.json.

Imported as `from helpers import ...` (tests/ is on sys.path, as for conftest). No model is
loaded by these; the mini challenge (conftest.mini_challenge) has MINI_FRAMES frames.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from conftest import MINI_FRAMES

from runner import bwrap_unavailable_reason

FRAME_BYTES = 874 * 1164 * 3  # one RGB frame of a .raw
RAW_BYTES = MINI_FRAMES * FRAME_BYTES  # a complete raw for the mini challenge's video

# inflate.sh's first lines, before the body a test gives
SH_HEADER = "#!/usr/bin/env bash\nset -euo pipefail\n"

# An inflate.sh body that writes a raw of the right size for every name in $3.
WRITE_RAWS = f"""
mkdir -p "$2"
while read -r n; do [ -n "$n" ] && truncate -s {RAW_BYTES} "$2/${{n%.*}}.raw"; done < "$3"
"""

# `vcc run` refuses to run inflate without its sandbox: the suite uses bubblewrap where it works
# and says --sandbox off (plain processes) only where it does not.
SANDBOX_ARGS: tuple[str, ...] = () if bwrap_unavailable_reason() is None else ("--sandbox", "off")

# `vcc run` without scoring, with no time set aside for setup or scoring.
NO_SCORE_ARGS = ("--no-score", "--quiet", "--setup-overhead", "0", "--score-estimate", "0")


def make_sub(root: Path, body: str, files: dict[str, str] | None = None, payload: bytes = b"tiny payload") -> Path:
    """A submission dir: archive.zip with one member `a`, inflate.sh = SH_HEADER + body, and `files`."""
    root.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(root / "archive.zip", "w") as zf:
        zf.writestr("a", payload)
    (root / "inflate.sh").write_text(SH_HEADER + body)
    for name, text in (files or {}).items():
        (root / name).write_text(text)
    return root


def run_vcc(sub: Path, challenge: Path, out: Path, *args: str) -> tuple[int, dict]:
    """`vcc run SUB --challenge-dir CHALLENGE --out OUT ARGS...`: its exit code and run.json."""
    from runner.cli import main as run_main

    if "--sandbox" not in args:
        args = (*SANDBOX_ARGS, *args)
    code = run_main([str(sub), "--challenge-dir", str(challenge), "--out", str(out), *args])
    return code, json.loads((out / "run.json").read_text())


def run(sub: Path, challenge: Path, out: Path, *extra: str) -> tuple[int, dict]:
    """run_vcc without scoring (NO_SCORE_ARGS), then `extra`."""
    return run_vcc(sub, challenge, out, *NO_SCORE_ARGS, *extra)
