"""Ground-truth cache: the originals' per-sample net outputs, keyed by all that changes them.

One file per (video, weights, decode path and DALI version, device type, batch size, threads,
numerics class and caps, library versions).
Layout (format 3): a safetensors file with two tensors, `pose` (float32, N x 6, PoseNet's outputs)
and `seg` (uint8, N x 384 x 512, SegNet's argmax maps); its metadata holds the key, the sample
count, the batch size and one sha256 per batch (that batch's pose rows, then its seg maps).
Entries are read and written a batch at a time at known offsets (no whole entry in memory, and
each scoring worker reads only its own batches). Writes go to a temp file renamed into place,
so concurrent runs never see half an entry; a corrupt or truncated entry fails its checksums
and is rebuilt. Entries of older formats (`gt-*.bin`) are never read: the format is part of
the key's digest, so they are listed as stale and removed by `vcc cache clear`.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcc.base import HarnessError, current_umask, vcc_cache_root

if TYPE_CHECKING:  # listing and clearing the cache needs neither numpy nor torch
    from ._distortion import NetOutputs

__all__ = [
    "CACHE_FORMAT", "default_cache_dir", "CacheKey", "CacheEntryInfo", "CacheEntry", "CacheWriter",
    "GroundTruthCache", "ci_cache_key",
]

# A temp file older than this is abandoned (its writer died); younger ones may be mid-write.
# Writing an entry takes seconds, and each write moves the mtime on.
TEMP_MAX_AGE_S = 3600.0
CACHE_FORMAT = 3  # 3: safetensors, read and written per batch; 2: the key holds the numerics (gt-*.bin)
_SUFFIX = ".safetensors"
_OLD_SUFFIX = ".bin"  # formats 1 and 2: never read, listed and cleared
_POSE_DIMS = 6  # as _nets.POSE_DIMS and MODEL_INPUT_HW, without importing torch
_SEG_HW = (384, 512)
_POSE_ROW = _POSE_DIMS * 4
_SEG_ROW = _SEG_HW[0] * _SEG_HW[1]
_MAX_HEADER = 64 << 20  # a larger header is not one of ours


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/vcc/ground-truth (default ~/.cache/vcc/ground-truth)."""
    return vcc_cache_root() / "ground-truth"


@dataclass(frozen=True)
class CacheKey:
    video_sha256: str
    segnet_sha256: str
    posenet_sha256: str
    decode: str
    device_type: str
    batch_size: int
    threads: int  # CPU results depend on torch's thread count (0 on CUDA)
    versions: tuple[tuple[str, str], ...]  # torch, timm, smp, av, numpy
    # CPU: numerics class, profile and kernel caps; CUDA: GPU name and compute capability.
    numerics: tuple[tuple[str, str], ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "format": CACHE_FORMAT,
            "video_sha256": self.video_sha256,
            "segnet_sha256": self.segnet_sha256,
            "posenet_sha256": self.posenet_sha256,
            "decode": self.decode,
            "device_type": self.device_type,
            "batch_size": self.batch_size,
            "threads": self.threads,
            "versions": dict(self.versions),
            "numerics": dict(self.numerics),
        }

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.as_json(), sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class CacheEntryInfo:
    path: Path
    bytes: int
    samples: int
    key: dict[str, object]


def _batch_bounds(samples: int, batch_size: int) -> list[tuple[int, int]]:
    return [(s, min(s + batch_size, samples)) for s in range(0, samples, batch_size)]


def _header(key_json: dict[str, object], samples: int, batch_size: int, hashes: list[str]) -> bytes:
    """The safetensors header: the two tensors' places and the metadata (strings only, by the format)."""
    pose_bytes = samples * _POSE_ROW
    header = {
        "__metadata__": {
            "vcc_format": str(CACHE_FORMAT),
            "key": json.dumps(key_json, sort_keys=True),
            "samples": str(samples),
            "batch_size": str(batch_size),
            "batch_sha256": json.dumps(hashes),
        },
        "pose": {"dtype": "F32", "shape": [samples, _POSE_DIMS], "data_offsets": [0, pose_bytes]},
        "seg": {"dtype": "U8", "shape": [samples, *_SEG_HW],
                "data_offsets": [pose_bytes, pose_bytes + samples * _SEG_ROW]},
    }
    blob = json.dumps(header, sort_keys=True).encode()
    return blob + b" " * (-len(blob) % 8)  # the format pads the header with spaces to 8 bytes


