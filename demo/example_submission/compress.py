#!/usr/bin/env python3
"""Example compressor for the vcc demo: downscale, re-encode with x265, zip.

usage: compress.py VIDEOS_DIR SUBMISSION_DIR NAMES_FILE [--crf N] [--scale F] [--preset NAME]

For every name `<base>.<ext>` in NAMES_FILE the video is decoded with PyAV,
scaled to SCALE of its size, encoded as a raw HEVC stream with libx265 and
stored in SUBMISSION_DIR/archive.zip as a member named `<base>` (one letter
for the challenge's `0.mkv`). The zip is deterministic: sorted members,
fixed timestamps, no compression (HEVC does not deflate). --crf, --scale and
--preset override the defaults below (what `vcc sweep` varies).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import av

SCALE = 0.45  # like the official baseline
CRF = 30
PRESET = "medium"
# frame-threads changes x265's output, so it is pinned for reproducible archives.
X265_PARAMS = "log-level=error:frame-threads=2:pools=2"


def scaled_size(width: int, height: int, scale: float = SCALE) -> tuple[int, int]:
    # 4:2:0 needs even sizes.
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def encode(src: Path, dst: Path, crf: int = CRF, scale: float = SCALE, preset: str = PRESET) -> int:
    frames = 0
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="hevc") as out:
        in_stream = inp.streams.video[0]
        in_stream.thread_type = "AUTO"
        width, height = scaled_size(in_stream.codec_context.width, in_stream.codec_context.height, scale)
        stream = out.add_stream("libx265", rate=20)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": preset, "crf": str(crf), "x265-params": X265_PARAMS}
        for frame in inp.decode(in_stream):
            small = frame.reformat(width=width, height=height, format="yuv420p", interpolation="AREA")
            small.pts = frames
            out.mux(stream.encode(small))
            frames += 1
        out.mux(stream.encode(None))
    return frames


def write_zip(members: dict[str, Path], archive: Path) -> None:
    tmp = archive.with_name(archive.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            zf.writestr(info, members[name].read_bytes())
    os.replace(tmp, archive)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("videos_dir", type=Path)
    ap.add_argument("submission_dir", type=Path)
    ap.add_argument("names_file", type=Path)
    ap.add_argument("--crf", type=int, default=CRF, help=f"x265 constant rate factor (default {CRF})")
    ap.add_argument("--scale", type=float, default=SCALE, help=f"fraction of the original size (default {SCALE})")
    ap.add_argument("--preset", default=PRESET, help=f"x265 preset (default {PRESET})")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.names_file.read_text().splitlines() if n.strip()]
    args.submission_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        members = {}
        for name in names:
            base = Path(name).stem
            members[base] = Path(tmp) / base
            n = encode(args.videos_dir / name, members[base], args.crf, args.scale, args.preset)
            print(f"{name}: {n} frames -> {members[base].stat().st_size:,} bytes", file=sys.stderr)
        write_zip(members, args.submission_dir / "archive.zip")
    return 0


if __name__ == "__main__":
    sys.exit(main())
