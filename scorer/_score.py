"""The scoring pipeline: validate -> nets -> ground truth (cache or decode) -> candidate -> score.

Mirrors the official loop: per video, pairs in batches of `batch_size` (last one
partial), ground-truth and candidate batches consumed in lock step, per-sample
distortions summed into float32 zero-dim tensors, averaged, then the score in
Python doubles. The candidate's forward runs once however many ground truths
(decode paths) it is scored against.
"""

from __future__ import annotations

import math
import os
import platform
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from base import BadInput, HarnessError, apply_profile, get_profile, installed_dali_version, numerics_identity

from . import _dali  # noqa: F401 - importing registers the dali-emulated conversions in YUV_TO_RGB
from ._assets import FRAME_BYTES, Challenge, VideoAsset
from ._cache import CacheKey, GroundTruthCache
from ._decode import YUV_TO_RGB, count_video_frames, iter_rgb_frames, pair_batches, raw_pair_batches
from ._distortion import NetOutputs, net_outputs, pose_distortion, seg_distortion
from ._distributed import Distributed
from ._nets import load_nets
from ._report import compare_targets, official_report_text, score_formula, write_atomic, write_json_atomic
from ._targets import DALI_VARIANTS, DECODE_CHOICES

__all__ = [
    "DECODE_CHOICES",
    "ScoreConfig",
    "RawCheck",
    "TargetResult",
    "ScoreResult",
    "Accumulator",
    "library_versions",
    "batch_sizes",
    "official_loop_outcome",
    "check_archive",
    "check_raws",
    "score_submission",
]


T = TypeVar("T")


@dataclass
class ScoreConfig:
    """What to score and how. Paths are kept as given: the official report prints them so."""

    submission_dir: Path
    challenge_dir: Path
    names_file: Path | None = None
    inflated_dir: Path | None = None  # default: submission_dir/inflated
    archive_path: Path | None = None  # default: submission_dir/archive.zip
    device: str = "cpu"
    batch_size: int = 16
    decode: str = "pyav"  # pyav | dali | dali-emulated | both
    report_path: Path | None = None  # default: submission_dir/report.txt (as the official runner)
    json_path: Path | None = None  # default: submission_dir/vcc-report.json
    cache_dir: Path | None = None  # default: $XDG_CACHE_HOME/vcc/ground-truth
    use_cache: bool = True
    progress: bool = True
    official_truncation: bool = False  # score a short raw as the official zip() loop would
    write_reports: bool = True
    # The official evaluator's shape: no cache, no read-ahead, one step after another.
    # The benchmark's baseline; the results are the same either way.
    reference_loop: bool = False
    dali_variant: str = "1.52"  # which DALI release's RGB conversion dali-emulated reproduces
    # torch's intra-op threads. CPU results depend on it in the last bits (kernels split work
    # by thread count), so it is part of the cache key and the report. None: torch's default.
    threads: int | None = None
    # CPU kernel caps (native | runner | portable, see base._numerics); applied before torch
    # runs a kernel. A profile with a thread count sets the threads unless `threads` is given.
    numerics: str = "native"
    # Decoded ground-truth frames shared between processes (`--spread`): each video's frames
    # are read from here when a process before wrote them, else decoded and written here.
    shared_frames_dir: Path | None = None

    def __post_init__(self) -> None:
        self.submission_dir = Path(self.submission_dir)
        self.challenge_dir = Path(self.challenge_dir)
        if self.decode not in DECODE_CHOICES:
            raise BadInput(f"unknown --decode {self.decode!r}", fix=f"use one of {', '.join(DECODE_CHOICES)}")
        if self.dali_variant not in DALI_VARIANTS:
            raise BadInput(f"unknown --dali-variant {self.dali_variant!r}",
                           fix=f"use one of {', '.join(DALI_VARIANTS)}")
        if self.threads is not None and self.threads < 1:
            raise BadInput(f"--threads must be at least 1, got {self.threads}", fix="omit it for torch's default")
        if self.batch_size < 1:
            raise BadInput(f"--batch-size must be at least 1, got {self.batch_size}", fix="use 16 (official)")
        get_profile(self.numerics)  # an unknown name is bad input

    @property
    def inflated(self) -> Path:
        return Path(self.inflated_dir) if self.inflated_dir else self.submission_dir / "inflated"

    @property
    def archive(self) -> Path:
        return Path(self.archive_path) if self.archive_path else self.submission_dir / "archive.zip"

    @property
    def report(self) -> Path:
        return Path(self.report_path) if self.report_path else self.submission_dir / "report.txt"

    @property
    def json_report(self) -> Path:
        return Path(self.json_path) if self.json_path else self.submission_dir / "vcc-report.json"

    @property
    def effective_threads(self) -> int | None:
        """The thread count asked for: --threads, else the profile's, else None (torch's default)."""
        return self.threads if self.threads is not None else get_profile(self.numerics).threads

    @property
    def targets(self) -> list[str]:
        """Ground-truth decode paths to score against."""
        if self.decode == "both":
            return ["pyav", "dali" if self.device.startswith("cuda") else "dali-emulated"]
        return [self.decode]


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


