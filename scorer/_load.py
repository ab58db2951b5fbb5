"""Reading reports back: a score JSON (or run.json's score), a run.json, a per-pair table.

Every refusal is bad input (exit 2) naming the file and the fix: not JSON or truncated, JSON of
another schema, a run without a score, a target the report lacks. Torch-free.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vcc.base import BadInput

from ._compare import LoadedReport
from ._result import SCORE_SCHEMA

__all__ = ["REQUIRED_SCORE_KEYS", "read_json", "load_score_report", "select_target", "load_run_report",
           "check_output_file", "check_output_dir"]

# What every score report since the first has (schema 1 added decomposition, batch_size, paths).
REQUIRED_SCORE_KEYS = ("decode", "samples", "posenet_distortion", "segnet_distortion", "rate", "score", "terms",
                       "per_pair", "archive_bytes", "original_bytes", "assets")
_SCORE_FIX = "pass the JSON report `vcc score` writes (SUBMISSION_DIR/vcc-report.json, or --json PATH) or a run.json"


def read_json(path: Path, what: str) -> Any:
    path = Path(path)
    if path.is_dir():
        raise BadInput(f"{what} is a directory, not a JSON file", path=path, fix=_SCORE_FIX)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{what} not found", path=path, fix=_SCORE_FIX) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read {what}: {exc}", path=path, fix=_SCORE_FIX) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        ends_early = exc.pos >= len(text.rstrip()) or not text.rstrip().endswith(("}", "]"))
        hint = "it ends early: truncated (a write cut short?)" if ends_early else "not JSON"
        raise BadInput(f"{what} is not valid JSON ({hint}: {exc.msg} at line {exc.lineno} column {exc.colno})",
                       path=path, fix="re-create it (rerun `vcc score`/`vcc run`); " + _SCORE_FIX) from None


def _kind(data: Any) -> str:
    """What a JSON that is not a score report looks like, for the message."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}"
    for key, kind in (("vcc_sample_schema", "a sampled ESTIMATE (vcc score --sample; compare candidates on the "
                       "same pairs with vcc compare --sample K A_DIR B_DIR)"),
                      ("vcc_run_schema", "a vcc run report"), ("spread", "a spread report"),
                      ("checks", "a lint report"), ("members", "a manifest"), ("bounds", "a gate report")):
        if key in data:
            return kind
    return "JSON of another schema"


def _check_score(data: Any, path: Path) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadInput(f"not a vcc score report ({_kind(data)})", path=path, fix=_SCORE_FIX)
    schema = data.get("vcc_score_schema", SCORE_SCHEMA)
    if not isinstance(schema, int) or schema > SCORE_SCHEMA:
        raise BadInput(f"score report schema {schema!r} is newer than this vcc reads ({SCORE_SCHEMA})",
                       path=path, fix="upgrade vcc, or rescore with this one")
    missing = [k for k in REQUIRED_SCORE_KEYS if k not in data]
    if missing:
        raise BadInput(f"not a vcc score report ({_kind(data)}: no {', '.join(missing)})", path=path, fix=_SCORE_FIX)
    pairs = data["per_pair"]
    if not isinstance(pairs, list) or len(pairs) != data["samples"] or not all(
            isinstance(p, dict) and {"video", "pair", "posenet", "segnet"} <= set(p) for p in pairs):
        raise BadInput(f"the score report's per_pair list does not hold its {data['samples']} samples",
                       path=path, fix="re-create it with `vcc score`")
    return data


def load_score_report(path: Path, target: str | None = None) -> LoadedReport:
    """A score report, or a run.json's score; `target` picks one of a `--decode both` report's targets.

    `PATH#TARGET` also picks a target (when PATH#TARGET itself is not a file)."""
    path = Path(path)
    if target is None and not path.exists() and "#" in path.name:
        name, _, target = str(path).rpartition("#")
        path = Path(name)
    data = read_json(path, "report")
    if isinstance(data, dict) and "vcc_run_schema" in data:
        if not data.get("score"):
            raise BadInput("this run report holds no score (the run failed, or ran with --no-score)", path=path,
                           fix="rerun `vcc run` with scoring, or pass the score JSON")
        data = data["score"]
    return LoadedReport(path, select_target(_check_score(data, path), target, path))


def select_target(report: dict[str, Any], target: str | None, path: Path) -> dict[str, Any]:
    """The report seen from one target: its figures over the shared context (assets, numerics, ...)."""
    if target is None or target == report["decode"]:
        return report
    targets = report.get("targets") or {}
    if target not in targets:
        have = ", ".join([report["decode"], *[t for t in targets if t != report["decode"]]])
        raise BadInput(f"the report has no {target!r} target (it has: {have})", path=path,
                       fix="score with --decode both for both targets, or pick one it has (PATH#TARGET)")
    view = {k: v for k, v in report.items() if k not in ("targets", "comparison")}
    view.update(targets[target])
    return view


def load_run_report(path: Path) -> dict[str, Any]:
    data = read_json(path, "run report")
    if not isinstance(data, dict) or "vcc_run_schema" not in data:
        raise BadInput(f"not a vcc run report ({_kind(data)})", path=path,
                       fix="pass the run.json `vcc run` writes in its --out directory")
    return data


def check_output_file(path: Path, what: str, example: str) -> Path:
    """An output file path: refused (before any work) when it names a directory."""
    path = Path(path)
    if path.is_dir():
        raise BadInput(f"the {what} output path is a directory", path=path,
                       fix=f"give a file path, e.g. {path / example}")
    return path


def check_output_dir(path: Path, what: str) -> Path:
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BadInput(f"the {what} output directory is a file", path=path,
                       fix="give a directory path (it is created if missing)")
    return path
