"""Files: atomic writes, sha256 of a file, vcc's cache dirs, removing trees with read-only dirs.

Torch-free, like the rest of base.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "write_atomic",
    "write_json_atomic",
    "current_umask",
    "file_sha256",
    "vcc_cache_root",
    "remove_tree",
]


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write via a temp file in the same directory and rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; a report or cache entry is for others too (a CI uploader
        # running as another user, a shared cache): 0644, or what the umask leaves of it.
        os.fchmod(fd, 0o644 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process umask, read without the set-and-restore race of os.umask where /proc tells it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json_atomic(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def file_sha256(path: Path) -> str:
    """sha256 of a file's content as hex, read afresh on every call (no memo)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def vcc_cache_root() -> Path:
    """vcc's cache: $XDG_CACHE_HOME/vcc (default ~/.cache/vcc); each kind of entry has a subdir."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vcc"


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def remove_tree(path: Path) -> None:
    """rm -rf that also removes read-only dirs (an extraction's, say): each dir is made writable first.

    A file or a symlink is unlinked (a symlink's target is never touched); a missing path is no error.
    Iterative and relative to open dir fds: a tree thousands of levels deep, or with paths longer than
    PATH_MAX, goes too (inflate can make one).
    """
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        path.unlink()
        return
    os.chmod(path, 0o700)
    stack: list[tuple[int, str]] = [(os.open(path, _DIR_FLAGS), "")]
    try:
        while stack:
            fd, _ = stack[-1]
            child = None
            with os.scandir(fd) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        child = entry.name
                        break
                    os.unlink(entry.name, dir_fd=fd)
            if child is not None:
                os.chmod(child, 0o700, dir_fd=fd, follow_symlinks=True)  # a dir (checked), never a link
                stack.append((os.open(child, _DIR_FLAGS, dir_fd=fd), child))
                continue
            os.close(fd)
            _, name = stack.pop()
            if stack:
                os.rmdir(name, dir_fd=stack[-1][0])
    finally:
        for fd, _ in stack:
            os.close(fd)
    os.rmdir(path)


def walk_tree(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """Every entry under root as (path relative to root, lstat), iteratively and relative to open dir fds
    (any depth, any path length), never following a link; entries that vanish or cannot be read are skipped.

    A dir's fd stays open only while subdirs of it wait to be read, so the fds open at once are about
    the tree's depth, not its width.
    """
    try:
        top = os.open(root, _DIR_FLAGS)
    except OSError:
        return
    pending: dict[int, int] = {}  # open parent fd -> its subdirs not yet opened

    def release(fd: int) -> None:
        pending[fd] -= 1
        if pending[fd] == 0:
            del pending[fd]
            os.close(fd)

    stack: list[tuple[int | None, str, str]] = [(None, "", "")]  # (parent fd, name, rel)
    try:
        while stack:
            parent, name, rel = stack.pop()
            if parent is None:
                fd = top
            else:
                try:
                    fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
                except OSError:
                    release(parent)
                    continue
                release(parent)
            pending[fd] = 1  # held while listing
            try:
                with os.scandir(fd) as it:
                    entries = list(it)
            except OSError:
                entries = []
            for entry in entries:
                sub = f"{rel}/{entry.name}" if rel else entry.name
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                yield sub, st
                if stat.S_ISDIR(st.st_mode):
                    pending[fd] += 1
                    stack.append((fd, entry.name, sub))
            release(fd)
    finally:
        for fd in pending:
            os.close(fd)
