"""One script for both directions: compress (from the original video) and inflate (from the archive)."""

import argparse
import sys
from pathlib import Path

import numpy as np


def encode_video(src: str, dst: Path) -> None:
    dst.write_bytes(Path(src).read_bytes()[:16])


def decode(archive: Path, out: Path, names: Path) -> None:
    for name in names.read_text().split():
        data = np.frombuffer((archive / "x").read_bytes(), np.uint8)
        (out / f"{Path(name).stem}.raw").write_bytes(data.tobytes())


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: inflate.py <input.mkv> | --mode inflate --archive DIR --out DIR --names FILE")
    p = argparse.ArgumentParser(description="compress videos/0.mkv or inflate the archive")
    p.add_argument("--mode", choices=["compress", "inflate"], required=True)
    p.add_argument("--video", default="../../videos/0.mkv", help="the original (compress only)")
    p.add_argument("--archive", type=Path)
    p.add_argument("--out", type=Path)
    p.add_argument("--names", type=Path)
    sub = p.add_subparsers(dest="extra")
    train = sub.add_parser("train")
    train.add_argument("--source", default="videos/0.mkv")
    args = p.parse_args()
    if args.mode == "compress":
        encode_video(args.video, args.archive / "x")
    else:
        decode(args.archive, args.out, args.names)


if __name__ == "__main__":
    main()
