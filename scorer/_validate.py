"""Validation of a submission against the challenge, before any model is loaded.

What the official loop would do with the raws' frame counts is worked out here too: its zip()
over batches silently scores fewer samples when a raw is short by whole batches.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vcc.base import ARCHIVE_NAME, OFFICIAL_BATCH_SIZE, BadInput

from ._assets import FRAME_BYTES, Challenge
from ._container import count_video_frames

if TYPE_CHECKING:
    from ._config import ScoreConfig

__all__ = [
    "RawCheck",
    "CheckedSubmission",
    "batch_sizes",
    "official_loop_outcome",
    "check_archive",
    "check_raws",
    "file_kind",
    "validate_submission",
]


def batch_sizes(pairs: int, batch_size: int) -> list[int]:
    full, rest = divmod(pairs, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def official_loop_outcome(
    gt_pairs: list[int], cand_pairs: list[int], batch_size: int
) -> tuple[bool, int, int]:
    """What evaluate.py's zip() over every video's batches does with these pair counts.

    Returns (completes, samples scored, total ground-truth samples). `completes` is
    False when a batch shape assertion would stop it.
    """
    gt = [b for p in gt_pairs for b in batch_sizes(p, batch_size)]
    cand = [b for p in cand_pairs for b in batch_sizes(p, batch_size)]
    scored = 0
    for g, c in zip(gt, cand, strict=False):
        if g != c:
            return False, scored, sum(gt)
        scored += g
    return True, scored, sum(gt)


@dataclass(frozen=True)
class RawCheck:
    name: str
    path: Path
    bytes: int
    frames: int
    expected_frames: int

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "path": str(self.path), "bytes": self.bytes, "frames": self.frames,
                "expected_frames": self.expected_frames}


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(path: Path) -> str:
    """What sits at `path`, in words: "missing", "a dangling symlink to X", "a directory", ... or
    "a regular file" (a symlink is described by its target, as open() would follow it)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            return f"a dangling symlink to {os.readlink(path)}"
        return "missing"
    except OSError as e:
        return f"unreadable ({e.strerror})"
    for test, kind in _KINDS:
        if test(st.st_mode):
            if stat.S_ISCHR(st.st_mode) and path.resolve() != path.absolute():
                return f"{kind} ({path.resolve()})"
            return kind
    return "a regular file"


def check_archive(archive: Path) -> int:
    if not archive.is_file():
        raise BadInput(
            f"{ARCHIVE_NAME} not found", path=archive, fix=f"put the submission's {ARCHIVE_NAME} in the submission dir"
        )
    return archive.stat().st_size


def check_raws(
    challenge: Challenge,
    inflated_dir: Path,
    batch_size: int = OFFICIAL_BATCH_SIZE,
    *,
    allow_official_truncation: bool = False,
) -> list[RawCheck]:
    """Every listed video has `inflated/<base>.raw` of exactly frames x 874 x 1164 x 3 bytes."""
    if not inflated_dir.is_dir():
        raise BadInput(
            "inflated/ directory not found",
            path=inflated_dir,
            fix="run inflate.sh first (or `vcc run`, which unzips and inflates like the official runner)",
        )
    checks = []
    for video in challenge.videos:
        raw = inflated_dir / video.raw_name
        if not raw.is_file():
            kind = file_kind(raw)
            raise BadInput(
                f"raw file for video {video.name!r} is missing"
                if kind == "missing"
                else f"raw file for video {video.name!r} is {kind}, not a regular file",
                path=raw,
                fix=f"inflate.sh must write {video.raw_name} as a regular file for every name in the names file",
            )
        size = raw.stat().st_size
        expected = count_video_frames(video.path)
        checks.append(RawCheck(video.name, raw, size, size // FRAME_BYTES, expected))
    for c in checks:
        if c.bytes % FRAME_BYTES:
            raise BadInput(
                f"raw size {c.bytes:,} bytes is not a whole number of 874x1164x3 frames "
                f"({c.bytes // FRAME_BYTES} frames and {c.bytes % FRAME_BYTES:,} stray bytes; the official "
                "evaluator silently ignores the stray bytes)",
                path=c.path,
                fix="write uint8 RGB frames of shape (874, 1164, 3) and nothing else",
            )
    wrong = [c for c in checks if c.frames != c.expected_frames]
    if wrong:
        completes, scored, total = official_loop_outcome(
            [c.expected_frames // 2 for c in checks], [c.frames // 2 for c in checks], batch_size
        )
        if completes:
            official = (
                f"the official runner would NOT fail: its zip() loop silently scores {scored} of {total} "
                "samples and prints a score over those only"
            )
        else:
            official = (
                f"the official runner would stop with a batch shape assertion after {scored} of {total} samples"
            )
        detail = "; ".join(f"{c.path.name}: {c.frames} frames, the original has {c.expected_frames}" for c in wrong)
        err = BadInput(
            f"raw frame count differs from the original's ({detail}); {official}",
            path=wrong[0].path,
            fix="inflate must write every frame of the original"
            + (" (to see the score the official runner would print, add --official-truncation)" if completes else ""),
        )
        if not (allow_official_truncation and completes):
            raise err
    return checks


@dataclass(frozen=True)
class CheckedSubmission:
    """A submission that passed validation: its checkout, archive size and raws."""

    challenge: Challenge
    archive_bytes: int
    raws: list[RawCheck]


def validate_submission(cfg: ScoreConfig) -> CheckedSubmission:
    """Everything about the inputs that can be wrong, checked without torch (fast refusals)."""
    challenge = Challenge.load(cfg.challenge_dir, cfg.names_file)
    archive_bytes = check_archive(cfg.archive)
    raws = check_raws(challenge, cfg.inflated, cfg.options.batch_size,
                      allow_official_truncation=cfg.official_truncation)
    return CheckedSubmission(challenge, archive_bytes, raws)