# --- validation (no model is loaded before these pass) -------------------------------------


def batch_sizes(pairs: int, batch_size: int) -> list[int]:
    full, rest = divmod(pairs, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def official_loop_outcome(
    gt_pairs: list[int], cand_pairs: list[int], batch_size: int
) -> tuple[bool, int, int]:
    """What evaluate.py's zip() over every video's batches does with these pair counts.

    Returns (completes, samples scored, total ground-truth samples). `completes` is
    False when a batch shape assertion would stop it.
    """
    gt = [b for p in gt_pairs for b in batch_sizes(p, batch_size)]
    cand = [b for p in cand_pairs for b in batch_sizes(p, batch_size)]
    scored = 0
    for g, c in zip(gt, cand, strict=False):
        if g != c:
            return False, scored, sum(gt)
        scored += g
    return True, scored, sum(gt)


@dataclass(frozen=True)
class RawCheck:
    name: str
    path: Path
    bytes: int
    frames: int
    expected_frames: int

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "path": str(self.path), "bytes": self.bytes, "frames": self.frames,
                "expected_frames": self.expected_frames}


def check_archive(archive: Path) -> int:
    if not archive.is_file():
        raise BadInput(
            "archive.zip not found", path=archive, fix="put the submission's archive.zip in the submission dir"
        )
    return archive.stat().st_size


