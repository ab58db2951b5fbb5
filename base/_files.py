"""Files: atomic writes, sha256 of a file, vcc's cache dirs, removing trees with read-only dirs.

Torch-free, like the rest of base.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
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


def remove_tree(path: Path) -> None:
    """rm -rf that also removes read-only dirs (an extraction's, say): each dir is made writable first.

    A file or a symlink is unlinked (a symlink's target is never touched); a missing path is no error.
    """
    path = Path(path)
    if path.is_symlink() or path.is_file():
        path.unlink()
        return
    if not path.exists():
        return
    for root, dirs, _ in os.walk(path):
        for d in dirs:
            p = os.path.join(root, d)
            if not os.path.islink(p):
                os.chmod(p, 0o700)
    os.chmod(path, 0o700)
    shutil.rmtree(path)
