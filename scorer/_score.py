"""The scoring pipeline: validate -> plan -> stream -> reduce -> report.

Mirrors the official loop: per video, pairs in batches of `batch_size` (last one partial),
ground-truth and candidate batches consumed in lock step, per-sample distortions summed into
float32 zero-dim tensors, averaged, then the score in Python doubles. The candidate's forward
runs once however many ground truths (decode paths) it is scored against.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vcc.base import (
    BadInput,
    HarnessError,
    Progress,
    apply_profile,
    cores,
    installed_dali_version,
    numerics_identity,
    score_formula,
)

from ._assets import AssetInfo, Challenge
from ._batches import (
    READ_AHEAD_BYTES,
    BatchJob,
    BatchPart,
    BatchResult,
    ShardSpec,
    TargetSpec,
    plan_jobs,
    read_ahead_bytes,
    run_shard,
    split_jobs,
)
from ._cache import CacheKey, GroundTruthCache
from ._config import ScoreConfig
from ._distributed import Distributed
from ._memory import limit_heap_retention
from ._nets import load_nets
from ._progressive import ProgressiveRun
from ._report import official_config_block, official_report_text, write_score_reports
from ._result import ScoreResult, TargetResult
from ._targets import decode_target
from ._validate import CheckedSubmission, RawCheck, batch_sizes, validate_submission
from ._workers import peak_rss_bytes, run_workers

__all__ = ["Accumulator", "library_versions", "score_submission"]

_SEED = 1234  # the official seed; the forward pass draws no random numbers


def library_versions() -> dict[str, str]:
    import av
    import numpy
    import segmentation_models_pytorch
    import timm

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "segmentation-models-pytorch": segmentation_models_pytorch.__version__,
        "av": av.__version__,
        "numpy": numpy.__version__,
        "torch_threads": str(torch.get_num_threads()),
    }


class Accumulator:
    """Float32 zero-dim sums on the device, exactly like evaluate.py (torchmetrics-style state)."""

    def __init__(self, device: torch.device) -> None:
        self.pose_sum = torch.zeros([], device=device)
        self.seg_sum = torch.zeros([], device=device)
        self.count = torch.zeros([], device=device)
        self.per_pair: list[dict[str, Any]] = []

    def update(self, pose: torch.Tensor, seg: torch.Tensor, video: str, first_pair: int) -> None:
        """One batch's per-sample distortions, added as the official loop adds them."""
        self.add(BatchPart(pose.sum(), seg.sum(), pose.shape[0], pose.tolist(), seg.tolist()), video, first_pair)

    def add(self, part: BatchPart, video: str, first_pair: int) -> None:
        """One batch's partial results: `pose_sum += pose.sum()` and so on, in float32. A sum that
        crossed from a worker is its exact float32 value as a Python float, so it converts back
        to the same float32 and the addition is the same."""
        self.pose_sum += self._float32(part.pose_sum)
        self.seg_sum += self._float32(part.seg_sum)
        self.count += part.count
        for i, (p, s) in enumerate(zip(part.posenet, part.segnet, strict=True)):
            self.per_pair.append({"pair": first_pair + i, "video": video, "posenet": p, "segnet": s})

    def _float32(self, value: torch.Tensor | float) -> torch.Tensor:
        if isinstance(value, torch.Tensor):
            return value
        return torch.tensor(value, dtype=torch.float32, device=self.pose_sum.device)

    def compute(self) -> tuple[float, float, int]:
        """(posenet, segnet, samples): float32 averages widened to Python floats."""
        return (
            (self.pose_sum / self.count).item(),
            (self.seg_sum / self.count).item(),
            int(self.count.item()),
        )


def score_submission(cfg: ScoreConfig, checked: CheckedSubmission | None = None, *,
                     progressive: ProgressiveRun | None = None) -> ScoreResult:
    """Score one submission; writes report.txt and the JSON report unless told not to.

    `checked`: the inputs already validated by `validate_submission(cfg)` (the CLI does so
    before importing torch), else validated here. A numerics profile other than native must be
    in the environment before torch is imported (the CLI does this); otherwise this refuses
    rather than report a profile that did not run. `progressive`: take the official batches in
    its random order, one process, telling it each batch's sums (the figures stay exact).
    """
    apply_profile(cfg.options.profile)
    before = torch.get_num_threads()  # torch's default here, unless the caller set another
    cfg = cfg.resolved(default_threads=before, cores=cores())
    torch.set_num_threads(cfg.options.threads)  # the one place scoring's thread count is applied
    try:
        result, dist = _score(cfg, checked, progressive)
    finally:
        torch.set_num_threads(before)  # --threads applies to this score only
    if cfg.write_reports and (dist is None or dist.is_main):  # rank 0 reports, as officially
        write_score_reports(result, cfg.report, cfg.json_report)
    return result


