#!/usr/bin/env python3
"""Coverage of `vcc score --sample` and `vcc compare --sample`, measured rather than assumed.

Two stages, each its own command:
  prepare   build a demo challenge (--frames, default 600 = 300 pairs) and candidates of different
            quality, and score each one EXACTLY once (`vcc score`, warm cache after the first):
            their per-pair values go to WORK/exact/NAME.json. Also the golden challenge's near and
            coarse. The heavy step: run it under `nice` in the background.
  coverage  draw --draws samples per setting (K in 8 16 32 64, both designs) from those per-pair
            values, build each 95 % interval with the scorer's own estimator (vcc.scorer._estimate),
            and report how often it covers the exact full-video figure and its mean width; the same
            for the paired difference of every pair of candidates. Valid because the sampled pairs'
            values equal the full run's where the kernels allow, which `check` measures.
  check     score --sample K on every demo candidate (real runs, several seeds) and count how many
            sampled pairs' values equal the exact run's bit for bit; time one --sample K run and one
            exact warm run with /usr/bin/time -v.

Candidates (all deterministic, byte-identical everywhere): the golden `near` and `coarse`
conversions (shared/golden/make_candidates.py, run as a program), and two block-mean degradations
of `near` of other strengths (2x2 with 32 levels, 4x4 with 16 levels).

usage: bench/bench_sample.py prepare  [--frames 600] [--workdir DIR]
       bench/bench_sample.py coverage [--workdir DIR] [--draws 400] [--k 8 16 32 64] [--json PATH]
       bench/bench_sample.py check    [--workdir DIR] [--k 32] [--seeds 2] [--candidates near] [--exact-timing]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vcc.base import write_json_atomic  # noqa: E402

SHARED = ROOT.parent / "shared"
GOLDEN = SHARED / "golden"
CANDIDATES = ("near", "coarse", "block2", "block4")
# Score settings every run here shares: the same threads in every run give the same bits.
THREADS = "1"


def _block(frame: np.ndarray, size: int, levels: int) -> np.ndarray:
    h, w, _ = frame.shape
    hh, ww = h // size * size, w // size * size
    out = frame.copy()
    blocks = frame[:hh, :ww].reshape(hh // size, size, ww // size, size, 3).astype(np.uint32).sum((1, 3))
    step = 256 // levels
    mean = (blocks // (size * size)) // step * step + step // 2
    out[:hh, :ww] = mean.astype(np.uint8).repeat(size, 0).repeat(size, 1)
    return out


def make_candidate(challenge: Path, sub: Path, kind: str, frames: int) -> None:
    """SUB/inflated/0.raw and a stored archive.zip whose size stands in for the codec's."""
    from vcc.base import FRAME_BYTES

    raw = sub / "inflated" / "0.raw"
    if raw.is_file() and raw.stat().st_size == frames * FRAME_BYTES and (sub / "archive.zip").is_file():
        return
    raw.parent.mkdir(parents=True, exist_ok=True)
    video = challenge / "videos" / "0.mkv"
    base = "coarse" if kind == "coarse" else "near"
    subprocess.run([sys.executable, str(GOLDEN / "make_candidates.py"), str(video), str(raw), base], check=True)
    if kind.startswith("block"):
        size, levels = {"block2": (2, 32), "block4": (4, 16)}[kind]
        data = np.memmap(raw, np.uint8, "r+").reshape(-1, 874, 1164, 3)
        for i in range(len(data)):
            data[i] = _block(np.asarray(data[i]), size, levels)
        data.flush()
        del data
    payload = {"near": 4_000_000, "coarse": 1_000_000, "block2": 1_500_000, "block4": 600_000}[kind] * frames // 1200
    with zipfile.ZipFile(sub / "archive.zip", "w", zipfile.ZIP_STORED) as z:
        z.writestr("x.bin", bytes(payload))


