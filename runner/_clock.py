"""The job's 30-minute clock: the scoring estimate, inflate's budget, phases, headroom."""

from __future__ import annotations

from typing import Any

from vcc.base import BadInput
from vcc.scorer import Challenge, count_video_frames

from ._config import RunConfig
from ._result import RunResult
from ._verdicts import Verdict, failure

__all__ = [
    "score_estimate",
    "start_clock",
    "inflate_budget",
    "fill_phases",
    "fill_clock",
    "check_headroom",
    "ok_message",
]


def score_estimate(cfg: RunConfig, challenge: Challenge) -> tuple[float, str]:
    """Seconds to reserve for scoring before inflate runs, and where the figure comes from."""
    shape = cfg.shape
    pairs = sum(count_video_frames(v.path) // 2 for v in challenge.videos)  # also reads every video
    if cfg.score_estimate_s is not None:
        return cfg.score_estimate_s, "given (--score-estimate)"
    return shape.score_fixed_s + pairs * shape.score_per_pair_s, shape.score_basis + f"; {pairs} pairs"


def start_clock(cfg: RunConfig, score_est: float, score_basis: str) -> dict[str, Any]:
    """run.json's `clock` before anything ran: the clock, the setup overhead, the scoring estimate.

    BadInput (exit 2) when the arguments leave inflate no time at all: that is known before
    anything runs and says nothing about the submission.
    """
    setup = cfg.setup_overhead
    if cfg.clock_s - setup - score_est <= 0:
        raise BadInput(
            f"--clock {cfg.clock_s:g} s leaves inflate no time: setup {setup:g} s "
            f"({'given' if cfg.setup_overhead_s is not None else 'the runner estimate'}) + scoring estimate "
            f"{score_est:.0f} s ({score_basis}) already use it",
            fix="use the official --clock 1800, or lower --setup-overhead / --score-estimate",
        )
    return {
        "clock_s": cfg.clock_s,
        "setup_overhead_s": cfg.setup_overhead,
        "setup_overhead_basis": (cfg.shape.setup_basis if cfg.setup_overhead_s is None else "given (--setup-overhead)"),
        "score_estimate_s": round(score_est, 3),
        "score_estimate_basis": score_basis,
    }


def inflate_budget(cfg: RunConfig, clock: dict[str, Any], extract_s: float, score_est: float) -> float:
    """Inflate's deadline: the clock minus setup, unzip and the scoring estimate (a timeout if none is left)."""
    setup = cfg.setup_overhead
    budget = cfg.clock_s - setup - extract_s - score_est
    clock["inflate_budget_s"] = round(budget, 3)
    if budget <= 0:
        raise failure(
            Verdict.TIMEOUT,
            f"no time is left for inflate: setup {setup:.0f} s + unzip "
            f"{extract_s:.1f} s + scoring estimate {score_est:.0f} s exceed "
            f"the {cfg.clock_s:.0f} s clock",
            fix="lower --setup-overhead / --score-estimate if they overstate your runner",
        )
    return budget


def fill_phases(result: RunResult) -> None:
    runs = [r for r in result.runs if r.extract]
    if runs:
        result.phases["extract_s"] = max(r.extract.elapsed_s for r in runs)  # type: ignore[union-attr]
    procs = [r.proc for r in result.runs if r.proc]
    if procs:
        result.phases["inflate_s"] = max(p.elapsed_s for p in procs)
    hashed = [r.hash_s for r in result.runs if r.raws]
    if hashed:
        result.phases["hash_s"] = max(hashed)


def fill_clock(result: RunResult, score_est: float) -> None:
    c = result.clock
    measured_score = result.phases.get("score_s")
    score_s = measured_score if measured_score is not None else score_est
    used = c["setup_overhead_s"] + result.phases.get("extract_s", 0.0) + result.phases.get("inflate_s", 0.0) + score_s
    c["inflate_s"] = round(result.phases.get("inflate_s", 0.0), 3)
    c["score_s"] = round(score_s, 3)
    if measured_score is None:
        c["score_s_basis"] = "estimate"
    elif result.config.options.use_cache:
        c["score_s_basis"] = (
            "measured on this machine with the ground-truth cache allowed (a hit understates the runner's time)"
        )
    else:
        c["score_s_basis"] = "measured on this machine"
    c["headroom_s"] = round(c["clock_s"] - used, 3)
    if len(result.runs) > 1:
        c["inflate_runs_s"] = [round(r.proc.elapsed_s, 3) for r in result.runs if r.proc]
        c["inflate_s_basis"] = "slowest of the repeated runs"


def check_headroom(result: RunResult) -> None:
    """An over_clock failure when the job as measured would run past the clock."""
    cfg = result.config
    headroom = result.clock["headroom_s"]
    if headroom < 0:
        raise failure(
            Verdict.OVER_CLOCK,
            f"the job would run past the {cfg.clock_s:.0f} s clock by {-headroom:.0f} s "
            f"(setup {cfg.setup_overhead:.0f} s + unzip + inflate + scoring); the runner would cancel it "
            "and report only 'Job timed out or was cancelled'",
            fix="make inflate faster (it runs on the runner's 4 CPUs)",
        )


def ok_message(result: RunResult) -> str:
    c = result.clock
    text = (
        f"inflate finished in {c['inflate_s']:.1f} s; "
        f"headroom {c['headroom_s']:.0f} s of the {c['clock_s']:.0f} s clock"
    )
    if result.score_report:
        text += f"; score {result.score_report.get('score')}"
    return text
