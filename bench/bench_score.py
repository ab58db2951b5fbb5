#!/usr/bin/env python3
"""Benchmark: every scoring mode on the same data, each run its own process, alternated.

One synthetic challenge (the demo's fixture builder, 1200 frames = 600 pairs by default) and one
candidate; every mode runs --threads T torch threads (default: cores // 4, at least 1) so that
all of them compute the same bits, which the bench checks:
  reference  `vcc score --reference-loop`: no cache, no read-ahead, one process, like evaluate.py
  cold       `vcc score --workers 1` with an empty ground-truth cache (fills it)
  warm       `vcc score --workers 1` with the cache filled (only the candidate's forward)
  w1 w2 w4   `vcc score --no-cache --workers N`: both forwards, sharded across N processes
  floor      the candidate's forward pass alone, one process (what a warm score cannot beat)
  reject     a short raw refused before any model loads
Each round runs every mode once, in an order rotated from round to round (so no mode always
runs first or after the same neighbour); the table gives the medians over --rounds (>= 3),
the ratios, and peak RSS (the largest process of the mode: itself or one of its workers).

usage: bench/bench_score.py [--frames 1200] [--rounds 3] [--threads T] [--workdir DIR] [--json PATH]
                            [--modes ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The parent stays light (no torch): on Linux a child's peak RSS starts from its parent's
# resident size when it execs, so a heavy parent would inflate every mode's figure.
from vcc.base import FRAME_BYTES, cores, write_json_atomic  # noqa: E402 - torch-free

MODES = ("reject", "reference", "cold", "warm", "w1", "w2", "w4", "floor")
_SCORED = ("reference", "cold", "warm", "w1", "w2", "w4")  # modes whose figures must agree


def degrade(frame: np.ndarray) -> np.ndarray:
    """A cheap deterministic stand-in for a codec: 2x2 block mean, 32 levels."""
    h, w, _ = frame.shape
    blocks = frame.reshape(h // 2, 2, w // 2, 2, 3).astype(np.uint16).sum((1, 3))
    return ((blocks // 4) // 8 * 8 + 4).astype(np.uint8).repeat(2, 0).repeat(2, 1)


def make_candidate(challenge: Path, sub: Path, frames: int) -> None:
    from vcc.scorer import iter_rgb_frames

    raw = sub / "inflated" / "0.raw"
    if raw.is_file() and raw.stat().st_size == frames * FRAME_BYTES:
        return
    raw.parent.mkdir(parents=True, exist_ok=True)
    (sub / "archive.zip").write_bytes(b"\0" * 1_000_000)
    with open(raw, "wb") as f:
        for frame in iter_rgb_frames(challenge / "videos" / "0.mkv"):
            f.write(degrade(frame).tobytes())


def run_measured(argv: list[str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in bytes of the largest process of its tree, exit code) of a child."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    # Linux reports the largest of the child and its reaped descendants (the workers), in kB.
    return time.perf_counter() - t0, usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status)


def floor_main(challenge: str, raw: str, threads: int) -> None:
    """Child process: the candidate's forward pass only, through the scorer's own candidate path
    (its batches, its memory settings)."""
    from vcc.scorer import request_huge_pages

    request_huge_pages()
    import torch

    from vcc.scorer import load_nets, raw_frame_count
    from vcc.scorer._batches import read_ahead_bytes
    from vcc.scorer._distortion import forward_side
    from vcc.scorer._memory import limit_heap_retention
    from vcc.scorer._streams import candidate_inputs, prefetch

    limit_heap_retention()
    torch.set_num_threads(threads)
    torch.manual_seed(1234)
    nets = load_nets(Path(challenge) / "models")
    frames = raw_frame_count(Path(raw))
    batches = list(range(-(-(frames // 2) // 16)))
    sides = candidate_inputs(Path(raw), frames, 16, batches, torch.device("cpu"), by_pair=True)
    for side in prefetch(sides, read_ahead_bytes(1, threads)):
        forward_side(nets, side, releasing=True)


def prepare_main(frames: int, work: Path) -> None:
    """Child process: build (or reuse) the challenge and the candidate; print the challenge's path."""
    from vcc.demo import cached_challenge

    challenge = cached_challenge(frames, seed=0, progress=True, cache_dir=work / "fixtures")
    make_candidate(challenge, work / "submission", frames)
    print(challenge)


def _commands(work: Path, challenge: Path, sub: Path, short: Path, threads: int) -> dict[str, list[str]]:
    vcc = [sys.executable, "-m", "vcc", "score"]
    common = ["--challenge-dir", str(challenge), "--quiet", "--threads", str(threads)]

    def score(mode: str, *extra: str) -> list[str]:
        return [*vcc, str(sub), *common, "--json", str(work / f"{mode}.json"), "--report",
                str(work / f"{mode}.txt"), *extra]

    return {
        "reject": [*vcc, str(short), *common, "--no-cache"],
        "reference": score("reference", "--reference-loop"),
        "cold": score("cold", "--workers", "1", "--cache-dir", str(work / "cold-cache")),
        "warm": score("warm", "--workers", "1", "--cache-dir", str(work / "warm-cache")),
        **{f"w{n}": score(f"w{n}", "--no-cache", "--workers", str(n)) for n in (1, 2, 4)},
        "floor": [sys.executable, __file__, "--floor-child", str(challenge), str(sub / "inflated" / "0.raw"),
                  str(threads)],
    }


