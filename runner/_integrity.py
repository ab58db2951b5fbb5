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

import errno
import hashlib
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from vcc.base import BadInput, escape_control
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
    "check_submission_dir",
    "NotRegularFile",
    "check_raw_links",
]


@dataclass(frozen=True)
class FileFingerprint:
    bytes: int
    sha256: str

    def as_json(self) -> dict[str, object]:
        return {"bytes": self.bytes, "sha256": self.sha256}


_READ_CHUNK = 1 << 20
# A fingerprint's read must end: a regular file that keeps growing (or a slow file system) stops here.
_READ_SECONDS = 300.0


class NotRegularFile(OSError):
    """The path is not a regular file (a FIFO, a device, a socket, a directory, or a link with follow=False)."""


def _kind(mode: int) -> str:
    kinds = {
        stat.S_IFIFO: "a FIFO",
        stat.S_IFCHR: "a character device",
        stat.S_IFBLK: "a block device",
        stat.S_IFSOCK: "a socket",
        stat.S_IFDIR: "a directory",
        stat.S_IFLNK: "a symbolic link",
    }
    return kinds.get(stat.S_IFMT(mode), f"a special file (mode {oct(mode)})")


def fingerprint_file(path: Path, *, follow: bool = True, max_bytes: int | None = None) -> FileFingerprint:
    """Size and sha256 of a regular file, never opening anything else.

    The path is opened non-blocking (a FIFO cannot hang the open) and without following a last
    link when `follow` is False; what was opened must be a regular file (a FIFO, /dev/zero and
    the like raise NotRegularFile before one byte is read). Reading stops at the size fstat gave
    (or at `max_bytes`), and after _READ_SECONDS.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(f"{path} is {_kind(st.st_mode)}")
        flags |= os.O_NOFOLLOW
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(f"{path} is {_kind(st.st_mode)}")
        size = st.st_size if max_bytes is None else min(st.st_size, max_bytes)
        digest, left, deadline = hashlib.sha256(), size, time.monotonic() + _READ_SECONDS
        while left > 0:
            chunk = os.read(fd, min(_READ_CHUNK, left))
            if not chunk or time.monotonic() > deadline:
                break
            digest.update(chunk)
            left -= len(chunk)
        return FileFingerprint(st.st_size, digest.hexdigest())
    finally:
        os.close(fd)


def _fingerprint_or_why(path: Path, before: FileFingerprint | None, follow: bool) -> FileFingerprint | str:
    """The file's fingerprint, or why there is none ("missing", "a FIFO", ...). A regular file whose
    size differs from `before` is not read (its size alone says it changed)."""
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        return "missing"
    except OSError as e:
        return f"unreadable ({e.strerror})"
    if not stat.S_ISREG(st.st_mode):
        what = _kind(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            what += f" (to {os.readlink(path)!r})"
        return what
    if before is not None and st.st_size != before.bytes:
        return FileFingerprint(st.st_size, "(not read: the size differs)")
    try:
        return fingerprint_file(path, follow=follow, max_bytes=before.bytes if before else None)
    except NotRegularFile as e:
        return str(e).rsplit(" is ", 1)[-1]
    except OSError as e:
        return f"unreadable ({e.strerror})"


def _fingerprint_or_none(path: Path, before: FileFingerprint | None = None) -> FileFingerprint | None:
    now = _fingerprint_or_why(path, before, follow=True)
    return now if isinstance(now, FileFingerprint) else None


def _describe(fp: FileFingerprint | str | None) -> str:
    if fp is None:
        return "missing"
    if isinstance(fp, str):
        return fp
    return f"{fp.bytes:,} bytes, sha256 {fp.sha256[:16]}..."


def check_archive_unchanged(workspace_zip: Path, before: FileFingerprint, when: str) -> None:
    """SubmissionFailed (verdict archive_changed) unless the workspace's archive.zip is still a regular
    file (a link, FIFO or device is never opened) with the size and sha256 the user's had before anything ran."""
    now = _fingerprint_or_why(workspace_zip, before, follow=False)
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
        new = _fingerprint_or_none(now_paths[rel], old) if rel in now_paths else None
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


# A submission deeper or with longer paths than this cannot be staged under the workspace (PATH_MAX is
# 4096 bytes with the workspace's own prefix) nor copied without recursion: refused as bad input.
MAX_SUBMISSION_DEPTH = 200
MAX_SUBMISSION_PATH_BYTES = 3000


