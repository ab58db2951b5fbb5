"""Judging inflate: verdicts carried by errors, what a failed inflate's logs suggest, findings."""

from __future__ import annotations

import re
import signal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from vcc.base import (
    EXIT_BAD_INPUT,
    EXIT_GATE,
    EXIT_HARNESS,
    EXIT_OK,
    EXIT_SUBMISSION_FAILED,
    BadInput,
    SubmissionFailed,
    VccError,
    escape_control,
)
from vcc.scorer import Challenge

from ._sandbox import ProcResult
from ._shapes import GiB

if TYPE_CHECKING:  # _result holds a Verdict: it imports this module
    from ._result import RunResult

__all__ = [
    "Verdict",
    "VerdictFailure",
    "failure",
    "verdict_for",
    "judge_inflate",
    "exit_text",
    "failure_hint",
    "collect_findings",
]


class Verdict(StrEnum):
    """How a run (`vcc run`, a sweep point, `vcc gate`) ended: the string run.json, a sweep's table
    and gate.json hold (a StrEnum: it is that string), and the exit code it comes with."""

    OK = "ok"
    # The submission failed while running (exit 3).
    TIMEOUT = "timeout"
    DISK = "disk"
    OUT_OF_MEMORY = "out_of_memory"
    INFLATE_FAILED = "inflate_failed"
    WRONG_OUTPUT = "wrong_output"
    OVER_CLOCK = "over_clock"
    ARCHIVE_CHANGED = "archive_changed"
    CHALLENGE_CHANGED = "challenge_changed"
    COMPRESS_FAILED = "compress_failed"  # a sweep point's compress command
    COMPRESS_TIMEOUT = "compress_timeout"
    # Not the submission's doing.
    BAD_INPUT = "bad_input"
    HARNESS_ERROR = "harness_error"
    REFUSED = "refused"  # a sweep point `vcc run` refused before anything ran: that error's code (2 or 4)
    INTERRUPTED = "interrupted"  # run.json written before inflate, left when vcc itself was stopped
    # vcc gate.
    PASS = "pass"
    FAIL = "fail"
    LINT_FAILED = "lint_failed"

    @property
    def exit_code(self) -> int | None:
        """The process exit status that comes with it (README "Exit codes"); None where it is not
        one code (refused: the refusing error's; interrupted: vcc did not exit by itself)."""
        return _EXIT_CODES.get(self)


_EXIT_CODES: dict[Verdict, int] = {
    Verdict.OK: EXIT_OK,
    Verdict.PASS: EXIT_OK,
    Verdict.FAIL: EXIT_GATE,
    Verdict.BAD_INPUT: EXIT_BAD_INPUT,
    Verdict.LINT_FAILED: EXIT_BAD_INPUT,
    Verdict.HARNESS_ERROR: EXIT_HARNESS,
    **{
        v: EXIT_SUBMISSION_FAILED
        for v in (
            Verdict.TIMEOUT, Verdict.DISK, Verdict.OUT_OF_MEMORY, Verdict.INFLATE_FAILED, Verdict.WRONG_OUTPUT,
            Verdict.OVER_CLOCK, Verdict.ARCHIVE_CHANGED, Verdict.CHALLENGE_CHANGED, Verdict.COMPRESS_FAILED,
            Verdict.COMPRESS_TIMEOUT,
        )
    },
}  # fmt: skip


class VerdictFailure(SubmissionFailed):
    """A SubmissionFailed (exit 3) that names its verdict for the report."""

    def __init__(self, verdict: Verdict, message: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        if verdict.exit_code != self.exit_code:
            raise ValueError(f"verdict {verdict} exits {verdict.exit_code}, not {self.exit_code}")
        self.verdict = verdict


def failure(verdict: Verdict, message: str, **kw: Any) -> VerdictFailure:
    """The submission's failure with its verdict; the caller raises it."""
    return VerdictFailure(verdict, message, **kw)


def verdict_for(e: VccError) -> Verdict:
    if isinstance(e, VerdictFailure):
        return e.verdict
    if isinstance(e, BadInput):
        return Verdict.BAD_INPUT
    if isinstance(e, SubmissionFailed):
        return Verdict.INFLATE_FAILED
    return Verdict.HARNESS_ERROR


def judge_inflate(
    proc: ProcResult, challenge: Challenge, budget: float, env_kind: str = "vcc", group: str = "cpu"
) -> None:
    logs = f"stderr tail:\n{_indent(proc.stderr_tail)}" if proc.stderr_tail.strip() else "no stderr"
    if proc.timed_out:
        raise failure(
            Verdict.TIMEOUT,
            f"inflate did not finish within its budget of {budget:.1f} s (the clock minus setup, "
            f"unzip and the scoring estimate); killed with its whole process tree after "
            f"{proc.elapsed_s:.1f} s.\n{logs}",
            path=proc.stderr_path,
            fix="make inflate faster, or check it does not hang (it gets no stdin)",
        )
    if proc.disk_exceeded:
        used = f" (reached {proc.disk_peak_bytes / GiB:.2f} GiB)" if proc.disk_peak_bytes else ""
        raise failure(
            Verdict.DISK,
            f"inflate wrote more than its disk cap ({proc.isolation.disk_cap}){used}; killed with its "
            f"whole process tree after {proc.elapsed_s:.1f} s.\n{logs}",
            path=proc.stderr_path,
            fix="write only the raws (the runner's disk is small), or pass a larger --disk if that is the case",
        )
    if proc.oom_killed:
        peak = proc.peak_memory_bytes or proc.peak_rss_bytes
        peak_text = f", peak {peak / GiB:.2f} GiB" if peak else ""
        raise failure(
            Verdict.OUT_OF_MEMORY,
            f"inflate ran out of memory under the runner's cap ({proc.isolation.memory_cap}{peak_text}).\n{logs}",
            path=proc.stderr_path,
            fix="stream frames to the raw file instead of holding the video in memory",
        )
    if proc.returncode != 0:
        raise failure(
            Verdict.INFLATE_FAILED,
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