def check_raws(
    challenge: Challenge,
    inflated_dir: Path,
    batch_size: int = 16,
    *,
    allow_official_truncation: bool = False,
) -> list[RawCheck]:
    """Every listed video has `inflated/<base>.raw` of exactly frames x 874 x 1164 x 3 bytes."""
    if not inflated_dir.is_dir():
        raise BadInput(
            "inflated/ directory not found",
            path=inflated_dir,
            fix="run inflate.sh first (or `vcc run`, which unzips and inflates like the official runner)",
        )
    checks = []
    for video in challenge.videos:
        raw = inflated_dir / video.raw_name
        if not raw.is_file():
            raise BadInput(
                f"raw file for video {video.name!r} is missing",
                path=raw,
                fix=f"inflate.sh must write {video.raw_name} for every name in the names file",
            )
        size = raw.stat().st_size
        expected = count_video_frames(video.path)
        checks.append(RawCheck(video.name, raw, size, size // FRAME_BYTES, expected))
    for c in checks:
        if c.bytes % FRAME_BYTES:
            raise BadInput(
                f"raw size {c.bytes:,} bytes is not a whole number of 874x1164x3 frames "
                f"({c.bytes // FRAME_BYTES} frames and {c.bytes % FRAME_BYTES:,} stray bytes; the official "
                "evaluator silently ignores the stray bytes)",
                path=c.path,
                fix="write uint8 RGB frames of shape (874, 1164, 3) and nothing else",
            )
    wrong = [c for c in checks if c.frames != c.expected_frames]
    if wrong:
        completes, scored, total = official_loop_outcome(
            [c.expected_frames // 2 for c in checks], [c.frames // 2 for c in checks], batch_size
        )
        if completes:
            official = (
                f"the official runner would NOT fail: its zip() loop silently scores {scored} of {total} "
                "samples and prints a score over those only"
            )
        else:
            official = (
                f"the official runner would stop with a batch shape assertion after {scored} of {total} samples"
            )
        detail = "; ".join(f"{c.path.name}: {c.frames} frames, the original has {c.expected_frames}" for c in wrong)
        err = BadInput(
            f"raw frame count differs from the original's ({detail}); {official}",
            path=wrong[0].path,
            fix="inflate must write every frame of the original"
            + (" (to see the score the official runner would print, add --official-truncation)" if completes else ""),
        )
        if not (allow_official_truncation and completes):
            raise err
    return checks


# --- the pipeline ------------------------------------------------------------------------------


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Produce `items` in a background thread, at most `depth` ahead (bounded memory).

    Decoding and raw reads overlap the forward pass; errors re-raise in the consumer.
    depth 0 produces inline (the reference loop).
    """
    if depth == 0:
        yield from items
        return
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("done", None))
        except BaseException as exc:  # handed to the consumer
            q.put(("error", exc))

    thread = threading.Thread(target=produce, daemon=True, name="vcc-prefetch")
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


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


@dataclass
class TargetResult:
    """The score against one ground truth (decode path)."""

    decode: str
    samples: int
    posenet_distortion: float
    segnet_distortion: float
    rate: float
    score: float
    per_pair: list[dict[str, Any]]
    cache: str  # hit | miss | off
    official_report: str

    def terms(self) -> dict[str, float]:
        """Each term's contribution, computed as score_formula adds them (math.sqrt, not ** 0.5)."""
        return {
            "segnet": 100 * self.segnet_distortion,
            "posenet": math.sqrt(self.posenet_distortion * 10),
            "rate": 25 * self.rate,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "decode": self.decode,
            "samples": self.samples,
            "posenet_distortion": self.posenet_distortion,
            "segnet_distortion": self.segnet_distortion,
            "rate": self.rate,
            "score": self.score,
            "terms": self.terms(),
            "cache": self.cache,
            "per_pair": self.per_pair,
            "official_report": self.official_report,
        }


@dataclass
class ScoreResult:
    targets: list[TargetResult]
    archive_bytes: int
    original_bytes: int
    device: str
    versions: dict[str, str]
    assets: dict[str, dict[str, object]]
    raws: list[RawCheck]
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    truncated: bool = False  # scored like the official zip() over a short raw
    numerics: dict[str, Any] = field(default_factory=dict)  # what decides the last bits here

    @property
    def primary(self) -> TargetResult:
        return self.targets[0]

    @property
    def score(self) -> float:
        return self.primary.score

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.primary.as_json(),
            "archive_bytes": self.archive_bytes,
            "original_bytes": self.original_bytes,
            "device": self.device,
            "versions": self.versions,
            "assets": self.assets,
            "raws": [r.as_json() for r in self.raws],
            "warnings": self.warnings,
            "timings": self.timings,
            "truncated": self.truncated,
            "numerics": self.numerics,
        }
        if len(self.targets) > 1:
            out["targets"] = {t.decode: t.as_json() for t in self.targets}
            first, second = (out["targets"][t.decode] for t in self.targets[:2])
            out["comparison"] = compare_targets(first, second)
        return out


def _cat(outputs: list[NetOutputs]) -> NetOutputs:
    return NetOutputs(
        pose=torch.cat([o.pose.cpu() for o in outputs]), seg=torch.cat([o.seg.cpu() for o in outputs])
    )


class _GroundTruth:
    """One decode path's ground truth for every video, from the cache or computed."""

    def __init__(
        self,
        decode: str,
        challenge: Challenge,
        nets: tuple[torch.nn.Module, torch.nn.Module],
        cache: GroundTruthCache | None,
        key_fields: dict[str, Any],
        batch_size: int,
        device: torch.device,
        read_ahead: int,
        dali_variant: str,
        shared_frames_dir: Path | None = None,
    ) -> None:
        self.decode, self.challenge, self.nets, self.cache = decode, challenge, nets, cache
        self.key_fields, self.batch_size, self.device = key_fields, batch_size, device
        self.read_ahead, self.dali_variant = read_ahead, dali_variant
        self.shared_frames_dir = shared_frames_dir
        self.status: set[str] = set()

    @property
    def conversion(self) -> str:
        """The frames' exact recipe: the cache key's decode field (a DALI upgrade changes the frames)."""
        if self.decode == "dali-emulated":
            return f"dali-emulated:{self.dali_variant}"
        if self.decode == "dali":
            return f"dali:{installed_dali_version()}"
        return self.decode

    def key(self, video: VideoAsset) -> CacheKey:
        return CacheKey(video_sha256=self.key_fields["videos"][video.name], decode=self.conversion,
                        **{k: v for k, v in self.key_fields.items() if k != "videos"})

    def frames(self, video: VideoAsset) -> Iterator[Any]:
        if self.decode == "dali":
            from ._dali import iter_dali_pair_batches

            return iter_dali_pair_batches(video.path, self.batch_size, self.device)
        if self.conversion not in YUV_TO_RGB:
            raise HarnessError(f"decode path {self.conversion!r} is not available in this build")
        frames = iter_rgb_frames(video.path, self.conversion)
        if self.shared_frames_dir is not None:
            shared = Path(self.shared_frames_dir) / f"{self.key_fields['videos'][video.name]}.{self.conversion}.rgb"
            if shared.is_file():
                return raw_pair_batches(shared, self.batch_size)
            frames = _tee_frames(frames, shared)
        return pair_batches(frames, self.batch_size)

    def batches(self, video: VideoAsset) -> Iterator[NetOutputs]:
        if self.cache is not None:
            cached = self.cache.get(self.key(video))
            if cached is not None:
                self.status.add("hit")
                for start in range(0, len(cached), self.batch_size):
                    stop = start + self.batch_size
                    yield NetOutputs(cached.pose[start:stop].to(self.device), cached.seg[start:stop].to(self.device))
                return
            self.status.add("miss")
        computed = []
        for batch in prefetch(self.frames(video), self.read_ahead):
            out = net_outputs(*self.nets, batch)
            computed.append(out)
            yield out
        if self.cache is not None and computed:
            self.cache.put(self.key(video), _cat(computed))

    def stream(self) -> Iterator[tuple[str, int, NetOutputs]]:
        """(video, first pair index, outputs) for every batch of every video, in order."""
        for video in self.challenge.videos:
            pair = 0
            for out in self.batches(video):
                yield video.name, pair, out
                pair += len(out)


def _tee_frames(frames: Iterator[Any], path: Path) -> Iterator[Any]:
    """Yield the frames and write them to `path`; it appears (renamed) only once complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            for frame in frames:
                f.write(frame.tobytes())
                yield frame
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _candidate_stream(
    raws: list[RawCheck], nets: tuple[torch.nn.Module, torch.nn.Module], batch_size: int, read_ahead: int
) -> Iterator[NetOutputs]:
    for raw in raws:
        for batch in prefetch(raw_pair_batches(raw.path, batch_size), read_ahead):
            yield net_outputs(*nets, batch)


def _numerics_key(numerics: dict[str, Any], device: torch.device) -> tuple[tuple[str, str], ...]:
    """The cache key's share of the numerics: the class, the profile and the caps in force (CPU),
    the GPU's name and compute capability (CUDA)."""
    if device.type == "cuda":
        gpu = numerics.get("gpu", {})
        return (("gpu", str(gpu.get("name"))), ("compute_capability", str(gpu.get("compute_capability"))))
    caps = tuple((k, v or "") for k, v in sorted(numerics["caps"].items()))
    return (("class", numerics["class"]), ("profile", numerics["profile"]), *caps)


def _resolve_device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise BadInput(f"unknown --device {name!r}", fix="use cpu or cuda") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HarnessError("--device cuda was asked for but torch sees no CUDA device",
                           fix="run on a machine with an NVIDIA GPU, or use --device cpu")
    return device


def score_submission(cfg: ScoreConfig) -> ScoreResult:
    """Score one submission; writes report.txt and the JSON report unless told not to.

    A numerics profile other than native must be in the environment before torch is imported
    (the CLI does this); otherwise this refuses rather than report a profile that did not run.
    """
    apply_profile(get_profile(cfg.numerics))
    threads = torch.get_num_threads()
    try:
        return _score_submission(cfg)
    finally:
        torch.set_num_threads(threads)  # --threads applies to this score only


def _score_submission(cfg: ScoreConfig) -> ScoreResult:
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    device = _resolve_device(cfg.device)
    dist = Distributed.from_env()
    if dist is not None:
        device = dist.device(device)
    if "dali" in cfg.targets and device.type != "cuda":
        raise BadInput("--decode dali needs a CUDA device (the T4 runner's path)",
                       fix="add --device cuda on a GPU machine, or use --decode dali-emulated on the CPU")
    challenge = Challenge.load(cfg.challenge_dir, cfg.names_file)
    archive_bytes = check_archive(cfg.archive)
    raws = check_raws(challenge, cfg.inflated, cfg.batch_size, allow_official_truncation=cfg.official_truncation)
    truncated = any(r.frames != r.expected_frames for r in raws)
    timings["validate_s"] = time.perf_counter() - t0

    warnings = list(challenge.warnings)
    assets = challenge.assets()
    warnings += challenge.asset_warnings(assets)
    if truncated:
        warnings.append("scored like the official zip() loop over a short raw: the submission is invalid")
    if cfg.effective_threads is not None:
        torch.set_num_threads(cfg.effective_threads)
    versions = library_versions()
    numerics = numerics_identity(cfg.numerics, device=str(device))
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

    all_videos, all_raws = list(challenge.videos), raws
    if dist is not None:  # torchrun: this rank scores names[rank::world]
        dist.init(device)
        challenge.videos, raws = dist.share(challenge.videos), dist.share(raws)

    t1 = time.perf_counter()
    torch.manual_seed(1234)  # the official seed; the forward pass draws no random numbers
    nets = load_nets(challenge.models_dir, device)
    timings["load_nets_s"] = time.perf_counter() - t1

    cache = GroundTruthCache(cfg.cache_dir) if cfg.use_cache and not cfg.reference_loop else None
    read_ahead = 0 if cfg.reference_loop else 1
    truths = [_GroundTruth(d, challenge, nets, cache, key_fields, cfg.batch_size, device, read_ahead,
                           cfg.dali_variant, cfg.shared_frames_dir) for d in cfg.targets]
    accs = [Accumulator(device) for _ in truths]
    total_batches = sum(len(batch_sizes(r.expected_frames // 2, cfg.batch_size)) for r in raws)

    from tqdm import tqdm

    t2 = time.perf_counter()
    streams = [t.stream() for t in truths]
    with tqdm(total=total_batches, desc="scoring", unit="batch", disable=not cfg.progress, leave=False) as bar:
        # zip() like the official loop: ground truth first, then the candidate; the shorter ends it.
        for *gts, cand in zip(*streams, _candidate_stream(raws, nets, cfg.batch_size, read_ahead), strict=False):
            for (video, first_pair, gt), acc in zip(gts, accs, strict=True):
                if len(gt) != len(cand):  # the official assertion; check_raws rules it out
                    raise HarnessError(f"batch size mismatch at {video} pair {first_pair}")
                acc.update(pose_distortion(gt, cand), seg_distortion(gt, cand), video, first_pair)
            bar.update(1)
    if not truncated:
        # zip() stops at the first exhausted stream, leaving the others suspended just before
        # their end; finishing them runs their cache writes (no batches are left to compute).
        for stream in streams[1:]:
            for _ in stream:
                raise HarnessError("ground-truth streams of different lengths")
    timings["score_s"] = time.perf_counter() - t2
    if dist is not None:
        order = {v.name: i for i, v in enumerate(all_videos)}
        for acc in accs:
            dist.all_reduce_sum(acc.pose_sum, acc.seg_sum, acc.count)
            pairs = [p for share in dist.gather(acc.per_pair) for p in share]
            acc.per_pair = sorted(pairs, key=lambda p: (order[p["video"]], p["pair"]))
        challenge.videos, raws = all_videos, all_raws

    original_bytes = challenge.original_bytes
    rate = archive_bytes / original_bytes
    config_block = {
        "batch_size": cfg.batch_size,
        "device": cfg.device,
        "num_threads": 2,
        "prefetch_queue_depth": 4,
        "report": cfg.report,
        "seed": 1234,
        "submission_dir": cfg.submission_dir,
        "uncompressed_dir": challenge.videos_dir,
        "video_names_file": challenge.names_file,
    }
    targets = []
    for truth, acc in zip(truths, accs, strict=True):
        pose, seg, samples = acc.compute()
        score = score_formula(pose, seg, rate)
        report = official_report_text(
            config=config_block, samples=samples, posenet=pose, segnet=seg,
            archive_bytes=archive_bytes, original_bytes=original_bytes, rate=rate, score=score,
        )
        cache_state = "off" if cache is None else ("hit" if truth.status == {"hit"} else "miss")
        targets.append(TargetResult(truth.decode, samples, pose, seg, rate, score, acc.per_pair, cache_state, report))
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
        import nvidia.dali

        from ._dali import dali_version_warning

        if note := dali_version_warning(nvidia.dali.__version__):
            warnings.append(note)
    timings["total_s"] = time.perf_counter() - t0
    result = ScoreResult(targets, archive_bytes, original_bytes, cfg.device, versions,
                         {a.relpath: a.as_json() for a in assets}, raws, warnings, timings, truncated, numerics)
    if dist is not None:
        dist.close()
    if cfg.write_reports and (dist is None or dist.is_main):  # rank 0 reports, as officially
        write_atomic(cfg.report, result.primary.official_report)
        write_json_atomic(cfg.json_report, result.as_json())
    return result
