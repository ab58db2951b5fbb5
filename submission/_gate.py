"""`vcc gate`: lint, replay the runner's job (`runner.run_submission`), hold the result to bounds.

For CI: exit 0 when every bound holds, 1 (GateFailed) listing each bound not met;
lint errors exit 2 before anything runs; the run's own failures keep their exit
codes (2 bad input, 3 the submission failed while running, 4 harness).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcc.base import BadInput, GateFailed, VccError, numerics_identity, write_atomic, write_json_atomic
from vcc.runner import RunConfig, RunResult, Verdict, default_out_dir, run_submission

from ._baseline import Baseline, check_baseline_matches, load_baseline
from ._lint import LintConfig, LintResult, lint_submission
from ._upload import UploadConfig, check_upload, validate_url

__all__ = ["GateBounds", "GateConfig", "BoundCheck", "GateResult", "evaluate_bounds", "gate_submission"]

GATE_SCHEMA = 1
# Bound name -> the score axes that satisfy it, best first (see vcc.scorer's _axis).
AXIS_BOUNDS = {"max_score_cpu": ("cpu-runner",), "max_score_t4": ("t4-gpu", "t4-emulated")}


@dataclass(frozen=True)
class GateBounds:
    max_score: float | None = None  # the full-precision score must not exceed it
    min_headroom_s: float | None = None  # seconds left on the job's 30-minute clock
    max_inflate_s: float | None = None  # inflate's wall time (slowest of --repeat runs)
    deterministic: bool = False  # with repeat > 1: every inflate wrote the same raws
    max_regression: float | None = None  # the score may exceed the baseline's by at most this
    # Per axis (what the official job posts twice): the CPU runner's score, the T4 runner's (real or emulated).
    max_score_cpu: float | None = None
    max_score_t4: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_score", "min_headroom_s", "max_inflate_s", "max_regression", *AXIS_BOUNDS):
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise BadInput(f"gate bound {name} must be a finite number, got {v}", fix="pass a number")
        if self.max_inflate_s is not None and self.max_inflate_s <= 0:
            raise BadInput(f"--max-inflate-s must be positive, got {self.max_inflate_s}", fix="e.g. 600")

    def requested(self) -> list[str]:
        """The bounds' names in the order evaluate_bounds checks them."""
        names = [n for n in ("max_score", "min_headroom_s", "max_inflate_s") if getattr(self, n) is not None]
        if self.deterministic:
            names.append("deterministic")
        if self.max_regression is not None:
            names.append("max_regression")
        return names + [n for n in AXIS_BOUNDS if getattr(self, n) is not None]


@dataclass
class GateConfig:
    run: RunConfig  # the replay: submission, checkout, runner, limits, ...; its out_dir is the gate's OUT/run
    bounds: GateBounds = field(default_factory=GateBounds)
    out_dir: Path | None = None  # default ./vcc-run-<name>-<timestamp> (runner.default_out_dir)
    json_path: Path | None = None  # default OUT/gate.json
    lint: bool = True
    lint_ignore: tuple[str, ...] = ()
    baseline: Path | None = None  # an earlier gate/run/score report; bounds.max_regression holds the run to it
    allow_estimate: bool = False  # a sampled estimate (vcc score --sample) may be the baseline (its point value)
    junit_path: Path | None = None  # JUnit XML: one test case per lint check and per bound
    summary_path: Path | None = None  # Markdown summary (for $GITHUB_STEP_SUMMARY)
    archive_url: str | None = None  # a bound: the hosted archive serves archive.zip's bytes (check-upload)

    @property
    def submission_dir(self) -> Path:
        return self.run.submission_dir

    @property
    def challenge_dir(self) -> Path:
        return self.run.challenge_dir

    def run_config(self, out_dir: Path) -> RunConfig:
        """The replay's RunConfig, writing its results under the gate's `out_dir`."""
        return dataclasses.replace(self.run, out_dir=out_dir)


