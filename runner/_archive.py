"""Safe extraction of archive.zip, producing what the runner's `unzip -o` would.

Every member is vetted before a single byte is written: unsafe names, links,
device files, duplicates, encryption, compression methods the runner's
Info-ZIP unzip 6.0 cannot read, overlapping members (the "better zip bomb")
and absurd sizes are refused as BadInput. CRCs are verified while extracting.
"""

from __future__ import annotations

import os
import stat
import struct
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from base import BadInput, remove_tree

__all__ = [
    "ExtractLimits",
    "ExtractedMember",
    "ExtractResult",
    "UNZIP_METHODS",
    "vet_archive",
    "extract_archive",
]

GiB = 1 << 30

# Compression methods Info-ZIP unzip 6.0 (Ubuntu's and Debian's) extracts that
# Python can also read: stored, deflated, bzip2. LZMA (14) and zstd (93) zips
# extract with Python but fail with "unsupported compression method" on the runner.
UNZIP_METHODS: dict[int, str] = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflated",
    zipfile.ZIP_BZIP2: "bzip2",
}

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # 30 bytes, PKZIP APPNOTE 4.3.7
_LOCAL_MAGIC = b"PK\x03\x04"
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class ExtractLimits:
    """Caps that separate a real archive from a zip bomb; all overridable.

    The defaults sit far above any plausible submission (the official video is
    37.5 MB and the decoded raws 3.6 GB are written by inflate, not unzipped)
    while keeping an extraction from filling a disk.
    """

    max_total_bytes: int = 8 * GiB  # sum of uncompressed member sizes
    max_ratio: float = 1000.0  # per member, uncompressed / compressed
    ratio_floor_bytes: int = 1 << 20  # members smaller than this skip the ratio check
    max_members: int = 10_000


@dataclass(frozen=True)
class ExtractedMember:
    name: str
    bytes: int
    mode: int  # permission bits as written

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "bytes": self.bytes, "mode": oct(self.mode)}


@dataclass
class ExtractResult:
    dest: Path
    members: list[ExtractedMember]
    total_bytes: int
    elapsed_s: float
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "members": [m.as_json() for m in self.members],
            "total_bytes": self.total_bytes,
            "elapsed_s": round(self.elapsed_s, 3),
            "warnings": self.warnings,
        }


def _bad(archive: Path, message: str, fix: str) -> BadInput:
    return BadInput(f"archive.zip: {message}", path=archive, fix=fix)


def _unix_mode(info: zipfile.ZipInfo) -> int | None:
    """st_mode stored by a Unix zip tool, else None."""
    if info.create_system != 3:  # 3 = Unix
        return None
    mode = info.external_attr >> 16
    return mode or None


# Hosts whose zips carry Unix permission bits that unzip restores as they are.
_UNIX_LIKE_HOSTS = {
    2,
    3,
    5,
    12,
    13,
    16,
    17,
    30,
}  # VMS, Unix, Atari, QDOS, Acorn, BeOS, Tandem, AtheOS
_FAT_HOST = 0


def _unzip_mode(info: zipfile.ZipInfo, umask: int) -> int:
    """The permission bits Info-ZIP unzip 6.0 gives an extracted member (without -K).

    Unix-like hosts: the stored bits. FAT (and PKZip for Unix, which says FAT): the
    stored bits if their owner part agrees with the DOS read-only/dir flags, else
    r/w(/x) from those flags; then the umask. Other hosts: from the DOS flags, umasked.
    setuid, setgid and sticky are always dropped.
    """
    upper = info.external_attr >> 16
    if info.create_system in _UNIX_LIKE_HOSTS and upper:
        return upper & 0o777
    stored = upper if info.create_system in _UNIX_LIKE_HOSTS | {_FAT_HOST} else 0
    dos = info.external_attr & 0xFF
    if info.filename.endswith("/"):
        dos |= 0x10
    bits = (0 if dos & 0x01 else 0o2) | (0o1 if dos & 0x10 else 0)  # writable, searchable
    if (stored & 0o700) == (0o400 | bits << 6):
        mode = stored
    else:
        mode = 0o444 | bits << 6 | bits << 3 | bits
    return mode & ~umask & 0o777


