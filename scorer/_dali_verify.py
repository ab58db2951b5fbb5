"""`vcc dali-verify`: decode a video with real DALI and with the CPU emulation, and compare.

Run it on a machine with a GPU and DALI to check the emulation (or to learn which DALI
conversion an installed version uses): per channel, the share of equal bytes, the largest
absolute difference and the mean signed difference (DALI minus emulation). A right variant
gives shares of ~1 and means of ~0; DALI after PR #6076 against the 1.52 emulation gives
means near the post-6076 biases (about +0.9, -0.5, +1.1 for R, G, B; measured on the same
frames, from the two emulations, rather than assumed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vcc.base import EXIT_OK, OFFICIAL_BATCH_SIZE, BadInput, GateFailed, write_json_atomic

from ._container import iter_yuv_frames
from ._dali import (
    dali_conversion_for,
    dali_frame_count,
    iter_dali_pair_batches,
    require_dali,
    yuv420_to_rgb_dali,
)
from ._targets import DALI_VARIANTS

__all__ = [
    "CHANNELS",
    "FrameDiffStats",
    "verdict_from_stats",
    "verify_dali",

]

CHANNELS = ("R", "G", "B")
# A variant "matches" when nearly every byte agrees and the mean difference is ~0: a few
# last-bit disagreements (an FMA the compiler did not fuse) would still pass, a wrong
# chroma geometry or offset would not.
MATCH_EQUAL_SHARE = 0.999
MATCH_MEAN_ABS = 0.01
# How close the mean differences against 1.52 must be to the post-6076 bias (per channel).
BIAS_TOLERANCE = 0.2


@dataclass
class FrameDiffStats:
    """Running per-channel comparison of frame pairs: (a - b) over uint8 (H, W, 3) frames."""

    frames: int = 0
    pixels: int = 0
    equal: np.ndarray = field(default_factory=lambda: np.zeros(3, np.int64))
    max_abs: np.ndarray = field(default_factory=lambda: np.zeros(3, np.int64))
    diff_sum: np.ndarray = field(default_factory=lambda: np.zeros(3, np.int64))

    def update(self, a: np.ndarray, b: np.ndarray) -> None:
        if a.shape != b.shape or a.ndim != 3 or a.shape[-1] != 3:
            raise ValueError(f"frames must both be (H, W, 3), got {a.shape} and {b.shape}")
        d = a.astype(np.int16) - b.astype(np.int16)
        flat = d.reshape(-1, 3)
        self.frames += 1
        self.pixels += flat.shape[0]
        self.equal += np.count_nonzero(flat == 0, axis=0)
        self.max_abs = np.maximum(self.max_abs, np.abs(flat).max(axis=0))
        self.diff_sum += flat.sum(axis=0, dtype=np.int64)

    def as_json(self) -> dict[str, Any]:
        n = max(self.pixels, 1)
        return {
            "frames": self.frames,
            "pixels_per_channel": self.pixels,
            "bit_exact": self.frames > 0 and bool((self.equal == self.pixels).all()),
            "channels": {
                c: {
                    "equal_share": float(self.equal[i] / n),
                    "max_abs_diff": int(self.max_abs[i]),
                    "mean_signed_diff": float(self.diff_sum[i] / n),
                }
                for i, c in enumerate(CHANNELS)
            },
        }


def _matches(stats: dict[str, Any]) -> bool:
    return stats["frames"] > 0 and all(
        ch["equal_share"] >= MATCH_EQUAL_SHARE and abs(ch["mean_signed_diff"]) <= MATCH_MEAN_ABS
        for ch in stats["channels"].values()
    )


def verdict_from_stats(
    vs_emulation: dict[str, dict[str, Any]], variant: str, post_bias: dict[str, Any] | None = None
) -> str:
    """What DALI's frames look like, from their comparison with each emulated variant.

    `vs_emulation[v]` is `FrameDiffStats.as_json()` of DALI minus the `v` emulation;
    `post_bias` the same for the post-6076 emulation minus the 1.52 one (the bias to expect).
    """
    if _matches(vs_emulation[variant]):
        return f"matches {variant} emulation"
    for other in DALI_VARIANTS:
        if other != variant and other in vs_emulation and _matches(vs_emulation[other]):
            return f"looks like the {other} conversion"
    if post_bias is not None and "1.52" in vs_emulation and vs_emulation["1.52"]["frames"] > 0:
        got = vs_emulation["1.52"]["channels"]
        want = post_bias["channels"]
        if all(abs(got[c]["mean_signed_diff"] - want[c]["mean_signed_diff"]) <= BIAS_TOLERANCE
               for c in CHANNELS):
            return "looks like the post-6076 conversion"
    return "neither"


def _dali_frames(video: Path, device: str, limit: int) -> Iterator[np.ndarray]:
    """DALI's frames in decode order, without the zero frame that pads an odd last pair."""
    n = 0
    for batch in iter_dali_pair_batches(video, OFFICIAL_BATCH_SIZE, torch.device(device)):
        for frame in batch.reshape(-1, *batch.shape[2:]).cpu().numpy():
            if n >= limit:
                return
            yield frame
            n += 1