@dataclass(frozen=True)
class BoundCheck:
    name: str
    limit: float | bool
    actual: float | bool | None
    ok: bool
    message: str

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def evaluate_bounds(bounds: GateBounds, run: dict[str, Any], baseline_score: float | None = None) -> list[BoundCheck]:
    """Each requested bound against a successful run's report (RunResult.as_json()); max_regression
    against `baseline_score`."""
    checks: list[BoundCheck] = []
    score = (run.get("score") or {}).get("score")
    # with --repeat every run is scored: the bounds hold the worst of them
    score = (run.get("repeat") or {}).get("worst_score", score)
    clock = run.get("clock") or {}
    inflate_s = clock.get("inflate_s")
    if inflate_s is None:
        inflate_s = (run.get("phases") or {}).get("inflate_s")

    def score_text(v: float, limit: float, ok: bool) -> str:
        return f"score {v!r} {'<=' if ok else '>'} {limit!r}" + ("" if ok else f" (worse by {v - limit:.8f})")

    def headroom_text(v: float, limit: float, ok: bool) -> str:
        return (
            f"headroom {v:.1f} s {'>=' if ok else '<'} {limit:.1f} s on the "
            f"{clock.get('clock_s', 1800):.0f} s clock (setup {clock.get('setup_overhead_s', 0):.0f} s "
            f"+ unzip + inflate {clock.get('inflate_s', 0):.1f} s + scoring {clock.get('score_s', 0):.1f} s)"
        )

    def inflate_text(v: float, limit: float, ok: bool) -> str:
        return f"inflate took {v:.1f} s {'<=' if ok else '>'} {limit:.1f} s"

    numeric = (
        ("max_score", bounds.max_score, score, True, "the run produced no score", score_text),
        ("min_headroom_s", bounds.min_headroom_s, clock.get("headroom_s"), False, "the run measured no headroom",
         headroom_text),
        ("max_inflate_s", bounds.max_inflate_s, inflate_s, True, "the run measured no inflate time", inflate_text),
    )  # fmt: skip
    for name, limit, actual, at_most, missing, describe in numeric:
        if limit is not None:
            checks.append(_numeric_bound(name, limit, actual, at_most, missing, describe))
    if bounds.deterministic:
        det = (run.get("repeat") or {}).get("deterministic")
        text = {
            True: "repeated inflates wrote identical raws",
            False: "repeated inflates wrote different raws: "
            + ", ".join((run.get("repeat") or {}).get("mismatches", [])),
            None: "determinism was not measured (needs --repeat 2 or more)",
        }[det]
        checks.append(BoundCheck("deterministic", True, det, det is True, text))
    if bounds.max_regression is not None:
        checks.append(_regression_bound(bounds.max_regression, score, baseline_score))
    for name, axes in AXIS_BOUNDS.items():
        limit = getattr(bounds, name)
        if limit is not None:
            checks.append(_axis_bound(name, limit, axes, run.get("score") or {}))
    return checks


def _axis_scores(report: dict[str, Any]) -> dict[str, float]:
    """Axis name -> score, from a score report's primary target and its other targets."""
    out: dict[str, float] = {}
    for target in [report, *(report.get("targets") or {}).values()]:
        axis = (target.get("axis") or {}).get("name")
        if axis is not None and target.get("score") is not None:
            out.setdefault(axis, target["score"])
    return out


def _axis_bound(name: str, limit: float, axes: tuple[str, ...], report: dict[str, Any]) -> BoundCheck:
    """The score on the bound's axis (the first of `axes` the run scored) must not exceed `limit`."""
    scores = _axis_scores(report)
    axis = next((a for a in axes if a in scores), None)
    if axis is None:
        scored = ", ".join(sorted(scores)) or "none"
        runner = "cpu" if name == "max_score_cpu" else "t4"
        return BoundCheck(name, limit, None, False, f"the run scored no {' or '.join(axes)} score (axes scored: "
                          f"{scored}); gate with --runner {runner} for this bound")
    v = scores[axis]
    ok = v <= limit
    return BoundCheck(name, limit, v, ok, f"{axis} score {v!r} {'<=' if ok else '>'} {limit!r}"
                      + ("" if ok else f" (worse by {v - limit:.8f})"))