def _safe_name(archive: Path, raw: str) -> str:
    """The member's path relative to the destination, or BadInput if it could escape."""
    fix = "rebuild the zip from inside the directory with relative paths (e.g. `cd dir && zip -r ../archive.zip .`)"
    if "\x00" in raw:
        raise _bad(archive, f"member name {raw!r} contains a NUL byte", fix)
    name = raw.replace("\\", "/")  # unzip treats backslashes from DOS tools as separators
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise _bad(archive, f"member {raw!r} has an absolute path", fix)
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if ".." in parts:
        raise _bad(archive, f"member {raw!r} climbs out of the extraction dir with '..' (zip slip)", fix)
    if not parts:
        raise _bad(archive, f"member {raw!r} has an empty name", fix)
    return "/".join(parts)


def _local_span(fh: object, info: zipfile.ZipInfo, archive: Path) -> tuple[int, int]:
    """Byte range [start, end) that a member's local header and data occupy."""
    fh.seek(info.header_offset)  # type: ignore[attr-defined]
    head = fh.read(_LOCAL_HEADER.size)  # type: ignore[attr-defined]
    if len(head) != _LOCAL_HEADER.size or head[:4] != _LOCAL_MAGIC:
        raise _bad(
            archive,
            f"member {info.filename!r}: local header missing or corrupt",
            "re-create the zip",
        )
    fields = _LOCAL_HEADER.unpack(head)
    name_len, extra_len = fields[-2], fields[-1]
    end = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len + info.compress_size
    return info.header_offset, end


def vet_archive(archive: Path, limits: ExtractLimits | None = None) -> list[tuple[zipfile.ZipInfo, str]]:
    """Check every member; return (info, safe relative name) pairs in archive order."""
    limits = limits or ExtractLimits()
    archive = Path(archive)
    if not archive.is_file():
        raise BadInput("archive.zip not found", path=archive, fix="put the submission's archive.zip in the dir")
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise _bad(archive, f"not a readable zip file ({e})", "re-create it with `zip` or Python's zipfile") from e
    with zf:
        infos = zf.infolist()
        if not infos:
            raise _bad(
                archive,
                "the zip has no members (the runner's unzip fails on an empty zip)",
                "add the data",
            )
        if len(infos) > limits.max_members:
            raise _bad(
                archive,
                f"{len(infos):,} members exceed the cap of {limits.max_members:,}",
                "pack the data into fewer files, or raise the cap with --max-members",
            )
        seen: dict[str, str] = {}
        out: list[tuple[zipfile.ZipInfo, str]] = []
        total = 0
        for info in infos:
            name = _safe_name(archive, info.filename)
            key = name.rstrip("/")
            if key in seen:
                raise _bad(
                    archive,
                    f"member {info.filename!r} duplicates {seen[key]!r}; `unzip -o` would keep only the last",
                    "re-create the zip so that each path appears once",
                )
            seen[key] = info.filename
            if info.flag_bits & 0x1:
                raise _bad(
                    archive,
                    f"member {info.filename!r} is encrypted; the runner's unzip would prompt for a password",
                    "zip without a password",
                )
            mode = _unix_mode(info)
            if mode is not None and not info.is_dir():
                kind = stat.S_IFMT(mode)
                if stat.S_ISLNK(mode):
                    raise _bad(
                        archive,
                        f"member {info.filename!r} is a symbolic link",
                        "store the file itself (zip without -y / --symlinks)",
                    )
                if kind not in (0, stat.S_IFREG):
                    raise _bad(
                        archive,
                        f"member {info.filename!r} is a special file (mode {oct(mode)})",
                        "store only regular files and directories",
                    )
            if info.compress_type not in UNZIP_METHODS:
                raise _bad(
                    archive,
                    f"member {info.filename!r} uses compression method {info.compress_type}, "
                    "which the runner's unzip 6.0 cannot extract",
                    "use stored, deflate or bzip2 (e.g. zipfile.ZIP_DEFLATED)",
                )
            total += info.file_size
            if total > limits.max_total_bytes:
                raise _bad(
                    archive,
                    f"uncompressed size exceeds the cap of {limits.max_total_bytes:,} bytes (zip bomb?)",
                    "raise the cap with --max-unzipped-bytes if this is intended",
                )
            if info.file_size >= limits.ratio_floor_bytes:
                ratio = info.file_size / max(info.compress_size, 1)
                if ratio > limits.max_ratio:
                    raise _bad(
                        archive,
                        f"member {info.filename!r} expands {ratio:,.0f}x "
                        f"({info.compress_size:,} -> {info.file_size:,} bytes), over the cap of "
                        f"{limits.max_ratio:,.0f}x (zip bomb?)",
                        "raise the cap with --max-ratio if this is intended",
                    )
            out.append((info, name))
        files = {name for info, name in out if not info.is_dir()}
        for info, name in out:
            for parent in PurePosixPath(name).parents:
                if str(parent) in files:
                    raise _bad(
                        archive,
                        f"member {info.filename!r} sits under {str(parent)!r}, which is a file",
                        "re-create the zip so that no file shares its path with a directory",
                    )
        # Members whose data overlap share compressed bytes: a non-recursive zip bomb.
        with open(archive, "rb") as fh:
            spans = sorted((_local_span(fh, info, archive), info.filename) for info, _ in out)
        for ((_, end), name_a), ((start, _), name_b) in zip(spans, spans[1:], strict=False):
            if start < end:
                raise _bad(
                    archive,
                    f"members {name_a!r} and {name_b!r} overlap in the file (zip bomb)",
                    "re-create the zip with an ordinary zip tool",
                )
    return out


