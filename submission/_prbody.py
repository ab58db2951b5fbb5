"""`vcc pr-body`: the official pull-request template's sections, filled from the submission and its run.

The template (.github/pull_request_template.md of the official repository) asks, in this order,
for the submission's name, the archive upload, report.txt, whether inflate needs a GPU, whether
the compression script is included, whether the entry is competitive or innovative, and any
other comments. The headings are the template's own; every line under them is a fact vcc
measured (the archive's sha256 and size, the run's report and score, lint's findings) or a
placeholder the author fills (the download URL, the competitive/innovative case).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcc.base import OFFICIAL_ORIGINAL_BYTES, RUNNERS, BadInput, file_sha256

from ._custody import build_custody, custody_markdown
from ._files import ARCHIVE_NAME
from ._lint import LintConfig, LintResult, lint_submission
from ._names import check_submission_name, name_problems
from ._upload import UploadCheck, UploadConfig, check_upload

__all__ = [
    "TEMPLATE_HEADINGS",
    "URL_PLACEHOLDER",
    "PrBodyConfig",
    "PrBody",
    "name_problems",
    "build_pr_body",
    "load_run_report",
]

# The official template's headings, in its order (the rest of the template is comments).
TEMPLATE_HEADINGS = (
    "# submission name:",
    "# upload zipped `archive.zip`",
    "# report.txt",
    "# does your submission require gpu for evaluation (inflation)?",
    "# did you include the compression script? and want it to be merged?",
    "# is this submission competitive or innovative? explain why",
    "# additional comments",
)
URL_PLACEHOLDER = "<ARCHIVE_URL>"
RUN_SCHEMA_KEY = "vcc_run_schema"
_COMPRESS = re.compile(r"^compress[\w.-]*$|^(train|encode)[\w-]*\.(py|sh)$")


@dataclass(frozen=True)
class PrBodyConfig:
    submission_dir: Path
    runs: tuple[Path, ...]  # run.json of `vcc run` / `vcc gate` (OUT/run/run.json); one per runner kind
    lint: bool = True
    challenge_dir: Path | None = None  # the checkout whose master holds the taken names (default: the run's)
    archive_url: str | None = None  # fetched as the official job does; the custody block records the check


@dataclass
class PrBody:
    markdown: str
    warnings: list[str] = field(default_factory=list)
    custody: dict[str, Any] | None = None
    upload: UploadCheck | None = None

    @property
    def exit_code(self) -> int:
        """0, or the upload check's code when the URL does not serve archive.zip's bytes."""
        return 0 if self.upload is None else self.upload.exit_code


def load_run_report(path: Path) -> dict[str, Any]:
    """A run.json of `vcc run`, or BadInput naming the file."""
    try:
        report = json.loads(Path(path).read_text())
    except FileNotFoundError as e:
        raise BadInput("run report not found", path=path, fix="pass the run.json that `vcc run --out DIR` wrote") from e
    except (OSError, ValueError) as e:
        raise BadInput(f"run report is not readable JSON ({e})", path=path, fix="pass `vcc run`'s run.json") from e
    if not isinstance(report, dict) or RUN_SCHEMA_KEY not in report:
        raise BadInput(
            "not a `vcc run` report (no vcc_run_schema key)",
            path=path,
            fix="pass OUT/run.json of `vcc run` (or OUT/run/run.json of `vcc gate`), not a gate or score report",
        )
    if report.get("verdict") != "ok" or not isinstance(report.get("score"), dict):
        raise BadInput(
            f"the run did not score (verdict {report.get('verdict')!r})",
            path=path,
            fix="fix the submission and rerun `vcc run` until it scores",
        )
    return report


def _check_same_archive(sub: Path, archive_bytes: int, run: dict[str, Any], path: Path) -> None:
    ran = (run.get("submission") or {}).get("archive_bytes")
    if ran is not None and ran != archive_bytes:
        raise BadInput(
            f"the run scored an archive of {ran:,} bytes, {ARCHIVE_NAME} has {archive_bytes:,}",
            path=path,
            fix=f"rerun `vcc run {sub}` on the archive you will upload",
        )


def _gpu_answer(runs: list[dict[str, Any]], lint: LintResult | None) -> list[str]:
    kinds = {(r.get("runner") or {}).get("kind"): r for r in runs}
    gpu_findings = [f for f in (lint.findings if lint else []) if "gpu" in f.check]
    without_cuda = [k for k in kinds if k in RUNNERS and not RUNNERS[k].inflate_sees_cuda]
    with_cuda = [k for k in kinds if k in RUNNERS and RUNNERS[k].inflate_sees_cuda]
    lines: list[str]
    if without_cuda:
        lines = ["no", "", f"Evidence: `vcc run --runner {without_cuda[0]}` (no GPU visible to inflate) scored it."]
    elif gpu_findings and any(f.severity == "error" for f in gpu_findings):
        lines = ["yes", "", "Evidence: lint finds that inflate stops without CUDA; it was run on the T4 runner only."]
    else:
        lines = ["yes" if with_cuda else "unknown", "", "Evidence: it was run on the T4 runner only; "
                 "run `vcc run --runner cpu` to show that it does not need one."]  # fmt: skip
    for f in gpu_findings:
        lines.append(f"- lint {f.severity} [{f.check}] at {f.location()}: {f.message}")
    return lines


def _compress_answer(sub: Path) -> list[str]:
    found = sorted(p.name for p in sub.iterdir() if p.is_file() and _COMPRESS.match(p.name))
    if not found:
        return ["no", "", "(no compress.sh or compress.py in the submission dir)"]
    return ["yes", "", "Included: " + ", ".join(f"`{n}`" for n in found)]


def _additional(primary: dict[str, Any], runs: list[dict[str, Any]]) -> list[str]:
    lines = []
    for r in runs:
        s, runner, clock = r["score"], r.get("runner") or {}, r.get("clock") or {}
        lines.append(
            f"- {runner.get('kind', '?')} runner ({s.get('decode')} decode, device {s.get('device')}): full-precision "
            f"score {s['score']!r} (PoseNet {s['posenet_distortion']!r}, SegNet {s['segnet_distortion']!r}, "
            f"rate {s['rate']!r} over {s.get('samples')} samples)"
        )
        numerics = r.get("numerics") or s.get("numerics") or {}
        lines.append(f"  - numerics class {numerics.get('class', '?')}, profile {numerics.get('profile', '?')}")
        if clock.get("headroom_s") is not None:
            lines.append(
                f"  - runner headroom {clock['headroom_s']:.0f} s of the {clock.get('clock_s', 1800):.0f} s job "
                f"(inflate {clock.get('inflate_s', 0):.1f} s, scoring {clock.get('score_s', 0):.1f} s, setup "
                f"estimate {clock.get('setup_overhead_s', 0):.0f} s)"
            )
    missing = set(RUNNERS) - {(r.get("runner") or {}).get("kind") for r in runs}
    if missing:
        lines.append(f"- not measured on the {' and '.join(sorted(missing))} runner (pass another `--run`)")
    original = primary["score"].get("original_bytes")
    if original is not None and original != OFFICIAL_ORIGINAL_BYTES:
        lines.append(
            f"- scored against {original:,} original bytes, not the official {OFFICIAL_ORIGINAL_BYTES:,}: "
            "these figures are for a stand-in challenge"
        )
    lines.append("- figures measured with vcc (`vcc run`), which replays the official job")
    return lines


def build_pr_body(cfg: PrBodyConfig) -> PrBody:
    sub = Path(cfg.submission_dir)
    archive = sub / ARCHIVE_NAME
    if not sub.is_dir():
        raise BadInput("submission dir not found", path=sub, fix="pass the dir holding archive.zip and inflate.sh")
    if not archive.is_file():
        raise BadInput(f"{ARCHIVE_NAME} not found", path=archive, fix="pack it first (`vcc pack ... -o` there)")
    if not cfg.runs:
        raise BadInput("no run report", fix="pass --run OUT/run.json from `vcc run SUBMISSION_DIR --out OUT`")
    size, sha = archive.stat().st_size, file_sha256(archive)
    runs = []
    for path in cfg.runs:
        run = load_run_report(path)
        _check_same_archive(sub, size, run, path)
        runs.append(run)
    primary = runs[0]
    lint = lint_submission(LintConfig(sub)) if cfg.lint else None
    name = sub.resolve().name
    checkout = cfg.challenge_dir or (Path(primary["challenge_dir"]) if primary.get("challenge_dir") else None)
    ran_as = (primary.get("submission") or {}).get("name") or name
    name_findings = check_submission_name(ran_as, name, checkout)
    problems = [f.message for f in name_findings if not f.skipped]
    report = primary["score"].get("official_report") or ""
    upload = check_upload(UploadConfig(cfg.archive_url, sub)) if cfg.archive_url else None
    custody = build_custody(sub, runs, upload.as_json() if upload else None)
    url = cfg.archive_url or URL_PLACEHOLDER
    if upload is None:
        link_check = [f"- check the link before opening the PR: `vcc check-upload URL {sub}` (as the job's "
                      f"`curl -L -o archive.zip URL`) must give these bytes"]
    else:
        link_check = [f"- `vcc check-upload`: {upload.verdict.replace('_', ' ')} at {upload.checked_at}: "
                      f"{upload.message}"]

    sections: list[list[str]] = [
        [name] + [f"- naming: {p}" for p in problems],
        [url, "", f"- sha256 `{sha}`", f"- {size:,} bytes", *link_check],
        ["```", report.rstrip("\n"), "```"],
        _gpu_answer(runs, lint),
        _compress_answer(sub),
        ["(for the author)"],
        [*_additional(primary, runs), "", *custody_markdown(custody)],
    ]
    out = []
    for heading, body in zip(TEMPLATE_HEADINGS, sections, strict=True):
        out += [heading, *body, ""]
    warnings = [f"submission name: {f.message}" for f in name_findings]
    if lint is not None and lint.errors:
        warnings.append(f"lint finds {len(lint.errors)} error(s): run `vcc lint {sub}` before opening the PR")
    if upload is not None and not upload.ok:
        warnings.append(f"archive URL: {upload.verdict.replace('_', ' ')}: {upload.message}" +
                        (f"; fix: {upload.fix}" if upload.fix else ""))
    return PrBody("\n".join(out), warnings, custody, upload)
