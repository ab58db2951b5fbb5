"""`vcc compare`: how the score moves from one report to others, term by term and pair by pair.

Works across decode targets (a PyAV and a DALI report of one candidate) and numerics classes;
refuses reports of different challenges or pair counts unless forced (their deltas mean
nothing). Per-pair score deltas are first order: SegNet's term is linear in each pair, PoseNet's
sqrt is linearised at the first report. Torch-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcc.base import BadInput

from ._breakdown import TERM_NAMES

__all__ = ["LoadedReport", "term_deltas", "pair_deltas", "compare_reports", "compare_text"]


@dataclass(frozen=True)
class LoadedReport:
    """One target's figures (a score JSON, or one of its `targets`) and where they came from."""

    path: Path
    data: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.path} [{self.data['decode']}]"


def term_deltas(first: dict[str, Any], second: dict[str, Any]) -> dict[str, float]:
    """second minus first for each term's contribution and for the score."""
    deltas = {n: second["terms"][n] - first["terms"][n] for n in TERM_NAMES}
    deltas["score"] = second["score"] - first["score"]
    return deltas


def _pose_slope(posenet: float) -> float:
    return math.sqrt(10) / (2 * math.sqrt(posenet)) if posenet > 0 else 0.0


def pair_deltas(first: dict[str, Any], second: dict[str, Any]) -> list[dict[str, Any]]:
    """Each pair present in both (matched by video and pair index): its distortions' deltas and
    its first-order effect on the score (positive: the second is worse there)."""
    n = max(len(first["per_pair"]), 1)
    slope = _pose_slope(first["posenet_distortion"])
    theirs = {(p["video"], p["pair"]): p for p in second["per_pair"]}
    out = []
    for a in first["per_pair"]:
        b = theirs.get((a["video"], a["pair"]))
        if b is None:
            continue
        d_seg, d_pose = b["segnet"] - a["segnet"], b["posenet"] - a["posenet"]
        out.append({"video": a["video"], "pair": a["pair"], "segnet_delta": d_seg, "posenet_delta": d_pose,
                    "score_delta": (100 * d_seg + slope * d_pose) / n})
    return out


def _asset_hashes(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v.get("sha256") for k, v in (report.get("assets") or {}).items()}


def _mismatches(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Why two reports cannot be compared: different challenge (assets, denominator) or pairs."""
    problems = []
    ha, hb = _asset_hashes(a), _asset_hashes(b)
    if ha != hb:
        changed = sorted(k for k in set(ha) | set(hb) if ha.get(k) != hb.get(k))
        problems.append(f"different challenge: {', '.join(changed)} differ (sha256)")
    if a.get("original_bytes") != b.get("original_bytes"):
        problems.append(f"different challenge: original bytes {a.get('original_bytes'):,} vs "
                        f"{b.get('original_bytes'):,}")
    keys_a = [(p["video"], p["pair"]) for p in a["per_pair"]]
    keys_b = [(p["video"], p["pair"]) for p in b["per_pair"]]
    if a["samples"] != b["samples"] or keys_a != keys_b:
        problems.append(f"different pairs: {a['samples']} vs {b['samples']} samples")
    return problems


def _differs_in(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[Any]]:
    """What sets the two reports apart, beside the candidate (expected in a cross-target compare)."""
    fields = {
        "decode": lambda r: r.get("decode"),
        "numerics_class": lambda r: (r.get("numerics") or {}).get("class"),
        "device": lambda r: r.get("device"),
        "torch": lambda r: (r.get("versions") or {}).get("torch"),
        "torch_threads": lambda r: (r.get("numerics") or {}).get("torch_threads"),
        "archive_bytes": lambda r: r.get("archive_bytes"),
    }
    return {name: [get(a), get(b)] for name, get in fields.items() if get(a) != get(b)}


def compare_reports(reports: list[LoadedReport], *, top: int = 10, force: bool = False) -> dict[str, Any]:
    """Deltas of every report after the first against the first (the baseline)."""
    if len(reports) < 2:
        raise BadInput("compare needs at least two reports", fix="vcc compare A.json B.json [C.json ...]")
    base = reports[0]
    comparisons = []
    for other in reports[1:]:
        problems = _mismatches(base.data, other.data)
        if problems and not force:
            raise BadInput(f"{other.path} cannot be compared with {base.path}: " + "; ".join(problems),
                           path=other.path, fix="compare reports of the same challenge and pairs, or pass --force "
                           "to compare anyway (pairs are then matched by video and index)")
        a, b = base.data, other.data
        pairs = pair_deltas(a, b)
        by_delta = sorted(pairs, key=lambda m: m["score_delta"])
        comparisons.append({
            "report": str(other.path),
            "decode": b["decode"],
            "differs_in": _differs_in(a, b),
            "problems": problems,  # non-empty only under --force
            "deltas": {
                **term_deltas(a, b),
                "posenet_distortion": b["posenet_distortion"] - a["posenet_distortion"],
                "segnet_distortion": b["segnet_distortion"] - a["segnet_distortion"],
                "rate": b["rate"] - a["rate"],
            },
            "score": b["score"],
            "pairs_compared": len(pairs),
            "most_worse": [m for m in reversed(by_delta[-top:]) if m["score_delta"] > 0] if top else [],
            "most_better": [m for m in by_delta[:top] if m["score_delta"] < 0] if top else [],
            "per_pair": pairs,
        })
    return {
        "baseline": {"report": str(base.path), "decode": base.data["decode"], "score": base.data["score"],
                     "terms": base.data["terms"], "samples": base.data["samples"]},
        "forced": force,
        "comparisons": comparisons,
    }


def _signed(x: float) -> str:
    """Full precision (shortest round-trip repr), with its sign."""
    return f"{x:+}"


def compare_text(result: dict[str, Any], shown: int = 5) -> str:
    base = result["baseline"]
    out = [f"baseline: {base['report']} [{base['decode']}], score {base['score']!r}"]
    for c in result["comparisons"]:
        d = c["deltas"]
        out.append(f"{c['report']} [{c['decode']}] minus baseline: score {_signed(d['score'])}  "
                   f"(now {c['score']!r})")
        for name in TERM_NAMES:
            out.append(f"  {name + ' term':<14}{_signed(d[name]):>26}")
        out.append(f"  {'posenet dist.':<14}{_signed(d['posenet_distortion']):>26}")
        out.append(f"  {'segnet dist.':<14}{_signed(d['segnet_distortion']):>26}")
        if c["differs_in"]:
            out.append("  differs in: " + ", ".join(f"{k} {v[0]} -> {v[1]}" for k, v in c["differs_in"].items()))
        for problem in c["problems"]:
            out.append(f"  forced past: {problem}")
        for title, rows in (("most worse", c["most_worse"]), ("most better", c["most_better"])):
            if not rows:
                out.append(f"  {title}: none")
                continue
            out.append(f"  {title} (first-order score change per pair):")
            for m in rows[:shown]:
                out.append(f"    {m['video']} pair {m['pair']:4d}: score {_signed(m['score_delta'])}  "
                           f"segnet {_signed(m['segnet_delta'])}  posenet {_signed(m['posenet_delta'])}")
    return "\n".join(out)
