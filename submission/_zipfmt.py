"""A minimal deterministic zip writer: every byte follows from the member names, modes and data.

Written out here rather than through `zipfile` so that no Python version's defaults
(flag bits, version fields, extra fields, data descriptors) can change the output.
Layout per PKWARE APPNOTE 6.3: local header + name + data per member, then the
central directory, then the end record. No extra fields, no comment, no zip64
(members and the archive must stay under 4 GiB), no data descriptors.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

__all__ = [
    "FIXED_DATE_TIME",
    "DEFLATE_LEVEL",
    "METHOD_STORED",
    "METHOD_DEFLATED",
    "ZipEntry",
    "write_member",
    "write_directory",
    "write_central_directory",
]

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a DOS timestamp can say
DEFLATE_LEVEL = 9
METHOD_STORED = 0
METHOD_DEFLATED = 8

_DOS_DATE = ((FIXED_DATE_TIME[0] - 1980) << 9) | (FIXED_DATE_TIME[1] << 5) | FIXED_DATE_TIME[2]
_DOS_TIME = (FIXED_DATE_TIME[3] << 11) | (FIXED_DATE_TIME[4] << 5) | (FIXED_DATE_TIME[5] // 2)
_UNIX = 3  # "version made by" host: Unix, so unzip restores the permission bits
_FLAG_UTF8 = 0x800
_LIMIT = 0xFFFFFFFF
_CHUNK = 1 << 20

_LOCAL = struct.Struct("<IHHHHHIIIHH")  # 30 bytes
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")  # 46 bytes
_END = struct.Struct("<IHHHHIIH")  # 22 bytes


@dataclass(frozen=True)
class ZipEntry:
    """One member as written; what the central directory repeats."""

    name: str
    mode: int  # full st_mode (type and permission bits)
    method: int
    crc: int
    compressed: int
    size: int
    offset: int

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")


def _name_bytes(name: str) -> tuple[bytes, int]:
    raw = name.encode("utf-8")
    return raw, (0 if raw.isascii() else _FLAG_UTF8)


def _version_needed(method: int, is_dir: bool) -> int:
    return 20 if method == METHOD_DEFLATED or is_dir else 10


def _local_header(name: bytes, flags: int, method: int, crc: int, csize: int, size: int, is_dir: bool) -> bytes:
    return (
        _LOCAL.pack(
            0x04034B50,
            _version_needed(method, is_dir),
            flags,
            method,
            _DOS_TIME,
            _DOS_DATE,
            crc,
            csize,
            size,
            len(name),
            0,  # no extra field
        )
        + name
    )


def _chunks(src: BinaryIO) -> Iterator[bytes]:
    while chunk := src.read(_CHUNK):
        yield chunk


def write_member(out: BinaryIO, name: str, mode: int, src: BinaryIO, deflate: bool) -> ZipEntry:
    """Append one file member read from `src`; `out` must be seekable (the header is patched).

    With `deflate`, a member that deflate would not shrink is stored instead, as
    Info-ZIP zip does: the archive's size is what the rate meters.
    """
    raw, flags = _name_bytes(name)
    offset = out.tell()
    out.write(_local_header(raw, flags, METHOD_STORED, 0, 0, 0, False))  # patched below
    data_start = out.tell()
    crc = size = 0
    if deflate:
        comp = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15)
        for chunk in _chunks(src):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
            out.write(comp.compress(chunk))
        out.write(comp.flush())
        csize = out.tell() - data_start
        method = METHOD_DEFLATED
        if csize >= size:  # no gain: rewrite the data stored
            src.seek(0)
            out.seek(data_start)
            out.truncate()
            for chunk in _chunks(src):
                out.write(chunk)
            csize, method = size, METHOD_STORED
    else:
        for chunk in _chunks(src):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
            out.write(chunk)
        csize, method = size, METHOD_STORED
    if size > _LIMIT or out.tell() > _LIMIT:
        raise OverflowError(f"{name}: zip64 would be needed (over 4 GiB)")
    end = out.tell()
    out.seek(offset)
    out.write(_local_header(raw, flags, method, crc, csize, size, False))
    out.seek(end)
    return ZipEntry(name, mode, method, crc, csize, size, offset)


def write_directory(out: BinaryIO, name: str, mode: int) -> ZipEntry:
    """An explicit directory entry (only for directories that hold nothing)."""
    name = name.rstrip("/") + "/"
    raw, flags = _name_bytes(name)
    offset = out.tell()
    out.write(_local_header(raw, flags, METHOD_STORED, 0, 0, 0, True))
    return ZipEntry(name, mode, METHOD_STORED, 0, 0, 0, offset)


def write_central_directory(out: BinaryIO, entries: list[ZipEntry]) -> None:
    start = out.tell()
    for e in entries:
        raw, flags = _name_bytes(e.name)
        dos_dir = 0x10 if e.is_dir else 0
        out.write(
            _CENTRAL.pack(
                0x02014B50,
                (_UNIX << 8) | 20,
                _version_needed(e.method, e.is_dir),
                flags,
                e.method,
                _DOS_TIME,
                _DOS_DATE,
                e.crc,
                e.compressed,
                e.size,
                len(raw),
                0,  # extra
                0,  # comment
                0,  # disk
                0,  # internal attributes
                (e.mode << 16) | dos_dir,
                e.offset,
            )
            + raw
        )
    size = out.tell() - start
    if len(entries) > 0xFFFF or out.tell() > _LIMIT:
        raise OverflowError("zip64 would be needed (too many members or over 4 GiB)")
    out.write(_END.pack(0x06054B50, 0, 0, len(entries), len(entries), size, start, 0))