def _regression_bound(limit: float, score: float | None, baseline: float | None) -> BoundCheck:
    """score - baseline <= limit (a negative limit asks for an improvement)."""
    if score is None or baseline is None:
        missing = "the run produced no score" if score is None else "no baseline score (pass --baseline)"
        return BoundCheck("max_regression", limit, None, False, missing)
    delta = score - baseline
    ok = delta <= limit
    return BoundCheck(
        "max_regression",
        limit,
        delta,
        ok,
        f"score {score!r} vs baseline {baseline!r}: {delta:+.8f} {'<=' if ok else '>'} {limit:+.8f} allowed",
    )


def _numeric_bound(
    name: str,
    limit: float,
    actual: float | None,
    at_most: bool,
    missing: str,
    describe: Callable[[float, float, bool], str],
) -> BoundCheck:
    """One numeric bound (actual <= limit, or >= with at_most False); failed with `missing` if not measured."""
    if actual is None:
        return BoundCheck(name, limit, None, False, missing)
    ok = actual <= limit if at_most else actual >= limit
    return BoundCheck(name, limit, actual, ok, describe(actual, limit, ok))


@dataclass
class GateResult:
    config: GateConfig
    json_path: Path | None = None
    lint: LintResult | None = None
    run: RunResult | None = None
    bounds: list[BoundCheck] = field(default_factory=list)
    error: VccError | None = None
    verdict: Verdict = Verdict.HARNESS_ERROR
    baseline: Baseline | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.error is None else self.error.exit_code

    @property
    def failed_bounds(self) -> list[BoundCheck]:
        return [b for b in self.bounds if not b.ok]

    def raise_for_verdict(self) -> None:
        if self.error is not None:
            raise self.error

    def as_json(self) -> dict[str, Any]:
        run = self.run.as_json() if self.run is not None else None
        return {
            "vcc_gate_schema": GATE_SCHEMA,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "error": None if self.error is None else self.error.render(),
            "submission_dir": str(self.config.submission_dir),
            "challenge_dir": str(self.config.challenge_dir),
            "runner": self.config.run.runner,
            "backend": self.config.run.backend,
            "bounds": [b.as_json() for b in self.bounds],
            "baseline": None if self.baseline is None else self.baseline.as_json(),
            "lint": None if self.lint is None else self.lint.as_json(),
            "run_report": None if self.run is None else str(self.run.json_path),
            "run": None
            if run is None
            else {
                k: run.get(k)
                for k in ("verdict", "exit_code", "message", "score", "clock", "phases", "repeat", "warnings")
            },
            "numerics": run["numerics"] if run else numerics_identity(self.config.run.options.numerics),
        }

    def summary(self) -> str:
        lines = [f"vcc gate: {self.verdict.upper()}"]
        if self.lint is not None:
            lines.append(f"  lint:   {len(self.lint.errors)} error(s), {len(self.lint.warnings)} warning(s)")
            lines += [f"    {f.render()}".replace("\n", "\n    ") for f in self.lint.findings]
        if self.run is not None:
            first = self.run.message.splitlines()[0] if self.run.message else ""
            lines.append(f"  run:    {self.run.verdict}: {first}")
            lines.append(f"          report {self.run.json_path}")
        for b in self.bounds:
            lines.append(f"  {'ok  ' if b.ok else 'FAIL'}    {b.name}: {b.message}")
        if self.json_path is not None:
            lines.append(f"  gate report: {self.json_path}")
        return "\n".join(lines)


def _write(result: GateResult) -> GateResult:
    from ._gate_reports import junit_xml, summary_markdown

    if result.json_path is not None:
        write_json_atomic(result.json_path, result.as_json())
    if result.config.junit_path is not None:
        write_atomic(result.config.junit_path, junit_xml(result))
    if result.config.summary_path is not None:
        write_atomic(result.config.summary_path, summary_markdown(result))
    return result