@dataclass
class _Plan:
    """What `_plan` decides before the first forward pass (device, checked inputs, versions,
    numerics, the cache key), and what the later steps add to it as they run: `timings` and
    `warnings` as each step goes, `workers` (how the steps were sharded) by `_stream`."""

    device: torch.device
    dist: Distributed | None
    challenge: Challenge
    archive_bytes: int
    raws: list[RawCheck]
    truncated: bool
    assets: list[AssetInfo]
    versions: dict[str, str]
    numerics: dict[str, Any]
    cache_key_fields: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    workers: dict[str, Any] = field(default_factory=dict)  # how the steps were sharded (written by _stream)


def _score(cfg: ScoreConfig, checked: CheckedSubmission | None,
           progressive: ProgressiveRun | None = None) -> tuple[ScoreResult, Distributed | None]:
    t0 = time.perf_counter()
    plan = _plan(cfg, *_validate(cfg, checked))
    plan.timings["validate_s"] = time.perf_counter() - t0
    if progressive is not None and plan.dist is not None:
        raise BadInput("--progressive runs as one process", fix="run it without torchrun")
    truths, accs = _stream(cfg, plan, progressive)
    _reduce(plan, accs)
    result = _result(cfg, plan, truths, accs)
    result.timings["total_s"] = time.perf_counter() - t0
    # The largest process's peak: this one's, or a worker's (each holds its own torch and nets).
    peaks = [p for p in (peak_rss_bytes(), *plan.workers.get("peak_rss_bytes", [])) if p is not None]
    result.peak_rss_bytes = max(peaks) if peaks else None
    result.workers = plan.workers
    if progressive is not None:
        result.progressive = progressive.as_json()
    if plan.dist is not None:
        plan.dist.close()
    return result, plan.dist


def _validate(cfg: ScoreConfig, checked: CheckedSubmission | None
              ) -> tuple[torch.device, Distributed | None, Challenge, int, list[RawCheck]]:
    """The device, the torchrun share, the checkout, the archive's size, the raws: all checked."""
    if "dali" in cfg.options.targets:  # the T4 runner's DALI, or exit 4 with the command that installs it
        from ._dali import require_pinned_dali

        require_pinned_dali()
    device = _resolve_device(cfg.options.device)
    dist = Distributed.from_env()
    if dist is not None:
        device = dist.device(device)
    for target in (decode_target(t) for t in cfg.options.targets):
        if target.needs_cuda and device.type != "cuda":
            instead = f", or use --decode {target.cpu_stand_in} on the CPU" if target.cpu_stand_in else ""
            raise BadInput(f"--decode {target.name} needs a CUDA device ({target.label})",
                           fix=f"add --device cuda on a GPU machine{instead}")
    checked = checked or validate_submission(cfg)
    _refuse_odd_counts_on_dali(cfg, checked)
    return device, dist, checked.challenge, checked.archive_bytes, checked.raws


def _refuse_odd_counts_on_dali(cfg: ScoreConfig, checked: CheckedSubmission) -> None:
    """The T4 runner cannot score a video with an odd frame count: DALI pads the last pair with a zero
    frame, so its last batch is one pair larger than the candidate's and evaluate.py's shape assertion
    fails. There is no T4 score to compute; nothing is scored or written."""
    if not any(t.startswith("dali") for t in cfg.options.targets):
        return
    for video, raw in zip(checked.challenge.videos, checked.raws, strict=False):
        if raw.expected_frames % 2:
            raise BadInput(
                f"the video has an odd frame count ({raw.expected_frames}): on the DALI ground truth (the T4 "
                "runner's) the last pair is padded with a zero frame and the official shape assertion fails, so "
                "there is no T4 score", path=video.path,
                fix="score it with --decode pyav (the CPU runner's path), or use a video with an even frame count")


def _resolve_device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise BadInput(f"unknown --device {name!r}", fix="use cpu or cuda") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HarnessError("--device cuda was asked for but torch sees no CUDA device",
                           fix="run on a machine with an NVIDIA GPU, or use --device cpu")
    return device