def _read_header(f: object) -> dict[str, object] | None:
    """The parsed safetensors header of an open file, or None when it is not a readable one."""
    try:
        head = os.pread(f.fileno(), 8, 0)  # type: ignore[attr-defined]
        if len(head) != 8:
            return None
        (hlen,) = struct.unpack("<Q", head)
        if hlen > _MAX_HEADER:
            return None
        blob = os.pread(f.fileno(), hlen, 8)  # type: ignore[attr-defined]
        if len(blob) != hlen:
            return None
        header = json.loads(blob)
        header["__header_bytes__"] = 8 + hlen
        return header
    except (OSError, ValueError, struct.error):
        return None


class CacheEntry:
    """A complete, checked entry, read one batch at a time (`read_batch`)."""

    def __init__(self, path: Path, samples: int, batch_size: int, hashes: list[str], data_start: int) -> None:
        self.path, self.samples, self.batch_size, self.hashes = path, samples, batch_size, hashes
        self.data_start = data_start

    @classmethod
    def open(cls, path: Path, key: CacheKey | None) -> CacheEntry | None:
        """The entry at `path` if its header is ours, for `key` (None: any key) and the right size."""
        try:
            f = open(path, "rb")
        except OSError:
            return None
        with f:
            header = _read_header(f)
            size = os.fstat(f.fileno()).st_size
        try:
            meta = header["__metadata__"]  # type: ignore[index]
            if meta["vcc_format"] != str(CACHE_FORMAT):
                return None
            if key is not None and json.loads(meta["key"]) != json.loads(json.dumps(key.as_json(), sort_keys=True)):
                return None
            samples, batch_size = int(meta["samples"]), int(meta["batch_size"])
            hashes = json.loads(meta["batch_sha256"])
            start = int(header["__header_bytes__"])  # type: ignore[index]
            bounds = _batch_bounds(samples, batch_size)
            if (len(hashes) != len(bounds) or batch_size < 1
                    or size != start + samples * (_POSE_ROW + _SEG_ROW)
                    or header["pose"]["data_offsets"] != [0, samples * _POSE_ROW]):  # type: ignore[index]
                return None
        except (TypeError, KeyError, ValueError):
            return None
        return cls(path, samples, batch_size, hashes, start)

    def __len__(self) -> int:
        return len(self.hashes)

    def _read_raw(self, fd: int, index: int) -> tuple[Any, Any]:
        """Batch `index`'s pose rows and seg maps, read straight into their own arrays."""
        import numpy as np

        start, stop = _batch_bounds(self.samples, self.batch_size)[index]
        pose = np.empty((stop - start, _POSE_DIMS), np.float32)
        seg = np.empty((stop - start, *_SEG_HW), np.uint8)
        for array, at in ((pose, self.data_start + start * _POSE_ROW),
                          (seg, self.data_start + self.samples * _POSE_ROW + start * _SEG_ROW)):
            if os.preadv(fd, [memoryview(array).cast("B")], at) != array.nbytes:
                raise OSError(f"{self.path} ended early")
        return pose, seg

    def verify(self) -> bool:
        """Every batch's checksum, reading one batch at a time."""
        try:
            with open(self.path, "rb") as f:
                return all(_batch_sha256(*self._read_raw(f.fileno(), i)) == h for i, h in enumerate(self.hashes))
        except OSError:
            return False

    def read_batches(self, indices: list[int]) -> Iterator[NetOutputs]:
        """These batches' outputs, in the order given, each checked against its checksum."""
        import torch

        from ._distortion import NetOutputs

        with open(self.path, "rb") as f:
            for index in indices:
                try:
                    pose, seg = self._read_raw(f.fileno(), index)
                    intact = _batch_sha256(pose, seg) == self.hashes[index]
                except OSError:
                    intact = False
                if not intact:
                    raise HarnessError(f"ground-truth cache entry {self.path} changed while it was read "
                                       f"(batch {index} fails its checksum)", fix="rerun the score")
                yield NetOutputs(pose=torch.from_numpy(pose), seg=torch.from_numpy(seg))


