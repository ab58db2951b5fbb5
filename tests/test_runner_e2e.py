"""`vcc run` end to end on the golden stand-in challenge: real inflates, real scoring (slow).

- the demo's example submission (compress.sh -> archive.zip -> inflate.sh);
- a submission in the official style: inflate.sh runs `python -m submissions.<name>.inflate`,
  which imports the checkout root's frame_utils. Its raws are the golden "near" candidate, so
  the distortions must equal the official evaluator's own figures in expected.json exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from vcc import demo
from vcc.runner.cli import main as run_main

from conftest import GOLDEN_THREADS
from helpers import SANDBOX_ARGS

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.slow


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def test_official_style_submission_scores_the_golden_figures(
    tmp_path, golden_checkout, golden_challenge, expected, candidate_raws
):
    challenge = golden_checkout
    sub = tmp_path / "official_style"
    shutil.copytree(HERE / "submissions" / "official_style", sub)
    with zipfile.ZipFile(sub / "archive.zip", "w") as zf:  # the stream itself, stored
        zf.write(golden_challenge / "videos" / "0.mkv", "v")
    out = tmp_path / "out"
    code = run_main([str(sub), "--challenge-dir", str(challenge), "--out", str(out), "--quiet", "--repeat", "2",
                     "--threads", str(GOLDEN_THREADS), *SANDBOX_ARGS])
    report = json.loads((out / "run.json").read_text())
    assert code == 0, report["message"] + report["inflate"]["stderr_tail"]
    assert report["verdict"] == "ok"
    assert report["repeat"]["deterministic"] is True
    assert report["raws"]["0.raw"]["sha256"] == sha256(candidate_raws["near"])

    near = expected["candidates"]["near"]
    score = report["score"]
    assert score["samples"] == near["samples"]
    assert score["posenet_distortion"] == near["posenet_distortion"]
    assert score["segnet_distortion"] == near["segnet_distortion"]
    archive_bytes = (sub / "archive.zip").stat().st_size
    rate = archive_bytes / near["original_bytes"]
    assert score["archive_bytes"] == archive_bytes
    assert score["score"] == 100 * near["segnet_distortion"] + math.sqrt(near["posenet_distortion"] * 10) + 25 * rate
    text = (out / "report.txt").read_text()
    assert text.startswith("=== Evaluation config ===")
    # Paths as the official job gives them (relative to the repository root), not vcc's staged copy.
    assert "  submission_dir: ./submissions/official_style\n" in text
    assert "  report: ./submissions/official_style/report.txt\n" in text
    assert str(tmp_path) not in text

    clock, phases = report["clock"], report["phases"]
    for key in ("extract_s", "inflate_s", "score_s"):
        assert phases[key] > 0
    assert clock["score_s_basis"] == "measured on this machine"
    used = clock["setup_overhead_s"] + phases["extract_s"] + phases["inflate_s"] + phases["score_s"]
    assert clock["headroom_s"] == pytest.approx(clock["clock_s"] - used, abs=0.01)
    assert 0 < clock["inflate_budget_s"] < clock["clock_s"]


def test_demo_submission_runs_end_to_end(tmp_path, golden_challenge):
    example = Path(demo.__file__).resolve().parent / "example_submission"
    if not (example / "inflate.sh").is_file():
        pytest.skip("the demo's example submission is not in this checkout")
    sub = tmp_path / "demo"
    shutil.copytree(example, sub)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    names = golden_challenge / "public_test_video_names.txt"
    subprocess.run(
        ["bash", str(sub / "compress.sh"), str(golden_challenge / "videos"), str(sub), str(names)],
        check=True,
        env=env,
    )
    # What the demo's inflate writes, run directly (no sandbox) for comparison.
    direct = tmp_path / "direct"
    with zipfile.ZipFile(sub / "archive.zip") as zf:
        zf.extractall(direct / "archive")
    subprocess.run(
        ["bash", str(sub / "inflate.sh"), str(direct / "archive"), str(direct / "inflated"), str(names)],
        check=True,
        env=env,
    )
    out = tmp_path / "out"
    code = run_main([str(sub), "--challenge-dir", str(golden_challenge), "--out", str(out), "--quiet", *SANDBOX_ARGS])
    report = json.loads((out / "run.json").read_text())
    assert code == 0, report["message"]
    assert report["raws"]["0.raw"]["sha256"] == sha256(direct / "inflated" / "0.raw")
    assert report["score"]["samples"] == 35
    assert report["score"]["archive_bytes"] == (sub / "archive.zip").stat().st_size
    assert report["runner"]["score_decode"] == "pyav"
    assert not (sub / "inflated").exists()  # the user's dir only gained what compress.sh wrote
