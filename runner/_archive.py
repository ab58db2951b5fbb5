"""Safe extraction of archive.zip, producing what the runner's `unzip -o` would.

Every member is vetted before a single byte is written (base._zip.vet_archive: unsafe
names, links, device files, file/dir clashes, encryption, compression methods the runner's
Info-ZIP unzip 6.0 cannot read, overlapping members, absurd sizes are refused as
BadInput). CRCs are verified while extracting.
"""

from __future__ import annotations

import bz2
import os
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from vcc.base import (
    LOCAL_HEADER,
    UNZIP_METHODS,
    ExtractLimits,
    archive_error,
    current_umask,
    display_name,
    inspect_archive,
    read_local_header,
    remove_tree,
    unzip_mode,
    vet_archive,
)

# ExtractLimits, UNZIP_METHODS and vet_archive live in base (torch-free); still importable from here.

__all__ = [
    "ExtractLimits",
    "ExtractedMember",
    "ExtractResult",
    "UNZIP_METHODS",
    "vet_archive",
    "extract_archive",
]

_COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class ExtractedMember:
    name: str
    bytes: int
    mode: int  # permission bits as written

    def as_json(self) -> dict[str, object]:
        return {"name": display_name(self.name), "bytes": self.bytes, "mode": oct(self.mode)}


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


def _make_dirs(dest: Path, rel: str) -> None:
    """mkdir -p dest/rel, part by part (no recursion: a member may be thousands of levels deep)."""
    here = dest
    for part in Path(rel).parts:
        here = here / part
        try:
            here.mkdir()
        except FileExistsError:
            pass


def _dos_mtime(info: zipfile.ZipInfo) -> float | None:
    try:
        return time.mktime((*info.date_time, 0, 0, -1))
    except (OverflowError, ValueError):
        return None


def extract_archive(archive: Path, dest: Path, limits: ExtractLimits | None = None) -> ExtractResult:
    """`rm -rf dest; unzip -o archive -d dest`, after vetting every member.

    Like Info-ZIP unzip: permission bits as `base.unzip_mode` says (stored Unix
    bits without setuid, setgid and sticky; DOS flags otherwise), dirs
    implied by paths made with 0777 & ~umask, modification times from the
    zip's DOS timestamps.
    """
    t0 = time.perf_counter()
    archive, dest = Path(archive), Path(dest)
    vetted = inspect_archive(archive, limits)
    members = vetted.members
    limits = limits or ExtractLimits()
    for info, _ in members:
        _check_declared_size(archive, info)
    _clear_dest(dest)
    umask = current_umask()
    written: list[ExtractedMember] = []
    dir_modes: list[tuple[Path, int, float | None]] = []
    total = 0
    with zipfile.ZipFile(archive) as zf:
        for info, name in members:
            target = dest / name
            perm = unzip_mode(info, umask)
            if info.is_dir():
                existed = target.is_dir()
                _make_dirs(dest, name)
                if not existed:  # unzip -o leaves a dir an earlier member made as it is (measured)
                    dir_modes.append((target, perm, _dos_mtime(info)))
                continue
            _make_dirs(dest, str(Path(name).parent))
            if target.is_file():  # an earlier copy of the same name: unzip -o removes it, the last one stays
                target.unlink()
                total -= sum(m.bytes for m in written if m.name == name)
                written = [m for m in written if m.name != name]
            size = _write_member(zf, info, target, archive, total, limits.max_total_bytes)
            total += size
            _set_mode_and_mtime(target, perm, _dos_mtime(info))
            written.append(ExtractedMember(name, size, perm))
    # Directory modes and times last, as unzip does, so that a read-only dir
    # does not block the files written into it.
    for path, perm, mtime in reversed(dir_modes):
        _set_mode_and_mtime(path, perm, mtime)
    return ExtractResult(dest, written, total, time.perf_counter() - t0, _naming_warnings(members, vetted.skipped))


def _naming_warnings(members: list[tuple[zipfile.ZipInfo, str]], skipped: list[zipfile.ZipInfo]) -> list[str]:
    """What the runner's unzip writes other than the zip's own names say: renamed and skipped members."""
    out = [
        f"member '{display_name(info.filename)}' is written as '{display_name(name)}', as the runner's unzip "
        "names it (OEM code page, Unicode Path extra field or control characters dropped)"
        for info, name in members
        if name != "/".join(part for part in info.filename.split("/") if part not in ("", "."))
    ]
    out += [f"member '{display_name(info.filename)}' is a DOS volume label: skipped, as the runner's unzip does"
            for info in skipped]  # fmt: skip
    return out


