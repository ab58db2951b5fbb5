"""The report commands on real scores: the golden candidate (per-pair table exactness, compare
across decode targets) and the demo challenge (plots that re-run the nets, the HTML with them in
Chromium). Each report is scored once per session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from test_reports import check_rendered, open_in_chromium

import vcc
from vcc.scorer import load_score_report, reaccumulate, read_pairs
from vcc.scorer._pairs import have_parquet

from conftest import GOLDEN_THREADS, make_submission

pytestmark = pytest.mark.slow

DEMO_FRAMES = 8


@pytest.fixture(scope="session")
def golden_reports(tmp_path_factory: pytest.TempPathFactory, golden_challenge: Path, expected: dict,
                   candidate_raws: dict, gt_cache_dir: Path) -> dict[str, Path]:
    """The golden `near` candidate scored on PyAV (with its per-pair table) and on DALI-emulated."""
    root = tmp_path_factory.mktemp("golden-reports")
    sub = make_submission(root / "near", candidate_raws["near"], expected["candidates"]["near"]["archive_bytes"])
    out = {}
    for decode in ("pyav", "dali-emulated"):
        out[decode] = root / f"{decode}.json"
        argv = ["score", str(sub), "--challenge-dir", str(golden_challenge), "--cache-dir", str(gt_cache_dir),
                "--threads", str(GOLDEN_THREADS), "--quiet", "--decode", decode, "--json", str(out[decode]),
                "--report", str(root / f"{decode}.txt")]
        if decode == "pyav":
            argv += ["--pairs", str(root / "pairs.csv")]
        assert vcc.main(argv) == 0
    out["pairs"] = root / "pairs.csv"
    return out


def test_golden_pairs_table_reproduces_the_averages_exactly(golden_reports: dict[str, Path], expected: dict) -> None:
    report = load_score_report(golden_reports["pyav"]).data
    exp = expected["candidates"]["near"]
    tables = [golden_reports["pairs"]] + ([golden_reports["pairs"].with_suffix(".parquet")] if have_parquet() else [])
    for path in tables:
        table = read_pairs(path, report, golden_reports["pyav"])  # refused unless it is this report's
        assert table["posenet"].tolist() == exp["per_pair_posenet"]
        # the official reduction over the table's columns: float32 sums per batch, float32 accumulators
        posenet, segnet, samples = reaccumulate(table)["pyav"]
        assert (posenet, segnet, samples) == (report["posenet_distortion"], report["segnet_distortion"],
                                              report["samples"]), path
        assert (posenet, segnet, samples) == (exp["posenet_distortion"], exp["segnet_distortion"], exp["samples"])
        # a plain float64 mean is close, not exact: the reason the table carries the batch column
        assert table["segnet"].mean() == pytest.approx(segnet, rel=1e-6)


def test_golden_compare_with_itself_is_zero(golden_reports: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "self.json"
    assert vcc.main(["compare", str(golden_reports["pyav"]), str(golden_reports["pyav"]), "--json", str(out)]) == 0
    [c] = json.loads(out.read_text())["comparisons"]
    assert set(c["deltas"].values()) == {0.0} and c["most_worse"] == c["most_better"] == []


def test_golden_compare_pyav_vs_dali_emulated_is_segnet_dominated(golden_reports: dict[str, Path], tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "targets.json"
    assert vcc.main(["compare", str(golden_reports["pyav"]), str(golden_reports["dali-emulated"]), "--json",
                     str(out)]) == 0
    printed = capsys.readouterr().out
    [c] = json.loads(out.read_text())["comparisons"]
    a, b = (json.loads(golden_reports[t].read_text()) for t in ("pyav", "dali-emulated"))
    d = c["deltas"]
    assert c["differs_in"] == {"decode": ["pyav", "dali-emulated"]}
    assert d["score"] == b["score"] - a["score"] != 0 and d["rate"] == 0
    assert abs(d["segnet"]) > 10 * abs(d["posenet"])  # the gap is SegNet's
    assert d["segnet"] + d["posenet"] + d["rate"] == pytest.approx(d["score"], abs=1e-12)
    assert len(c["per_pair"]) == a["samples"] and c["most_worse"] + c["most_better"]
    assert f"{d['score']:+}" in printed and f"{d['segnet']:+}" in printed


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo challenge (8 frames), its example submission inflated by its own inflate.sh, scored."""
    from vcc.demo import build_example_submission, cached_challenge

    root = tmp_path_factory.mktemp("demo-report")
    challenge = cached_challenge(DEMO_FRAMES, seed=0, cache_dir=root / "cache")
    sub = build_example_submission(challenge, root / "sub")
    with zipfile.ZipFile(sub / "archive.zip") as zf:
        zf.extractall(sub / "archive")
    subprocess.run(["bash", str(sub / "inflate.sh"), str(sub / "archive"), str(sub / "inflated"),
                    str(challenge / "public_test_video_names.txt")], check=True,
                   env={**os.environ, "PYTHON": sys.executable})
    report = root / "demo.json"
    assert vcc.main(["score", str(sub), "--challenge-dir", str(challenge), "--no-cache", "--quiet",
                     "--json", str(report), "--decode", "both"]) == 0
    return report


def test_demo_plots_rerun_the_nets_on_the_worst_pairs(demo_report: Path, tmp_path: Path) -> None:
    from vcc.scorer import rerun_pairs

    out = tmp_path / "plots"
    assert vcc.main(["plot", str(demo_report), "-o", str(out), "-k", "2", "--quiet"]) == 0
    index = json.loads((out / "plots.json").read_text())["plots"]
    assert [p["file"] for p in index] == ["distortions.png", "breakdown.png", "segnet_worst.png", "posenet_worst.png"]
    for p in index:
        assert (out / p["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = load_score_report(demo_report).data
    views, note = rerun_pairs(report, [(p["video"], p["pair"]) for p in report["per_pair"]], progress=False)
    assert note is None
    for v in views:  # the scorer's own code on the same frames: the report's figures again
        assert v.segnet == pytest.approx(v.reported_segnet, abs=20 / (384 * 512))
        assert v.posenet == pytest.approx(v.reported_posenet, rel=1e-3)
        assert v.original.shape == v.candidate.shape == (874, 1164, 3)


def test_demo_html_with_frame_plots_renders_in_chromium(demo_report: Path, tmp_path: Path) -> None:
    plots = tmp_path / "plots"
    assert vcc.main(["plot", str(demo_report), "-o", str(plots), "-k", "2", "--quiet"]) == 0
    html = tmp_path / "demo.html"
    assert vcc.main(["report", str(demo_report), "--plots", str(plots), "-o", str(html), "--quiet"]) == 0
    dom = open_in_chromium(html, tmp_path / "shot.png")
    check_rendered(dom, tmp_path / "shot.png", run=False)
    assert 'data-images-loaded="4"' in dom


def test_plot_refuses_when_the_raw_is_gone(demo_report: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    report = json.loads(demo_report.read_text())
    report["raws"][0]["path"] = str(tmp_path / "gone.raw")
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps(report))
    assert vcc.main(["plot", str(moved), "-o", str(tmp_path / "plots"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "raw is gone" in err and str(tmp_path / "gone.raw") in err