def _figures(path: Path) -> dict[str, Any]:
    r = json.loads(path.read_text())
    return {"figures": [r["samples"], r["posenet_distortion"], r["segnet_distortion"], r["score"],
                        [(p["posenet"], p["segnet"]) for p in r["per_pair"]]],
            "cache": r["cache"], "workers": r.get("workers", {}), "peak_rss_bytes": r.get("peak_rss_bytes")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=1200)
    ap.add_argument("--rounds", type=int, default=3, help="runs of each mode (medians; at least 3)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads of every mode (default cores // 4)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/vcc-bench"))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    ap.add_argument("--floor-child", nargs=3, metavar=("CHALLENGE", "RAW", "THREADS"), help=argparse.SUPPRESS)
    ap.add_argument("--prepare-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.floor_child:
        floor_main(args.floor_child[0], args.floor_child[1], int(args.floor_child[2]))
        return 0
    if args.prepare_child:
        prepare_main(args.frames, args.workdir)
        return 0
    if args.rounds < 3:
        ap.error("--rounds must be at least 3 (medians of 3 or more runs)")
    machine = cores()
    threads = args.threads or max(1, machine // 4)

    work = args.workdir
    prepared = subprocess.run([sys.executable, __file__, "--prepare-child", "--frames", str(args.frames),
                               "--workdir", str(work)], check=True, stdout=subprocess.PIPE, text=True)
    challenge = Path(prepared.stdout.strip().splitlines()[-1])
    sub = work / "submission"
    short = work / "short"
    (short / "inflated").mkdir(parents=True, exist_ok=True)
    (short / "archive.zip").write_bytes(b"\0" * 10)
    with open(short / "inflated" / "0.raw", "wb") as f:
        f.truncate((args.frames - 32) * FRAME_BYTES)
    commands = _commands(work, challenge, sub, short, threads)
    modes = [m for m in MODES if m in args.modes]

    if "warm" in modes:  # warm reads a cache filled once, before the rounds
        shutil.rmtree(work / "warm-cache", ignore_errors=True)
        seconds, _, rc = run_measured([*commands["warm"]])
        print(f"filling the warm cache: {seconds:.1f} s, exit {rc}", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    for round_ in range(args.rounds):
        order = modes[round_ % len(modes):] + modes[: round_ % len(modes)]
        for mode in order:
            if mode == "cold":
                shutil.rmtree(work / "cold-cache", ignore_errors=True)
            seconds, rss, rc = run_measured(commands[mode])
            run: dict[str, Any] = {"seconds": seconds, "peak_rss_bytes": rss, "exit_code": rc}
            if mode in _SCORED and rc == 0:
                run.update(_figures(work / f"{mode}.json"))
            runs[mode].append(run)
            print(f"round {round_ + 1}  {mode:<10} {seconds:8.1f} s   peak RSS {rss / 1e9:5.2f} GB   exit {rc}",
                  flush=True)

    table = {m: {"median_s": statistics.median(r["seconds"] for r in rs),
                 "min_s": min(r["seconds"] for r in rs), "max_s": max(r["seconds"] for r in rs),
                 "peak_rss_gb": max(r["peak_rss_bytes"] for r in rs) / 1e9,
                 "exit_codes": sorted({r["exit_code"] for r in rs})} for m, rs in runs.items()}
    med = {m: t["median_s"] for m, t in table.items()}
    ratios = {name: med[a] / med[b] for name, a, b in (
        ("cold_over_reference", "cold", "reference"), ("warm_over_reference", "warm", "reference"),
        ("warm_over_floor", "warm", "floor"), ("w2_over_w1", "w2", "w1"), ("w4_over_w1", "w4", "w1"),
        ("w1_over_reference", "w1", "reference"),
    ) if a in med and b in med}
    figures = [json.dumps(r["figures"]) for m in _SCORED if m in runs for r in runs[m] if "figures" in r]
    caches = {m: sorted({r.get("cache") for r in runs[m]}) for m in ("cold", "warm") if m in runs}
    summary = {"frames": args.frames, "pairs": args.frames // 2, "cores": machine, "threads": threads,
               "rounds": args.rounds, "modes": table, "ratios": ratios, "runs": runs, "cache_states": caches,
               "figures_equal": len(set(figures)) <= 1, "scored_runs": len(figures)}

    print(f"\n{args.frames // 2} pairs, {machine} cores, {threads} torch thread(s) per process, "
          f"medians of {args.rounds} runs:")
    print(f"  {'mode':<10} {'median s':>9} {'min s':>8} {'max s':>8} {'peak RSS GB':>12}")
    for m, t in table.items():
        print(f"  {m:<10} {t['median_s']:9.1f} {t['min_s']:8.1f} {t['max_s']:8.1f} {t['peak_rss_gb']:12.2f}")
    print("ratios of medians (targets: cold/reference <= 0.95, warm/reference <= 0.55, peak RSS <= 2 GB):")
    for name, value in ratios.items():
        print(f"  {name:<22} {value:.3f}")
    print(f"  cache states: {caches}")
    print(f"  figures equal across every scored run ({len(figures)}): {summary['figures_equal']}")
    if args.json:
        write_json_atomic(args.json, summary)
    ok = summary["figures_equal"] and all(t["exit_codes"] == ([2] if m == "reject" else [0])
                                          for m, t in table.items())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
