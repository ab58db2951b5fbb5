"""The two sides the official loop zips, for any subset of a video's batches: the ground truth's
net outputs (from a cache entry, or computed from decoded frames) and the candidate's (from its
raw). A scoring worker asks for its own batches only; one process asks for all of them.

Decoding and raw reads can run ahead of the forward passes in a background thread, bounded by
bytes (`prefetch`); whether they do is the caller's choice (see `_batches.read_ahead_bytes`).
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


def _decoded_batches(path: Path, conversion: str, pairs: int, batch_size: int,
                     wanted: list[int]) -> Iterator[torch.Tensor]:
    """uint8 batches (B, 2, H, W, 3) of the wanted batches only: every frame is decoded (the
    stream has to be), but only the wanted ones are converted; decoding stops after the last."""
    convert = YUV_TO_RGB[conversion]
    want, last = set(wanted), wanted[-1]
    batch: np.ndarray | None = None
    produced = 0
    for i, yuv in enumerate(iter_yuv_frames(path)):
        pair = i // 2
        index = pair // batch_size
        if index > last or pair >= pairs:
            break
        if index not in want:
            continue
        if batch is None:
            batch = np.empty((min(batch_size, pairs - index * batch_size), 2, FRAME_H, FRAME_W, 3), np.uint8)
        slot = pair - index * batch_size
        batch[slot, i % 2] = convert(yuv)
        if i % 2 and slot == len(batch) - 1:
            done, batch, produced = [torch.from_numpy(batch)], None, produced + 1
            yield done.pop()  # this frame keeps no reference while the consumer works
    if produced != len(wanted):
        raise HarnessError(f"{path} decoded to fewer frames than its container counts ({2 * pairs})",
                           fix="replace the video with the challenge's original")


def _frame_batches(video_path: Path, video_sha256: str, conversion: str, pairs: int, batch_size: int,
                   wanted: list[int], device: torch.device, shared_frames_dir: Path | None) -> Iterator[Any]:
    """The wanted batches of the video's frame pairs, decoded on this path."""
    if conversion.startswith("dali:"):
        from ._dali import iter_dali_pair_batches

        return _selected(iter_dali_pair_batches(video_path, batch_size, device), wanted)
    if conversion not in YUV_TO_RGB:
        raise HarnessError(f"decode path {conversion!r} is not available in this build")
    if shared_frames_dir is not None:
        shared = Path(shared_frames_dir) / f"{video_sha256}.{conversion}.rgb"
        if shared.is_file():
            return raw_pair_batches(shared, batch_size, 2 * pairs, batches=wanted)
        if len(wanted) == -(-pairs // batch_size):  # only a process decoding every frame can share them
            return pair_batches(_tee_frames(iter_rgb_frames(video_path, conversion), shared), batch_size)
    return _decoded_batches(video_path, conversion, pairs, batch_size, wanted)


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
    frames = _frame_batches(video_path, video_sha256, conversion, pairs, batch_size, wanted, device,
                            shared_frames_dir)
    yield from outputs_of(nets, prefetch(frames, read_ahead))


def candidate_batches(raw: Path, frames: int, batch_size: int, wanted: list[int],
                      nets: tuple[torch.nn.Module, torch.nn.Module], read_ahead: int) -> Iterator[NetOutputs]:
    """The candidate's net outputs for the wanted batches of one raw, in order."""
    return outputs_of(nets, prefetch(raw_pair_batches(raw, batch_size, frames, batches=wanted), read_ahead))


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
