"""The scorer against the golden figures for this machine's CPU class: float equality.

`expected` (conftest) is the official code's figures for this class where ../shared/golden has
them, else vcc's reference loop run here; no figure is written into a test.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import vcc
from vcc.scorer import GroundTruthCache, ScoreConfig, ScoreOptions, iter_rgb_frames, score_submission

from conftest import GOLDEN_THREADS, GoldenFigures, make_submission

pytestmark = pytest.mark.slow


def _score(sub: Path, challenge: Path, cache_dir: Path | None, **kw: object):
    options = ScoreOptions(cache_dir=cache_dir, use_cache=cache_dir is not None, threads=GOLDEN_THREADS)
    cfg = ScoreConfig(submission_dir=sub, challenge_dir=challenge, options=options, progress=False, **kw)
    return score_submission(cfg)


def _assert_matches(result_json: dict, exp: dict) -> None:
    for key in ("samples", "posenet_distortion", "segnet_distortion", "rate", "score", "archive_bytes",
                "original_bytes"):
        assert result_json[key] == exp[key], key
    assert [p["posenet"] for p in result_json["per_pair"]] == exp["per_pair_posenet"]
    assert [p["segnet"] for p in result_json["per_pair"]] == exp["per_pair_segnet"]


def test_pyav_frames_equal_golden_sha256(golden_challenge: Path, expected: dict) -> None:
    got = [hashlib.sha256(np.ascontiguousarray(f).tobytes()).hexdigest()
           for f in iter_rgb_frames(golden_challenge / "videos" / "0.mkv")]
    assert got == expected["pyav_frame_sha256"]


def test_reference_loop_matches_the_official_figures(tmp_path: Path, golden_challenge: Path,
                                                     golden_figures: GoldenFigures, candidate_raws: dict) -> None:
    """vcc's reference loop, which stands in for the official figures on other classes, is exact itself."""
    if golden_figures.source != "official":
        pytest.skip(f"no official golden figures for CPU numerics class {golden_figures.numerics_class}: "
                    "nothing to check the reference loop against here")
    exp = golden_figures.data["candidates"]["near"]
    sub = make_submission(tmp_path / "near", candidate_raws["near"], exp["archive_bytes"])
    _assert_matches(_score(sub, golden_challenge, None, reference_loop=True).as_json(), exp)


def test_near_exact_and_reports(tmp_path: Path, golden_challenge: Path, expected: dict, golden_figures: GoldenFigures,
                                candidate_raws: dict, gt_cache_dir: Path) -> None:
    exp = expected["candidates"]["near"]
    sub = make_submission(tmp_path / "near", candidate_raws["near"], exp["archive_bytes"])
    result = _score(sub, golden_challenge, gt_cache_dir)
    _assert_matches(result.as_json(), exp)

    report = (sub / "report.txt").read_text(encoding="utf-8")
    assert report == result.primary.official_report
    assert report.startswith("=== Evaluation config ===\n  batch_size: 16\n  device: cpu\n")
    assert "=== Evaluation results over 35 samples ===\n" in report
    assert f"  Average PoseNet Distortion: {exp['posenet_distortion']:.8f}\n" in report
    assert "  Submission file size: 123,456 bytes\n" in report
    assert "  Original uncompressed size: 656,047 bytes\n" in report
    assert report.endswith(f"= {exp['score']:.2f}\n")

    written = json.loads((sub / "vcc-report.json").read_text())
    assert written["score"] == exp["score"]
    assert written["decode"] == "pyav" and written["device"] == "cpu"
    assert written["peak_rss_bytes"] > 100 << 20  # torch and both nets were resident
    numerics = written["numerics"]
    assert numerics["class"] == golden_figures.numerics_class and numerics["torch_threads"] == GOLDEN_THREADS
    assert numerics["profile"] == "native" and set(numerics["cpu"]["flags"]) >= {"avx2", "avx512f", "amx_tile"}
    assert set(written["versions"]) >= {"python", "torch", "timm", "segmentation-models-pytorch", "av", "numpy"}
    assert written["assets"]["videos/0.mkv"]["official"] is False
    assert any("will not match the leaderboard" in w for w in written["warnings"])
    assert written["per_pair"][0] == {"pair": 0, "video": "0.mkv", "posenet": exp["per_pair_posenet"][0],
                                      "segnet": exp["per_pair_segnet"][0]}
    # the submission gained only the two reports
    assert sorted(p.name for p in sub.iterdir()) == ["archive.zip", "inflated", "report.txt", "vcc-report.json"]