def _load_baseline(cfg: GateConfig) -> Baseline | None:
    if cfg.baseline is None:
        if cfg.bounds.max_regression is not None:
            raise BadInput("--max-regression needs --baseline", fix="pass --baseline REPORT.json (gate.json/run.json)")
        return None
    return load_baseline(cfg.baseline, allow_estimate=cfg.allow_estimate)


def gate_submission(cfg: GateConfig) -> GateResult:
    """Lint, run (`runner.run_submission`), check bounds; always returns (error and verdict set on failure)
    and writes the report."""
    out = Path(cfg.out_dir) if cfg.out_dir else default_out_dir(cfg.submission_dir.resolve().name)
    if out.exists() and any(out.iterdir()):
        raise BadInput("--out dir exists and is not empty", path=out, fix="pass a new or empty --out dir")
    if cfg.baseline is not None and cfg.bounds.max_regression is None:
        cfg = dataclasses.replace(cfg, bounds=dataclasses.replace(cfg.bounds, max_regression=0.0))
    baseline = _load_baseline(cfg)  # a wrong baseline is refused before anything runs
    if cfg.archive_url is not None:
        validate_url(cfg.archive_url)  # as is a URL that is not http(s)
    run_out = out / "run"
    json_path = Path(cfg.json_path) if cfg.json_path else out / "gate.json"
    result = GateResult(cfg, json_path, baseline=baseline)
    if cfg.lint:
        result.lint = lint_submission(
            LintConfig(
                cfg.submission_dir,
                ignore=cfg.lint_ignore,
                challenge_dir=cfg.run.challenge_dir,  # its uv.lock says what the runner provides
                runner=cfg.run.runner,  # a GPU-only inflate is fine when gating for t4
            )
        )
        if result.lint.errors:
            listing = "\n".join(f"  {f.location()}: [{f.check}] {f.message}" for f in result.lint.errors)
            result.error = BadInput(
                f"lint found {len(result.lint.errors)} error(s); the submission was not run:\n{listing}",
                path=cfg.submission_dir,
                fix="fix them (`vcc lint SUBMISSION_DIR` shows each fix), or skip a check with --lint-ignore ID",
            )
            result.verdict = Verdict.LINT_FAILED
            return _write(result)
    try:
        result.run = run_submission(cfg.run_config(run_out))
    except VccError as e:  # arguments the runner refuses before it starts
        result.error, result.verdict = e, Verdict.BAD_INPUT if isinstance(e, BadInput) else Verdict.HARNESS_ERROR
        return _write(result)
    if result.run.error is not None:
        result.error, result.verdict = result.run.error, result.run.verdict
        return _write(result)
    if baseline is not None and result.run.score_report is not None:
        try:
            check_baseline_matches(baseline, result.run.score_report)
        except BadInput as e:
            result.error, result.verdict = e, Verdict.BAD_INPUT
            return _write(result)
    result.bounds = evaluate_bounds(cfg.bounds, result.run.as_json(), baseline.score if baseline else None)
    if cfg.archive_url is not None:
        upload = check_upload(UploadConfig(cfg.archive_url, cfg.submission_dir))
        text = upload.message + (f"; fix: {upload.fix}" if upload.fix else "")
        result.bounds.append(BoundCheck("archive_url", True, upload.verdict == "same_bytes", upload.ok, text))
    failed = result.failed_bounds
    if failed:
        listing = "\n".join(f"  - {b.name}: {b.message}" for b in failed)
        result.error = GateFailed(
            f"{len(failed)} gate bound(s) not met:\n{listing}",
            path=result.run.json_path,
            fix="improve the submission, or relax the bound if it no longer fits the goal",
        )
        result.verdict = Verdict.FAIL
    else:
        result.verdict = Verdict.PASS
    return _write(result)
