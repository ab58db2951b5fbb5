"""`vcc run --repeat N`: N whole jobs from fresh workspaces, each scored; what they agree on.

A competitor quotes "the mean of N clean runs": every run's figures at full precision, the
mean, min, max and spread (max - min) of each term, each inflate's wall time with the slowest
against the clock, and whether the raws agreed; when they did not, which frames differ (by a
per-frame sha256 taken while hashing the raw) and how much the score moved.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcc.base import FRAME_BYTES, short_float

if TYPE_CHECKING:
    from ._result import InflateRun

__all__ = ["TERMS", "raw_digests", "run_figures", "repeat_stats", "repeat_line", "repeat_lines"]

TERMS = ("score", "posenet_distortion", "segnet_distortion", "rate")
_CHUNK = 1 << 20


def raw_digests(path: Path) -> tuple[str, list[str]]:
    """The raw's sha256 and one sha256 per whole frame (trailing bytes count only in the first),
    in one read."""
    whole = hashlib.sha256()
    frames: list[str] = []
    frame = hashlib.sha256()
    in_frame = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            whole.update(chunk)
            view = memoryview(chunk)
            while view:
                take = min(len(view), FRAME_BYTES - in_frame)
                frame.update(view[:take])
                in_frame += take
                view = view[take:]
                if in_frame == FRAME_BYTES:
                    frames.append(frame.hexdigest())
                    frame, in_frame = hashlib.sha256(), 0
    return whole.hexdigest(), frames


def run_figures(report: dict[str, Any], score_s: float, report_dir: Path) -> dict[str, Any]:
    """One run's figures from the scorer's JSON, full precision, with where its report.txt is."""
    numerics = report.get("numerics") or {}
    return {
        **{t: report.get(t) for t in TERMS},
        "samples": report.get("samples"),
        "device": report.get("device"),
        "decode": report.get("decode"),
        "numerics_class": numerics.get("class"),
        "score_s": round(score_s, 3),
        "report_dir": str(report_dir),
    }


def _differing_frames(runs: list[InflateRun]) -> dict[str, Any]:
    """Per later run, per raw, the frame indices whose bytes differ from run 1's."""
    first = runs[0]
    out: dict[str, Any] = {}
    for r in runs[1:]:
        per_raw: dict[str, Any] = {}
        for name, info in r.raws.items():
            a, b = first.frame_sha256.get(name), r.frame_sha256.get(name)
            if info.get("sha256") == first.raws.get(name, {}).get("sha256"):
                continue
            if a is None or b is None:
                per_raw[name] = {"frames": None, "why": "no per-frame digests (missing in one run)"}
                continue
            frames = [i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y]
            entry: dict[str, Any] = {"frames": frames, "of": max(len(a), len(b))}
            if len(a) != len(b):
                entry["frame_counts"] = [len(a), len(b)]
            if not frames and len(a) == len(b):
                entry["why"] = "only the bytes after the last whole frame differ (the scorer ignores them)"
            per_raw[name] = entry
        if per_raw:
            out[str(r.index + 1)] = per_raw
    return out


def repeat_stats(runs: list[InflateRun], clock: dict[str, Any], deterministic: bool | None) -> dict[str, Any]:
    """run.json's `repeat` additions: per-run scores, per-term statistics, inflate times, frames."""
    out: dict[str, Any] = {}
    scored = [r.score for r in runs if r.score]
    if scored:
        out["scores"] = [{"run": r.index + 1, **r.score} for r in runs if r.score]
        terms: dict[str, Any] = {}
        for t in TERMS:
            values = [s[t] for s in scored if isinstance(s.get(t), (int, float))]
            if values:
                terms[t] = {
                    "mean": sum(values) / len(values),
                    "min": min(values),
                    "max": max(values),
                    "spread": max(values) - min(values),
                }
        out["terms"] = terms
        if "score" in terms:
            # the gate holds the worst run to its bounds
            out["worst_score"] = terms["score"]["max"]
            out["score_moved"] = terms["score"]["spread"]
    times = [round(r.proc.elapsed_s, 3) for r in runs if r.proc]
    if times:
        out["inflate_s"] = times
        out["slowest_inflate_s"] = max(times)
        if clock.get("clock_s") is not None:
            out["slowest_inflate_of_clock"] = round(max(times) / clock["clock_s"], 4)
            if clock.get("headroom_s") is not None:
                out["headroom_s_slowest"] = clock["headroom_s"]  # the clock is filled with the slowest run
    if deterministic is False:
        out["differing_frames"] = _differing_frames(runs)
    return out


def repeat_line(repeat: dict[str, Any]) -> str | None:
    """`score 0.19797412 (mean of 2 runs, spread 3.1e-8)`, as a competitor would quote it."""
    score = (repeat.get("terms") or {}).get("score")
    if not score:
        return None
    n = len(repeat.get("scores") or [])
    return f"score {score['mean']:.8f} (mean of {n} runs, spread {short_float(score['spread'])})"


def repeat_lines(repeat: dict[str, Any]) -> list[str]:
    """The terminal's lines for `repeat` (run.json): each run, the quoted line, the raws, the frames."""
    lines = [f"  repeat:   {repeat['n']} runs ({repeat['completed']} completed), raws agree: {repeat['deterministic']}"]
    for s in repeat.get("scores") or []:
        lines.append(
            f"  run {s['run']}:    score {s['score']!r} (posenet {s['posenet_distortion']!r}, segnet "
            f"{s['segnet_distortion']!r}, rate {s['rate']!r})"
        )
    for t, st in (repeat.get("terms") or {}).items():
        lines.append(
            f"  {t} over runs: mean {st['mean']!r} min {st['min']!r} max {st['max']!r} "
            f"spread {short_float(st['spread'])}"
        )
    if repeat.get("inflate_s"):
        times = ", ".join(f"{t:.1f}" for t in repeat["inflate_s"])
        pct = repeat.get("slowest_inflate_of_clock")
        of_clock = f" = {pct:.1%} of the clock" if pct is not None else ""
        lines.append(f"  inflate:  {times} s; slowest {repeat['slowest_inflate_s']:.1f} s{of_clock}")
    for run, per_raw in (repeat.get("differing_frames") or {}).items():
        for raw, d in per_raw.items():
            frames = d.get("frames")
            shown = "?" if frames is None else ", ".join(map(str, frames[:20])) + (" ..." if len(frames) > 20 else "")
            lines.append(f"  differ:   run {run} vs run 1, {raw}: frames [{shown}] of {d.get('of', '?')}")
    if (line := repeat_line(repeat)) is not None:
        lines.append(f"  {line}")
    return lines
