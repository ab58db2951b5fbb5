"""`--workers`: the official loop's steps sharded across processes, reduced in the official order.

The fast tests check the plan (which steps, which shard), the read-ahead rule and its byte bound,
and that a worker's float32 partials survive the trip exactly. The slow ones score the golden
candidate with 2 workers of 1 thread and with 1 worker of 1 thread and compare every figure, bit
for bit, on the cache-off and the cache-on paths (the figures are never written into a test).
"""

from __future__ import annotations

import json
import random
import struct
import threading
import time
from pathlib import Path

import pytest
import torch

import vcc
from vcc.base import BadInput
from vcc.scorer import GroundTruthCache, ScoreConfig, ScoreOptions, batch_sizes, official_loop_outcome
from vcc.scorer._batches import (
    READ_AHEAD_BYTES,
    BatchPart,
    plan_jobs,
    read_ahead_bytes,
    split_jobs,
)
from vcc.scorer._score import Accumulator
from vcc.scorer._streams import prefetch

from conftest import make_submission


@pytest.mark.parametrize(("gt", "cand"), [([35], [35]), ([35, 40], [35, 40]), ([35, 48], [35, 32]), ([16], [16])])
def test_plan_is_the_official_zip(gt: list[int], cand: list[int]) -> None:
    jobs = plan_jobs(gt, cand, 16)
    completes, scored, _ = official_loop_outcome(gt, cand, 16)
    assert completes and sum(j.size for j in jobs) == scored
    assert [j.index for j in jobs] == list(range(len(jobs)))
    gt_steps = [(v, b) for v, p in enumerate(gt) for b in range(len(batch_sizes(p, 16)))]
    assert [(j.video, j.gt_batch) for j in jobs] == gt_steps[: len(jobs)]  # ground truth video after video


@pytest.mark.parametrize(("pairs", "shards"), [([35], 2), ([600], 4), ([70], 8), ([16], 1), ([35, 40, 3], 3),
                                               ([16, 1, 1], 3)])
def test_shards_are_contiguous_and_even_in_pairs(pairs: list[int], shards: int) -> None:
    jobs = plan_jobs(pairs, pairs, 16)
    parts = split_jobs(jobs, shards)
    assert [j for part in parts for j in part] == jobs  # every step once, in order
    assert all(parts) and len(parts) <= min(shards, len(jobs))
    sizes = [sum(j.size for j in part) for part in parts]
    assert max(sizes) - min(sizes) <= 16  # within a batch of each other
    if pairs == [35]:
        assert sizes == [16, 19]  # not [32, 3]


def test_workers_default_and_read_ahead_rule() -> None:
    def workers(threads: int, cores: int) -> int | None:
        return ScoreOptions(threads=threads).resolved(default_threads=1, cores=cores).workers

    assert workers(4, cores=16) == 4 and workers(1, cores=2) == 2
    assert workers(4, cores=2) == 1  # at least one
    # A reader thread only where each worker has a core of its own for it.
    assert read_ahead_bytes(1, 2, cores=2) == 0
    assert read_ahead_bytes(2, 1, cores=2) == 0
    assert read_ahead_bytes(4, 4, cores=16) == 0
    assert read_ahead_bytes(1, 2, cores=4) == READ_AHEAD_BYTES
    assert read_ahead_bytes(3, 4, cores=16) == READ_AHEAD_BYTES


def test_workers_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="--workers must be at least 1"):
        ScoreConfig(submission_dir=tmp_path, challenge_dir=tmp_path, options=ScoreOptions(workers=0))


class _Item:
    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes


def test_prefetch_is_bounded_by_bytes() -> None:
    produced = 0
    lock = threading.Lock()

    def items():
        nonlocal produced
        for _ in range(12):
            with lock:
                produced += 1
            yield _Item(40)

    consumed, most_ahead = 0, 0
    for _ in prefetch(items(), max_bytes=100):
        consumed += 1
        time.sleep(0.02)  # a slow consumer: the producer runs as far ahead as the bytes allow
        with lock:
            most_ahead = max(most_ahead, produced - consumed)
    assert consumed == 12
    assert 1 <= most_ahead <= 100 // 40  # two 40-byte items fit in 100 bytes, a third does not


