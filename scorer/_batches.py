"""The official loop cut into batches: what each zip() step pairs, one shard's work, its results.

Each step of the official loop depends only on its own batch (16 pairs of ground truth and
candidate) and adds three float32 zero-dim partial results (`pose.sum()`, `seg.sum()`, the batch
length) to the running sums. So any process with the same torch thread count and kernel caps
computes a step's partials to the same bits, and adding them in the steps' order reproduces the
single-process sums exactly: that is how `--workers` shards a score (see _workers).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

from vcc.base import cores as machine_cores

from ._validate import batch_sizes

__all__ = [
    "BatchJob", "TargetSpec", "ShardSpec", "BatchPart", "BatchResult", "plan_jobs", "split_jobs",
    "read_ahead_bytes", "run_shard", "READ_AHEAD_BYTES",
]

# The read-ahead of decode, raw reads and net inputs: under one side's inputs of a batch of 16
# (75 MB), so the queue holds one side at most, made while the other side's forwards run.
READ_AHEAD_BYTES = 64 << 20


@dataclass(frozen=True)
class BatchJob:
    """One step of the official zip(): ground-truth batch `gt_batch` of video `video` against
    candidate batch `cand_batch` of raw `raw` (the same unless a raw is short)."""

    index: int
    video: int
    gt_batch: int
    raw: int
    cand_batch: int
    size: int


def plan_jobs(gt_pairs: list[int], cand_pairs: list[int], batch_size: int) -> list[BatchJob]:
    """Every step the official loop takes: zip() of all ground-truth batches (video after video)
    with all candidate batches (raw after raw); the shorter ends it."""
    gt = [(v, b, n) for v, p in enumerate(gt_pairs) for b, n in enumerate(batch_sizes(p, batch_size))]
    cand = [(r, b) for r, p in enumerate(cand_pairs) for b, _ in enumerate(batch_sizes(p, batch_size))]
    return [BatchJob(i, v, gb, r, cb, n) for i, ((v, gb, n), (r, cb)) in enumerate(zip(gt, cand, strict=False))]


def split_jobs(jobs: list[BatchJob], shards: int) -> list[list[BatchJob]]:
    """Contiguous runs of steps with about the same number of pairs each (a step goes to the
    shard its middle pair falls in): a worker decodes a video only up to its own last batch,
    and reads only its own batches of the raws and of cache entries. No shard is empty."""
    shards = max(1, min(shards, len(jobs)))
    total = sum(j.size for j in jobs) or 1
    out: list[list[BatchJob]] = [[] for _ in range(shards)]
    done = 0
    for job in jobs:
        out[min(shards - 1, int((2 * done + job.size) * shards // (2 * total)))].append(job)
        done += job.size
    return [part for part in out if part] or [[]]


def read_ahead_bytes(workers: int, threads: int, cores: int | None = None) -> int:
    """Read ahead only where every worker has a core of its own for its reader thread.

    Without one, the reader (decode, raw reads, net inputs) preempts one of torch's threads, and
    every parallel region of the forward waits for its slowest thread, so the forward slows by
    more than the work it hides: the plain inline loop is then the faster one. More workers come
    first (each adds a whole forward's worth of throughput; the reader hides ~15 %). The reader's
    own torch ops run at the process's thread count: torch's count is process-wide, so lowering
    it in that thread would change the forwards' (and their last bits).
    """
    cores = machine_cores() if cores is None else cores
    return READ_AHEAD_BYTES if cores >= workers * (threads + 1) else 0


@dataclass(frozen=True)
class TargetSpec:
    """One ground truth to score against: its decode path and, per video, a checked cache entry
    (None: compute it) and whether its outputs go back for the cache."""

    decode: str
    conversion: str
    entries: tuple[Path | None, ...]
    cache_videos: frozenset[int] = frozenset()


@dataclass(frozen=True)
class ShardSpec:
    """Everything one process needs to compute its steps (plain data: it crosses to workers)."""

    jobs: tuple[BatchJob, ...]
    targets: tuple[TargetSpec, ...]
    video_paths: tuple[Path, ...]
    video_names: tuple[str, ...]
    video_sha256: tuple[str, ...]
    gt_pairs: tuple[int, ...]
    raw_paths: tuple[Path, ...]
    raw_frames: tuple[int, ...]
    models_dir: Path
    batch_size: int
    device: str
    threads: int  # resolved (ScoreOptions.resolved): every worker runs this many
    numerics: str
    read_ahead: int
    shared_frames_dir: Path | None = None
    # The CPU's lean path: inputs made pair by pair and SegNet's releasing forward (same bits,
    # less resident at the peak). The reference loop and CUDA keep the official shapes.
    lean: bool = False


@dataclass
class BatchPart:
    """One step's partial results against one ground truth: float32 zero-dim sums (tensors in the
    process that scores; their exact float32 values, as Python floats, across processes)."""

    pose_sum: Any
    seg_sum: Any
    count: int
    posenet: list[float]
    segnet: list[float]


@dataclass
class BatchResult:
    index: int
    video: str
    first_pair: int
    parts: list[BatchPart]
    # Per target: the ground truth's outputs for its cache entry (pose bytes, seg bytes), or None.
    truths: list[tuple[bytes, bytes] | None] = field(default_factory=list)
    gt_batch: int = 0
    gt_video: int = 0

    def portable(self) -> BatchResult:
        """The same result with plain Python values only (to send to another process)."""
        parts = [BatchPart(float(p.pose_sum.item()), float(p.seg_sum.item()), p.count, p.posenet, p.segnet)
                 for p in self.parts]
        return BatchResult(self.index, self.video, self.first_pair, parts, self.truths, self.gt_batch,
                           self.gt_video)


def _wanted(jobs: tuple[BatchJob, ...], key: str) -> dict[int, list[int]]:
    """Per video (or raw), its batches among these steps, in order."""
    out: dict[int, list[int]] = {}
    for job in jobs:
        out.setdefault(getattr(job, key), []).append(job.gt_batch if key == "video" else job.cand_batch)
    return out


def _next(items: Iterator[Any], what: str) -> Any:
    from vcc.base import HarnessError

    for item in items:
        return item
    raise HarnessError(f"the {what} stream ended before the shard's last step")


def run_shard(spec: ShardSpec, nets: tuple[Any, Any]) -> Iterator[BatchResult]:
    """The shard's steps in order, each as the official loop computes it: ground truth, then
    the candidate, then the per-sample distortions and their float32 sums.

    Decoding, raw reads and the nets' inputs come from one stream (`sides`), in the order the
    forwards use them; with `spec.read_ahead` a background thread makes it, at most about that
    many bytes ahead (one side's inputs: 75 MB at batch 16), while this thread runs the nets.
    Cached ground truths are read inline (one read per batch)."""
    import torch

    from vcc.base import HarnessError

    from ._cache import CacheEntry, output_bytes
    from ._distortion import forward_side, pose_distortion, seg_distortion
    from ._streams import candidate_inputs, prefetch, truth_inputs, truth_outputs

    device = torch.device(spec.device)
    gt_wanted, cand_wanted = _wanted(spec.jobs, "video"), _wanted(spec.jobs, "raw")

    def cached(target: TargetSpec) -> Iterator[Any]:
        for v, wanted in gt_wanted.items():
            if (path := target.entries[v]) is None:
                continue
            entry = CacheEntry.open(path, None)
            if entry is None:
                raise HarnessError(f"ground-truth cache entry {path} changed while scoring", fix="rerun the score")
            yield from truth_outputs(entry, wanted, device)

    def computed(target: TargetSpec) -> Iterator[Any]:
        for v, wanted in gt_wanted.items():
            if target.entries[v] is None:
                yield from truth_inputs(
                    video_path=spec.video_paths[v], video_sha256=spec.video_sha256[v], conversion=target.conversion,
                    pairs=spec.gt_pairs[v], batch_size=spec.batch_size, wanted=wanted, device=device,
                    by_pair=spec.lean, shared_frames_dir=spec.shared_frames_dir)

    def sides() -> Iterator[Any]:
        truths = [computed(t) for t in spec.targets]
        cands = chain.from_iterable(
            candidate_inputs(spec.raw_paths[r], spec.raw_frames[r], spec.batch_size, wanted, device, spec.lean)
            for r, wanted in cand_wanted.items())
        for job in spec.jobs:
            for target, truth in zip(spec.targets, truths, strict=True):
                if target.entries[job.video] is None:
                    yield _next(truth, "ground-truth")
            yield _next(cands, "candidate")
        # Every stream ends with the shard's last step: finishing them completes a shared-frames file.
        for stream in (*truths, cands):
            for _ in stream:
                raise HarnessError("ground-truth and candidate streams of different lengths")

    stored = [cached(t) for t in spec.targets]
    inputs = prefetch(sides(), spec.read_ahead)
    for job in spec.jobs:
        gts = [_next(stored[t], "cached ground-truth") if target.entries[job.video] is not None
               else forward_side(nets, _next(inputs, "ground-truth"), spec.lean)  # ground truth first, as officially
               for t, target in enumerate(spec.targets)]
        cand = forward_side(nets, _next(inputs, "candidate"), spec.lean)
        parts, kept = [], []
        for target, gt in zip(spec.targets, gts, strict=True):
            if len(gt) != len(cand):  # the official assertion; check_raws rules it out
                raise HarnessError(f"batch size mismatch at {spec.video_names[job.video]} "
                                   f"pair {job.gt_batch * spec.batch_size}")
            pose, seg = pose_distortion(gt, cand), seg_distortion(gt, cand)
            parts.append(BatchPart(pose.sum(), seg.sum(), pose.shape[0], pose.tolist(), seg.tolist()))
            kept.append(output_bytes(gt) if job.video in target.cache_videos else None)
        yield BatchResult(job.index, spec.video_names[job.video], job.gt_batch * spec.batch_size, parts, kept,
                          job.gt_batch, job.video)
    for stream in (inputs, *stored):  # ends the read-ahead thread
        for _ in stream:
            raise HarnessError("ground-truth and candidate streams of different lengths")