def _score_cmd(sub: Path, challenge: Path, work: Path, out: Path, *extra: str) -> list[str]:
    """An exact score (a report.txt beside its JSON) or, with --sample in `extra`, an estimate (JSON only)."""
    report = [] if "--sample" in extra else ["--report", str(out.with_suffix(".txt"))]
    return [sys.executable, "-m", "vcc", "score", str(sub), "--challenge-dir", str(challenge), "--quiet",
            "--threads", THREADS, "--workers", "1", "--cache-dir", str(work / "cache"),
            "--json", str(out), *report, *extra]


def prepare(frames: int, work: Path) -> None:
    from vcc.demo import cached_challenge

    t0 = time.time()
    challenge = cached_challenge(frames, seed=0, progress=False, cache_dir=work / "fixtures")
    print(f"challenge {challenge} ({time.time() - t0:.0f} s)", flush=True)
    (work / "challenge.txt").write_text(f"{challenge}\n")
    (work / "exact").mkdir(parents=True, exist_ok=True)
    for setname, ch in (("golden", GOLDEN / "challenge"), ("demo", challenge)):
        n_frames = 70 if setname == "golden" else frames
        for kind in (("near", "coarse") if setname == "golden" else CANDIDATES):
            sub = work / "subs" / setname / kind
            make_candidate(ch, sub, kind, n_frames)
            out = work / "exact" / f"{setname}-{kind}.json"
            if out.is_file():
                continue
            t1 = time.time()
            subprocess.run(_score_cmd(sub, ch, work, out), check=True)
            print(f"{setname} {kind}: exact score in {time.time() - t1:.0f} s", flush=True)


def _load_exact(work: Path) -> dict[str, dict[str, Any]]:
    """NAME -> its exact report's per-pair values, rate and figures (from `prepare`)."""
    out = {}
    for path in sorted((work / "exact").glob("*.json")):
        r = json.loads(path.read_text())
        out[path.stem] = {"pose": [p["posenet"] for p in r["per_pair"]], "seg": [p["segnet"] for p in r["per_pair"]],
                          "keys": [(p["video"], p["pair"]) for p in r["per_pair"]], "rate": r["rate"],
                          "score": r["score"], "posenet": r["posenet_distortion"], "segnet": r["segnet_distortion"],
                          "report": path, "timings": r.get("timings", {})}
    return out


def _strata_file(work: Path, name: str) -> Path:
    return work / "exact" / f"{name}.json"


def _draw(design: str, k: int, seed: int, keys: list[tuple[str, int]], strata: Path | None) -> Any:
    from vcc.scorer._sampling import SampleOptions, draw_pairs

    return draw_pairs(SampleOptions(sample=k, seed=seed, design=design, strata=strata), keys)