def _batch_sha256(pose: Any, seg: Any) -> str:
    """One batch's checksum: its pose rows' bytes, then its seg maps' (bytes or contiguous arrays)."""
    h = hashlib.sha256(memoryview(pose).cast("B"))
    h.update(memoryview(seg).cast("B"))
    return h.hexdigest()


class CacheWriter:
    """Writes one entry a batch at a time, in any order; `commit` renames it into place.

    The header's size is fixed before any batch arrives (every checksum has the same length),
    so batches go straight to their offsets and nothing accumulates in memory.
    """

    def __init__(self, path: Path, key: CacheKey, samples: int, batch_size: int) -> None:
        self.path, self.key, self.samples, self.batch_size = path, key, samples, batch_size
        self.hashes: list[str | None] = [None] * len(_batch_bounds(samples, batch_size))
        self._header_len = len(_header(key.as_json(), samples, batch_size, ["0" * 64] * len(self.hashes)))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        self._fd, self.tmp = fd, Path(tmp)

    def write_batch(self, index: int, pose: bytes, seg: bytes) -> None:
        """Batch `index`'s float32 pose rows and uint8 seg maps, as bytes."""
        start, stop = _batch_bounds(self.samples, self.batch_size)[index]
        if len(pose) != (stop - start) * _POSE_ROW or len(seg) != (stop - start) * _SEG_ROW:
            raise HarnessError(f"ground-truth batch {index} has the wrong size for the cache entry")
        data = 8 + self._header_len
        os.pwrite(self._fd, pose, data + start * _POSE_ROW)
        os.pwrite(self._fd, seg, data + self.samples * _POSE_ROW + start * _SEG_ROW)
        self.hashes[index] = _batch_sha256(pose, seg)

    def write_outputs(self, index: int, outputs: NetOutputs) -> None:
        self.write_batch(index, *output_bytes(outputs))

    @property
    def complete(self) -> bool:
        return all(h is not None for h in self.hashes)

    def commit(self) -> Path:
        if not self.complete:
            raise HarnessError(f"ground-truth cache entry {self.path.name} is missing batches")
        header = _header(self.key.as_json(), self.samples, self.batch_size, [h or "" for h in self.hashes])
        assert len(header) == self._header_len  # fixed-length checksums keep every offset in place
        try:
            os.pwrite(self._fd, struct.pack("<Q", len(header)) + header, 0)
            os.fchmod(self._fd, 0o644 & ~current_umask())  # mkstemp's 0600 would hide a shared cache
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = -1
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.tmp.unlink(missing_ok=True)


def output_bytes(outputs: NetOutputs) -> tuple[bytes, bytes]:
    """A batch's outputs as the entry stores them: float32 pose rows, uint8 seg maps."""
    import numpy as np

    pose = np.ascontiguousarray(outputs.pose.cpu().numpy(), dtype=np.float32)
    seg = np.ascontiguousarray(outputs.seg.cpu().numpy(), dtype=np.uint8)
    return pose.tobytes(), seg.tobytes()


