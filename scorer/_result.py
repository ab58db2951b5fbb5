"""What a score produces: one `TargetResult` per ground truth, gathered in a `ScoreResult`."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

from vcc.base import OFFICIAL_BATCH_SIZE, score_terms

from ._axis import score_axis
from ._breakdown import decomposition
from ._compare import pair_deltas, term_deltas
from ._validate import RawCheck

__all__ = ["SCORE_SCHEMA", "TargetResult", "ScoreResult", "compare_targets"]

# The JSON report's schema: 1 added decomposition, batch_size, dali_variant and paths (older reports lack them
# and the key; they are read as schema 1 without those).
SCORE_SCHEMA = 1


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
    dali_variant: str = "1.52"  # the DALI release dali-emulated reproduces
    batch_size: int = OFFICIAL_BATCH_SIZE  # pairs per batch: the float32 sums are taken per batch of this many
    # Where the inputs were (absolute): what `vcc plot` needs to find the frames again.
    paths: dict[str, str] = field(default_factory=dict)
    peak_rss_bytes: int | None = None  # the largest scoring process's resident peak (this one or a worker)
    # How the batches were sharded: worker count, threads each, read-ahead bytes, each worker's peak RSS.
    workers: dict[str, Any] = field(default_factory=dict)
    # --progressive: the batches' random order and the running estimates (the figures stay exact).
    progressive: dict[str, Any] | None = None
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

    def target_json(self, target: TargetResult) -> dict[str, Any]:
        """One target's figures with its decomposition and marginal costs."""
        out = target.as_json()
        out["decomposition"] = decomposition(
            posenet=target.posenet_distortion, segnet=target.segnet_distortion, rate=target.rate,
            score=target.score, samples=target.samples, original_bytes=self.original_bytes)
        return out

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "vcc_score_schema": SCORE_SCHEMA,
            **self.target_json(self.primary),
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
            "batch_size": self.batch_size,
            "dali_variant": self.dali_variant,
            "paths": self.paths,
        }
        out["axis"] = score_axis(out)  # what this score is evidence of (a key added, none changed)
        if self.progressive is not None:
            out["progressive"] = self.progressive
        if len(self.targets) > 1:
            out["targets"] = {t.decode: {**self.target_json(t), "axis": score_axis(out, t.decode)}
                              for t in self.targets}
            first, second = (out["targets"][t.decode] for t in self.targets[:2])
            out["comparison"] = compare_targets(first, second)
        return out


def compare_targets(first: dict[str, Any], second: dict[str, Any], top: int = 10) -> dict[str, Any]:
    """How the score moves from one ground truth to another (e.g. pyav -> dali-emulated).

    Per-term deltas, and the pairs whose contribution to the score moves most (first order:
    SegNet's term is linear in each pair; PoseNet's sqrt is linearised at the first target).
    """
    deltas = term_deltas(first, second)
    moves = sorted(pair_deltas(first, second), key=lambda m: abs(m["score_delta"]), reverse=True)
    return {"from": first["decode"], "to": second["decode"], "deltas": deltas, "pairs_moving_most": moves[:top]}
