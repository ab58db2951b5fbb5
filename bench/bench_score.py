#!/usr/bin/env python3
"""Benchmark: cold score, warm score, the reference (official-shaped) loop and the floor.

All in one run on one synthetic challenge (the demo's fixture builder, 1200 frames =
600 pairs by default), each mode in its own process so its peak RSS is its own:
  reference  `vcc score --reference-loop`: no cache, no read-ahead, like evaluate.py
  cold       `vcc score` with an empty ground-truth cache (fills it)
  warm       `vcc score` with that cache filled
  floor      the candidate's forward pass alone (what a warm score cannot beat)
  reject     a short raw refused before any model loads
Prints seconds, peak RSS and the ratios the issue sets targets for.

usage: bench/bench_score.py [--frames 1200] [--workdir DIR] [--json PATH] [--modes ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from base import FRAME_BYTES, write_json_atomic  # noqa: E402
from demo import cached_challenge  # noqa: E402
from scorer import iter_rgb_frames  # noqa: E402

MODES = ("reject", "reference", "cold", "warm", "floor")


def degrade(frame: np.ndarray) -> np.ndarray:
    """A cheap deterministic stand-in for a codec: 2x2 block mean, 32 levels."""
    h, w, _ = frame.shape
    blocks = frame.reshape(h // 2, 2, w // 2, 2, 3).astype(np.uint16).sum((1, 3))
    return ((blocks // 4) // 8 * 8 + 4).astype(np.uint8).repeat(2, 0).repeat(2, 1)


def make_candidate(challenge: Path, sub: Path, frames: int) -> None:
    raw = sub / "inflated" / "0.raw"
    if raw.is_file() and raw.stat().st_size == frames * FRAME_BYTES:
        return
    raw.parent.mkdir(parents=True, exist_ok=True)
    (sub / "archive.zip").write_bytes(b"\0" * 1_000_000)
    with open(raw, "wb") as f:
        for frame in iter_rgb_frames(challenge / "videos" / "0.mkv"):
            f.write(degrade(frame).tobytes())


def run_measured(argv: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in GB, exit code) of a child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - t0, usage.ru_maxrss / 1e6, os.waitstatus_to_exitcode(status)


def floor_main(challenge: str, raw: str) -> None:
    """Child process: the candidate's forward pass only, in the scorer's batches."""
    import torch

    from scorer import load_nets, net_outputs, raw_pair_batches

    torch.manual_seed(1234)
    nets = load_nets(Path(challenge) / "models")
    for batch in raw_pair_batches(Path(raw), 16):
        net_outputs(*nets, batch)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=1200)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/vcc-bench"))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    ap.add_argument("--floor-child", nargs=2, metavar=("CHALLENGE", "RAW"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.floor_child:
        floor_main(*args.floor_child)
        return 0

    work = args.workdir
    challenge = cached_challenge(args.frames, seed=0, progress=True, cache_dir=work / "fixtures")
    sub = work / "submission"
    make_candidate(challenge, sub, args.frames)
    short = work / "short"
    (short / "inflated").mkdir(parents=True, exist_ok=True)
    (short / "archive.zip").write_bytes(b"\0" * 10)
    with open(short / "inflated" / "0.raw", "wb") as f:
        f.truncate((args.frames - 32) * FRAME_BYTES)

    cache = work / "gt-cache"
    for stale in cache.glob("gt-*.bin"):
        stale.unlink()
    score = [sys.executable, "-m", "vcc", "score", "--challenge-dir", str(challenge), "--quiet"]
    commands = {
        "reject": [*score[:3], "score", str(short), *score[4:], "--no-cache"],
        "reference": [*score, str(sub), "--reference-loop", "--json", str(work / "reference.json")],
        "cold": [*score, str(sub), "--cache-dir", str(cache), "--json", str(work / "cold.json")],
        "warm": [*score, str(sub), "--cache-dir", str(cache), "--json", str(work / "warm.json")],
        "floor": [sys.executable, __file__, "--floor-child", str(challenge), str(sub / "inflated" / "0.raw")],
    }
    results: dict[str, dict[str, float]] = {}
    for mode in MODES:
        if mode not in args.modes:
            continue
        seconds, rss_gb, rc = run_measured(commands[mode])
        results[mode] = {"seconds": seconds, "peak_rss_gb": rss_gb, "exit_code": rc}
        print(f"{mode:<10} {seconds:9.1f} s   peak RSS {rss_gb:5.2f} GB   exit {rc}", flush=True)

    scores = {m: json.loads((work / f"{m}.json").read_text())["score"]
              for m in ("reference", "cold", "warm") if (work / f"{m}.json").is_file()}
    ratios = {}
    if {"warm", "floor"} <= results.keys():
        ratios["warm_over_floor"] = results["warm"]["seconds"] / results["floor"]["seconds"]
    if {"cold", "reference"} <= results.keys():
        ratios["cold_over_reference"] = results["cold"]["seconds"] / results["reference"]["seconds"]
    summary = {"frames": args.frames, "pairs": args.frames // 2, "cpus": os.cpu_count(), "modes": results,
               "ratios": ratios, "scores_equal": len(set(scores.values())) <= 1, "scores": scores}
    print("ratios (targets: warm/floor <= 1.05, cold/reference <= 0.95, peak RSS <= 2 GB):")
    for name, value in ratios.items():
        print(f"  {name:<22} {value:.3f}")
    print(f"  scores equal across modes: {summary['scores_equal']}")
    if args.json:
        write_json_atomic(args.json, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
