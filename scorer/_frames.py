"""The frames behind a report's worst pairs, and both nets' outputs on them (for `vcc plot`).

Locates the original video and the candidate's raw through the report's `paths` and `raws`,
checks they are still the files that were scored (sha256 of the assets, size of the raws),
decodes the original on the report's target with the scorer's own conversion, reads the
candidate's frames from its raw, and runs both nets through the scorer's `net_outputs`: the
same code as a score, on only the pairs asked for. Imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vcc.base import OFFICIAL_BATCH_SIZE, BadInput, Progress

from ._assets import Challenge
from ._container import iter_yuv_frames
from ._decode import open_raw_frames
from ._distortion import net_outputs, pose_distortion, seg_distortion
from ._nets import load_nets
from ._targets import decode_target, frame_converter

__all__ = ["PairView", "conversion_for", "rerun_pairs"]


@dataclass
class PairView:
    """One pair as both nets saw it: the pair's last frame on both sides and the nets' outputs."""

    video: str
    pair: int
    original: np.ndarray  # uint8 (H, W, 3): the pair's last frame, which SegNet sees
    candidate: np.ndarray
    original_seg: np.ndarray  # uint8 (384, 512) argmax classes
    candidate_seg: np.ndarray
    original_pose: np.ndarray  # float32 (6,)
    candidate_pose: np.ndarray
    segnet: float  # recomputed here
    posenet: float
    reported_segnet: float
    reported_posenet: float


def conversion_for(report: dict[str, Any]) -> tuple[str, str | None]:
    """The RGB conversion that re-creates the report's ground truth, and a note when it is an emulation."""
    target = decode_target(report["decode"])
    variant = report.get("dali_variant", "1.52")
    if target.replay is None:
        return target.key_part(variant), None
    # A GPU pipeline's frames are what its CPU replay reproduces (for DALI: vcc dali-verify).
    return (decode_target(target.replay).key_part(variant),
            f"decode {target.name}: frames re-created with vcc's DALI {variant} emulation")


def _fix_paths(report_path: Path | None) -> str:
    return (f"rescore with this vcc (`vcc score ... --json {report_path or 'REPORT.json'}`) so the report names "
            "the challenge and the submission's raws, and keep them in place")


def _locate(report: dict[str, Any], report_path: Path | None) -> tuple[Challenge, dict[str, Path]]:
    paths = report.get("paths") or {}
    if "challenge_dir" not in paths:
        raise BadInput("the report does not say where the challenge and the raws are (an older report?)",
                       path=report_path, fix=_fix_paths(report_path))
    challenge = Challenge.load(Path(paths["challenge_dir"]), Path(paths["names_file"]) if paths.get("names_file")
                               else None)
    for asset in challenge.assets():
        scored = (report.get("assets") or {}).get(asset.relpath, {}).get("sha256")
        if scored is not None and scored != asset.sha256:
            raise BadInput(f"{asset.relpath} changed since the report was scored (sha256 differs)",
                           path=challenge.root / asset.relpath, fix=_fix_paths(report_path))
    raws = {}
    for raw in report.get("raws") or []:
        path = Path(raw["path"])
        if not path.is_absolute() and paths.get("inflated_dir"):
            path = Path(paths["inflated_dir"]) / path.name
        if not path.is_file() or path.stat().st_size != raw["bytes"]:
            raise BadInput("the candidate's raw is gone or changed since the report was scored", path=path,
                           fix="keep the inflated raws (vcc run removes its workspace unless told to keep it); "
                           + _fix_paths(report_path))
        raws[raw["name"]] = path  # keyed by the video it stands for
    return challenge, raws


def _original_frames(video: Path, conversion: str, wanted: set[int], bar: Progress) -> dict[int, np.ndarray]:
    """The wanted frames of the original, decoded in order, converted only where wanted."""
    convert = frame_converter(conversion)
    last = max(wanted)
    out = {}
    for i, frame in enumerate(iter_yuv_frames(video)):
        if i in wanted:
            out[i] = convert(frame)
        bar.update(1)
        if i >= last:
            break
    return out


def rerun_pairs(report: dict[str, Any], pairs: list[tuple[str, int]], *, report_path: Path | None = None,
                device: str = "cpu", batch_size: int = OFFICIAL_BATCH_SIZE,
                progress: bool = True) -> tuple[list[PairView], str | None]:
    """Both sides of each (video, pair) and both nets' outputs on them; and the conversion note."""
    challenge, raws = _locate(report, report_path)
    conversion, note = conversion_for(report)
    videos = {v.name: v for v in challenge.videos}
    reported = {(p["video"], p["pair"]): p for p in report["per_pair"]}
    missing = [p for p in pairs if p not in reported or p[0] not in videos]
    if missing:
        raise BadInput(f"pairs not in the report: {missing[:5]}", path=report_path, fix="pick pairs the report scored")
    torch.manual_seed(1234)
    nets = load_nets(challenge.models_dir, torch.device(device))
    batches: list[tuple[str, int, np.ndarray, np.ndarray]] = []
    decode_frames = sum(2 * max(p for v, p in pairs if v == name) + 2 for name in {v for v, _ in pairs})
    with Progress(decode_frames + len(pairs), "plot: decode and nets on the chosen pairs", "frame",
                  enabled=progress) as bar:
        for name in dict.fromkeys(v for v, _ in pairs):
            chosen = [p for v, p in pairs if v == name]
            frames = _original_frames(videos[name].path, conversion, {f for p in chosen for f in (2 * p, 2 * p + 1)},
                                      bar)
            raw = open_raw_frames(raws[name])
            for p in chosen:
                gt = np.stack([frames[2 * p], frames[2 * p + 1]])
                batches.append((name, p, gt, np.array(raw[2 * p : 2 * p + 2])))
        views = []
        for start in range(0, len(batches), batch_size):
            chunk = batches[start : start + batch_size]
            gt = net_outputs(*nets, torch.from_numpy(np.stack([b[2] for b in chunk])))
            cand = net_outputs(*nets, torch.from_numpy(np.stack([b[3] for b in chunk])))
            pose, seg = pose_distortion(gt, cand).tolist(), seg_distortion(gt, cand).tolist()
            for i, (name, p, gt_frames, cand_frames) in enumerate(chunk):
                views.append(PairView(
                    name, p, gt_frames[1], cand_frames[1], gt.seg[i].cpu().numpy(), cand.seg[i].cpu().numpy(),
                    gt.pose[i].cpu().numpy(), cand.pose[i].cpu().numpy(), seg[i], pose[i],
                    reported[(name, p)]["segnet"], reported[(name, p)]["posenet"]))
                bar.update(1)
    return views, note
