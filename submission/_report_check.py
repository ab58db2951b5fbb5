"""`vcc check-report REPORT_OR_COMMENT --against vcc-report.json|run.json`: the bot's figures against vcc's.

The official job prints report.txt (SPEC.md section 3) and the bot posts it in the pull request as
`## Eval Results: \\`NAME\\`` with the report in a code block. Each printed figure is rounded (8
decimals for the distortions and the rate, thousands separators for sizes, 2 decimals for the
score); a figure agrees when vcc's full-precision value prints as the same text. The report's
`device:` line names its axis: a cuda report (DALI decode, nets on a T4) and a CPU score (PyAV, or
DALI emulated, nets on the CPU) differ in their float results, so they are not compared unless told.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcc.base import BadInput

__all__ = ["ReportFigures", "FigureCheck", "ReportCheck", "parse_official_report", "load_vcc_figures", "check_report"]

_HEADER = re.compile(r"^#+\s*Eval Results:\s*`([^`]+)`\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_CONFIG_START = "=== Evaluation config ==="
_CONFIG_LINE = re.compile(r"^\s*(\w+): (.*)$")
_RESULTS = re.compile(r"^=== Evaluation results over (\d+) samples ===$")
_DEC8 = r"(-?\d+\.\d{8}|nan|inf)"
# (figure, the line's pattern, what the line should read like)
_RESULT_LINES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("posenet_distortion", re.compile(rf"^\s*Average PoseNet Distortion: {_DEC8}$"),
     "  Average PoseNet Distortion: 0.38042614"),
    ("segnet_distortion", re.compile(rf"^\s*Average SegNet Distortion: {_DEC8}$"),
     "  Average SegNet Distortion: 0.00946623"),
    ("archive_bytes", re.compile(r"^\s*Submission file size: ([\d,]+) bytes$"),
     "  Submission file size: 2,244,900 bytes"),
    ("original_bytes", re.compile(r"^\s*Original uncompressed size: ([\d,]+) bytes$"),
     "  Original uncompressed size: 37,545,489 bytes"),
    ("rate", re.compile(rf"^\s*Compression Rate: {_DEC8}$"), "  Compression Rate: 0.05979147"),
    ("score", re.compile(r"^\s*Final score: 100\*segnet_dist \+ \u221a\(10\*posenet_dist\) \+ 25\*rate = "
                         r"(-?\d+\.\d{2}|nan|inf)$"),
     "  Final score: 100*segnet_dist + \u221a(10*posenet_dist) + 25*rate = 4.39"),
)
_DECIMALS = {"posenet_distortion": 8, "segnet_distortion": 8, "rate": 8, "score": 2}
_WHY_AXES = (
    "a cuda report decodes the ground truth with DALI and runs the nets on the T4's GPU; a CPU score decodes "
    "with PyAV (or emulates DALI) and runs the nets on the CPU: the float results differ, so the distortions "
    "disagree in their last printed decimals (or more) even for the same raws"
)


@dataclass
class ReportFigures:
    """What an official report prints, as text, with where each line was in the input."""

    source: Path
    name: str | None  # from the comment's heading
    config: dict[str, str]
    samples: str
    printed: dict[str, str]
    lines: dict[str, int]  # figure -> line number in the input (1-based)

    @property
    def device(self) -> str:
        return self.config["device"]


def _bad(path: Path, line: int | None, what: str, fix: str) -> BadInput:
    where = f"line {line}: " if line is not None else ""
    return BadInput(f"not an official report ({where}{what})", path=path, fix=fix)


def _report_block(path: Path, lines: list[str]) -> tuple[str | None, int, list[str]]:
    """(the comment's submission name or None, the 0-based index of the block's first line, its lines)."""
    fix = "pass report.txt as the job wrote it, or the bot's comment (`## Eval Results: `NAME`` and the code block)"
    for i, line in enumerate(lines):
        m = _HEADER.match(line.strip())
        if m is None:
            continue
        start = next((j for j in range(i + 1, len(lines)) if _FENCE.match(lines[j])), None)
        if start is None:
            raise _bad(path, i + 1, "the Eval Results heading has no code block after it", fix)
        end = next((j for j in range(start + 1, len(lines)) if _FENCE.match(lines[j])), None)
        if end is None:
            raise _bad(path, start + 1, "the code block is not closed (```)", fix)
        return m.group(1), start + 1, lines[start + 1 : end]
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    return None, first, lines[first:]


def parse_official_report(path: Path, text: str | None = None) -> ReportFigures:
    """report.txt or the bot's comment; BadInput naming the first line that is not the official format."""
    path = Path(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as e:
            raise BadInput("report not found", path=path, fix="pass report.txt or a file with the bot's comment") from e
        except (OSError, UnicodeDecodeError) as e:
            raise BadInput(f"report is not readable text ({e})", path=path, fix="pass report.txt as text") from e
    lines = [line.rstrip("\r\n\t ") for line in text.splitlines()]
    name, offset, block = _report_block(path, lines)
    fix = "paste the report exactly as the job printed it (SPEC.md section 3); no line may be edited or dropped"
    if not block or block[0].strip() != _CONFIG_START:
        got = block[0] if block else "(nothing)"
        raise _bad(path, offset + 1, f"expected {_CONFIG_START!r}, got {got!r}", fix)
    config: dict[str, str] = {}
    i = 1
    while i < len(block) and not _RESULTS.match(block[i].strip()):
        m = _CONFIG_LINE.match(block[i])
        if m is None:
            raise _bad(path, offset + i + 1, f"expected a config line `  key: value`, got {block[i]!r}", fix)
        config[m.group(1)] = m.group(2)
        i += 1
    if i >= len(block):
        raise _bad(path, offset + i + 1, "no '=== Evaluation results over N samples ===' line", fix)
    if "device" not in config:
        raise _bad(path, offset + 1, "the config block has no `device:` line", fix)
    samples = _RESULTS.match(block[i].strip()).group(1)  # type: ignore[union-attr]
    printed: dict[str, str] = {}
    where: dict[str, int] = {"samples": offset + i + 1}
    for k, (figure, pattern, example) in enumerate(_RESULT_LINES, start=i + 1):
        got = block[k] if k < len(block) else "(end of the report)"
        m = pattern.match(got)
        if m is None:
            raise _bad(path, offset + k + 1, f"expected a line like {example.strip()!r}, got {got.strip()!r}", fix)
        printed[figure], where[figure] = m.group(1), offset + k + 1
    return ReportFigures(path, name, config, samples, printed, where)


def load_vcc_figures(path: Path) -> dict[str, Any]:
    """vcc's full-precision figures from a vcc-report.json (`vcc score`) or a run.json (`vcc run`/`gate`)."""
    from vcc.runner._result import REPORT_SCHEMA
    from vcc.scorer._result import SCORE_SCHEMA

    path = Path(path)
    fix = "pass the vcc-report.json of `vcc score` or the run.json of `vcc run` that scored these raws"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise BadInput("vcc report not found", path=path, fix=fix) from e
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise BadInput(f"vcc report is not readable JSON ({e})", path=path, fix=fix) from e
    if not isinstance(data, dict):
        raise BadInput("not a vcc report (not a JSON object)", path=path, fix=fix)
    if "vcc_run_schema" in data:
        if data["vcc_run_schema"] != REPORT_SCHEMA:
            raise BadInput(f"a run.json of schema {data['vcc_run_schema']!r}; this vcc reads schema {REPORT_SCHEMA}",
                           path=path, fix="rerun `vcc run` with this vcc, or check with the vcc that wrote it")
        score = data.get("score")
        if not isinstance(score, dict):
            raise BadInput(f"the run did not score (verdict {data.get('verdict')!r})", path=path, fix=fix)
        return score
    if "vcc_score_schema" in data:
        if data["vcc_score_schema"] != SCORE_SCHEMA:
            raise BadInput(f"a vcc-report.json of schema {data['vcc_score_schema']!r}; this vcc reads schema "
                           f"{SCORE_SCHEMA}", path=path, fix="rescore with this vcc")
        return data
    raise BadInput("not a vcc score or run report (no vcc_score_schema or vcc_run_schema key)", path=path, fix=fix)


@dataclass(frozen=True)
class FigureCheck:
    figure: str
    line: int
    printed: str
    vcc: float | int | None
    vcc_printed: str | None
    agrees: bool
    difference: float | None  # vcc's value - the printed value
    last_digit_units: float | None  # the difference in units of the last printed decimal

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ReportCheck:
    report: ReportFigures
    against: Path
    axis: dict[str, Any]
    figures: list[FigureCheck] = field(default_factory=list)
    forced: bool = False

    @property
    def agrees(self) -> bool:
        return all(f.agrees for f in self.figures)

    @property
    def exit_code(self) -> int:
        return 0 if self.agrees else 1

    def as_json(self) -> dict[str, Any]:
        return {
            "report": str(self.report.source),
            "against": str(self.against),
            "name": self.report.name,
            "axis": self.axis,
            "forced": self.forced,
            "agrees": self.agrees,
            "figures": [f.as_json() for f in self.figures],
        }

    def summary(self) -> str:
        bad = [f for f in self.figures if not f.agrees]
        verdict = "AGREES" if not bad else f"DISAGREES in {len(bad)} figure(s)"
        name = f" `{self.report.name}`" if self.report.name else ""
        lines = [f"vcc check-report:{name} {verdict} (axis: {self.axis['label']})"]
        for f in self.figures:
            mark = "ok  " if f.agrees else "DIFF"
            text = f"  {mark} line {f.line:>3} {f.figure:<20} printed {f.printed:>14}  vcc {f.vcc!r}"
            if not f.agrees and f.difference is not None:
                units = "" if f.last_digit_units is None else f" = {f.last_digit_units:+.3g} in the last printed digit"
                text += f" (prints {f.vcc_printed}; off by {f.difference:+.3g}{units})"
            elif not f.agrees:
                text += f" (prints {f.vcc_printed})"
            lines.append(text)
        if self.forced:
            lines.append(f"  note: compared across axes (--force): {_WHY_AXES}")
        return "\n".join(lines)


def _axis(report: ReportFigures, vcc: dict[str, Any]) -> dict[str, Any]:
    rdev = report.device.strip().lower()
    vdev = str(vcc.get("device") or "?").lower()
    vdec = str(vcc.get("decode") or "?")
    report_gpu, vcc_gpu = rdev.startswith("cuda"), vdev.startswith("cuda")
    label = f"report device {rdev}; vcc device {vdev}, {vdec} decode"
    return {"report_device": rdev, "vcc_device": vdev, "vcc_decode": vdec, "same": report_gpu == vcc_gpu,
            "label": label}


def _check_figure(figure: str, line: int, printed: str, value: Any) -> FigureCheck:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return FigureCheck(figure, line, printed, None, None, False, None, None)
    if figure in ("archive_bytes", "original_bytes", "samples"):
        vp = f"{int(value):,}" if figure != "samples" else str(int(value))
        as_int = int(printed.replace(",", ""))
        return FigureCheck(figure, line, printed, value, vp, vp == printed, float(value - as_int), None)
    decimals = _DECIMALS[figure]
    vp = f"{value:.{decimals}f}"
    try:
        diff = float(value) - float(printed)
        units = diff * 10**decimals
    except ValueError:
        diff = units = None
    return FigureCheck(figure, line, printed, value, vp, vp == printed, diff, units)


def check_report(report_path: Path, against: Path, *, force: bool = False, text: str | None = None) -> ReportCheck:
    """Each printed figure of the official report against vcc's, within the printed rounding."""
    report = parse_official_report(report_path, text)
    vcc = load_vcc_figures(against)
    axis = _axis(report, vcc)
    if not axis["same"] and not force:
        raise BadInput(
            f"the report was made on device {axis['report_device']} and vcc's figures on device "
            f"{axis['vcc_device']} ({axis['vcc_decode']} decode): {_WHY_AXES}",
            path=Path(against),
            fix="compare with a vcc report made on the same axis (`vcc run --runner t4` on a CUDA machine for a "
            "cuda report, `--runner cpu` for a cpu one), or pass --force to compare anyway",
        )
    result = ReportCheck(report, Path(against), axis, forced=force and not axis["same"])
    result.figures.append(_check_figure("samples", report.lines["samples"], report.samples, vcc.get("samples")))
    for figure, printed in report.printed.items():
        result.figures.append(_check_figure(figure, report.lines[figure], printed, vcc.get(figure)))
    return result


def read_report_arg(arg: str) -> tuple[Path, str | None]:
    """REPORT_OR_COMMENT: a path, or `-` for the pasted text on standard input."""
    if arg == "-":
        return Path("<stdin>"), sys.stdin.read()
    return Path(arg), None
