"""Which files of a submission dir are the submission (shared by manifest and lint)."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

# sha256 read afresh every time: a manifest must never reuse a hash of an earlier version of the
# file (filesystem timestamps are too coarse to tell two quick writes apart). Kept under its old name.
from vcc.base import ARCHIVE_NAME
from vcc.base import file_sha256 as sha256_file

__all__ = ["ARCHIVE_NAME", "RUN_OUTPUTS", "LITTER", "submission_files", "sha256_file"]

# What the official job recreates itself (evaluate.sh rm -rf's archive/, inflate writes
# inflated/, evaluate.py writes report.txt): outputs of a local run, not the submission.
RUN_OUTPUTS = ("archive", "inflated", "report.txt")
LITTER = ("__pycache__", ".git", ".DS_Store", "*.pyc")


def _skip(rel: str, top: bool) -> bool:
    path = PurePosixPath(rel)
    return (top and rel in RUN_OUTPUTS) or any(path.match(p) for p in LITTER)


def submission_files(root: Path, exclude: tuple[Path, ...] = ()) -> list[str]:
    """Relative POSIX paths of every file (and file symlink) under `root` except archive.zip,
    local-run outputs, build litter and `exclude`, sorted by their UTF-8 bytes."""
    skip_real = {p.resolve() for p in exclude}
    out: list[str] = []
    for dirpath, dirs, files in os.walk(root, followlinks=False):
        d = Path(dirpath)
        rel_dir = d.relative_to(root).as_posix()
        top = rel_dir == "."

        def rel(name: str, rel_dir: str = rel_dir) -> str:
            return name if rel_dir == "." else f"{rel_dir}/{name}"

        dirs[:] = [n for n in dirs if not _skip(rel(n), top)]
        # Symlinked dirs are not walked (they could lead anywhere): listed as entries.
        out += [rel(n) for n in dirs if (d / n).is_symlink()]
        for name in files:
            r = rel(name)
            if (top and name == ARCHIVE_NAME) or _skip(r, top) or (d / name).resolve() in skip_real:
                continue
            out.append(r)
    return sorted(out, key=lambda s: s.encode("utf-8", "surrogateescape"))
