"""Where the score comes from: each term's value, contribution and share, and what one more unit costs.

score = 100 * segnet + sqrt(10 * posenet) + 25 * rate, so
- one archive byte costs 25 / original bytes,
- one SegNet pixel flipped in one pair costs 100 / (pairs * 384 * 512) (segnet is the mean over
  pairs of the fraction of differing pixels),
- d(score)/d(posenet) = sqrt(10) / (2 sqrt(posenet)) at the current PoseNet distortion (the term
  is concave: the lower the distortion, the dearer each unit of it).
These tell a competitor whether a byte is better spent on segmentation or on motion. Torch-free.
"""

from __future__ import annotations

import math
from typing import Any

from vcc.base import score_terms

from ._shapes import SEG_PIXELS

__all__ = ["TERM_NAMES", "decomposition", "marginal_costs", "target_decomposition"]

# The score's terms in the official addition order, and the figure each is computed from.
TERM_NAMES = ("segnet", "posenet", "rate")
_TERM_SOURCES = {"segnet": "segnet_distortion", "posenet": "posenet_distortion", "rate": "rate"}
_TERM_FORMULAS = {"segnet": "100 * segnet", "posenet": "sqrt(10 * posenet)", "rate": "25 * rate"}


def marginal_costs(*, posenet: float, samples: int, original_bytes: int) -> dict[str, float | None]:
    """Score units per archive byte, per SegNet pixel in one pair, per unit of PoseNet distortion."""
    pose_slope = math.sqrt(10) / (2 * math.sqrt(posenet)) if posenet > 0 else None  # infinite at 0
    return {
        "score_per_byte": 25 / original_bytes if original_bytes else None,
        "score_per_segnet_pixel": 100 / (samples * SEG_PIXELS) if samples else None,
        "score_per_posenet": pose_slope,
        # one pair's PoseNet distortion moves the mean by 1/pairs of its change
        "score_per_pair_posenet": pose_slope / samples if pose_slope is not None and samples else None,
    }


def decomposition(*, posenet: float, segnet: float, rate: float, score: float, samples: int,
                  original_bytes: int) -> dict[str, Any]:
    """Each term's value, contribution (score units) and share of the score, and the marginal costs."""
    contributions = score_terms(posenet, segnet, rate)
    values = {"segnet": segnet, "posenet": posenet, "rate": rate}
    return {
        "terms": {
            name: {"value": values[name], "contribution": contributions[name],
                   "share": contributions[name] / score if score else None, "formula": _TERM_FORMULAS[name]}
            for name in TERM_NAMES
        },
        "marginal": marginal_costs(posenet=posenet, samples=samples, original_bytes=original_bytes),
    }


def target_decomposition(report: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """A target's decomposition as its report holds it, else computed (reports before schema 1 lack it)."""
    return target.get("decomposition") or decomposition(
        posenet=target["posenet_distortion"], segnet=target["segnet_distortion"], rate=target["rate"],
        score=target["score"], samples=target["samples"], original_bytes=report["original_bytes"])
