"""`vcc pr-body`: the official template's headings in order, the naming rules, and bad run reports
(exit 2 naming the file). The body from a real run is checked in test_ci_workflow.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from vcc.submission import TEMPLATE_HEADINGS, PackConfig, name_problems, pack_archive
from vcc.submission.cli import main


def make_submission(root: Path, compress: bool = True) -> Path:
    root.mkdir(parents=True)
    (root / "inflate.sh").write_text('#!/usr/bin/env bash\nset -euo pipefail\npython3 "$(dirname "$0")/inflate.py" '
                                     '"$1" "$2" "$3"\n')  # fmt: skip
    (root / "inflate.py").write_text("import sys\nprint(sys.argv)\n")
    if compress:
        (root / "compress.sh").write_text("#!/usr/bin/env bash\necho compress\n")
    payload = root.parent / f"{root.name}.payload"
    payload.write_bytes(b"stream bytes " * 50)
    pack_archive(PackConfig([payload], root / "archive.zip"))
    return root


def run_report(sub: Path, kind: str = "cpu", score: float = 1.2345678901234567, **over) -> dict:
    report = {
        "vcc_run_schema": 1,
        "verdict": "ok",
        "submission": {"archive_bytes": (sub / "archive.zip").stat().st_size},
        "runner": {"kind": kind},
        "clock": {"clock_s": 1800.0, "headroom_s": 1234.5, "inflate_s": 12.0, "score_s": 50.0,
                  "setup_overhead_s": 150.0},
        "numerics": {"class": "AVX2-AuthenticAMD", "profile": "native"},
        "score": {"score": score, "posenet_distortion": 0.1, "segnet_distortion": 0.002, "rate": 0.01,
                  "samples": 600, "decode": "pyav" if kind == "cpu" else "dali", "device": "cpu",
                  "original_bytes": 37_545_489, "official_report": "=== Evaluation config ===\n  x: 1\n"},
    }  # fmt: skip
    report.update(over)
    return report


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_headings_are_the_templates_in_order_and_both_targets_are_reported(tmp_path, capsys):
    sub = make_submission(tmp_path / "my_entry")
    cpu = write(tmp_path / "cpu.json", run_report(sub))
    t4 = write(tmp_path / "t4.json", run_report(sub, kind="t4", score=1.25))
    assert main(["pr-body", str(sub), "--run", str(cpu), "--run", str(t4)]) == 0
    body = capsys.readouterr().out
    assert [line for line in body.splitlines() if line.startswith("# ")] == list(TEMPLATE_HEADINGS)
    assert len(TEMPLATE_HEADINGS) == 7
    sections = dict(zip(TEMPLATE_HEADINGS, re.split(r"^# .*$\n", body, flags=re.M)[1:], strict=True))
    assert sections[TEMPLATE_HEADINGS[0]].splitlines()[0] == "my_entry"
    assert "1.2345678901234567" in sections["# additional comments"] and "1.25" in sections["# additional comments"]
    assert "not measured" not in sections["# additional comments"]  # both runners given
    assert "AVX2-AuthenticAMD" in sections["# additional comments"]
    assert "1234 s" in sections["# additional comments"] or "1235 s" in sections["# additional comments"]
    assert sections["# report.txt"].startswith("```\n=== Evaluation config ===")


def test_compress_and_gpu_answers_follow_the_facts(tmp_path, capsys):
    sub = make_submission(tmp_path / "gpu_only", compress=False)
    t4 = write(tmp_path / "t4.json", run_report(sub, kind="t4"))
    out = tmp_path / "pr.md"
    assert main(["pr-body", str(sub), "--run", str(t4), "-o", str(out)]) == 0
    body = out.read_text()
    sections = dict(zip(TEMPLATE_HEADINGS, re.split(r"^# .*$\n", body, flags=re.M)[1:], strict=True))
    assert sections["# did you include the compression script? and want it to be merged?"].startswith("no")
    gpu = sections["# does your submission require gpu for evaluation (inflation)?"]
    assert gpu.startswith("yes") and "--runner cpu" in gpu
    assert "not measured on the cpu runner" in sections["# additional comments"]


@pytest.mark.parametrize("name, ok", [("my_entry", True), ("qpose14_r55", True), ("example-submission", False),
                                      ("2fast", False), ("class", False), ("MyEntry", False)])  # fmt: skip
def test_submission_names_are_checked_against_the_rules(name, ok):
    assert (name_problems(name) == []) is ok


def test_a_bad_name_is_reported_in_the_body_and_on_stderr(tmp_path, capsys):
    sub = make_submission(tmp_path / "my-entry")
    assert main(["pr-body", str(sub), "--run", str(write(tmp_path / "r.json", run_report(sub)))]) == 0
    out, err = capsys.readouterr()
    assert "not a Python identifier" in out and "warning: submission name" in err


@pytest.mark.parametrize(
    "report, message",
    [
        ({"vcc_gate_schema": 1, "verdict": "pass"}, "not a `vcc run` report"),
        ("not json", "not readable JSON"),
        ("failed", "the run did not score"),
        ("other archive", "the run scored an archive of"),
    ],
)
def test_bad_run_reports_exit_2_naming_the_file(tmp_path, capsys, report, message):
    sub = make_submission(tmp_path / "my_entry")
    path = tmp_path / "run.json"
    if report == "not json":
        path.write_text("{oops")
    elif report == "failed":
        write(path, run_report(sub, verdict="timeout", score=None) | {"score": None})
    elif report == "other archive":
        write(path, run_report(sub, submission={"archive_bytes": 1}))
    else:
        write(path, report)
    assert main(["pr-body", str(sub), "--run", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err and "fix:" in err


def test_missing_archive_exits_2(tmp_path, capsys):
    sub = make_submission(tmp_path / "my_entry")
    run = write(tmp_path / "r.json", run_report(sub))
    (sub / "archive.zip").unlink()
    assert main(["pr-body", str(sub), "--run", str(run)]) == 2
    assert "archive.zip not found" in capsys.readouterr().err
