"""`vcc check-report`: the bot's report (report.txt, or the PR comment pasted) against vcc's figures.

Fast cases use a score report written by the scorer's own classes (helpers.synthetic_score_report)
and report.txt as the scorer's official_report_text prints it; the slow case checks vcc's own
report.txt and run.json from a real `vcc run` of the demo.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vcc.base import BadInput
from vcc.scorer import official_report_text
from vcc.submission._report_check import check_report, parse_official_report
from vcc.submission.cli import main as sub_main

from helpers import synthetic_score_report

CONFIG = {"batch_size": 16, "device": "cpu", "num_threads": 2, "prefetch_queue_depth": 4,
          "report": "./submissions/mine/report.txt", "seed": 1234, "submission_dir": "./submissions/mine",
          "uncompressed_dir": "./videos", "video_names_file": "./public_test_video_names.txt"}


def report_for(score: dict, device: str = "cpu") -> str:
    return official_report_text(config={**CONFIG, "device": device}, samples=score["samples"],
                                posenet=score["posenet_distortion"], segnet=score["segnet_distortion"],
                                archive_bytes=score["archive_bytes"], original_bytes=score["original_bytes"],
                                rate=score["rate"], score=score["score"])


def comment(report: str, name: str = "mine") -> str:
    return f"Thanks for the PR!\n\n## Eval Results: `{name}`\n\n```\n{report}```\n\n<sub>run 123</sub>\n"


@pytest.fixture
def scored(tmp_path) -> tuple[Path, dict]:
    path = tmp_path / "vcc-report.json"
    return path, synthetic_score_report(path, archive_bytes=1_234_567, original_bytes=37_545_489)


def test_agrees_with_report_and_with_pasted_comment(tmp_path, scored):
    path, score = scored
    (tmp_path / "report.txt").write_text(report_for(score))
    r = check_report(tmp_path / "report.txt", path)
    assert r.agrees and {f.figure for f in r.figures} == {"samples", "posenet_distortion", "segnet_distortion",
                                                           "archive_bytes", "original_bytes", "rate", "score"}
    (tmp_path / "comment.md").write_text(comment(report_for(score)))
    r = check_report(tmp_path / "comment.md", path)
    assert r.agrees and r.report.name == "mine"
    assert r.figures[1].line == 17  # the PoseNet line, counted in the comment file


@pytest.mark.parametrize("figure, pattern", [
    ("posenet_distortion", "Average PoseNet Distortion: "),
    ("rate", "Compression Rate: "),
    ("score", "= "),
])
def test_one_unit_in_the_last_printed_decimal_is_caught(tmp_path, scored, figure, pattern):
    path, score = scored
    text = report_for(score)
    line = next(x for x in text.splitlines() if pattern in x and (figure != "score" or "Final" in x))
    head, value = line.rsplit(" ", 1)
    last = int(value[-1])
    bumped = value[:-1] + str((last + 1) % 10 if last < 9 else last - 1)
    (tmp_path / "r.txt").write_text(text.replace(line, f"{head} {bumped}"))
    r = check_report(tmp_path / "r.txt", path)
    bad = [f for f in r.figures if not f.agrees]
    assert [f.figure for f in bad] == [figure]
    assert abs(bad[0].last_digit_units) == pytest.approx(1, abs=0.5)
    assert r.exit_code == 1 and "DIFF" in r.summary()


def test_size_with_one_byte_more_is_caught(tmp_path, scored):
    path, score = scored
    text = report_for(score).replace("1,234,567 bytes", "1,234,568 bytes")
    (tmp_path / "r.txt").write_text(text)
    assert [f.figure for f in check_report(tmp_path / "r.txt", path).figures if not f.agrees] == ["archive_bytes"]


def test_cuda_report_against_cpu_figures_is_refused_unless_forced(tmp_path, scored):
    path, score = scored
    (tmp_path / "r.txt").write_text(report_for(score, device="cuda"))
    with pytest.raises(BadInput, match="DALI"):
        check_report(tmp_path / "r.txt", path)
    r = check_report(tmp_path / "r.txt", path, force=True)
    assert r.forced and r.axis["report_device"] == "cuda" and "--force" in r.summary()


def test_bad_input_names_the_line_and_the_schema(tmp_path, scored, capsys):
    path, score = scored
    lines = report_for(score).splitlines()
    lines[12] = "  Average SegNet Distortion: 0.0094"  # 4 decimals: not as printed
    (tmp_path / "r.txt").write_text("\n".join(lines))
    with pytest.raises(BadInput, match="line 13"):
        parse_official_report(tmp_path / "r.txt")
    (tmp_path / "other.json").write_text(json.dumps({"vcc_run_schema": 99}))
    (tmp_path / "ok.txt").write_text(report_for(score))
    assert sub_main(["check-report", str(tmp_path / "ok.txt"), "--against", str(tmp_path / "other.json")]) == 2
    assert "schema 99" in capsys.readouterr().err
    (tmp_path / "prose.md").write_text("## Eval Results: `x`\nno block here\n")
    assert sub_main(["check-report", str(tmp_path / "prose.md"), "--against", str(path)]) == 2
    assert "line 1" in capsys.readouterr().err


@pytest.mark.slow
def test_agrees_with_vccs_own_run(tmp_path):
    from vcc.demo import build_example_submission, cached_challenge
    from vcc.runner.cli import main as run_main

    challenge = cached_challenge(8, seed=0, cache_dir=tmp_path / "cache")
    sub = build_example_submission(challenge, tmp_path / "example")
    out = tmp_path / "out"
    assert run_main([str(sub), "--challenge-dir", str(challenge), "--out", str(out), "--quiet"]) == 0
    run_json, report = out / "run.json", out / "report.txt"
    assert check_report(report, run_json).agrees
    (tmp_path / "comment.md").write_text(comment(report.read_text(), "example"))
    assert sub_main(["check-report", str(tmp_path / "comment.md"), "--against", str(run_json)]) == 0
    score = json.loads(run_json.read_text())["score"]
    printed = f"{score['segnet_distortion']:.8f}"
    last = int(printed[-1])
    changed = printed[:-1] + str(last + 1 if last < 9 else last - 1)
    text = report.read_text().replace(f"SegNet Distortion: {printed}", f"SegNet Distortion: {changed}")
    (tmp_path / "changed.txt").write_text(text)
    bad = [f.figure for f in check_report(tmp_path / "changed.txt", run_json).figures if not f.agrees]
    assert bad == ["segnet_distortion"]
