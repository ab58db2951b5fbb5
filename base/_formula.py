"""The score formula, torch-free: score = 100 * segnet + sqrt(10 * posenet) + 25 * rate.

evaluate.py computes `100 * seg + math.sqrt(pose * 10) + 25 * rate` in Python doubles, left to
right. Each term here is one of those three operands, so adding them in that order gives the
same bits; `math.sqrt`, not `** 0.5`, which can differ in the last bit.
"""

from __future__ import annotations

import math

__all__ = ["score_terms", "score_formula", "rate_term"]


def score_terms(posenet: float, segnet: float, rate: float) -> dict[str, float]:
    """Each term's contribution to the score."""
    return {"segnet": 100 * segnet, "posenet": math.sqrt(posenet * 10), "rate": 25 * rate}


def score_formula(posenet: float, segnet: float, rate: float) -> float:
    """The official score, in the official operation order."""
    terms = score_terms(posenet, segnet, rate)
    return terms["segnet"] + terms["posenet"] + terms["rate"]


def rate_term(archive_bytes: int, original_bytes: int) -> float:
    """The archive's term: 25 * rate, with rate = archive bytes / original bytes as the evaluator divides."""
    return 25 * (archive_bytes / original_bytes)
