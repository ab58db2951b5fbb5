"""The two sides the official loop zips, for any subset of a video's batches: the ground truth's
net outputs (from a cache entry, or computed from decoded frames) and the candidate's (from its
raw). A scoring worker asks for its own batches only; one process asks for all of them.

The ground truth's decoding can run ahead of the forward passes in a background thread, bounded
by bytes (`prefetch`); whether it does is the caller's choice (see `_batches.read_ahead_bytes`).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from base import HarnessError, installed_dali_version

from . import _dali  # noqa: F401 - importing registers the dali-emulated conversions in YUV_TO_RGB
from ._assets import FRAME_H, FRAME_W
from ._cache import CacheEntry
from ._container import iter_yuv_frames
from ._decode import YUV_TO_RGB, iter_rgb_frames, pair_batches, raw_pair_batches
from ._distortion import NetOutputs, outputs_of

__all__ = ["prefetch", "conversion_name", "ground_truth_batches", "candidate_batches"]

T = TypeVar("T")


def _nbytes(item: Any) -> int:
    return int(getattr(item, "nbytes", 0)) or 1


def prefetch(items: Iterable[T], max_bytes: int = 0) -> Iterator[T]:
    """Produce `items` in a background thread while the consumer works, holding at most about
    `max_bytes` of produced items (always at least one); errors re-raise in the consumer.

    The producer waits before making the next item until it would fit (sized like the last one),
    so memory stays bounded by bytes, not only by a count. max_bytes 0 produces inline.
    """
    if max_bytes <= 0:
        yield from items
        return
    ready: deque[tuple[str, Any, int]] = deque()
    cond = threading.Condition()
    queued = 0
    stop = False

    def produce() -> None:
        nonlocal queued
        last = 0

        def room() -> bool:  # under the lock: the next item, sized like the last, fits
            return stop or not ready or queued + last <= max_bytes

        try:
            iterator = iter(items)
            while True:
                with cond:
                    cond.wait_for(room)
                    if stop:
                        return
                try:
                    item = next(iterator)
                except StopIteration:
                    break
                last = _nbytes(item)
                with cond:
                    ready.append(("item", item, last))
                    queued += last
                    cond.notify_all()
                del item  # only the queue holds it now
            with cond:
                ready.append(("done", None, 0))
                cond.notify_all()
        except BaseException as exc:  # handed to the consumer
            with cond:
                ready.append(("error", exc, 0))
                cond.notify_all()

    thread = threading.Thread(target=produce, daemon=True, name="vcc-prefetch")
    thread.start()
    try:
        while True:
            with cond:
                cond.wait_for(lambda: bool(ready))
                kind, value, size = ready.popleft()
                queued -= size
                cond.notify_all()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
            del value  # the consumer's batch is not kept alive while the next is awaited
    finally:
        with cond:
            stop = True
            cond.notify_all()
        thread.join()


def conversion_name(decode: str, dali_variant: str) -> str:
    """The frames' exact recipe: the cache key's decode field (a DALI upgrade changes the frames)."""
    if decode == "dali-emulated":
        return f"dali-emulated:{dali_variant}"
    if decode == "dali":
        return f"dali:{installed_dali_version()}"
    return decode


def _selected(batches: Iterator[T], wanted: list[int]) -> Iterator[T]:
    """The wanted batches (ascending indices) of a stream of every batch; stops after the last."""
    want = set(wanted)
    for index, batch in enumerate(batches):
        if index in want:
            yield batch
            if index == wanted[-1]:
                return


def _wanted_frames(path: Path, conversion: str, pairs: int, batch_size: int,
                   wanted: list[int]) -> Iterator[np.ndarray]:
    """The wanted batches' frames as uint8 RGB, in order: every frame is decoded (the stream has
    to be), only the wanted ones are converted; decoding stops after the last wanted batch."""
    convert = YUV_TO_RGB[conversion]
    want, last = set(wanted), wanted[-1]
    for i, yuv in enumerate(iter_yuv_frames(path)):
        pair = i // 2
        index = pair // batch_size
        if index > last or pair >= pairs:
            return
        if index in want:
            yield convert(yuv)


def _batched(frames: Iterator[np.ndarray], path: Path, pairs: int, batch_size: int,
             wanted: list[int]) -> Iterator[torch.Tensor]:
    """The wanted batches (B, 2, H, W, 3), filled from their frames in order."""
    for index in wanted:
        batch = np.empty((min(batch_size, pairs - index * batch_size), 2, FRAME_H, FRAME_W, 3), np.uint8)
        for slot in range(2 * len(batch)):
            frame = next(frames, None)
            if frame is None:
                raise HarnessError(f"{path} decoded to fewer frames than its container counts ({2 * pairs})",
                                   fix="replace the video with the challenge's original")
            batch[slot // 2, slot % 2] = frame
            del frame
        done, batch = [torch.from_numpy(batch)], None
        yield done.pop()  # this frame keeps no reference while the consumer works


def _frame_batches(video_path: Path, video_sha256: str, conversion: str, pairs: int, batch_size: int,
                   wanted: list[int], device: torch.device, shared_frames_dir: Path | None,
                   read_ahead: int) -> Iterator[Any]:
    """The wanted batches of the video's frame pairs, decoded on this path. The PyAV paths read
    ahead frame by frame (a decoded frame is 3 MB, so `read_ahead` bytes is a fraction of a
    batch, not a whole one more); the others batch by batch."""
    if conversion.startswith("dali:"):
        from ._dali import iter_dali_pair_batches

        return prefetch(_selected(iter_dali_pair_batches(video_path, batch_size, device), wanted), read_ahead)
    if conversion not in YUV_TO_RGB:
        raise HarnessError(f"decode path {conversion!r} is not available in this build")
    if shared_frames_dir is not None:
        shared = Path(shared_frames_dir) / f"{video_sha256}.{conversion}.rgb"
        if shared.is_file():
            return raw_pair_batches(shared, batch_size, 2 * pairs, batches=wanted)
        if len(wanted) == -(-pairs // batch_size):  # only a process decoding every frame can share them
            frames = prefetch(iter_rgb_frames(video_path, conversion), read_ahead)
            return pair_batches(_tee_frames(frames, shared), batch_size)
    frames = prefetch(_wanted_frames(video_path, conversion, pairs, batch_size, wanted), read_ahead)
    return _batched(frames, video_path, pairs, batch_size, wanted)


def ground_truth_batches(
    *,
    video_path: Path,
    video_sha256: str,
    conversion: str,
    pairs: int,
    batch_size: int,
    wanted: list[int],
    nets: tuple[torch.nn.Module, torch.nn.Module],
    device: torch.device,
    entry: CacheEntry | None,
    read_ahead: int,
    shared_frames_dir: Path | None = None,
) -> Iterator[NetOutputs]:
    """The ground truth's net outputs for the wanted batches of one video, in order: read from a
    checked cache entry, else decoded (read ahead by up to `read_ahead` bytes) and computed."""
    if entry is not None:
        for out in entry.read_batches(wanted):
            yield NetOutputs(out.pose.to(device), out.seg.to(device))
        return
    yield from outputs_of(nets, _frame_batches(video_path, video_sha256, conversion, pairs, batch_size, wanted,
                                               device, shared_frames_dir, read_ahead))


def candidate_batches(raw: Path, frames: int, batch_size: int, wanted: list[int],
                      nets: tuple[torch.nn.Module, torch.nn.Module]) -> Iterator[NetOutputs]:
    """The candidate's net outputs for the wanted batches of one raw, in order.

    Read inline: one readinto per batch straight into its buffer (tens of ms from the page
    cache, against seconds of forwards), so reading it ahead would hide little and keep a
    whole batch (98 MB at 16) more resident."""
    return outputs_of(nets, raw_pair_batches(raw, batch_size, frames, batches=wanted))


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