def verify_dali(
    video: Path, variant: str | None = None, device: str = "cuda", max_frames: int | None = None
) -> dict[str, Any]:
    """Compare real DALI's RGB frames of `video` with both CPU emulations.

    `variant`: the emulation expected to match; None: the conversion the installed DALI's version
    implies (1.52.x: "1.52", 1.53 and later: "post-6076"). Returns the per-variant statistics (DALI
    minus emulation), the post-6076 minus 1.52 bias on the same frames, and a verdict: "matches
    <variant> emulation", "looks like the <other> conversion" or "neither".
    """
    video = Path(video)
    if variant is not None and variant not in DALI_VARIANTS:
        raise BadInput(f"unknown --variant {variant!r}",
                       fix=f"use one of {', '.join(DALI_VARIANTS)}")
    if not video.is_file():
        raise BadInput("video not found", path=video, fix="pass the path of a video file")
    dali = require_dali(device)
    version = getattr(dali, "__version__", None)
    conversion = dali_conversion_for(version)  # a version vcc has no model for: exit 4, nothing compared
    variant = variant or conversion
    limit = dali_frame_count(video)
    if max_frames is not None:
        limit = min(limit, max_frames)

    vs = {v: FrameDiffStats() for v in DALI_VARIANTS}
    bias = FrameDiffStats()
    emulated = iter_yuv_frames(video)
    for real, yuv in zip(_dali_frames(video, device, limit), emulated, strict=False):
        rgb = {v: yuv420_to_rgb_dali(yuv, v) for v in DALI_VARIANTS}
        for v in DALI_VARIANTS:
            vs[v].update(real, rgb[v])
        bias.update(rgb["post-6076"], rgb["1.52"])
    stats = {v: s.as_json() for v, s in vs.items()}
    bias_json = bias.as_json()
    return {
        "video": str(video),
        "variant": variant,
        "device": device,
        "dali_version": version,
        "conversion_for_version": conversion,
        "frames_compared": vs[variant].frames,
        "vs_emulation": stats,
        "post_6076_minus_1_52": bias_json,
        "verdict": verdict_from_stats(stats, variant, bias_json),
    }


def format_result(result: dict[str, Any]) -> str:
    lines = [
        f"DALI {result['dali_version']} (conversion {result.get('conversion_for_version')}) vs CPU emulation: "
        f"{result['video']} "
        f"({result['frames_compared']} frames, device {result['device']})",
        f"{'compared with':<24}{'ch':>3}{'equal share':>13}{'max |diff|':>12}{'mean diff':>11}",
    ]
    rows = [(f"emulation {v}", s) for v, s in result["vs_emulation"].items()]
    rows.append(("(post-6076 - 1.52)", result["post_6076_minus_1_52"]))
    for label, s in rows:
        for c, ch in s["channels"].items():
            lines.append(f"{label:<24}{c:>3}{ch['equal_share']:>13.6f}{ch['max_abs_diff']:>12d}"
                         f"{ch['mean_signed_diff']:>+11.4f}")
            label = ""
    lines.append(f"verdict: {result['verdict']}")
    return "\n".join(lines)


def verify_command(args: argparse.Namespace) -> int:
    """`vcc dali-verify`: compare, print, write the JSON, fail the gate on a mismatch."""
    result = verify_dali(args.video, args.variant, args.device, args.max_frames)
    print(format_result(result))
    if args.json is not None:
        write_json_atomic(args.json, result)
        print(f"json: {args.json}", file=sys.stderr)
    if not result["verdict"].startswith("matches"):
        raise GateFailed(
            f"DALI's frames do not match the {result['variant']} emulation ({result['verdict']})",
            path=args.video,
            fix="check the DALI version (the official runner uses 1.52.0); if DALI's frames match the other "
            "emulation, pass --variant with it",
        )
    return EXIT_OK
