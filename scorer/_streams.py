"""The two streams the official loop zips: ground-truth net outputs per batch (cached or
computed from decoded frames) and the candidate's net outputs per batch (from its raws).
Decoding and raw reads run a batch ahead of the forward passes in a background thread.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import torch

from base import HarnessError, installed_dali_version

from . import _dali  # noqa: F401 - importing registers the dali-emulated conversions in YUV_TO_RGB
from ._assets import Challenge, VideoAsset
from ._cache import CacheKey, GroundTruthCache
from ._decode import YUV_TO_RGB, iter_rgb_frames, pair_batches, raw_pair_batches
from ._distortion import NetOutputs, net_outputs
from ._validate import RawCheck

__all__ = ["prefetch", "GroundTruthStream", "candidate_stream"]

T = TypeVar("T")


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



def _cat(outputs: list[NetOutputs]) -> NetOutputs:
    return NetOutputs(
        pose=torch.cat([o.pose.cpu() for o in outputs]), seg=torch.cat([o.seg.cpu() for o in outputs])
    )


class GroundTruthStream:
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

    def decoded_pair_batches(self, video: VideoAsset) -> Iterator[Any]:
        """uint8 batches (B, 2, H, W, 3) of the video's frame pairs, decoded on this path."""
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

    def output_batches(self, video: VideoAsset) -> Iterator[NetOutputs]:
        """The ground truth's net outputs per batch: from the cache, else decoded and computed."""
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
        for batch in prefetch(self.decoded_pair_batches(video), self.read_ahead):
            out = net_outputs(*self.nets, batch)
            computed.append(out)
            yield out
        if self.cache is not None and computed:
            self.cache.put(self.key(video), _cat(computed))

    def stream(self) -> Iterator[tuple[str, int, NetOutputs]]:
        """(video, first pair index, outputs) for every batch of every video, in order."""
        for video in self.challenge.videos:
            pair = 0
            for out in self.output_batches(video):
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


def candidate_stream(
    raws: list[RawCheck], nets: tuple[torch.nn.Module, torch.nn.Module], batch_size: int, read_ahead: int
) -> Iterator[NetOutputs]:
    for raw in raws:
        for batch in prefetch(raw_pair_batches(raw.path, batch_size), read_ahead):
            yield net_outputs(*nets, batch)

