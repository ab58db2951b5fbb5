"""The scoring pipeline: validate -> plan -> stream -> reduce -> report.

Mirrors the official loop: per video, pairs in batches of `batch_size` (last one partial),
ground-truth and candidate batches consumed in lock step, per-sample distortions summed into
float32 zero-dim tensors, averaged, then the score in Python doubles. The candidate's forward
runs once however many ground truths (decode paths) it is scored against.
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from base import (
    BadInput,
    HarnessError,
    Progress,
    apply_profile,
    get_profile,
    installed_dali_version,
    numerics_identity,
    score_formula,
)

from ._assets import AssetInfo, Challenge
from ._cache import GroundTruthCache
from ._config import ScoreConfig
from ._distortion import pose_distortion, seg_distortion
from ._distributed import Distributed
from ._nets import load_nets
from ._report import official_config_block, official_report_text, write_score_reports
from ._result import ScoreResult, TargetResult
from ._streams import GroundTruthStream, candidate_stream
from ._validate import CheckedSubmission, RawCheck, batch_sizes, validate_submission

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
        self.pose_sum += pose.sum()
        self.seg_sum += seg.sum()
        self.count += pose.shape[0]
        for i, (p, s) in enumerate(zip(pose.tolist(), seg.tolist(), strict=True)):
            self.per_pair.append({"pair": first_pair + i, "video": video, "posenet": p, "segnet": s})

    def compute(self) -> tuple[float, float, int]:
        """(posenet, segnet, samples): float32 averages widened to Python floats."""
        return (
            (self.pose_sum / self.count).item(),
            (self.seg_sum / self.count).item(),
            int(self.count.item()),
        )


def score_submission(cfg: ScoreConfig, checked: CheckedSubmission | None = None) -> ScoreResult:
    """Score one submission; writes report.txt and the JSON report unless told not to.

    `checked`: the inputs already validated by `validate_submission(cfg)` (the CLI does so
    before importing torch), else validated here. A numerics profile other than native must be
    in the environment before torch is imported (the CLI does this); otherwise this refuses
    rather than report a profile that did not run.
    """
    apply_profile(get_profile(cfg.numerics))
    threads = torch.get_num_threads()
    try:
        result, dist = _score(cfg, checked)
    finally:
        torch.set_num_threads(threads)  # --threads applies to this score only
    if cfg.write_reports and (dist is None or dist.is_main):  # rank 0 reports, as officially
        write_score_reports(result, cfg.report, cfg.json_report)
    return result


@dataclass
class _Plan:
    """Everything decided before the first forward pass."""

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


def _score(cfg: ScoreConfig, checked: CheckedSubmission | None) -> tuple[ScoreResult, Distributed | None]:
    t0 = time.perf_counter()
    plan = _plan(cfg, *_validate(cfg, checked))
    plan.timings["validate_s"] = time.perf_counter() - t0
    truths, accs = _stream(cfg, plan)
    _reduce(plan, accs)
    result = _result(cfg, plan, truths, accs)
    result.timings["total_s"] = time.perf_counter() - t0
    result.peak_rss_bytes = _peak_rss_bytes()
    if plan.dist is not None:
        plan.dist.close()
    return result, plan.dist


def _peak_rss_bytes() -> int | None:
    """The process's peak resident set so far (Linux reports kB, macOS bytes)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _validate(cfg: ScoreConfig, checked: CheckedSubmission | None
              ) -> tuple[torch.device, Distributed | None, Challenge, int, list[RawCheck]]:
    """The device, the torchrun share, the checkout, the archive's size, the raws: all checked."""
    device = _resolve_device(cfg.device)
    dist = Distributed.from_env()
    if dist is not None:
        device = dist.device(device)
    if "dali" in cfg.targets and device.type != "cuda":
        raise BadInput("--decode dali needs a CUDA device (the T4 runner's path)",
                       fix="add --device cuda on a GPU machine, or use --decode dali-emulated on the CPU")
    checked = checked or validate_submission(cfg)
    return device, dist, checked.challenge, checked.archive_bytes, checked.raws


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
    """Fingerprints, versions, numerics and the cache key, with the threads set as asked."""
    truncated = any(r.frames != r.expected_frames for r in raws)
    assets = challenge.assets()
    warnings = [*challenge.warnings, *challenge.asset_warnings(assets)]
    if truncated:
        warnings.append("scored like the official zip() loop over a short raw: the submission is invalid")
    if cfg.effective_threads is not None:
        torch.set_num_threads(cfg.effective_threads)
    numerics = numerics_identity(cfg.numerics, device=str(device))
    versions = library_versions()
    by_path = {a.relpath: a for a in assets}
    key_fields = {
        "videos": {v.name: by_path[v.path.relative_to(challenge.root).as_posix()].sha256 for v in challenge.videos},
        "segnet_sha256": by_path["models/segnet.safetensors"].sha256,
        "posenet_sha256": by_path["models/posenet.safetensors"].sha256,
        "device_type": device.type,
        "batch_size": cfg.batch_size,
        "threads": torch.get_num_threads() if device.type == "cpu" else 0,
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


def _stream(cfg: ScoreConfig, plan: _Plan) -> tuple[list[GroundTruthStream], list[Accumulator]]:
    """The official loop: ground-truth and candidate batches in lock step, one accumulator per target."""
    challenge, device, raws = plan.challenge, plan.device, plan.raws
    if plan.dist is not None:  # torchrun: this rank scores names[rank::world]
        plan.dist.init(device)
        challenge = challenge.with_videos(plan.dist.share(challenge.videos))
        raws = plan.dist.share(raws)
    t1 = time.perf_counter()
    torch.manual_seed(_SEED)
    nets = load_nets(challenge.models_dir, device)
    plan.timings["load_nets_s"] = time.perf_counter() - t1

    cache = GroundTruthCache(cfg.cache_dir) if cfg.use_cache and not cfg.reference_loop else None
    read_ahead = 0 if cfg.reference_loop else 1
    truths = [GroundTruthStream(d, challenge, nets, cache, plan.cache_key_fields, cfg.batch_size, device, read_ahead,
                                cfg.dali_variant, cfg.shared_frames_dir) for d in cfg.targets]
    accs = [Accumulator(device) for _ in truths]
    total_pairs = sum(sum(batch_sizes(r.expected_frames // 2, cfg.batch_size)) for r in raws)
    t2 = time.perf_counter()
    streams = [t.stream() for t in truths]
    # One bar over the lock-step loop: each pair is decoded (or read from the cache) and run
    # through the nets on every target's ground truth, then on the candidate.
    desc = f"scoring ({' + '.join(cfg.targets)} ground truth, candidate)"
    with Progress(total_pairs, desc, "pair", enabled=cfg.progress) as bar:
        # zip() like the official loop: ground truth first, then the candidate; the shorter ends it.
        for *gts, cand in zip(*streams, candidate_stream(raws, nets, cfg.batch_size, read_ahead), strict=False):
            for (video, first_pair, gt), acc in zip(gts, accs, strict=True):
                if len(gt) != len(cand):  # the official assertion; check_raws rules it out
                    raise HarnessError(f"batch size mismatch at {video} pair {first_pair}")
                acc.update(pose_distortion(gt, cand), seg_distortion(gt, cand), video, first_pair)
            bar.update(len(cand))
    if not plan.truncated:
        # zip() stops at the first exhausted stream, leaving the others suspended just before
        # their end; finishing them runs their cache writes (no batches are left to compute).
        for stream in streams[1:]:
            for _ in stream:
                raise HarnessError("ground-truth streams of different lengths")
    plan.timings["score_s"] = time.perf_counter() - t2
    return truths, accs


def _reduce(plan: _Plan, accs: list[Accumulator]) -> None:
    """torchrun: all-reduce the float32 sums (as officially) and gather the per-pair values in order."""
    if plan.dist is None:
        return
    order = {v.name: i for i, v in enumerate(plan.challenge.videos)}
    for acc in accs:
        plan.dist.all_reduce_sum(acc.pose_sum, acc.seg_sum, acc.count)
        pairs = [p for share in plan.dist.gather(acc.per_pair) for p in share]
        acc.per_pair = sorted(pairs, key=lambda p: (order[p["video"]], p["pair"]))


def _result(cfg: ScoreConfig, plan: _Plan, truths: list[GroundTruthStream], accs: list[Accumulator]) -> ScoreResult:
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
    return ScoreResult(targets, plan.archive_bytes, challenge.original_bytes, cfg.device, plan.versions,
                       {a.relpath: a.as_json() for a in plan.assets}, plan.raws, warnings, plan.timings,
                       plan.truncated, plan.numerics, dali_variant=cfg.dali_variant, batch_size=cfg.batch_size,
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
    warnings = []
    if any(t.decode == "dali-emulated" for t in targets):
        warnings.append(
            f"dali-emulated: the T4 runner's ground-truth frames (DALI {cfg.dali_variant} conversion) emulated "
            "on the CPU; model numerics still come from this CPU, so this approximates (does not reproduce) "
            "the T4's score. The emulation is verified against DALI's source, not yet on a GPU "
            "(see `vcc dali-verify`)"
        )
    if any(t.decode.startswith("dali") for t in targets) and any(r.expected_frames % 2 for r in raws):
        warnings.append(
            "a video has an odd frame count: DALI pads the last pair with a zero frame, so the T4 runner's "
            "last batch is one pair larger than the candidate's and its shape assertion fails"
        )
    if any(t.decode == "dali" for t in targets):
        from ._dali import dali_version_warning

        if note := dali_version_warning(installed_dali_version()):
            warnings.append(note)
    return warnings