def _dos_mtime(info: zipfile.ZipInfo) -> float | None:
    try:
        return time.mktime((*info.date_time, 0, 0, -1))
    except (OverflowError, ValueError):
        return None


def extract_archive(archive: Path, dest: Path, limits: ExtractLimits | None = None) -> ExtractResult:
    """`rm -rf dest; unzip -o archive -d dest`, after vetting every member.

    Like Info-ZIP unzip: permission bits as `_unzip_mode` says (stored Unix
    bits without setuid, setgid and sticky; DOS flags otherwise), dirs
    implied by paths made with 0777 & ~umask, modification times from the
    zip's DOS timestamps.
    """
    t0 = time.perf_counter()
    archive, dest = Path(archive), Path(dest)
    members = vet_archive(archive, limits)
    limits = limits or ExtractLimits()
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        remove_tree(dest)  # also the read-only dirs a previous extraction left
    dest.mkdir(parents=True)
    umask = _current_umask()
    written: list[ExtractedMember] = []
    dir_modes: list[tuple[Path, int, float | None]] = []
    total = 0
    with zipfile.ZipFile(archive) as zf:
        for info, name in members:
            target = dest / name
            perm = _unzip_mode(info, umask)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                dir_modes.append((target, perm, _dos_mtime(info)))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            size = 0
            try:
                src = zf.open(info)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as e:
                raise _bad(
                    archive,
                    f"member {info.filename!r} cannot be opened ({e})",
                    "re-create the zip; `unzip -t archive.zip` shows the damage",
                ) from e
            with src, open(target, "wb") as dst:
                while True:
                    try:
                        chunk = src.read(_COPY_CHUNK)
                    except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error) as e:
                        raise _bad(
                            archive,
                            f"member {info.filename!r} is corrupt ({e})",
                            "re-create the zip; `unzip -t archive.zip` shows the damage",
                        ) from e
                    if not chunk:
                        break
                    size += len(chunk)
                    total += len(chunk)
                    if total > limits.max_total_bytes:
                        raise _bad(
                            archive,
                            f"extraction passed the cap of {limits.max_total_bytes:,} bytes",
                            "raise the cap with --max-unzipped-bytes if this is intended",
                        )
                    dst.write(chunk)
            os.chmod(target, perm)
            mtime = _dos_mtime(info)
            if mtime is not None:
                os.utime(target, (mtime, mtime))
            written.append(ExtractedMember(name, size, perm))
    # Directory modes and times last, as unzip does, so that a read-only dir
    # does not block the files written into it.
    for path, perm, mtime in reversed(dir_modes):
        os.chmod(path, perm)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
    return ExtractResult(dest, written, total, time.perf_counter() - t0)


def _current_umask() -> int:
    """The process umask, read without the set-and-restore race of os.umask."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
