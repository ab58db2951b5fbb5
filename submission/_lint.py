"""`vcc lint`: config -> loader -> registered checks -> results (MLPerf submission-checker style).

A check is a function registered with an id, a severity and a one-line summary; it
reads the loaded `Submission` and yields `Hit`s, which become `Finding`s naming the
file, the line and the fix. Errors make the submission fail (exit 2); warnings are
printed. A finding is silenced on its line with a `vcc-lint: ignore[ID]` comment,
or everywhere with `--ignore ID`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcc.base import EXIT_BAD_INPUT, EXIT_OK, BadInput

from ._files import ARCHIVE_NAME, submission_files
from ._lock import RUNNER_GROUPS, LockModules, lock_modules
from ._source import COMPRESS_ENTRIES, INFLATE_ENTRIES, Reach, SourceFile, follow

__all__ = [
    "ERROR",
    "WARNING",
    "CHECKS",
    "Check",
    "Hit",
    "Finding",
    "Submission",
    "LintConfig",
    "LintResult",
    "register_check",
    "load_submission",
    "lint_submission",
]

ERROR, WARNING = "error", "warning"
LINT_SCHEMA = 1


@dataclass(frozen=True)
class Hit:
    """What a check yields; the registry adds the check's id and severity."""

    message: str
    fix: str
    path: str | None = None  # relative to the submission dir
    line: int | None = None
    severity: str | None = None  # overrides the check's default


@dataclass(frozen=True)
class Finding:
    check: str
    severity: str
    message: str
    fix: str
    path: str | None = None
    line: int | None = None

    def location(self) -> str:
        if self.path is None:
            return "."
        return f"{self.path}:{self.line}" if self.line else self.path

    def render(self) -> str:
        return f"{self.location()}: {self.severity} [{self.check}] {self.message}\n    fix: {self.fix}"

    def as_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "path": self.path,
            "line": self.line,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Check:
    id: str
    severity: str
    summary: str
    func: Callable[[Submission], Iterable[Hit]]


# Filled by `register_check`; the package's __init__ imports _checks, whose checks register
# themselves, so the registry is complete whenever submission is imported.
CHECKS: dict[str, Check] = {}


def register_check(
    check_id: str, severity: str, summary: str
) -> Callable[[Callable[[Submission], Iterable[Hit]]], Callable[[Submission], Iterable[Hit]]]:
    if severity not in (ERROR, WARNING):
        raise ValueError(f"severity must be {ERROR!r} or {WARNING!r}")

    def wrap(func: Callable[[Submission], Iterable[Hit]]) -> Callable[[Submission], Iterable[Hit]]:
        if check_id in CHECKS:
            raise ValueError(f"lint check {check_id!r} registered twice")
        CHECKS[check_id] = Check(check_id, severity, summary, func)
        return func

    return wrap


@dataclass
class LintConfig:
    submission_dir: Path
    ignore: tuple[str, ...] = ()
    max_file_bytes: int = 1_000_000  # larger files outside archive.zip are artifacts (rules: inside the archive)
    challenge_dir: Path | None = None  # the checkout: its uv.lock says which packages the runner has
    runner: str | None = None  # "cpu" | "t4": the target; None holds inflate to both
    name: str | None = None  # the submission's name in the PR (default: the dir's name)

    def __post_init__(self) -> None:
        self.submission_dir = Path(self.submission_dir)
        if self.challenge_dir is not None:
            self.challenge_dir = Path(self.challenge_dir)
        if self.runner is not None and self.runner not in RUNNER_GROUPS:
            raise BadInput(f"unknown runner {self.runner!r}", fix=f"use one of: {', '.join(RUNNER_GROUPS)}")
        unknown = sorted(set(self.ignore) - set(CHECKS))
        if unknown:
            raise BadInput(
                f"--ignore names unknown checks: {', '.join(unknown)}",
                fix=f"known checks: {', '.join(sorted(CHECKS))}",
            )


