"""`--numerics` and `--spread` on the golden data (slow: each profile runs both nets).

The golden figures hold for 2 threads on this machine's class (conftest's `expected`); the other
profiles' figures are checked against each other: the same profile through another path
(re-run of the CLI, the spread's child) must give the same bits.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import vcc
from vcc.base import HarnessError, cpu_info
from vcc.scorer import ScoreConfig, ScoreOptions, score_submission

from conftest import GOLDEN, GOLDEN_THREADS, make_submission

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spread(tmp_path_factory: pytest.TempPathFactory, golden_challenge: Path, expected: dict,
           candidate_raws: dict, gt_cache_dir: Path) -> dict:
    sub = make_submission(tmp_path_factory.mktemp("spread") / "near", candidate_raws["near"],
                          expected["candidates"]["near"]["archive_bytes"])
    rc = vcc.main(["score", str(sub), "--challenge-dir", str(golden_challenge), "--cache-dir", str(gt_cache_dir),
                   "--spread", "--quiet"])
    assert rc == 0
    report = json.loads((sub / "vcc-report.json").read_text())
    report["_dir"] = str(sub)
    return report


def test_spread_covers_profiles_and_threads(spread: dict, expected: dict) -> None:
    near = expected["candidates"]["near"]
    variants = {v["label"]: v for v in spread["spread"]["variants"]}
    # 2 native threads are the golden figures' setting, whatever this machine's default
    [two] = [v for v in variants.values() if v["profile"] == "native" and v["threads"] == GOLDEN_THREADS]
    assert (two["posenet_distortion"], two["segnet_distortion"], two["score"]) == (
        near["posenet_distortion"], near["segnet_distortion"], near["score"])
    assert {v["threads"] for v in variants.values() if v["profile"] == "native"} >= {1, 2, 4}
    runner, portable = variants["runner@4"], variants["portable@2"]
    assert runner["class"].startswith("AVX2-") and portable["class"].startswith("DEFAULT-")
    assert (runner["threads"], portable["threads"]) == (4, 2)

    summary = spread["spread"]["summary"]
    for figure in ("posenet_distortion", "segnet_distortion", "score"):
        values = [v[figure] for v in variants.values()]
        row = summary[figure]
        assert (row["min"], row["max"]) == (min(values), max(values))
        assert row["spread"] == row["max"] - row["min"] and row["native"] == spread[figure]
    assert summary["rate_term"]["spread"] == 0  # the rate does not depend on numerics
    # the main report is the native variant's, written as a plain score writes it
    assert spread["numerics"]["profile"] == "native"
    report_txt = (Path(spread["_dir"]) / "report.txt").read_text(encoding="utf-8")
    assert report_txt == spread["official_report"]

    # Measured, not asserted: whether this class reproduces the portable figures of another class.
    portable_file = GOLDEN / "expected-portable.json"
    if portable_file.is_file():
        official = json.loads(portable_file.read_text())["candidates"]["near"]
        same = (portable["posenet_distortion"], portable["segnet_distortion"]) == (
            official["posenet_distortion"], official["segnet_distortion"])
        print(f"portable@2 on {cpu_info().vendor} {'reproduces' if same else 'differs from'} expected-portable.json")


def test_cli_profile_rerun_equals_the_spread_child(spread: dict, tmp_path: Path, golden_challenge: Path,
                                                     expected: dict, candidate_raws: dict,
                                                     gt_cache_dir: Path) -> None:
    """vcc.main with torch loaded re-runs itself with the caps; same bits as the spread's runner child."""
    sub = make_submission(tmp_path / "near", candidate_raws["near"], expected["candidates"]["near"]["archive_bytes"])
    out = tmp_path / "r.json"
    rc = vcc.main(["score", str(sub), "--challenge-dir", str(golden_challenge), "--cache-dir", str(gt_cache_dir),
                   "--numerics", "runner", "--json", str(out), "--quiet"])
    assert rc == 0
    got = json.loads(out.read_text())
    runner = {v["label"]: v for v in spread["spread"]["variants"]}["runner@4"]
    assert got["numerics"]["caps"]["ATEN_CPU_CAPABILITY"] == "avx2" and got["numerics"]["torch_threads"] == 4
    assert (got["posenet_distortion"], got["segnet_distortion"], got["score"]) == (
        runner["posenet_distortion"], runner["segnet_distortion"], runner["score"])
    assert got["cache"] == "hit"  # the spread's runner child cached its ground truth under the runner key


def test_library_refuses_a_profile_it_cannot_apply(tmp_path: Path, golden_challenge: Path, expected: dict,
                                                   candidate_raws: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    sub = make_submission(tmp_path / "near", candidate_raws["near"], expected["candidates"]["near"]["archive_bytes"])
    with pytest.raises(HarnessError, match="must be applied before torch is imported"):
        score_submission(ScoreConfig(submission_dir=sub, challenge_dir=golden_challenge,
                                     options=ScoreOptions(numerics="runner"), progress=False))
    assert not (sub / "report.txt").exists()