def _link_problem(link: Path, inside: Path) -> str | None:
    """Why a symlink in the submission dir cannot be followed safely, or None (never raises on loops)."""
    target = os.readlink(link)
    try:
        os.stat(link)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return f"is a symbolic link loop (to {target!r})"
        if e.errno == errno.ENAMETOOLONG:
            return f"is a symbolic link whose target's path is too long (to {target[:80]!r}...)"
        return f"dangles (to {target!r})"
    real = Path(os.path.realpath(link))
    if not real.is_relative_to(Path(os.path.realpath(inside))):
        return f"points outside the submission dir (to {target!r})"
    return None


def check_submission_dir(submission_dir: Path, skip_top: tuple[str, ...] = ()) -> None:
    """BadInput for what the submission dir holds that the runner's git checkout cannot, or that vcc
    cannot stage: FIFOs, sockets and devices (opening a FIFO blocks), trees deeper than
    MAX_SUBMISSION_DEPTH or paths longer than MAX_SUBMISSION_PATH_BYTES, link loops; archive.zip
    and inflate.sh must be regular files inside the dir (a link is followed only within it).

    Walked iteratively with lstat: nothing is opened, no link is followed.
    """
    submission_dir = Path(submission_dir)
    fix = "remove it from the submission dir: the runner checks out only the files, dirs and links of your PR"
    stack: list[tuple[str, int]] = [("", 0)]
    while stack:
        rel, depth = stack.pop()
        here = submission_dir / rel if rel else submission_dir
        if depth > MAX_SUBMISSION_DEPTH:
            raise BadInput(f"the submission dir is more than {MAX_SUBMISSION_DEPTH} levels deep", path=here, fix=fix)
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError as e:
            raise BadInput(f"the submission dir cannot be read ({e.strerror})", path=here, fix=fix) from e
        for entry in entries:
            if not rel and entry.name in skip_top:
                continue
            sub = f"{rel}/{entry.name}" if rel else entry.name
            shown = Path(submission_dir, escape_control(sub))
            if len(os.fsencode(sub)) > MAX_SUBMISSION_PATH_BYTES:
                too_long = f"a path in the submission dir is longer than {MAX_SUBMISSION_PATH_BYTES} bytes"
                raise BadInput(too_long, path=shown, fix=fix)
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                stack.append((sub, depth + 1))
            elif stat.S_ISLNK(st.st_mode):
                problem = _link_problem(Path(entry.path), submission_dir)
                if problem is not None and ("loop" in problem or sub in ("archive.zip", "inflate.sh")):
                    raise BadInput(f"{escape_control(sub)} {problem}", path=shown, fix=_LINK_FIX)
            elif not stat.S_ISREG(st.st_mode):
                raise BadInput(f"{escape_control(sub)} is {_kind(st.st_mode)}", path=shown, fix=fix)
    for name in ("archive.zip", "inflate.sh"):
        p = submission_dir / name
        if p.is_symlink() and not Path(os.path.realpath(p)).is_file():
            raise BadInput(f"{name} is a symbolic link to something not a regular file", path=p, fix=_LINK_FIX)


_LINK_FIX = (
    "replace the link with the file itself (`cp --remove-destination \"$(readlink -f FILE)\" FILE`): the runner "
    "checks out only the files of your PR, and vcc reads nothing outside the submission dir"
)


def check_inflate_sh_link(submission_dir: Path) -> None:
    """BadInput when SUBMISSION_DIR/inflate.sh is a symlink that dangles, loops or leads out of the dir:
    the runner's checkout holds only what the PR holds, and inside the sandbox such a link
    resolves to nothing (bash exits 127 with no hint)."""
    sh = Path(submission_dir) / "inflate.sh"
    if not sh.is_symlink():
        return
    target = os.readlink(sh)
    problem = _link_problem(sh, Path(submission_dir))
    if problem is None and os.path.isabs(target):  # the staged copy's link would lead back to the original dir
        problem = "is absolute (the staged copy would run your original, not the copy)"
    if problem is None:
        return
    raise BadInput(f"inflate.sh {problem}", path=sh, fix=_LINK_FIX)


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
    base = Path(os.path.realpath(inflated_dir))
    for video in challenge.videos:
        raw = inflated_dir / video.raw_name
        if not raw.is_symlink():
            continue
        target = os.readlink(raw)
        try:
            os.stat(raw)
            real = Path(os.path.realpath(raw))
            problem = None if real.is_relative_to(base) else f"points outside INFLATED_DIR (to {real})"
        except OSError as e:
            problem = "loops" if e.errno == errno.ELOOP else "dangles"
        if problem is None:
            continue
        raise failure(
            Verdict.WRONG_OUTPUT,
            f"raw file for video {video.name!r} is a symbolic link that {problem} "
            f"(link text {escape_control(target)!r})",
            path=raw,
            fix=f"write {video.raw_name} as a regular file in INFLATED_DIR",
        )