def test_prefetch_reraises_and_inline_when_no_budget() -> None:
    def failing():
        yield _Item(1)
        raise ValueError("decode failed")

    with pytest.raises(ValueError, match="decode failed"):
        list(prefetch(failing(), max_bytes=10))
    assert [i.nbytes for i in prefetch(iter([_Item(3), _Item(4)]), 0)] == [3, 4]


def test_a_partial_that_crossed_processes_adds_to_the_same_bits() -> None:
    rng = random.Random(7)
    local, crossed = Accumulator(torch.device("cpu")), Accumulator(torch.device("cpu"))
    for step in range(50):
        pose = torch.tensor([rng.random() * 10 ** rng.randint(-9, 0) for _ in range(16)], dtype=torch.float32)
        seg = torch.tensor([rng.random() for _ in range(16)], dtype=torch.float32)
        local.update(pose, seg, "0.mkv", 16 * step)
        part = BatchPart(pose.sum(), seg.sum(), 16, pose.tolist(), seg.tolist())
        crossed.add(BatchPart(float(part.pose_sum.item()), float(part.seg_sum.item()), 16, part.posenet,
                              part.segnet), "0.mkv", 16 * step)
    bits = [struct.pack("<f", t.item()) for a in (local, crossed) for t in (a.pose_sum, a.seg_sum, a.count)]
    assert bits[:3] == bits[3:]
    assert local.compute() == crossed.compute() and local.per_pair == crossed.per_pair


# --- the golden candidate, 2 workers of 1 thread against 1 worker of 1 thread ---------------------

_FIGURES = ("samples", "posenet_distortion", "segnet_distortion", "rate", "score", "per_pair")


def _vcc_score(sub: Path, challenge: Path, out: Path, workers: int, *extra: str) -> dict:
    rc = vcc.main(["score", str(sub), "--challenge-dir", str(challenge), "--json", str(out), "--report",
                   str(out.with_suffix(".txt")), "--quiet", "--threads", "1", "--workers", str(workers), *extra])
    assert rc == 0
    return json.loads(out.read_text())


def _same(a: dict, b: dict) -> None:
    for key in _FIGURES:
        assert a[key] == b[key], key
    assert a.get("targets", {}).keys() == b.get("targets", {}).keys()
    for decode in a.get("targets", {}):
        for key in _FIGURES:
            assert a["targets"][decode][key] == b["targets"][decode][key], (decode, key)
    def report(r: dict) -> list[str]:  # each run printed its own report path
        return [line for line in r["official_report"].splitlines() if not line.startswith("  report:")]

    assert report(a) == report(b)


@pytest.mark.slow
def test_two_workers_equal_one_without_cache(tmp_path: Path, golden_challenge: Path, golden_spec: dict,
                                            candidate_raws: dict) -> None:
    sub = make_submission(tmp_path / "near", candidate_raws["near"], golden_spec["candidates"]["near"]["archive_bytes"])
    one = _vcc_score(sub, golden_challenge, tmp_path / "one.json", 1, "--no-cache")
    two = _vcc_score(sub, golden_challenge, tmp_path / "two.json", 2, "--no-cache")
    assert one["workers"]["count"] == 1 and two["workers"]["count"] == 2
    assert two["workers"]["threads"] == 1 and len(two["workers"]["peak_rss_bytes"]) == 2
    assert two["samples"] == one["samples"] > 16  # more than one batch, so both workers scored
    _same(one, two)


