"""The two sides the official loop zips, for any subset of a video's batches: the ground truth
(net outputs from a cache entry, or net inputs from decoded frames) and the candidate (net inputs
from its raw). A scoring worker asks for its own batches only; one process asks for all of them.

Inputs come whole-batch (the official shapes) or pair by pair (the CPU's lean path: no full-size
float batch resident). Making them can run ahead of the forward passes in a background thread,
bounded by bytes (`prefetch`); whether it does is the caller's choice (`_batches.read_ahead_bytes`).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from vcc.base import HarnessError

from ._assets import FRAME_H, FRAME_W
from ._cache import CacheEntry
from ._container import iter_yuv_frames
from ._decode import iter_rgb_frames, pair_batches, raw_pair_batches
from ._distortion import MissingPairs, ModelInputs, NetOutputs, inputs_of_batch, inputs_of_pairs
from ._targets import decode_target, frame_converter
from ._validate import batch_sizes

__all__ = [
    "prefetch", "truth_inputs", "truth_outputs", "candidate_inputs",
]

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
    convert = frame_converter(conversion)
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


def _pair_indices(pairs: int, batch_size: int, wanted: list[int]) -> list[int]:
    """The pairs of the wanted batches, in order."""
    return [p for b in wanted for p in range(b * batch_size, min(pairs, (b + 1) * batch_size))]


def _frame_batches(video_path: Path, video_sha256: str, conversion: str, pairs: int, batch_size: int,
                   wanted: list[int], device: torch.device, shared_frames_dir: Path | None,
                   by_pair: bool) -> Iterator[Any]:
    """The wanted batches' frame pairs as uint8 tensors, decoded on this path: whole batches
    (B, 2, H, W, 3), or with `by_pair` one (1, 2, H, W, 3) pair at a time (the PyAV paths)."""
    target = decode_target(conversion.partition(":")[0])
    if target.batches is not None:  # a GPU pipeline's whole batches
        return _selected(target.batch_source()(video_path, batch_size, device), wanted)
    step = 1 if by_pair else batch_size
    if shared_frames_dir is not None:
        shared = Path(shared_frames_dir) / f"{video_sha256}.{conversion}.rgb"
        if shared.is_file():
            indices = _pair_indices(pairs, batch_size, wanted) if by_pair else wanted
            return raw_pair_batches(shared, step, 2 * pairs, batches=indices)
        if len(wanted) == -(-pairs // batch_size):  # only a process decoding every frame can share them
            return pair_batches(_tee_frames(iter_rgb_frames(video_path, conversion), shared), step)
    frames = _wanted_frames(video_path, conversion, pairs, batch_size, wanted)
    if by_pair:
        return pair_batches(frames, 1)
    return _batched(frames, video_path, pairs, batch_size, wanted)


def _inputs(batches: Iterator[torch.Tensor], sizes: list[int], device: torch.device,
            by_pair: bool) -> Iterator[ModelInputs]:
    """Each wanted batch's net inputs, from whole batches or from its pairs one by one."""
    if not by_pair:
        for batch in batches:
            inputs = inputs_of_batch(batch, device)
            del batch  # not kept while the consumer works
            yield inputs
        return
    for size in sizes:
        yield inputs_of_pairs(islice(batches, size), size, device)


def _sizes(pairs: int, batch_size: int, wanted: list[int]) -> list[int]:
    every = batch_sizes(pairs, batch_size)
    return [every[b] for b in wanted]


def truth_inputs(*, video_path: Path, video_sha256: str, conversion: str, pairs: int, batch_size: int,
                 wanted: list[int], device: torch.device, by_pair: bool,
                 shared_frames_dir: Path | None = None) -> Iterator[ModelInputs]:
    """The net inputs of the wanted batches of one video's ground truth, decoded on its path.
    Where fewer pairs come than the container counts, this names the video."""
    sizes = _sizes(pairs, batch_size, wanted)
    batches = _frame_batches(video_path, video_sha256, conversion, pairs, batch_size, wanted, device,
                             shared_frames_dir, by_pair)
    yield from _checked(_inputs(batches, sizes, device, by_pair), video_path, pairs)
    for _ in batches:  # the last pair is out: finish the stream (a shared-frames file completes)
        pass


def _checked(inputs: Iterator[ModelInputs], path: Path, pairs: int) -> Iterator[ModelInputs]:
    try:
        yield from inputs
    except MissingPairs as exc:  # the decode ran out of pairs
        raise HarnessError(f"{path} decoded to fewer frames than its container counts ({2 * pairs})",
                           fix="replace the video with the challenge's original") from exc


def truth_outputs(entry: CacheEntry, wanted: list[int], device: torch.device) -> Iterator[NetOutputs]:
    """The ground truth's net outputs for the wanted batches, read from a checked cache entry."""
    for out in entry.read_batches(wanted):
        yield NetOutputs(out.pose.to(device), out.seg.to(device))


def candidate_inputs(raw: Path, frames: int, batch_size: int, wanted: list[int], device: torch.device,
                     by_pair: bool) -> Iterator[ModelInputs]:
    """The candidate's net inputs for the wanted batches of one raw, in order: each batch (or
    pair) read straight into its buffer, so nothing but the inputs stays resident."""
    pairs = frames // 2
    if by_pair:
        batches = raw_pair_batches(raw, 1, frames, batches=_pair_indices(pairs, batch_size, wanted))
    else:
        batches = raw_pair_batches(raw, batch_size, frames, batches=wanted)
    yield from _inputs(batches, _sizes(pairs, batch_size, wanted), device, by_pair)


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
