"""What one replay found: each inflate run (`InflateRun`) and the whole job (`RunResult`, run.json)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcc.base import ARCHIVE_NAME, VccError

from ._archive import ExtractResult
from ._config import RunConfig
from ._integrity import FileFingerprint
from ._repeat import repeat_stats
from ._sandbox import ProcResult
from ._verdicts import Verdict

__all__ = ["REPORT_SCHEMA", "InflateRun", "RunResult"]

REPORT_SCHEMA = 1


@dataclass
class InflateRun:
    """One unzip + inflate from scratch."""

    index: int
    extract: ExtractResult | None = None
    proc: ProcResult | None = None
    raws: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra_files: list[str] = field(default_factory=list)
    writes_outside: list[str] = field(default_factory=list)
    hash_s: float = 0.0
    score: dict[str, Any] | None = None  # this run's figures (--repeat scores every run)
    frame_sha256: dict[str, list[str]] = field(default_factory=dict)  # per raw, with --repeat; not in run.json

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "extract": self.extract.as_json() if self.extract else None,
            "inflate": self.proc.as_json() if self.proc else None,
            "raws": self.raws,
            "extra_files": self.extra_files,
            "writes_outside_inflated": self.writes_outside,
            "hash_s": round(self.hash_s, 3),
            "score": self.score,
        }


@dataclass
class RunResult:
    config: RunConfig
    out_dir: Path
    json_path: Path
    verdict: Verdict = Verdict.HARNESS_ERROR
    message: str = ""
    error: VccError | None = None
    runs: list[InflateRun] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    clock: dict[str, Any] = field(default_factory=dict)
    runner: dict[str, Any] = field(default_factory=dict)
    isolation: dict[str, Any] | None = None
    score_report: dict[str, Any] | None = None  # the scorer's JSON (run.json's "score")
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    workspace: str | None = None
    workspace_kept: bool = False
    numerics: dict[str, Any] = field(default_factory=dict)  # the scorer's, else this process's
    environment: dict[str, Any] = field(default_factory=dict)  # which Python ran inflate, which scored
    archive: FileFingerprint | None = None  # the user's archive.zip, measured before anything ran

    @property
    def exit_code(self) -> int:
        return 0 if self.error is None else self.error.exit_code

    @property
    def deterministic(self) -> bool | None:
        hashes = [{k: v.get("sha256") for k, v in r.raws.items()} for r in self.runs if r.raws]
        if len(hashes) < 2 or len(hashes) < self.config.repeat:
            return None
        return all(h == hashes[0] for h in hashes[1:])

    def raise_for_verdict(self) -> None:
        if self.error is not None:
            raise self.error

    def _repeat_json(self) -> dict[str, Any]:
        """run.json's `repeat`: how many runs, and whether their raws agree (which differ if not)."""
        repeat: dict[str, Any] = {
            "n": self.config.repeat,
            "completed": len(self.runs),
            "deterministic": None,
        }
        det = self.deterministic
        if det is not None:
            repeat["deterministic"] = det
            if not det:
                first = self.runs[0].raws
                repeat["mismatches"] = sorted(
                    {
                        name
                        for r in self.runs[1:]
                        for name, info in r.raws.items()
                        if info.get("sha256") != first.get(name, {}).get("sha256")
                    }
                )
        if self.config.repeat > 1:
            repeat.update(repeat_stats(self.runs, self.clock, det))
        return repeat

    def _peak(self, attr: str) -> int | None:
        """The highest measured peak over the runs; None (not 0) when no run measured it."""
        values = [getattr(r.proc, attr) for r in self.runs if r.proc and getattr(r.proc, attr) is not None]
        return max(values) if values else None

    def _peaks_not_measured(self) -> dict[str, str]:
        """Why a peak is null, for each peak inflate ran without."""
        if not any(r.proc for r in self.runs):
            return {}
        docker = self.config.backend == "docker"
        reasons = {
            "peak_memory_bytes": (
                "the container's memory statistics were not readable"
                if docker
                else "inflate ran without a cgroup (--no-cgroup, or none could be created), which alone "
                "counts the tree's charged memory"
            ),
            "peak_rss_bytes": (
                "the Docker backend reads only the container's charged memory, not resident memory"
                if docker
                else "resident memory was not sampled (inflate ended before the first sample)"
            ),
        }
        return {k: why for k, why in reasons.items() if self._peak(k) is None}

    def as_json(self) -> dict[str, Any]:
        cfg = self.config
        last = self.runs[-1] if self.runs else None
        return {
            "vcc_run_schema": REPORT_SCHEMA,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "message": self.message,
            "error": None if self.error is None else self.error.render(),
            "submission": {
                "dir": str(cfg.submission_dir),
                "name": cfg.submission_name,
                # Measured before inflate ran: what is scored (inflate may not change it).
                "archive_bytes": self.archive.bytes if self.archive else _size(cfg.submission_dir / ARCHIVE_NAME),
                "archive_sha256": self.archive.sha256 if self.archive else None,
            },
            "challenge_dir": str(cfg.challenge_dir),
            "runner": self.runner,
            "environment": self.environment,
            "clock": self.clock,
            "phases": {k: round(v, 3) for k, v in self.phases.items()},
            "isolation": self.isolation,
            "inflate": last.proc.as_json() if last and last.proc else None,
            "peak_memory_bytes": self._peak("peak_memory_bytes"),
            "peak_rss_bytes": self._peak("peak_rss_bytes"),
            "peaks_not_measured": self._peaks_not_measured(),
            "raws": last.raws if last else {},
            "repeat": self._repeat_json(),
            "runs": [r.as_json() for r in self.runs],
            "score": self.score_report,
            "warnings": self.warnings,
            "notes": self.notes,
            "out_dir": str(self.out_dir),
            "workspace": self.workspace,
            "workspace_kept": self.workspace_kept,
            "numerics": (self.score_report or {}).get("numerics") or self.numerics,
        }


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None