@pytest.mark.slow
def test_two_workers_equal_one_with_cache_and_both_decodes(tmp_path: Path, golden_challenge: Path,
                                                           golden_spec: dict, candidate_raws: dict) -> None:
    """Cold with workers fills the same entries as cold in one process; warm with workers reads them."""
    sub = make_submission(tmp_path / "near", candidate_raws["near"], golden_spec["candidates"]["near"]["archive_bytes"])
    one_cache, two_cache = tmp_path / "cache-1", tmp_path / "cache-2"
    both = ("--decode", "both")
    one_cold = _vcc_score(sub, golden_challenge, tmp_path / "one.json", 1, "--cache-dir", str(one_cache), *both)
    two_cold = _vcc_score(sub, golden_challenge, tmp_path / "two.json", 2, "--cache-dir", str(two_cache), *both)
    assert {t["cache"] for t in two_cold["targets"].values()} == {"miss"}
    _same(one_cold, two_cold)
    entries = {c: {e.path.name: e.path.read_bytes() for e in GroundTruthCache(c).entries()}
               for c in (one_cache, two_cache)}
    assert len(entries[one_cache]) == 2 and entries[one_cache] == entries[two_cache]  # bit for bit

    two_warm = _vcc_score(sub, golden_challenge, tmp_path / "warm.json", 2, "--cache-dir", str(one_cache), *both)
    assert {t["cache"] for t in two_warm["targets"].values()} == {"hit"}
    _same(one_cold, two_warm)


@pytest.mark.parametrize(("kw", "env", "what"), [
    ({"reference_loop": True}, {}, "with --reference-loop"),
    ({"device": "cuda"}, {}, "on cuda"),
    ({}, {"WORLD_SIZE": "2"}, "under torchrun"),
])
def test_more_workers_refused_where_one_process_scores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       kw: dict, env: dict, what: str) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    device = kw.pop("device", "cpu")
    with pytest.raises(BadInput, match=what):
        ScoreConfig(submission_dir=tmp_path, challenge_dir=tmp_path, options=ScoreOptions(device=device, workers=2),
                    **kw)
    ScoreConfig(submission_dir=tmp_path, challenge_dir=tmp_path, options=ScoreOptions(device=device, workers=1),
                **kw)  # one is fine


def test_read_ahead_choices_are_checked(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="unknown --read-ahead 'sometimes'"):
        ScoreConfig(submission_dir=tmp_path, challenge_dir=tmp_path, options=ScoreOptions(read_ahead="sometimes"))
    with pytest.raises(BadInput, match="--reference-loop reads nothing ahead"):
        ScoreConfig(submission_dir=tmp_path, challenge_dir=tmp_path, reference_loop=True,
                    options=ScoreOptions(read_ahead="on"))
    ScoreConfig(submission_dir=tmp_path, challenge_dir=tmp_path, reference_loop=True,
                options=ScoreOptions(read_ahead="off"))


def test_run_passes_workers_to_scoring(tmp_path: Path) -> None:
    from vcc.runner import RunConfig
    from vcc.runner.cli import run_config, run_options_parser

    args = run_options_parser().parse_args(["--challenge-dir", str(tmp_path), "--workers", "3"])
    args.submission_dir = tmp_path  # each command adds SUBMISSION_DIR itself
    assert run_config(args).options.workers == 3
    with pytest.raises(BadInput, match="--workers must be at least 1"):
        RunConfig(submission_dir=tmp_path, challenge_dir=tmp_path, options=ScoreOptions(workers=0))


_HUGE_PAGES_CHILD = """
import os, sys
sys.path.insert(0, {root!r})
os.environ.pop("THP_MEM_ALLOC_ENABLE", None)
if {torch_first}:
    import torch
from vcc.scorer import request_huge_pages
print(request_huge_pages(), os.environ.get("THP_MEM_ALLOC_ENABLE"))
"""


@pytest.mark.parametrize(("torch_first", "expected"), [(False, "True 1"), (True, "False None")])
def test_huge_pages_are_requested_only_before_torch_loads(torch_first: bool, expected: str) -> None:
    import subprocess
    import sys

    code = _HUGE_PAGES_CHILD.format(root=str(Path(__file__).resolve().parents[1]), torch_first=torch_first)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[-2:] == expected.split()