def test_coarse_exact_through_cli(tmp_path: Path, golden_challenge: Path, expected: dict,
                                  candidate_raws: dict, gt_cache_dir: Path,
                                  capsys: pytest.CaptureFixture) -> None:
    exp = expected["candidates"]["coarse"]
    sub = make_submission(tmp_path / "coarse", candidate_raws["coarse"], exp["archive_bytes"])
    out_json = tmp_path / "out" / "r.json"
    rc = vcc.main(["score", str(sub), "--challenge-dir", str(golden_challenge), "--cache-dir",
                   str(gt_cache_dir), "--json", str(out_json), "--quiet", "--threads", str(GOLDEN_THREADS)])
    assert rc == 0
    _assert_matches(json.loads(out_json.read_text()), exp)
    printed = capsys.readouterr().out
    assert repr(exp["score"]) in printed  # full precision on the terminal


def test_cache_off_equals_cache_on(tmp_path: Path, golden_challenge: Path, expected: dict,
                                   candidate_raws: dict, gt_cache_dir: Path) -> None:
    exp = expected["candidates"]["near"]
    sub = make_submission(tmp_path / "near", candidate_raws["near"], exp["archive_bytes"])
    warm = _score(sub, golden_challenge, gt_cache_dir)
    cold = _score(sub, golden_challenge, None)
    assert warm.primary.cache == "hit" and cold.primary.cache == "off"
    assert warm.primary.per_pair == cold.primary.per_pair
    assert (warm.score, warm.primary.posenet_distortion, warm.primary.segnet_distortion) == (
        cold.score, cold.primary.posenet_distortion, cold.primary.segnet_distortion)
    _assert_matches(cold.as_json(), exp)


def test_corrupt_cache_entry_is_rebuilt(tmp_path: Path, golden_challenge: Path, expected: dict,
                                        candidate_raws: dict, gt_cache_dir: Path) -> None:
    exp = expected["candidates"]["coarse"]
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    # The pyav entry of this configuration, whichever tests filled the session cache before.
    _score(make_submission(tmp_path / "fill", candidate_raws["coarse"], exp["archive_bytes"]), golden_challenge,
           gt_cache_dir, write_reports=False)
    [entry] = [e for e in GroundTruthCache(gt_cache_dir).entries()
               if e.key["decode"] == "pyav" and e.key["threads"] == GOLDEN_THREADS
               and e.key["numerics"]["profile"] == "native"]
    corrupt = cache_dir / entry.path.name
    blob = bytearray(entry.path.read_bytes())
    blob[-1000] ^= 0xFF  # one flipped byte in the SegNet maps
    corrupt.write_bytes(bytes(blob))
    sub = make_submission(tmp_path / "coarse", candidate_raws["coarse"], exp["archive_bytes"])
    result = _score(sub, golden_challenge, cache_dir)
    assert result.primary.cache == "miss"
    _assert_matches(result.as_json(), exp)
    assert corrupt.read_bytes() == entry.path.read_bytes()  # rebuilt, identical to the good entry


def test_short_raw_official_truncation(tmp_path: Path, golden_challenge: Path, expected: dict,
                                       candidate_raws: dict, gt_cache_dir: Path) -> None:
    exp = expected["candidates"]["short"]
    sub = make_submission(tmp_path / "short", candidate_raws["short"], exp["archive_bytes"])
    rc = vcc.main(["score", str(sub), "--challenge-dir", str(golden_challenge), "--cache-dir",
                   str(gt_cache_dir), "--official-truncation", "--quiet", "--threads", str(GOLDEN_THREADS)])
    assert rc == 2  # still invalid
    written = json.loads((sub / "vcc-report.json").read_text())
    assert written["truncated"] is True
    _assert_matches(written, exp)


def test_decode_both_keeps_pyav_exact(tmp_path: Path, golden_challenge: Path, expected: dict,
                                      candidate_raws: dict, gt_cache_dir: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    exp = expected["candidates"]["near"]
    sub = make_submission(tmp_path / "near", candidate_raws["near"], exp["archive_bytes"])
    rc = vcc.main(["score", str(sub), "--challenge-dir", str(golden_challenge), "--cache-dir",
                   str(gt_cache_dir), "--decode", "both", "--quiet", "--threads", str(GOLDEN_THREADS)])
    assert rc == 0
    written = json.loads((sub / "vcc-report.json").read_text())
    _assert_matches(written, exp)  # the primary (pyav) half stays exact
    assert list(written["targets"]) == ["pyav", "dali-emulated"]
    dali = written["targets"]["dali-emulated"]
    assert dali["samples"] == 35 and dali["score"] != exp["score"]  # a different target
    comparison = written["comparison"]
    assert comparison["deltas"]["score"] == pytest.approx(dali["score"] - exp["score"])
    assert comparison["deltas"]["rate"] == 0
    assert len(comparison["pairs_moving_most"]) == 10
    assert any("dali-emulated" in w and "approximates" in w for w in written["warnings"])
    printed = capsys.readouterr().out
    assert "against dali-emulated ground truth" in printed and "dali-emulated minus pyav" in printed
    # both ground truths were cached, so the next `both` runs only the candidate's forward
    decodes = {e.key["decode"] for e in GroundTruthCache(gt_cache_dir).entries()}
    assert {"pyav", "dali-emulated:1.52"} <= decodes
