"""torchrun like the official multi-GPU launch: files split by rank, float32 sums all-reduced.

Runs with gloo on the CPU (the official uses NCCL on CUDA; the arithmetic is the same).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import make_submission

pytestmark = pytest.mark.slow


def _rank_sum(values: list[float], batch: int = 16) -> torch.Tensor:
    """One rank's official accumulation: float32 += per-batch sums."""
    acc = torch.zeros([])
    for i in range(0, len(values), batch):
        acc += torch.tensor(values[i : i + batch], dtype=torch.float32).sum()
    return acc


def test_two_ranks_split_videos_and_all_reduce(tmp_path: Path, golden_challenge: Path, expected: dict,
                                               candidate_raws: dict, gt_cache_dir: Path) -> None:
    exp = expected["candidates"]["near"]
    challenge = tmp_path / "challenge"
    (challenge / "videos").mkdir(parents=True)
    for name in ("0.mkv", "1.mkv"):  # the same content under two names: one video per rank
        (challenge / "videos" / name).symlink_to(golden_challenge / "videos" / "0.mkv")
    (challenge / "models").symlink_to(golden_challenge / "models")
    (challenge / "public_test_video_names.txt").write_text("0.mkv\n1.mkv\n")
    sub = make_submission(tmp_path / "sub", candidate_raws["near"], exp["archive_bytes"])
    (sub / "inflated" / "1.raw").symlink_to(candidate_raws["near"])
    out = tmp_path / "report.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # torchrun's own default; --threads pins torch's
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "vcc", "score", str(sub), "--challenge-dir", str(challenge), "--cache-dir", str(gt_cache_dir),
         "--json", str(out), "--quiet", "--threads", "2"],  # the golden figures' thread count
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(out.read_text())
    assert got["samples"] == 70
    assert [p["video"] for p in got["per_pair"]] == ["0.mkv"] * 35 + ["1.mkv"] * 35
    assert [p["posenet"] for p in got["per_pair"]] == exp["per_pair_posenet"] * 2
    assert [p["segnet"] for p in got["per_pair"]] == exp["per_pair_segnet"] * 2
    pose_sum = _rank_sum(exp["per_pair_posenet"]) + _rank_sum(exp["per_pair_posenet"])  # all_reduce
    seg_sum = _rank_sum(exp["per_pair_segnet"]) + _rank_sum(exp["per_pair_segnet"])
    assert got["posenet_distortion"] == (pose_sum / torch.tensor(70.0)).item()
    assert got["segnet_distortion"] == (seg_sum / torch.tensor(70.0)).item()
    assert proc.stdout.count("=== Evaluation results") == 1  # rank 0 alone reports