def coverage(work: Path, draws: int, ks: list[int]) -> dict[str, Any]:
    """Observed coverage and mean half-width of the 95 % intervals, from the exact per-pair values."""
    from vcc.scorer._estimate import Unit, difference_estimate, estimate_means, score_estimate

    exact = _load_exact(work)
    rows, paired = [], []
    for setname in ("demo", "golden"):
        names = [n for n in exact if n.startswith(setname + "-")]
        for name in names:
            e = exact[name]
            n = len(e["keys"])
            # The strata come from a related candidate: another candidate's full report of the same challenge;
            # with one candidate only, its own (fixed before the draws, so the intervals stay design-based and
            # their coverage honest; their width is then a best case, and the table says so).
            related = next((m for m in names if m != name), name)
            for design in ("simple", "stratified"):
                for k in ks:
                    if k > n or (design == "stratified" and k < 4):
                        continue
                    hits = {"score": 0, "posenet": 0, "segnet": 0}
                    widths, pose_widths = [], []
                    for seed in range(draws):
                        d = _draw(design, k, seed, e["keys"], _strata_file(work, related) if design == "stratified"
                                  else None)
                        sizes = [len(s) for s in d.strata]
                        units = [[Unit((e["pose"][u], e["seg"][u]), 1) for u in drawn] for drawn in d.drawn]
                        est = score_estimate(estimate_means(units, sizes, sizes), e["rate"])
                        hits["score"] += est.score.covers(e["score"])
                        hits["posenet"] += est.posenet_distortion.covers(e["posenet"])
                        hits["segnet"] += est.segnet_distortion.covers(e["segnet"])
                        widths.append(est.score.half_width)
                        pose_widths.append(est.posenet_distortion.half_width / e["posenet"])
                    rows.append({"set": setname, "candidate": name.split("-", 1)[1], "pairs": n, "design": design,
                                 "k": k, "draws": draws, "strata_from": related if design == "stratified" else None,
                                 "coverage_score": hits["score"] / draws, "coverage_posenet": hits["posenet"] / draws,
                                 "coverage_segnet": hits["segnet"] / draws,
                                 "mean_half_width": sum(widths) / len(widths), "exact_score": e["score"],
                                 "posenet_mean_relative_half_width": sum(pose_widths) / len(pose_widths)})
                    print(f"{setname:6} {name.split('-', 1)[1]:7} {design:10} K={k:3}: coverage "
                          f"{rows[-1]['coverage_score']:.3f} (pose {rows[-1]['coverage_posenet']:.3f}, seg "
                          f"{rows[-1]['coverage_segnet']:.3f}), mean +/- {rows[-1]['mean_half_width']:.5f}", flush=True)
        # Paired: every two candidates of the set on the same draws.
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                ea, eb = exact[a], exact[b]
                truth = eb["score"] - ea["score"]
                for k in ks:
                    if k > len(ea["keys"]):
                        continue
                    covered = settled = right_sign = 0
                    tight, widths = [], []
                    for seed in range(draws):
                        d = _draw("simple", k, seed, ea["keys"], None)
                        units = [[Unit((ea["pose"][u], ea["seg"][u], eb["pose"][u], eb["seg"][u]), 1) for u in drawn]
                                 for drawn in d.drawn]
                        sizes = [len(s) for s in d.strata]
                        diff = difference_estimate(estimate_means(units, sizes, sizes), ea["rate"], eb["rate"])
                        covered += diff.score.covers(truth)
                        settled += diff.sign_settled
                        right_sign += diff.sign_settled and (diff.score.estimate > 0) == (truth > 0)
                        tight.append(diff.tighter_by)
                        widths.append(diff.score.half_width)
                    paired.append({"set": setname, "a": a.split("-", 1)[1], "b": b.split("-", 1)[1], "k": k,
                                   "draws": draws, "exact_difference": truth, "coverage": covered / draws,
                                   "sign_settled": settled / draws, "settled_right": right_sign / draws,
                                   "mean_half_width": sum(widths) / draws,
                                   "median_tighter_by": sorted(tight)[len(tight) // 2]})
                    print(f"{setname:6} {b} - {a} K={k:3}: coverage {covered / draws:.3f}, sign settled "
                          f"{settled / draws:.3f} (right {right_sign / draws:.3f}), paired "
                          f"{paired[-1]['median_tighter_by']:.1f}x tighter", flush=True)
    return {"rows": rows, "paired": paired, "draws": draws, "ks": ks}


def table_markdown(result: dict[str, Any]) -> str:
    out = ["| set (pairs) | candidate | design (strata from) | K | coverage of the score's 95 % interval | PoseNet | "
           "SegNet | mean half-width | PoseNet's mean half-width / exact |", "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        design = r["design"] if r["strata_from"] is None else f"{r['design']} ({r['strata_from'].split('-', 1)[1]})"
        out.append(f"| {r['set']} ({r['pairs']}) | {r['candidate']} | {design} | {r['k']} | "
                   f"{100 * r['coverage_score']:.1f} % | {100 * r['coverage_posenet']:.1f} % | "
                   f"{100 * r['coverage_segnet']:.1f} % | {r['mean_half_width']:.4f} | "
                   f"{100 * r['posenet_mean_relative_half_width']:.1f} % |")
    out += ["", "| set | B - A | K | exact difference | coverage | sign settled (right sign) | mean half-width | "
            "paired vs separate (median) |", "|---|---|---|---|---|---|---|---|"]
    for r in result["paired"]:
        out.append(f"| {r['set']} | {r['b']} - {r['a']} | {r['k']} | {r['exact_difference']:+.4f} | "
                   f"{100 * r['coverage']:.1f} % | {100 * r['sign_settled']:.1f} % ({100 * r['settled_right']:.1f} %) "
                   f"| {r['mean_half_width']:.4f} | {r['median_tighter_by']:.1f}x narrower |")
    return "\n".join(out)


def _time_v(argv: list[str], log: Path) -> dict[str, Any]:
    """Run under /usr/bin/time -v; its wall seconds and peak RSS."""
    proc = subprocess.run(["/usr/bin/time", "-v", *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log.write_text(proc.stdout)
    out: dict[str, Any] = {"exit_code": proc.returncode}
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("Elapsed (wall clock) time"):
            parts = [float(x) for x in line.rsplit(" ", 1)[1].split(":")]
            out["wall_s"] = sum(v * 60 ** i for i, v in enumerate(reversed(parts)))
        elif line.startswith("Maximum resident set size"):
            out["peak_rss_gb"] = int(line.rsplit(" ", 1)[1]) * 1024 / 1e9
    return out


def check(work: Path, k: int, seeds: int, names: list[str], exact_timing: bool) -> dict[str, Any]:
    """Real `vcc score --sample K` runs on the demo: how many drawn pairs equal the exact run's
    values bit for bit (cache warm from `prepare`), and the wall time of each against an exact
    warm score (both under /usr/bin/time -v)."""
    challenge = Path((work / "challenge.txt").read_text().strip())
    exact = _load_exact(work)
    out: dict[str, Any] = {"k": k, "runs": []}
    for name in names:
        full = exact.get(f"demo-{name}")
        if full is None:
            continue
        values = dict(zip(full["keys"], zip(full["pose"], full["seg"], strict=True), strict=True))
        sub = work / "subs" / "demo" / name
        for seed in range(seeds):
            est_path = work / "check" / f"{name}-k{k}-s{seed}.json"
            est_path.parent.mkdir(parents=True, exist_ok=True)
            timing = _time_v(_score_cmd(sub, challenge, work, est_path, "--sample", str(k), "--seed", str(seed)),
                             est_path.with_suffix(".time"))
            est = json.loads(est_path.read_text())
            same = sum(values[(p["video"], p["pair"])] == (p["posenet"], p["segnet"]) for p in est["sampled_pairs"])
            s = est["score"]
            out["runs"].append({"candidate": name, "seed": seed, "equal": same, "drawn": len(est["sampled_pairs"]),
                                "cache": est["cache"], **timing, "covers": s["low"] <= full["score"] <= s["high"],
                                "estimate": s["estimate"], "half_width": s["half_width"], "exact": full["score"]})
            print(json.dumps(out["runs"][-1]), flush=True)
        if exact_timing:
            exact_path = work / "check" / f"{name}-exact-warm.json"
            timing = _time_v(_score_cmd(sub, challenge, work, exact_path), exact_path.with_suffix(".time"))
            out.setdefault("exact_warm", []).append({"candidate": name, **timing})
            print(json.dumps(out["exact_warm"][-1]), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=("prepare", "coverage", "check"))
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/vcc-sample-bench"))
    ap.add_argument("--draws", type=int, default=400, help="samples per setting (coverage; at least 200)")
    ap.add_argument("--k", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--seeds", type=int, default=2, help="check: --sample runs per candidate")
    ap.add_argument("--candidates", nargs="+", default=["near"], help="check: demo candidates to run")
    ap.add_argument("--exact-timing", action="store_true", help="check: also time an exact warm score")
    args = ap.parse_args(argv)
    if args.stage == "prepare":
        prepare(args.frames, args.workdir)
    elif args.stage == "coverage":
        if args.draws < 200:
            ap.error("--draws must be at least 200")
        result = coverage(args.workdir, args.draws, args.k)
        print(table_markdown(result))
        write_json_atomic(args.json or args.workdir / "coverage.json", result)
    elif args.stage == "check":
        result = check(args.workdir, args.k[0], args.seeds, args.candidates, args.exact_timing)
        write_json_atomic(args.json or args.workdir / "check.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