def _decompressor_object(method: int) -> zlib._Decompress | bz2.BZ2Decompressor | None:
    """A fresh decompressor for the method (None for stored)."""
    if method == zipfile.ZIP_DEFLATED:
        return zlib.decompressobj(-15)
    if method == zipfile.ZIP_BZIP2:
        return bz2.BZ2Decompressor()
    return None


def _check_declared_size(archive: Path, info: zipfile.ZipInfo) -> None:
    """BadInput unless the member's data decompresses to exactly the size its header declares.

    Python's zipfile stops at the declared size (and a CRC of those bytes passes), while
    Info-ZIP unzip 6.0 decompresses the stream to its end: a header that lies writes the
    whole stream there, "bad CRC", exit status 2. The official job's reaction to that status
    depends on evaluate.sh, so vcc refuses instead of choosing one of two different outputs.
    """
    if info.is_dir():
        return
    dec = _decompressor_object(info.compress_type)
    feed = dec.decompress if dec is not None else None
    real = 0
    with open(archive, "rb") as fh:
        head = read_local_header(fh, info.header_offset)
        if head is None:
            return  # vet_archive already refused a missing local header
        fh.seek(info.header_offset + LOCAL_HEADER.size + head.name_len + head.extra_len)
        left = info.compress_size
        try:
            while left > 0:
                chunk = fh.read(min(_COPY_CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                real += len(chunk) if feed is None else len(feed(chunk))
                if real > info.file_size:
                    break  # enough to know it lies; do not inflate a bomb to its end
        except (zlib.error, OSError, EOFError, ValueError) as e:
            raise archive_error(
                archive,
                f"member {info.filename!r} holds damaged compressed data ({e}); the runner's unzip reports an error",
                "re-create the zip; `unzip -t archive.zip` shows the damage",
            ) from e
    if dec is not None and real <= info.file_size and not dec.eof:
        raise archive_error(
            archive,
            f"member {info.filename!r}: its compressed data ends before the stream does; the runner's unzip "
            "reports an error",
            "re-create the zip; `unzip -t archive.zip` shows the damage",
        )
    if real != info.file_size:
        more = "at least " if real > info.file_size else ""
        raise archive_error(
            archive,
            f"member {info.filename!r}: its header declares {info.file_size:,} bytes but its data holds "
            f"{more}{real:,}; the runner's `unzip -o` would write all of the data, report a bad CRC and "
            "exit with status 2",
            "re-create the zip with an ordinary zip tool; `unzip -t archive.zip` shows the fault",
        )


def _clear_dest(dest: Path) -> None:
    """`rm -rf dest; mkdir -p dest`."""
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        remove_tree(dest)  # also the read-only dirs a previous extraction left
    dest.mkdir(parents=True)


def _write_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, archive: Path, written_before: int, cap: int
) -> int:
    """Stream one file member to target, CRC checked; its size. BadInput when it is damaged or
    when written_before plus its bytes pass the cap (max_total_bytes)."""
    size = 0
    try:
        src = zf.open(info)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as e:
        raise archive_error(
            archive,
            f"member {info.filename!r} cannot be opened ({e})",
            "re-create the zip; `unzip -t archive.zip` shows the damage",
        ) from e
    with src, open(target, "wb") as dst:
        while True:
            try:
                chunk = src.read(_COPY_CHUNK)
            except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error) as e:
                raise archive_error(
                    archive,
                    f"member {info.filename!r} is corrupt ({e})",
                    "re-create the zip; `unzip -t archive.zip` shows the damage",
                ) from e
            if not chunk:
                break
            size += len(chunk)
            if written_before + size > cap:
                raise archive_error(
                    archive,
                    f"extraction passed the cap of {cap:,} bytes",
                    "raise the cap with --max-unzipped-bytes if this is intended",
                )
            dst.write(chunk)
    return size


def _set_mode_and_mtime(path: Path, perm: int, mtime: float | None) -> None:
    os.chmod(path, perm)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
