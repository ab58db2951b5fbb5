"""What inflate must not change, fingerprinted before it runs and checked after each run.

- The archive: the rate's numerator is archive.zip's size. The user's file is measured (size
  and sha256) before anything runs; the workspace's copy must still match it after inflate,
  else inflate changed what is scored (truncating `../archive.zip` would score rate 0).
- The challenge: the rate's denominator is every file under videos/, and the videos and
  weights decide the distortions. Their sizes and sha256 are taken before inflate and must
  match after (without a sandbox inflate can reach them).
- The submission's own links: an inflate.sh that is a symlink out of the submission dir, and
  raws that are symlinks dangling or pointing outside INFLATED_DIR (inside a sandbox a link
  can resolve to something else than it does outside).

A change is the submission's failure (exit 3) with a verdict naming what changed; a bad link
in the submission dir is bad input (exit 2).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vcc.base import BadInput, file_sha256
from vcc.scorer import Challenge

from ._verdicts import Verdict, failure

__all__ = [
    "FileFingerprint",
    "ChallengeFingerprint",
    "fingerprint_file",
    "check_archive_unchanged",
    "fingerprint_challenge",
    "check_challenge_unchanged",
    "check_inflate_sh_link",
    "check_raw_links",
]


@dataclass(frozen=True)
class FileFingerprint:
    bytes: int
    sha256: str

    def as_json(self) -> dict[str, object]:
        return {"bytes": self.bytes, "sha256": self.sha256}


def fingerprint_file(path: Path) -> FileFingerprint:
    return FileFingerprint(path.stat().st_size, file_sha256(path))


def _fingerprint_or_none(path: Path) -> FileFingerprint | None:
    try:
        return fingerprint_file(path)
    except OSError:
        return None


def _describe(fp: FileFingerprint | None) -> str:
    return "missing" if fp is None else f"{fp.bytes:,} bytes, sha256 {fp.sha256[:16]}..."


def check_archive_unchanged(workspace_zip: Path, before: FileFingerprint, when: str) -> None:
    """SubmissionFailed (verdict archive_changed) unless the workspace's archive.zip still has
    the size and sha256 the user's had before anything ran."""
    now = _fingerprint_or_none(workspace_zip)
    if now == before:
        return
    raise failure(
        Verdict.ARCHIVE_CHANGED,
        f"archive.zip changed {when}: it was {_describe(before)} and is now {_describe(now)}. "
        "The runner meters the archive's size after inflate, so a changed archive changes the rate; "
        "vcc scores only the archive as submitted",
        path=workspace_zip,
        fix="inflate must only read ARCHIVE_DIR's files and write INFLATED_DIR; never touch ../archive.zip",
    )


@dataclass(frozen=True)
class ChallengeFingerprint:
    """The rate's denominator (every file under videos/) and the sha256 of every scored asset."""

    original_bytes: int
    files: dict[str, FileFingerprint]  # path relative to the challenge root -> fingerprint

    def as_json(self) -> dict[str, object]:
        return {"original_bytes": self.original_bytes, "files": {k: v.as_json() for k, v in self.files.items()}}


def _scored_files(challenge: Challenge) -> list[Path]:
    paths = challenge.video_dir_files() + [v.path for v in challenge.videos]
    paths += [challenge.model_path("segnet"), challenge.model_path("posenet")]
    return list(dict.fromkeys(paths))


def fingerprint_challenge(challenge: Challenge) -> ChallengeFingerprint:
    root = challenge.root
    files = {str(p.relative_to(root)): fingerprint_file(p) for p in _scored_files(challenge)}
    return ChallengeFingerprint(challenge.original_bytes, files)


def check_challenge_unchanged(challenge: Challenge, before: ChallengeFingerprint) -> None:
    """SubmissionFailed (verdict challenge_changed) when inflate added, removed or changed a file
    under videos/ or a listed video or weights file."""
    root = challenge.root
    now_paths = {str(p.relative_to(root)): p for p in _scored_files(challenge)}
    changes = []
    for rel in sorted(set(now_paths) | set(before.files)):
        old = before.files.get(rel)
        new = _fingerprint_or_none(now_paths[rel]) if rel in now_paths else None
        if old != new:
            what = "added" if old is None else "removed" if new is None else "changed"
            changes.append(f"{rel} {what} ({_describe(old)} -> {_describe(new)})")
    if not changes:
        return
    now_bytes = challenge.original_bytes
    denominator = (
        f"; the rate's denominator moved from {before.original_bytes:,} to {now_bytes:,} bytes"
        if now_bytes != before.original_bytes
        else ""
    )
    raise failure(
        Verdict.CHALLENGE_CHANGED,
        "inflate changed the challenge checkout's scored files: " + "; ".join(changes[:10]) + denominator,
        path=challenge.videos_dir,
        fix="inflate must not write into the checkout's videos/ or models/ (restore them with "
        "`git checkout` / `git lfs pull`); run with the sandbox, which keeps them out of reach",
    )


def check_inflate_sh_link(submission_dir: Path) -> None:
    """BadInput when SUBMISSION_DIR/inflate.sh is a symlink that dangles or leads out of the dir:
    the runner's checkout holds only what the PR holds, and inside the sandbox such a link
    resolves to nothing (bash exits 127 with no hint)."""
    sh = Path(submission_dir) / "inflate.sh"
    if not sh.is_symlink():
        return
    target = os.readlink(sh)
    real = sh.resolve()
    if not real.exists():
        problem = "dangles"
    elif not real.is_relative_to(Path(submission_dir).resolve()):
        problem = "points outside the submission dir"
    elif os.path.isabs(target):  # the staged copy's link would lead back to the original dir
        problem = "is absolute (the staged copy would run your original, not the copy)"
    else:
        return
    raise BadInput(
        f"inflate.sh is a symbolic link that {problem} (to {target})",
        path=sh,
        fix="replace the link with the script itself (`cp --remove-destination \"$(readlink -f inflate.sh)\" "
        "inflate.sh`): the runner checks out only the files of your PR",
    )


def check_raw_links(challenge: Challenge, inflated_dir: Path) -> None:
    """SubmissionFailed (wrong_output) when INFLATED_DIR itself, or a raw in it, is a symlink that
    dangles or resolves outside INFLATED_DIR: what it points to differs inside and outside the
    sandbox, and the runner would read whatever the path holds there."""
    if inflated_dir.is_symlink():
        raise failure(
            Verdict.WRONG_OUTPUT,
            f"INFLATED_DIR is a symbolic link (to {os.readlink(inflated_dir)}), not a directory",
            path=inflated_dir,
            fix="create INFLATED_DIR with mkdir -p and write the raws into it",
        )
    base = inflated_dir.resolve()
    for video in challenge.videos:
        raw = inflated_dir / video.raw_name
        if not raw.is_symlink():
            continue
        target = os.readlink(raw)
        real = raw.resolve()
        if not real.exists():
            problem = "dangles"
        elif not real.is_relative_to(base):
            problem = f"points outside INFLATED_DIR (to {real})"
        else:
            continue
        raise failure(
            Verdict.WRONG_OUTPUT,
            f"raw file for video {video.name!r} is a symbolic link that {problem} (link text {target!r})",
            path=raw,
            fix=f"write {video.raw_name} as a regular file in INFLATED_DIR",
        )
