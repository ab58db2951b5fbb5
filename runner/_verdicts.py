"""Judging inflate: verdicts carried by errors, what a failed inflate's logs suggest, findings."""

from __future__ import annotations

import re
import signal
from typing import Any

from vcc.base import BadInput, SubmissionFailed, VccError, escape_control
from vcc.scorer import Challenge

from ._result import RunResult
from ._sandbox import ProcResult
from ._shapes import GiB

__all__ = ["failure", "verdict_for", "judge_inflate", "exit_text", "failure_hint", "collect_findings"]


def failure(verdict: str, message: str, **kw: Any) -> SubmissionFailed:
    """A SubmissionFailed (exit 3) that carries its verdict for the report; the caller raises it."""
    err = SubmissionFailed(message, **kw)
    err.verdict = verdict  # type: ignore[attr-defined]
    return err


def verdict_for(e: VccError) -> str:
    verdict = getattr(e, "verdict", None)
    if isinstance(verdict, str):
        return verdict
    if isinstance(e, BadInput):
        return "bad_input"
    if isinstance(e, SubmissionFailed):
        return "inflate_failed"
    return "harness_error"


def judge_inflate(
    proc: ProcResult, challenge: Challenge, budget: float, env_kind: str = "vcc", group: str = "cpu"
) -> None:
    logs = f"stderr tail:\n{_indent(proc.stderr_tail)}" if proc.stderr_tail.strip() else "no stderr"
    if proc.timed_out:
        raise failure(
            "timeout",
            f"inflate did not finish within its budget of {budget:.1f} s (the clock minus setup, "
            f"unzip and the scoring estimate); killed with its whole process tree after "
            f"{proc.elapsed_s:.1f} s.\n{logs}",
            path=proc.stderr_path,
            fix="make inflate faster, or check it does not hang (it gets no stdin)",
        )
    if proc.disk_exceeded:
        used = f" (reached {proc.disk_peak_bytes / GiB:.2f} GiB)" if proc.disk_peak_bytes else ""
        raise failure(
            "disk",
            f"inflate wrote more than its disk cap ({proc.isolation.disk_cap}){used}; killed with its "
            f"whole process tree after {proc.elapsed_s:.1f} s.\n{logs}",
            path=proc.stderr_path,
            fix="write only the raws (the runner's disk is small), or pass a larger --disk if that is the case",
        )
    if proc.oom_killed:
        peak = proc.peak_memory_bytes or proc.peak_rss_bytes
        peak_text = f", peak {peak / GiB:.2f} GiB" if peak else ""
        raise failure(
            "out_of_memory",
            f"inflate ran out of memory under the runner's cap ({proc.isolation.memory_cap}{peak_text}).\n{logs}",
            path=proc.stderr_path,
            fix="stream frames to the raw file instead of holding the video in memory",
        )
    if proc.returncode != 0:
        raise failure(
            "inflate_failed",
            f"inflate {exit_text(proc.returncode)} after {proc.elapsed_s:.1f} s."
            f"{failure_hint(proc, challenge, env_kind, group)}\n{logs}",
            path=proc.stderr_path,
            fix="run the failing command from the log; the full logs are next to the report",
        )


def exit_text(returncode: int | None) -> str:
    """How a process ended, in words: a negative status is the signal that killed it, and bash
    reports a child killed by signal N as 128 + N."""
    if returncode is None:
        return "was killed at the deadline"
    if returncode < 0:
        return f"was killed by signal {-returncode} ({_signal_name(-returncode)})"
    if 128 < returncode < 128 + 65:
        return (
            f"exited with status {returncode} (128 + {returncode - 128}: most likely a command inside it "
            f"was killed by signal {returncode - 128}, {_signal_name(returncode - 128)})"
        )
    return f"exited with status {returncode}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines()[-20:])


_ORIGINALS_HINT = re.compile(r"videos/|\.mkv|\.hevc", re.IGNORECASE)


_NO_MODULE = re.compile(r"ModuleNotFoundError: No module named '([^']+)'")


def failure_hint(proc: ProcResult, challenge: Challenge, env_kind: str = "vcc", group: str = "cpu") -> str:
    tail = proc.stderr_tail + proc.stdout_tail
    hints = []
    missing = _NO_MODULE.search(tail)
    if missing and env_kind == "vcc":
        hints.append(
            f"inflate ran in vcc's own Python environment, which lacks {missing.group(1)!r}; the runner "
            f"runs inflate in `uv sync --group {group}` of the checkout (brotli, einops, pillow, ...). "
            f"Run `vcc env sync --challenge-dir {challenge.root}` and rerun (or pass --env official)"
        )
    elif missing and env_kind == "official":
        hints.append(
            f"{missing.group(1)!r} is not in the checkout's environment (uv.lock, group {group}), so the "
            "runner's inflate would fail the same way; the runner installs nothing else"
        )
    names = [v.name for v in challenge.videos]
    if _ORIGINALS_HINT.search(tail) and ("No such file" in tail or "not found" in tail.lower()):
        if any(n in tail for n in names) or "videos/" in tail:
            hints.append(
                "inflate seems to read the original videos, which the rules forbid at inflate "
                "time; vcc hides them from inflate to catch exactly this"
            )
    if "Read-only file system" in tail:
        hints.append(
            "inflate tried to write outside the repository checkout; vcc allows writes only "
            "under the checkout, /tmp and $HOME"
        )
    if "Temporary failure in name resolution" in tail or "Network is unreachable" in tail:
        hints.append("inflate needs the network (ran with --network off)")
    return (" Hint: " + " ".join(hints)) if hints else ""


def collect_findings(result: RunResult) -> None:
    seen = set(result.warnings)

    def warn(text: str) -> None:
        if text not in seen:
            seen.add(text)
            result.warnings.append(text)

    for run in result.runs:
        if run.proc and run.proc.leftover_processes:
            procs = "; ".join(escape_control(p) for p in run.proc.leftover_processes[:5])
            warn(
                f"inflate left {len(run.proc.leftover_processes)} process(es) running after it "
                f"exited ({procs}); vcc killed them. On the runner they would keep running into "
                "scoring, racing it for CPU and memory (or writing raws late)"
            )
        if run.extra_files:
            warn(
                f"inflated/ holds files no video asks for ({', '.join(map(escape_control, run.extra_files[:10]))}); "
                "the official evaluator ignores them"
            )
        if run.writes_outside:
            warn(
                "inflate wrote outside INFLATED_DIR, inside the repository checkout: "
                + ", ".join(map(escape_control, run.writes_outside[:10]))
            )
        if run.proc:
            for note in run.proc.isolation.notes:
                if note.startswith(("no sandbox", "no cgroup", "inflate runs as root")):
                    warn(f"weaker containment: {note}")
                elif note.startswith("the kernel killed"):
                    # An OOM kill the script survived (exit 0): the runner's cap would do the same,
                    # and the raws may come from a fallback path.
                    warn(f"out of memory inside inflate: {note}")
    det = result.deterministic
    if det is False:
        warn(
            f"inflate is not deterministic: {result.config.repeat} runs from scratch wrote raws "
            "with different sha256; the score can differ between your run and the runner's"
        )
