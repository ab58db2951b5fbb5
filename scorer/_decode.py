"""Frames in: the originals decoded to RGB (PyAV path) and the candidate's .raw files.

Every path yields uint8 RGB frames (874, 1164, 3); `pair_batches` groups any frame
stream into the official (B, 2, H, W, 3) batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vcc.base import BadInput

from ._assets import FRAME_H, FRAME_W
from ._container import YuvFrame, iter_yuv_frames, raw_frame_count
from ._targets import frame_converter

__all__ = [
    "yuv420_to_rgb_pyav",
    "upsample_chroma",
    "iter_rgb_frames",
    "open_raw_frames",
    "pair_batches",
    "raw_pair_batches",
]


def upsample_chroma(plane: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear 2x chroma upsampling with half-pixel centres (align_corners=False)."""
    return F.interpolate(plane[None, None], size=(height, width), mode="bilinear", align_corners=False)[0, 0]


def yuv420_to_rgb_pyav(frame: YuvFrame) -> np.ndarray:
    """The CPU runner's conversion, operation for operation in float32: chroma upsampled with
    bilinear interpolation (align_corners=False), then (Y-16)*255/219 and (C-128)*255/224, the
    BT.601 matrix, clamp to 0..255, round half to even, uint8.

    The order and grouping of every operation matter: a re-associated formula
    changes last bits, and rounding then flips whole pixel values.
    """
    h, w = frame.y.shape
    y = torch.from_numpy(frame.y.copy()).float()
    u = upsample_chroma(torch.from_numpy(frame.u.copy()).float(), h, w)
    v = upsample_chroma(torch.from_numpy(frame.v.copy()).float(), h, w)
    yf = (y - 16.0) * (255.0 / 219.0)
    uf = (u - 128.0) * (255.0 / 224.0)
    vf = (v - 128.0) * (255.0 / 224.0)
    r = (yf + 1.402 * vf).clamp(0, 255)
    g = (yf - 0.344136 * uf - 0.714136 * vf).clamp(0, 255)
    b = (yf + 1.772 * uf).clamp(0, 255)
    return torch.stack([r, g, b], dim=-1).round().to(torch.uint8).numpy()


def iter_rgb_frames(path: Path, conversion: str = "pyav") -> Iterator[np.ndarray]:
    """The original video as uint8 RGB frames (H, W, 3), in decode order; `conversion` is a decode
    target's cache-key part ("pyav", "dali-emulated:1.52")."""
    convert = frame_converter(conversion)
    for frame in iter_yuv_frames(path):
        yield convert(frame)


def open_raw_frames(path: Path, frames: int | None = None) -> np.ndarray:
    """The candidate's frames as a read-only memory map (frames, H, W, 3): no copy."""
    n = raw_frame_count(path) if frames is None else frames
    if n == 0:
        return np.zeros((0, FRAME_H, FRAME_W, 3), np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r", shape=(n, FRAME_H, FRAME_W, 3))


def raw_pair_batches(path: Path, batch_size: int, frames: int | None = None,
                     batches: list[int] | None = None) -> Iterator[torch.Tensor]:
    """A .raw's pairs in batches (all, or the `batches` indices given, ascending), each read
    straight into its own buffer.

    Frames 2i and 2i+1 are consecutive in the file and in a (B, 2, H, W, 3) batch, so
    one readinto fills a batch: no intermediate copy, and unlike a memory map the
    file's pages are not kept mapped, so resident memory stays at a few batches.
    Same pairing as `pair_batches`: an odd last frame dropped, the last batch partial.
    """
    pairs = (raw_frame_count(path) if frames is None else frames) // 2
    indices = range(-(-pairs // batch_size)) if batches is None else batches
    with open(path, "rb", buffering=0) as f:
        for index in indices:
            start = index * batch_size
            n = min(batch_size, pairs - start)
            f.seek(start * 2 * FRAME_H * FRAME_W * 3)
            batch = np.empty((n, 2, FRAME_H, FRAME_W, 3), np.uint8)
            view = memoryview(batch).cast("B")
            got = 0
            while got < len(view):
                read = f.readinto(view[got:])
                if not read:
                    raise BadInput(f"raw ended early (read {got:,} of {len(view):,} bytes of a batch)",
                                   path=path, fix="the file changed while it was scored: rerun")
                got += read
            done = [torch.from_numpy(batch)]
            del batch, view
            yield done.pop()  # this frame keeps no reference while the consumer works


def pair_batches(frames: Iterator[np.ndarray], batch_size: int) -> Iterator[torch.Tensor]:
    """Non-overlapping pairs (0,1), (2,3), ... in batches of `batch_size` pairs.

    An odd last frame is dropped; the last batch may be partial. Yields uint8
    tensors (B, 2, H, W, 3) that own their memory.
    """
    batch = np.empty((batch_size, 2, FRAME_H, FRAME_W, 3), np.uint8)
    filled = 0  # frames written into `batch`
    for frame in frames:
        batch[filled // 2, filled % 2] = frame
        filled += 1
        if filled == 2 * batch_size:
            yield torch.from_numpy(batch)
            batch = np.empty_like(batch)
            filled = 0
    if filled >= 2:
        yield torch.from_numpy(batch[: filled // 2].copy())