def _plan(cfg: ScoreConfig, device: torch.device, dist: Distributed | None, challenge: Challenge,
          archive_bytes: int, raws: list[RawCheck]) -> _Plan:
    """Fingerprints, versions, numerics and the cache key (scoring's threads already applied)."""
    truncated = any(r.frames != r.expected_frames for r in raws)
    assets = challenge.assets()
    warnings = [*challenge.warnings, *challenge.asset_warnings(assets)]
    if truncated:
        warnings.append("scored like the official zip() loop over a short raw: the submission is invalid")
    numerics = numerics_identity(cfg.options.numerics, device=str(device))
    versions = library_versions()
    by_path = {a.relpath: a for a in assets}
    key_fields = {
        "videos": {v.name: by_path[v.path.relative_to(challenge.root).as_posix()].sha256 for v in challenge.videos},
        "segnet_sha256": by_path["models/segnet.safetensors"].sha256,
        "posenet_sha256": by_path["models/posenet.safetensors"].sha256,
        "device_type": device.type,
        "batch_size": cfg.options.batch_size,
        "threads": cfg.options.threads if device.type == "cpu" else 0,
        "numerics": _numerics_key(numerics, device),
        "versions": tuple(sorted((k, v) for k, v in versions.items() if k not in ("python", "torch_threads"))),
    }
    return _Plan(device, dist, challenge, archive_bytes, raws, truncated, assets, versions, numerics, key_fields,
                 warnings)


def _numerics_key(numerics: dict[str, Any], device: torch.device) -> tuple[tuple[str, str], ...]:
    """The cache key's share of the numerics: the class, the profile and the caps in force (CPU),
    the GPU's name and compute capability (CUDA)."""
    if device.type == "cuda":
        gpu = numerics.get("gpu", {})
        return (("gpu", str(gpu.get("name"))), ("compute_capability", str(gpu.get("compute_capability"))))
    caps = tuple((k, v or "") for k, v in sorted(numerics["caps"].items()))
    return (("class", numerics["class"]), ("profile", numerics["profile"]), *caps)


@dataclass
class _Target:
    """One ground truth being scored against: its decode path and what its cache did."""

    decode: str
    cache: GroundTruthCache | None
    status: set[str] = field(default_factory=set)