@dataclass
class Submission:
    """Everything the checks read, loaded once."""

    root: Path
    config: LintConfig
    files: list[str]  # relative paths, archive.zip and local-run outputs excluded
    inflate_time: list[SourceFile]
    inflate_data: dict[str, str] = field(default_factory=dict)  # files inflate-time code names -> by which
    compress_time: Reach | None = None  # what compress.sh / compress.py run and name
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def lock(self) -> LockModules:
        return self.cached("lock", lambda: lock_modules(self.config.challenge_dir))

    @property
    def archive(self) -> Path:
        return self.root / ARCHIVE_NAME

    @property
    def inflate_sh(self) -> SourceFile | None:
        return next((s for s in self.inflate_time if s.rel == "inflate.sh"), None)

    def sources(self, lang: str | None = None) -> list[SourceFile]:
        return [s for s in self.inflate_time if lang is None or s.lang == lang]

    def cached(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]


def load_submission(cfg: LintConfig) -> Submission:
    root = cfg.submission_dir
    if not root.is_dir():
        raise BadInput("submission dir not found", path=root, fix="pass the dir holding archive.zip and inflate.sh")
    files = submission_files(root)
    inflate = follow(root, files, INFLATE_ENTRIES, inflate=True)
    compress = follow(root, files, COMPRESS_ENTRIES, inflate=False)
    return Submission(root, cfg, files, inflate.sources, inflate.data, compress)


@dataclass
class LintResult:
    submission_dir: Path
    findings: list[Finding]
    inflate_time: list[dict[str, str]]
    checks: list[str]
    suppressed: int = 0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def exit_code(self) -> int:
        return EXIT_BAD_INPUT if self.errors else EXIT_OK

    def as_json(self) -> dict[str, Any]:
        return {
            "vcc_lint_schema": LINT_SCHEMA,
            "submission_dir": str(self.submission_dir),
            "ok": not self.errors,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "suppressed": self.suppressed,
            "findings": [f.as_json() for f in self.findings],
            "inflate_time_files": self.inflate_time,
            "checks": self.checks,
        }

    def summary(self) -> str:
        lines = [f.render() for f in self.findings]
        scanned = ", ".join(d["path"] for d in self.inflate_time) or "none"
        verdict = "FAIL" if self.errors else "ok"
        lines.append(
            f"vcc lint: {verdict}: {len(self.errors)} error(s), {len(self.warnings)} warning(s) "
            f"in {self.submission_dir} ({len(self.checks)} checks; inflate-time code: {scanned})"
            + (f"; {self.suppressed} suppressed" if self.suppressed else "")
        )
        return "\n".join(lines)


_IGNORE = re.compile(r"vcc-lint:\s*ignore(?:\[([\w\-, ]+)\])?")


def _suppressed(sub: Submission, f: Finding) -> bool:
    if f.path is None or f.line is None:
        return False
    src = next((s for s in sub.inflate_time if s.rel == f.path), None)
    if src is None or not 0 < f.line <= len(src.lines):
        return False
    m = _IGNORE.search(src.lines[f.line - 1])
    return bool(m) and (m.group(1) is None or f.check in {x.strip() for x in m.group(1).split(",")})


def lint_submission(cfg: LintConfig) -> LintResult:
    sub = load_submission(cfg)
    findings: list[Finding] = []
    suppressed = 0
    ran = []
    for check in CHECKS.values():
        if check.id in cfg.ignore:
            continue
        ran.append(check.id)
        for hit in check.func(sub):
            f = Finding(check.id, hit.severity or check.severity, hit.message, hit.fix, hit.path, hit.line)
            if _suppressed(sub, f):
                suppressed += 1
            else:
                findings.append(f)
    findings.sort(key=lambda f: (f.severity != ERROR, f.path or "", f.line or 0, f.check))
    scanned = [{"path": s.rel, "why": s.reached_from} for s in sub.inflate_time]
    return LintResult(cfg.submission_dir, findings, scanned, ran, suppressed)
