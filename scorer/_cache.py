"""Ground-truth cache: the originals' per-sample net outputs, keyed by all that changes them.

One file per (video, weights, decode path and DALI version, device type, batch size, threads,
numerics class and caps, library versions).
Layout: magic, header length, JSON header (key, sample count, sha256 of the payload),
then PoseNet outputs (float32, N x 6) and SegNet argmax maps (uint8, N x 384 x 512).
Writes go to a temp file and are renamed into place, so concurrent runs never see
half an entry; a corrupt or truncated entry fails its checksum and is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from base import vcc_cache_root, write_atomic

if TYPE_CHECKING:  # listing and clearing the cache needs neither numpy nor torch
    from ._distortion import NetOutputs

__all__ = ["CACHE_FORMAT", "default_cache_dir", "CacheKey", "CacheEntryInfo", "GroundTruthCache", "ci_cache_key"]

# A temp file older than this is abandoned (its writer died); younger ones may be mid-write.
# Writing an entry takes seconds, and each write() moves the mtime on.
TEMP_MAX_AGE_S = 3600.0
CACHE_FORMAT = 2  # 2: the key holds the numerics class, profile and caps
_MAGIC = b"VCCGT\x00\x00\x01"


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


class GroundTruthCache:
    """Get/put the ground truth's NetOutputs for one video."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def path_for(self, key: CacheKey) -> Path:
        return self.root / f"gt-{key.digest()}.bin"

    def get(self, key: CacheKey) -> NetOutputs | None:
        """The cached outputs, or None when absent or corrupt (a corrupt entry is removed)."""
        path = self.path_for(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        outputs = self._decode(blob, key)
        if outputs is None:
            path.unlink(missing_ok=True)
        return outputs

    def put(self, key: CacheKey, outputs: NetOutputs) -> Path:
        import numpy as np

        pose = np.ascontiguousarray(outputs.pose.cpu().numpy(), dtype=np.float32)
        seg = np.ascontiguousarray(outputs.seg.cpu().numpy(), dtype=np.uint8)
        payload = pose.tobytes() + seg.tobytes()
        header = json.dumps(
            {"key": key.as_json(), "samples": len(pose), "sha256": hashlib.sha256(payload).hexdigest()}
        ).encode()
        path = self.path_for(key)
        write_atomic(path, _MAGIC + struct.pack("<Q", len(header)) + header + payload)
        return path

    @staticmethod
    def _decode(blob: bytes, key: CacheKey) -> NetOutputs | None:
        import numpy as np
        import torch

        from ._distortion import NetOutputs
        from ._nets import MODEL_INPUT_HW, POSE_DIMS

        try:
            if blob[:8] != _MAGIC:
                return None
            (hlen,) = struct.unpack("<Q", blob[8:16])
            header = json.loads(blob[16 : 16 + hlen])
            payload = memoryview(blob)[16 + hlen :]
            if header["key"] != key.as_json():
                return None
            if hashlib.sha256(payload).hexdigest() != header["sha256"]:
                return None
            n = int(header["samples"])
            h, w = MODEL_INPUT_HW
            pose_bytes = n * POSE_DIMS * 4
            if len(payload) != pose_bytes + n * h * w:
                return None
            pose = np.frombuffer(payload[:pose_bytes], np.float32).reshape(n, POSE_DIMS).copy()
            seg = np.frombuffer(payload[pose_bytes:], np.uint8).reshape(n, h, w).copy()
        except (ValueError, KeyError, struct.error, json.JSONDecodeError):
            return None
        return NetOutputs(pose=torch.from_numpy(pose), seg=torch.from_numpy(seg))

    def entries(self) -> list[CacheEntryInfo]:
        infos = []
        for path in sorted(self.root.glob("gt-*.bin")):
            try:
                with open(path, "rb") as f:
                    head = f.read(16)
                    (hlen,) = struct.unpack("<Q", head[8:16])
                    header = json.loads(f.read(hlen))
                infos.append(CacheEntryInfo(path, path.stat().st_size, header["samples"], header["key"]))
            except (OSError, ValueError, KeyError, struct.error):
                infos.append(CacheEntryInfo(path, path.stat().st_size, -1, {"corrupt": True}))
        return infos

    def clear(self, *, now: float | None = None) -> int:
        """Remove every entry, and temp files abandoned for TEMP_MAX_AGE_S; how many were removed.

        A younger temp file may be another process's entry being written (write_atomic renames
        it into place when done): removing it would fail that process's rename.
        """
        # Only our own files: --cache-dir may point at a directory that holds other things.
        now = time.time() if now is None else now
        removed = 0
        for path in self.root.glob("gt-*.bin"):
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
