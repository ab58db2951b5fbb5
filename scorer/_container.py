"""Reading the containers without torch: PyAV planes of the original video, frame counts of
videos and raws. Validation uses only these, so a bad submission is refused before torch loads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vcc.base import BadInput

from ._assets import FRAME_BYTES, FRAME_H, FRAME_W

__all__ = ["YuvFrame", "iter_yuv_frames", "count_video_frames", "raw_frame_count"]


@dataclass(frozen=True)
class YuvFrame:
    """One decoded 4:2:0 frame: Y (H, W), U and V (H/2, W/2), uint8."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    full_range: bool  # the stream's video_full_range_flag (only DALI reads it)


def _plane(frame: object, index: int, height: int, width: int) -> np.ndarray:
    # PyAV planes are padded to `line_size`; crop to the visible width.
    plane = frame.planes[index]  # type: ignore[attr-defined]
    return np.frombuffer(plane, np.uint8).reshape(height, plane.line_size)[:, :width]


def _open_container(path: Path):
    import av

    try:
        return av.open(str(path), format="hevc" if path.suffix == ".hevc" else None)
    except (av.error.FFmpegError, OSError) as exc:
        raise BadInput(
            f"cannot open video: {exc}", path=path, fix="replace it with the challenge's original video"
        ) from exc


def iter_yuv_frames(path: Path) -> Iterator[YuvFrame]:
    """Decode the first video stream in order, yielding its planes (no conversion)."""
    import av

    with _open_container(path) as container:
        if not container.streams.video:
            raise BadInput("no video stream", path=path, fix="replace it with the challenge's original video")
        stream = container.streams.video[0]
        try:
            for frame in container.decode(stream):
                if frame.format.name not in ("yuv420p", "yuvj420p"):
                    raise BadInput(
                        f"frames are {frame.format.name}; the evaluator reads 8-bit 4:2:0 planes",
                        path=path,
                        fix="use the challenge's original video",
                    )
                h, w = frame.height, frame.width
                if (h, w) != (FRAME_H, FRAME_W):
                    raise BadInput(
                        f"frames are {w}x{h}, expected {FRAME_W}x{FRAME_H}",
                        path=path,
                        fix="use the challenge's original video",
                    )
                yield YuvFrame(
                    y=_plane(frame, 0, h, w),
                    u=_plane(frame, 1, h // 2, w // 2),
                    v=_plane(frame, 2, h // 2, w // 2),
                    full_range=frame.color_range == 2 or frame.format.name == "yuvj420p",
                )
        except av.error.FFmpegError as exc:
            raise BadInput(
                f"video is corrupt or unreadable: {exc}",
                path=path,
                fix="replace it with the challenge's original video (git lfs pull)",
            ) from exc


def count_video_frames(path: Path) -> int:
    """Frames in the video without decoding: the container's count, else non-empty packets."""
    import av

    with _open_container(path) as container:
        if not container.streams.video:
            raise BadInput("no video stream", path=path, fix="replace it with the challenge's original video")
        stream = container.streams.video[0]
        if stream.frames:
            return int(stream.frames)
        try:
            return sum(1 for packet in container.demux(stream) if packet.size)
        except av.error.FFmpegError as exc:
            raise BadInput(
                f"video is corrupt or unreadable: {exc}", path=path, fix="replace it with the original video"
            ) from exc


def raw_frame_count(path: Path) -> int:
    """Frames the evaluator reads from a .raw: whole frames only, trailing bytes ignored."""
    return path.stat().st_size // FRAME_BYTES