class GroundTruthCache:
    """The entries of one cache directory, by key."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def path_for(self, key: CacheKey) -> Path:
        return self.root / f"gt-{key.digest()}{_SUFFIX}"

    def open(self, key: CacheKey, samples: int | None = None) -> CacheEntry | None:
        """The checked entry for `key` (of `samples` samples when given), else None; an entry that
        is present but corrupt or of the wrong size is removed, so this score rebuilds it."""
        path = self.path_for(key)
        if not path.exists():
            return None
        entry = CacheEntry.open(path, key)
        if entry is None or (samples is not None and entry.samples != samples) or not entry.verify():
            path.unlink(missing_ok=True)
            return None
        return entry

    def writer(self, key: CacheKey, samples: int) -> CacheWriter:
        return CacheWriter(self.path_for(key), key, samples, key.batch_size)

    def get(self, key: CacheKey) -> NetOutputs | None:
        """The whole entry's outputs, or None when absent or corrupt (a corrupt entry is removed)."""
        import torch

        from ._distortion import NetOutputs

        entry = self.open(key)
        if entry is None:
            return None
        batches = list(entry.read_batches(list(range(len(entry)))))
        return NetOutputs(pose=torch.cat([b.pose for b in batches]), seg=torch.cat([b.seg for b in batches]))

    def put(self, key: CacheKey, outputs: NetOutputs) -> Path:
        """Write a whole entry (scoring writes per batch through `writer`)."""
        writer = self.writer(key, len(outputs))
        try:
            for i, (start, stop) in enumerate(_batch_bounds(len(outputs), key.batch_size)):
                writer.write_batch(i, *output_bytes(type(outputs)(outputs.pose[start:stop], outputs.seg[start:stop])))
            return writer.commit()
        except BaseException:
            writer.abort()
            raise

    def entries(self) -> list[CacheEntryInfo]:
        infos = []
        for path in sorted([*self.root.glob(f"gt-*{_SUFFIX}"), *self.root.glob(f"gt-*{_OLD_SUFFIX}")]):
            size = path.stat().st_size
            if path.suffix == _OLD_SUFFIX:
                infos.append(CacheEntryInfo(path, size, -1, {"stale": True, "format": "2 or older (never read)"}))
                continue
            try:
                with open(path, "rb") as f:
                    meta = (_read_header(f) or {})["__metadata__"]
                infos.append(CacheEntryInfo(path, size, int(meta["samples"]), json.loads(meta["key"])))
            except (OSError, ValueError, KeyError, TypeError):
                infos.append(CacheEntryInfo(path, size, -1, {"corrupt": True}))
        return infos

    def clear(self, *, now: float | None = None) -> int:
        """Remove every entry (of any format), and temp files abandoned for TEMP_MAX_AGE_S; how many were removed.

        A younger temp file may be another process's entry being written (write_atomic renames
        it into place when done): removing it would fail that process's rename.
        """
        # Only our own files: --cache-dir may point at a directory that holds other things.
        now = time.time() if now is None else now
        removed = 0
        for pattern in (f"gt-*{_SUFFIX}", f"gt-*{_OLD_SUFFIX}"):
            for path in self.root.glob(pattern):
                path.unlink(missing_ok=True)
                removed += 1
        for path in self.root.glob(".gt-*.tmp"):
            try:
                if now - path.stat().st_mtime < TEMP_MAX_AGE_S:
                    continue
            except FileNotFoundError:  # renamed into place meanwhile
                continue
            path.unlink(missing_ok=True)
            removed += 1
        return removed


def ci_cache_key(challenge_dir: Path, runner: str) -> tuple[str, dict[str, str]]:
    """A key for a CI cache of the ground-truth dir (actions/cache), and the asset hashes it is made of.

    The entries inside are keyed by everything else that changes them (library versions, numerics
    class, ...); this key changes with what CI cannot see before scoring: the listed videos and the
    weights (sha256 of each, LFS pointers refused), the runner kind and the cache format.
    """
    from ._assets import Challenge

    assets = {a.relpath: a.sha256 for a in Challenge.load(challenge_dir).assets()}
    blob = json.dumps({"format": CACHE_FORMAT, "runner": runner, "assets": assets}, sort_keys=True)
    return f"vcc-gt-{runner}-{hashlib.sha256(blob.encode()).hexdigest()[:24]}", assets
