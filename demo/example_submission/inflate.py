#!/usr/bin/env python3
"""Example inflater for the vcc demo: decode the archive's HEVC, upscale, dump raw RGB.

usage: inflate.py ARCHIVE_DIR INFLATED_DIR NAMES_FILE

For every name `<base>.<ext>` in NAMES_FILE reads ARCHIVE_DIR/<base> (a raw
HEVC stream written by compress.py) and writes INFLATED_DIR/<base>.raw:
uint8 RGB frames, 874x1164x3 each, bicubic upscaling. Never reads the
original video. Frames are streamed: one frame in memory at a time.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import av

WIDTH, HEIGHT = 1164, 874


def inflate(src: Path, dst: Path) -> int:
    frames = 0
    tmp = dst.with_name(dst.name + ".tmp")
    with av.open(str(src), format="hevc") as inp, open(tmp, "wb") as out:
        stream = inp.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in inp.decode(stream):
            rgb = frame.reformat(width=WIDTH, height=HEIGHT, format="rgb24", interpolation="BICUBIC")
            out.write(rgb.to_ndarray().tobytes())
            frames += 1
    os.replace(tmp, dst)
    return frames


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("archive_dir", type=Path)
    ap.add_argument("inflated_dir", type=Path)
    ap.add_argument("names_file", type=Path)
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.names_file.read_text().splitlines() if n.strip()]
    args.inflated_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        base = Path(name).stem
        n = inflate(args.archive_dir / base, args.inflated_dir / f"{base}.raw")
        print(f"{name}: {n} frames -> {base}.raw", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
