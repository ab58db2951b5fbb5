"""The challenge checkout: names file, original videos, model weights, their fingerprints."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from vcc.base import FRAME_BYTES, FRAME_H, FRAME_W, NAMES_FILE, OFFICIAL_ASSETS, BadInput, file_sha256

# FRAME_H, FRAME_W, FRAME_BYTES and OFFICIAL_ASSETS live in base (torch-free); still importable from here.

__all__ = [
    "FRAME_H",
    "FRAME_W",
    "FRAME_BYTES",
    "OFFICIAL_ASSETS",
    "AssetInfo",
    "VideoAsset",
    "Challenge",
    "asset_sha256",
    "is_lfs_pointer",
    "read_names_file",
]

_LFS_MAGIC = b"version https://git-lfs.github.com/spec/v1"
_hash_memo: dict[tuple[str, int, int, int, int, int], str] = {}


def asset_sha256(path: Path) -> str:
    """sha256 of an asset, memoised within the process: the videos and weights are hashed once
    however many scores a process runs (base.file_sha256 reads afresh).

    The key holds the inode and ctime as well as the size and mtime: a file rewritten in place
    within the mtime's granularity, or with its mtime put back (`touch -r`, os.utime), changes
    its ctime, which no unprivileged call can set; a file replaced by rename changes its inode.
    These hashes feed the ground-truth cache key, so a stale one would serve a wrong entry.
    """
    st = path.stat()
    key = (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _hash_memo:
        _hash_memo[key] = file_sha256(path)
    return _hash_memo[key]


def is_lfs_pointer(path: Path) -> bool:
    """True for a Git LFS pointer file (a checkout without `git lfs pull`)."""
    try:
        if path.stat().st_size > 1024:
            return False
        with open(path, "rb") as f:
            return f.read(len(_LFS_MAGIC)) == _LFS_MAGIC
    except OSError:
        return False


def _require_real_file(path: Path, what: str, fix: str) -> None:
    if not path.is_file():
        raise BadInput(f"{what} not found", path=path, fix=fix)
    if is_lfs_pointer(path):
        raise BadInput(
            f"{what} is a Git LFS pointer file, not the real content",
            path=path,
            fix="run `git lfs pull` in the challenge checkout",
        )


@dataclass(frozen=True)
class AssetInfo:
    """Size and sha256 of one input file, and whether it is the official one."""

    relpath: str
    bytes: int
    sha256: str
    official: bool | None  # None: no official fingerprint known for this path

    def as_json(self) -> dict[str, object]:
        return {"bytes": self.bytes, "sha256": self.sha256, "official": self.official}


def read_names_file(path: Path) -> list[str]:
    """Video names, one per line, stripped; blank lines skipped."""
    if not path.is_file():
        raise BadInput(
            "video names file not found",
            path=path,
            fix=f"pass --names-file or add {NAMES_FILE} to the challenge dir",
        )
    names = [line.strip() for line in path.read_text().splitlines()]
    names = [n for n in names if n]
    if not names:
        raise BadInput("video names file lists no video", path=path, fix="list one video file name per line")
    return names


@dataclass(frozen=True)
class VideoAsset:
    name: str  # as listed in the names file, e.g. "0.mkv"
    path: Path

    @property
    def raw_name(self) -> str:
        """The file inflate.sh must write for this video: `<base>.raw`."""
        return Path(self.name).stem + ".raw"


@dataclass
class Challenge:
    """A checkout laid out like the official repository (or vcc's demo)."""

    root: Path
    names_file: Path
    videos: list[VideoAsset]
    warnings: list[str] = field(default_factory=list)

    @property
    def videos_dir(self) -> Path:
        return self.root / "videos"

    def with_videos(self, videos: list[VideoAsset]) -> Challenge:
        """The same checkout scoring only `videos` (a torchrun rank's share)."""
        return dataclasses.replace(self, videos=videos)

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @classmethod
    def load(cls, root: Path, names_file: Path | None = None) -> Challenge:
        root = Path(root)
        if not root.is_dir():
            raise BadInput(
                "challenge dir not found",
                path=root,
                fix="pass --challenge-dir pointing at a checkout of the official repository (or run `vcc demo`)",
            )
        names_path = Path(names_file) if names_file else root / NAMES_FILE
        names = read_names_file(names_path)
        videos = [VideoAsset(n, root / "videos" / n) for n in names]
        for v in videos:
            _require_real_file(
                v.path, f"video {v.name!r} listed in {names_path.name}", "add the video or fix the names file"
            )
        for net in ("segnet", "posenet"):
            _require_real_file(
                root / "models" / f"{net}.safetensors",
                f"{net} weights",
                "run `git lfs pull` in the challenge checkout",
            )
        challenge = cls(root=root, names_file=names_path, videos=videos)
        extra = challenge.extra_video_dir_files()
        if extra:
            challenge.warnings.append(
                "files under videos/ that are not listed videos change the rate's denominator "
                f"(the official evaluator sums every file there): {', '.join(extra)}; "
                f"denominator used: {challenge.original_bytes:,} bytes"
            )
        return challenge

    def video_dir_files(self) -> list[Path]:
        """Every file under videos/, recursively: what the official rate divides by."""
        return sorted(p for p in self.videos_dir.rglob("*") if p.is_file())

    def extra_video_dir_files(self) -> list[str]:
        listed = {v.path.resolve() for v in self.videos}
        return [
            str(p.relative_to(self.videos_dir))
            for p in self.video_dir_files()
            if p.resolve() not in listed
        ]

    @property
    def original_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.video_dir_files())

    def model_path(self, net: str) -> Path:
        return self.models_dir / f"{net}.safetensors"

    def assets(self) -> list[AssetInfo]:
        """Fingerprints of every file that changes the score."""
        paths = [v.path for v in self.videos] + [self.model_path("segnet"), self.model_path("posenet")]
        infos = []
        for p in paths:
            rel = p.relative_to(self.root).as_posix()
            size, sha = p.stat().st_size, asset_sha256(p)
            official = OFFICIAL_ASSETS.get(rel)
            infos.append(AssetInfo(rel, size, sha, None if official is None else official == (size, sha)))
        return infos

    def asset_warnings(self, infos: list[AssetInfo]) -> list[str]:
        odd = [a.relpath for a in infos if a.official is False]
        if not odd:
            return []
        return [
            "these files differ from the official challenge's (sha256 mismatch), so the score "
            f"will not match the leaderboard: {', '.join(odd)}"
        ]
