"""A gate's baseline: the score of an earlier report, to hold a new run to `--max-regression`.

Accepted: a `vcc gate` report (gate.json), a `vcc run` report (run.json) or a `vcc score` JSON
report (vcc-report.json). Anything else, or a report of another challenge (other video or
network weights) or of another decode path (PyAV on the CPU runner, DALI on the T4), is bad
input: the scores would not be comparable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcc.base import BadInput

__all__ = ["Baseline", "load_baseline", "check_baseline_matches"]

_FIX = "pass gate.json, run.json or vcc-report.json written by vcc for the same challenge and --runner"


@dataclass(frozen=True)
class Baseline:
    path: Path
    kind: str  # gate | run | score
    score: float
    decode: str | None
    assets: dict[str, str]  # asset path -> sha256

    def as_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "kind": self.kind, "score": self.score, "decode": self.decode,
                "assets": self.assets}  # fmt: skip


def _score_report(data: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """(kind, the scorer's report inside) of a vcc report, kind "" when it is none of vcc's."""
    if "vcc_gate_schema" in data:
        return "gate", (data.get("run") or {}).get("score")
    if "vcc_run_schema" in data:
        return "run", data.get("score")
    if {"score", "assets", "decode", "official_report"} <= set(data):
        return "score", data
    return "", None


def load_baseline(path: Path, *, allow_estimate: bool = False) -> Baseline:
    """The baseline's score. A sampled estimate (`vcc score --sample`) is refused unless
    `allow_estimate`: then its point estimate stands in, and the kind says "estimate"."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise BadInput("baseline report not found", path=path, fix=_FIX) from e
    except (OSError, ValueError) as e:
        raise BadInput(f"baseline report is not readable JSON ({e})", path=path, fix=_FIX) from e
    if isinstance(data, dict) and data.get("estimate") is True:
        return _estimate_baseline(path, data, allow_estimate)
    kind, report = _score_report(data) if isinstance(data, dict) else ("", None)
    if not kind:
        raise BadInput("baseline report is not a vcc gate, run or score report (unknown schema)", path=path, fix=_FIX)
    score = (report or {}).get("score")
    if not isinstance(score, (int, float)) or isinstance(score, bool):
        raise BadInput(f"baseline {kind} report holds no score (the run failed or did not score)", path=path,
                       fix="pass the report of a run that scored")  # fmt: skip
    assets = {k: str(v.get("sha256")) for k, v in (report.get("assets") or {}).items() if isinstance(v, dict)}
    return Baseline(path, kind, float(score), report.get("decode"), assets)


def _estimate_baseline(path: Path, data: dict[str, Any], allow: bool) -> Baseline:
    """A sampled estimate's point estimate as the baseline, only when allowed."""
    sample = data.get("sample") or {}
    if not allow:
        raise BadInput(f"baseline is a sampled ESTIMATE ({sample.get('pairs_scored')} of "
                       f"{sample.get('population_pairs')} pairs), not a score: gate bounds take exact scores",
                       path=path, fix="pass a full report (vcc score without --sample), or add --allow-estimate to "
                       "hold the run to the estimate's point value")
    score = (data.get("score") or {}).get("estimate")
    if not isinstance(score, (int, float)) or isinstance(score, bool):
        raise BadInput("baseline estimate holds no score estimate", path=path, fix=_FIX)
    assets = {k: str(v.get("sha256")) for k, v in (data.get("assets") or {}).items() if isinstance(v, dict)}
    return Baseline(path, "estimate", float(score), data.get("decode"), assets)


def check_baseline_matches(baseline: Baseline, run_score: dict[str, Any]) -> None:
    """BadInput when the baseline was scored on another challenge or decode path than this run."""
    assets = {k: str(v.get("sha256")) for k, v in (run_score.get("assets") or {}).items() if isinstance(v, dict)}
    common = set(assets) & set(baseline.assets)
    differ = sorted(k for k in common if assets[k] != baseline.assets[k])
    if differ or not common:
        raise BadInput(
            "baseline report is of another challenge: "
            + (", ".join(differ) + " differ" if differ else "it records no asset hashes to compare with this run's"),
            path=baseline.path,
            fix="use a baseline scored on this challenge checkout (same videos/ and models/)",
        )
    if baseline.decode and run_score.get("decode") and baseline.decode != run_score.get("decode"):
        raise BadInput(
            f"baseline was scored with the {baseline.decode} decode, this run with {run_score.get('decode')} "
            "(CPU and T4 runners score differently)",
            path=baseline.path,
            fix="use a baseline from the same --runner",
        )