def _stream(cfg: ScoreConfig, plan: _Plan,
            progressive: ProgressiveRun | None = None) -> tuple[list[_Target], list[Accumulator]]:
    """The official loop's steps, computed here or by worker processes, reduced in its order."""
    challenge, device, raws = plan.challenge, plan.device, plan.raws
    if plan.dist is not None:  # torchrun: this rank scores names[rank::world]
        plan.dist.init(device)
        challenge = challenge.with_videos(plan.dist.share(challenge.videos))
        raws = plan.dist.share(raws)
    opts = cfg.options
    cache = GroundTruthCache(opts.cache_dir) if opts.use_cache and not cfg.reference_loop else None
    targets = [_Target(d, cache) for d in opts.targets]
    gt_pairs = [r.expected_frames // 2 for r in raws]  # check_raws lists the raws in the videos' order
    jobs = plan_jobs(gt_pairs, [r.frames // 2 for r in raws], opts.batch_size)
    threads = opts.threads
    # no more workers than steps; a progressive score is one process (it reports batch by batch)
    workers = 1 if progressive is not None else max(1, min(opts.workers, len(jobs)))
    read_ahead = (0 if cfg.reference_loop or opts.read_ahead == "off" else READ_AHEAD_BYTES if opts.read_ahead == "on"
                  else read_ahead_bytes(workers, threads))
    specs, writers = _target_specs(cfg, plan, challenge, targets, jobs, gt_pairs)
    shard = ShardSpec(
        jobs=(), targets=tuple(specs), video_paths=tuple(v.path for v in challenge.videos),
        video_names=tuple(v.name for v in challenge.videos),
        video_sha256=tuple(plan.cache_key_fields["videos"][v.name] for v in challenge.videos),
        gt_pairs=tuple(gt_pairs), raw_paths=tuple(r.path for r in raws), raw_frames=tuple(r.frames for r in raws),
        models_dir=challenge.models_dir, batch_size=opts.batch_size, device=str(device), threads=threads,
        numerics=opts.numerics, read_ahead=read_ahead, shared_frames_dir=cfg.shared_frames_dir,
        lean=not cfg.reference_loop and device.type == "cpu",
    )
    shards = [dataclasses.replace(shard, jobs=tuple(part)) for part in split_jobs(jobs, workers)]
    stats: list[dict[str, Any]] = []
    t1 = time.perf_counter()
    if len(shards) == 1:
        if not cfg.reference_loop:  # the reference keeps the official process's malloc defaults
            limit_heap_retention()  # before the nets and the forwards allocate
        torch.manual_seed(_SEED)
        nets = load_nets(challenge.models_dir, device)
        plan.timings["load_nets_s"] = time.perf_counter() - t1
        results = (run_shard(shards[0], nets) if progressive is None
                   else _progressive_results(shard, jobs, nets, progressive, plan, cfg))
    else:
        results = run_workers(shards, stats)
    accs = [Accumulator(device) for _ in targets]
    t2 = time.perf_counter()
    try:
        # One bar over the official loop's steps, counted in pairs: each pair is decoded (or read
        # from the cache) and run through the nets on every target's ground truth, then the candidate.
        desc = f"scoring ({' + '.join(opts.targets)} ground truth, candidate)"
        with Progress(sum(j.size for j in jobs), desc, "pair", enabled=cfg.progress) as bar:
            _reduce_in_order(results, accs, writers, bar, [j.size for j in jobs])
        for writer in writers.values():
            writer.commit()
    finally:
        for writer in writers.values():
            writer.abort()  # a no-op once committed
    plan.timings["score_s"] = time.perf_counter() - t2
    plan.workers = {"count": len(shards), "threads": threads, "read_ahead_bytes": read_ahead,
                    "lean": shard.lean, "memory": _memory_settings(cfg),
                    "batches": [len(s.jobs) for s in shards],
                    "peak_rss_bytes": [s["peak_rss_bytes"] for s in sorted(stats, key=lambda s: s["worker"])]}
    return targets, accs


def _progressive_results(shard: ShardSpec, jobs: list[BatchJob], nets: tuple[Any, Any], progressive: ProgressiveRun,
                         plan: _Plan, cfg: ScoreConfig) -> Iterator[BatchResult]:
    """Each official step alone, in the run's random order (one step per shard: the same step,
    the same bits), each told to `progressive` before the in-order reduction takes it."""
    order = progressive.start([j.size for j in jobs], list(cfg.options.targets),
                              plan.archive_bytes / plan.challenge.original_bytes)
    for index in order:
        for result in run_shard(dataclasses.replace(shard, jobs=(jobs[index],)), nets):
            progressive.observe(index, [(float(p.pose_sum), float(p.seg_sum), p.count) for p in result.parts])
            yield result


def _memory_settings(cfg: ScoreConfig) -> dict[str, Any]:
    """Where the scoring processes' memory comes from (see _memory); none changes a bit."""
    import os

    from ._memory import MMAP_THRESHOLD_BYTES, TORCH_HUGE_PAGES_ENV

    return {"malloc_mmap_threshold_bytes": None if cfg.reference_loop else MMAP_THRESHOLD_BYTES,
            "torch_huge_pages": os.environ.get(TORCH_HUGE_PAGES_ENV) == "1"}


def _target_specs(cfg: ScoreConfig, plan: _Plan, challenge: Challenge, targets: list[_Target],
                  jobs: list[BatchJob], gt_pairs: list[int]) -> tuple[list[TargetSpec], dict[tuple[int, int], Any]]:
    """Per target: each scored video's checked cache entry (or none: compute it), and a writer for
    each video computed in full (a video cut short by a short raw is not cached)."""
    scored = sorted({j.video for j in jobs})
    steps_per_video = {v: sum(1 for j in jobs if j.video == v) for v in scored}
    specs, writers = [], {}
    for t, target in enumerate(targets):
        conversion = decode_target(target.decode).key_part(cfg.options.dali_variant)
        entries: list[Path | None] = [None] * len(challenge.videos)
        cached: set[int] = set()
        for v in scored:
            if target.cache is None:
                continue
            video = challenge.videos[v]
            key = CacheKey(video_sha256=plan.cache_key_fields["videos"][video.name], decode=conversion,
                           **{k: x for k, x in plan.cache_key_fields.items() if k != "videos"})
            entry = target.cache.open(key, samples=gt_pairs[v])
            if entry is not None:
                target.status.add("hit")
                entries[v] = entry.path
                continue
            target.status.add("miss")
            if steps_per_video[v] == len(batch_sizes(gt_pairs[v], cfg.options.batch_size)):
                writers[(t, v)] = target.cache.writer(key, gt_pairs[v])
                cached.add(v)
        specs.append(TargetSpec(target.decode, conversion, tuple(entries), frozenset(cached)))
    return specs, writers


def _reduce_in_order(results: Iterator[BatchResult], accs: list[Accumulator], writers: dict[tuple[int, int], Any],
                     bar: Progress, step_pairs: list[int]) -> None:
    """Add each step's partials in the steps' order, whatever order they arrive in; ground-truth
    outputs go to their cache entry as they arrive."""
    pending: dict[int, BatchResult] = {}
    next_step = 0
    for result in results:
        for t, truth in enumerate(result.truths):
            if truth is not None:
                writers[(t, result.gt_video)].write_batch(result.gt_batch, *truth)
        result.truths = []
        pending[result.index] = result
        while next_step in pending:
            step = pending.pop(next_step)
            for acc, part in zip(accs, step.parts, strict=True):
                acc.add(part, step.video, step.first_pair)
            bar.update(step_pairs[next_step])
            next_step += 1
    if pending:
        raise HarnessError(f"scoring steps {sorted(pending)[:5]} arrived without step {next_step}")


def _reduce(plan: _Plan, accs: list[Accumulator]) -> None:
    """torchrun: all-reduce the float32 sums (as officially) and gather the per-pair values in order."""
    if plan.dist is None:
        return
    order = {v.name: i for i, v in enumerate(plan.challenge.videos)}
    for acc in accs:
        plan.dist.all_reduce_sum(acc.pose_sum, acc.seg_sum, acc.count)
        pairs = [p for share in plan.dist.gather(acc.per_pair) for p in share]
        acc.per_pair = sorted(pairs, key=lambda p: (order[p["video"]], p["pair"]))


def _result(cfg: ScoreConfig, plan: _Plan, truths: list[_Target], accs: list[Accumulator]) -> ScoreResult:
    """Each target's averages, score and official report text; the warnings the targets call for."""
    challenge = plan.challenge
    rate = plan.archive_bytes / challenge.original_bytes
    config_block = official_config_block(cfg, challenge)
    targets = []
    for truth, acc in zip(truths, accs, strict=True):
        pose, seg, samples = acc.compute()
        score = score_formula(pose, seg, rate)
        report = official_report_text(
            config=config_block, samples=samples, posenet=pose, segnet=seg,
            archive_bytes=plan.archive_bytes, original_bytes=challenge.original_bytes, rate=rate, score=score,
        )
        cache_state = "off" if truth.cache is None else ("hit" if truth.status == {"hit"} else "miss")
        targets.append(TargetResult(truth.decode, samples, pose, seg, rate, score, acc.per_pair, cache_state, report))
    warnings = plan.warnings + _target_warnings(cfg, targets, plan.raws)
    return ScoreResult(targets, plan.archive_bytes, challenge.original_bytes, cfg.options.device, plan.versions,
                       {a.relpath: a.as_json() for a in plan.assets}, plan.raws, warnings, plan.timings,
                       plan.truncated, plan.numerics, dali_variant=cfg.options.dali_variant,
                       batch_size=cfg.options.batch_size,
                       paths=_input_paths(cfg, challenge))


def _input_paths(cfg: ScoreConfig, challenge: Challenge) -> dict[str, str]:
    """The inputs' absolute paths: what `vcc plot` reads to show the frames again."""
    return {
        "challenge_dir": str(Path(challenge.root).resolve()),
        "names_file": str(Path(challenge.names_file).resolve()),
        "submission_dir": str(cfg.submission_dir.resolve()),
        "inflated_dir": str(cfg.inflated.resolve()),
        "archive": str(cfg.archive.resolve()),
    }


def _target_warnings(cfg: ScoreConfig, targets: list[TargetResult], raws: list[RawCheck]) -> list[str]:
    decodes = [decode_target(t.decode) for t in targets]
    warnings = [d.warning.format(variant=cfg.options.dali_variant) for d in decodes if d.warning]
    if any(d.pads_odd_frames for d in decodes) and any(r.expected_frames % 2 for r in raws):
        warnings.append(
            "a video has an odd frame count: DALI pads the last pair with a zero frame, so the T4 runner's "
            "last batch is one pair larger than the candidate's and its shape assertion fails"
        )
    if any(d.key_qualifier == "installed_dali" for d in decodes):
        from ._dali import dali_version_warning

        if note := dali_version_warning(installed_dali_version()):
            warnings.append(note)
    return warnings
