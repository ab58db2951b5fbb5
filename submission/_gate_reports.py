"""The gate's reports for CI: JUnit XML (one test case per lint check and per bound) and a Markdown summary.

Both are written for every outcome the gate reports (pass, fail, lint failure, a failed run): a
bound the gate never reached is a skipped test case saying why.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from vcc.base import GateFailed
from vcc.runner import Verdict

if TYPE_CHECKING:
    from ._gate import GateResult

__all__ = ["junit_xml", "summary_markdown"]


def _not_reached(result: GateResult) -> str:
    if result.verdict == Verdict.LINT_FAILED:
        return "not checked: lint found errors, the submission was not run"
    return f"not checked: the run ended with {result.verdict}"


def junit_xml(result: GateResult) -> str:
    suites = ET.Element("testsuites", name="vcc gate")
    cases: list[ET.Element] = []
    failures = skipped = 0
    if result.lint is not None:
        lint_suite = ET.SubElement(suites, "testsuite", name="vcc lint")
        for check in result.lint.checks:
            case = ET.SubElement(lint_suite, "testcase", classname="vcc.lint", name=check)
            found = [f for f in result.lint.findings if f.check == check]
            errors = [f for f in found if f.severity == "error"]
            if errors:
                failures += 1
                fail = ET.SubElement(case, "failure", message=errors[0].message, type="lint-error")
                fail.text = "\n".join(f.render() for f in errors)
            warnings = [f for f in found if f.severity != "error"]
            if warnings:
                ET.SubElement(case, "system-out").text = "\n".join(f.render() for f in warnings)
            cases.append(case)
        _counts(lint_suite, len(result.lint.checks), len({f.check for f in result.lint.errors}))
    bound_suite = ET.SubElement(suites, "testsuite", name="vcc gate bounds")
    run_case = ET.SubElement(bound_suite, "testcase", classname="vcc.gate", name="run")
    n_bound_failures = 0
    if result.verdict == Verdict.LINT_FAILED:
        ET.SubElement(run_case, "skipped", message=_not_reached(result))
        skipped += 1
    elif result.error is not None and not isinstance(result.error, GateFailed):
        # the run failed, or the gate refused it (a baseline of another challenge)
        ET.SubElement(run_case, "failure", message=result.verdict, type=result.verdict).text = result.error.render()
        n_bound_failures += 1
    elif result.run is not None:
        ET.SubElement(run_case, "system-out").text = result.run.message
    checked = {b.name: b for b in result.bounds}
    requested = result.config.bounds.requested()
    for name in requested:
        case = ET.SubElement(bound_suite, "testcase", classname="vcc.gate.bound", name=name)
        bound = checked.get(name)
        if bound is None:
            ET.SubElement(case, "skipped", message=_not_reached(result))
            skipped += 1
        elif not bound.ok:
            ET.SubElement(case, "failure", message=bound.message, type="bound")
            n_bound_failures += 1
        else:
            ET.SubElement(case, "system-out").text = bound.message
    _counts(bound_suite, 1 + len(requested), n_bound_failures, skipped)
    failures += n_bound_failures
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _counts(suite: ET.Element, tests: int, failures: int, skipped: int = 0) -> None:
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def summary_markdown(result: GateResult) -> str:
    cfg = result.config
    lines = [
        f"## vcc gate: {result.verdict.upper()}",
        "",
        f"Submission `{cfg.submission_dir}`, {cfg.run.runner} runner, exit code {result.exit_code}.",
        "",
    ]
    if result.run is not None and result.run.score_report:
        score = result.run.score_report
        lines += [f"Score (full precision): **{score.get('score')!r}** (PoseNet {score.get('posenet_distortion')!r}, "
                  f"SegNet {score.get('segnet_distortion')!r}, rate {score.get('rate')!r}, archive "
                  f"{score.get('archive_bytes')} bytes)", ""]  # fmt: skip
    if result.baseline is not None:
        lines += [f"Baseline: {result.baseline.score!r} ({result.baseline.kind} report `{result.baseline.path}`)", ""]
    requested = cfg.bounds.requested()
    if requested:
        checked = {b.name: b for b in result.bounds}
        lines += ["| bound | limit | actual | result | detail |", "|---|---|---|---|---|"]
        for name in requested:
            b = checked.get(name)
            if b is None:
                lines.append(f"| {name} | | | skipped | {_cell(_not_reached(result))} |")
            else:
                lines.append(f"| {name} | {b.limit!r} | {b.actual!r} | {'pass' if b.ok else 'FAIL'} | "
                             f"{_cell(b.message)} |")  # fmt: skip
        lines.append("")
    if result.lint is not None:
        lines.append(f"Lint: {len(result.lint.errors)} error(s), {len(result.lint.warnings)} warning(s) over "
                     f"{len(result.lint.checks)} checks.")  # fmt: skip
        lines += [f"- {f.severity} `{f.check}` at `{f.location()}`: {_cell(f.message)}" for f in result.lint.findings]
        lines.append("")
    if result.error is not None:
        lines += ["```", result.error.render(), "```", ""]
    return "\n".join(lines)
