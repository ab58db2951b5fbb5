"""What a score produces: one `TargetResult` per ground truth, gathered in a `ScoreResult`."""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from base import score_terms

from ._validate import RawCheck

__all__ = ["TargetResult", "ScoreResult", "compare_targets"]


@dataclass
class TargetResult:
    """The score against one ground truth (decode path)."""

    decode: str
    samples: int
    posenet_distortion: float
    segnet_distortion: float
    rate: float
    score: float
    per_pair: list[dict[str, Any]]
    cache: str  # hit | miss | off
    official_report: str

    def terms(self) -> dict[str, float]:
        """Each term's contribution, as the score adds them."""
        return score_terms(self.posenet_distortion, self.segnet_distortion, self.rate)

    def as_json(self) -> dict[str, Any]:
        return {
            "decode": self.decode,
            "samples": self.samples,
            "posenet_distortion": self.posenet_distortion,
            "segnet_distortion": self.segnet_distortion,
            "rate": self.rate,
            "score": self.score,
            "terms": self.terms(),
            "cache": self.cache,
            "per_pair": self.per_pair,
            "official_report": self.official_report,
        }


@dataclass
class ScoreResult:
    targets: list[TargetResult]
    archive_bytes: int
    original_bytes: int
    device: str
    versions: dict[str, str]
    assets: dict[str, dict[str, object]]
    raws: list[RawCheck]
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    truncated: bool = False  # scored like the official zip() over a short raw
    numerics: dict[str, Any] = field(default_factory=dict)  # what decides the last bits here
    peak_rss_bytes: int | None = None  # the largest scoring process's resident peak (this one or a worker)
    # How the batches were sharded: worker count, threads each, read-ahead bytes, each worker's peak RSS.
    workers: dict[str, Any] = field(default_factory=dict)
    # Which Python scored: vcc's, or the checkout's synced env (`vcc score --env official` sets VCC_SCORING_ENV).
    environment: dict[str, str] = field(
        default_factory=lambda: {"kind": "official" if os.environ.get("VCC_SCORING_ENV") else "vcc",
                                 "prefix": sys.prefix}  # fmt: skip
    )

    @property
    def primary(self) -> TargetResult:
        return self.targets[0]

    @property
    def score(self) -> float:
        return self.primary.score

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.primary.as_json(),
            "archive_bytes": self.archive_bytes,
            "original_bytes": self.original_bytes,
            "device": self.device,
            "versions": self.versions,
            "assets": self.assets,
            "raws": [r.as_json() for r in self.raws],
            "warnings": self.warnings,
            "timings": self.timings,
            "peak_rss_bytes": self.peak_rss_bytes,
            "workers": self.workers,
            "truncated": self.truncated,
            "numerics": self.numerics,
            "environment": self.environment,
        }
        if len(self.targets) > 1:
            out["targets"] = {t.decode: t.as_json() for t in self.targets}
            first, second = (out["targets"][t.decode] for t in self.targets[:2])
            out["comparison"] = compare_targets(first, second)
        return out


def compare_targets(first: dict[str, Any], second: dict[str, Any], top: int = 10) -> dict[str, Any]:
    """How the score moves from one ground truth to another (e.g. pyav -> dali-emulated).

    Per-term deltas, and the pairs whose contribution to the score moves most (first order:
    SegNet's term is linear in each pair; PoseNet's sqrt is linearised at the first target).
    """
    names = ("segnet", "posenet", "rate")
    deltas = {n: second["terms"][n] - first["terms"][n] for n in names}
    deltas["score"] = second["score"] - first["score"]
    n = max(len(first["per_pair"]), 1)
    pose_slope = math.sqrt(10) / (2 * math.sqrt(first["posenet_distortion"])) if first["posenet_distortion"] else 0
    moves = []
    for a, b in zip(first["per_pair"], second["per_pair"], strict=False):
        d_seg, d_pose = b["segnet"] - a["segnet"], b["posenet"] - a["posenet"]
        moves.append({"video": a["video"], "pair": a["pair"], "segnet_delta": d_seg, "posenet_delta": d_pose,
                      "score_delta": (100 * d_seg + pose_slope * d_pose) / n})
    moves.sort(key=lambda m: abs(m["score_delta"]), reverse=True)
    return {"from": first["decode"], "to": second["decode"], "deltas": deltas, "pairs_moving_most": moves[:top]}
