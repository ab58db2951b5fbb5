"""Zip, in one place: the format's records, reading them, the deterministic writer, and the vetting.

- Format: the fixed records of PKWARE APPNOTE 6.3 (local header, central directory header,
  end record), their signatures, the flag bits and the method numbers vcc names.
- Writing (`vcc pack`): a minimal deterministic zip writer, every byte following from the
  member names, modes and data. Written out here rather than through `zipfile` so that no
  Python version's defaults (flag bits, version fields, extra fields, data descriptors) can
  change the output: local header + name + data per member, then the central directory, then
  the end record. Each member's encoding (stored, deflate-9, zopfli-deflate) follows from its
  bytes alone (`encode_member`). No extra fields, no comment, no zip64 (members and the archive must stay
  under 4 GiB), no data descriptors.
- Vetting (`vcc run` before it extracts, `vcc pack` and `vcc lint` after): every member is
  checked before a single byte is written: unsafe names, links, device files, a path both file and dir,
  encryption, compression methods the runner's Info-ZIP unzip 6.0 cannot read, overlapping
  members (the "better zip bomb") and absurd sizes are refused as BadInput. Extraction itself
  is runner/_archive.py's.

Torch-free, like the rest of base.
"""

from __future__ import annotations

import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, NamedTuple

from ._errors import BadInput
from ._layout import ARCHIVE_NAME

__all__ = [
    # format
    "LOCAL_HEADER",
    "CENTRAL_HEADER",
    "END_RECORD",
    "LOCAL_SIGNATURE",
    "CENTRAL_SIGNATURE",
    "END_SIGNATURE",
    "DATA_DESCRIPTOR_SIZE",
    "FLAG_ENCRYPTED",
    "FLAG_DATA_DESCRIPTOR",
    "FLAG_UTF8",
    "METHOD_STORED",
    "METHOD_DEFLATED",
    "METHOD_NAMES",
    "LocalHeader",
    "read_local_header",
    # writing
    "FIXED_DATE_TIME",
    "DEFLATE_LEVEL",
    "PACK_METHODS",
    "ZOPFLI_MAX_BYTES",
    "ZipEntry",
    "Encoded",
    "zopfli_version",
    "deflate_raw",
    "zopfli_raw",
    "encode_member",
    "write_encoded",
    "write_member",
    "write_directory",
    "write_central_directory",
    # vetting
    "GiB",
    "UNZIP_METHODS",
    "ExtractLimits",
    "archive_error",
    "vet_archive",
    "unzip_external_attr",
    "unzip_mode",
    "UNZIP_VERSION",
]

# --------------------------------------------------------------------------- format

LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")  # 30 bytes, APPNOTE 4.3.7
CENTRAL_HEADER = struct.Struct("<IHHHHHHIIIHHHHHII")  # 46 bytes, APPNOTE 4.3.12
END_RECORD = struct.Struct("<IHHHHIIH")  # 22 bytes, APPNOTE 4.3.16
LOCAL_SIGNATURE = 0x04034B50  # b"PK\x03\x04"
CENTRAL_SIGNATURE = 0x02014B50
END_SIGNATURE = 0x06054B50
DATA_DESCRIPTOR_SIZE = 16  # signature, CRC-32, compressed and uncompressed size (no zip64)

FLAG_ENCRYPTED = 0x1
FLAG_DATA_DESCRIPTOR = 0x8
FLAG_UTF8 = 0x800

METHOD_STORED = zipfile.ZIP_STORED  # 0
METHOD_DEFLATED = zipfile.ZIP_DEFLATED  # 8
METHOD_NAMES: dict[int, str] = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflated",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}


class LocalHeader(NamedTuple):
    """The fixed part of a local file header, as LOCAL_HEADER unpacks it."""

    signature: int
    version_needed: int
    flags: int
    method: int
    dos_time: int
    dos_date: int
    crc: int
    compressed: int
    size: int
    name_len: int
    extra_len: int


def read_local_header(fh: BinaryIO, offset: int) -> LocalHeader | None:
    """The local header at `offset`, or None when the file ends before its 30 bytes (signature not checked)."""
    fh.seek(offset)
    head = fh.read(LOCAL_HEADER.size)
    if len(head) != LOCAL_HEADER.size:
        return None
    return LocalHeader._make(LOCAL_HEADER.unpack(head))


# --------------------------------------------------------------------------- writing

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a DOS timestamp can say
DEFLATE_LEVEL = 9

_DOS_DATE = ((FIXED_DATE_TIME[0] - 1980) << 9) | (FIXED_DATE_TIME[1] << 5) | FIXED_DATE_TIME[2]
_DOS_TIME = (FIXED_DATE_TIME[3] << 11) | (FIXED_DATE_TIME[4] << 5) | (FIXED_DATE_TIME[5] // 2)
_UNIX = 3  # "version made by" host: Unix, so unzip restores the permission bits
_LIMIT = 0xFFFFFFFF


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
    return raw, (0 if raw.isascii() else FLAG_UTF8)


def _version_needed(method: int, is_dir: bool) -> int:
    return 20 if method == METHOD_DEFLATED or is_dir else 10


def _local_header(name: bytes, flags: int, method: int, crc: int, csize: int, size: int, is_dir: bool) -> bytes:
    return (
        LOCAL_HEADER.pack(
            LOCAL_SIGNATURE,
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


# `vcc pack` methods: store, deflate (zlib level 9, stored where it does not shrink), best (the smallest
# of stored, deflate-9 and zopfli-deflate, zopfli when installed). All three are method 0 or 8: Info-ZIP
# unzip 6.0 reads them as they are.
PACK_METHODS = ("best", "store", "deflate")
# zopfli runs about a hundred times slower than zlib: members above this are not given to it.
ZOPFLI_MAX_BYTES = 4 << 20


def zopfli_version() -> str | None:
    """The installed zopfli package's version, or None (`pip install vcc[zopfli]`)."""
    try:
        import zopfli
    except ImportError:
        return None
    return str(getattr(zopfli, "__version__", "unknown"))


def deflate_raw(data: bytes, level: int = DEFLATE_LEVEL) -> bytes:
    """A raw deflate stream (zip method 8), zlib at `level`."""
    comp = zlib.compressobj(level, zlib.DEFLATED, -15)
    return comp.compress(data) + comp.flush()


def zopfli_raw(data: bytes) -> bytes | None:
    """A raw deflate stream from zopfli (default 15 iterations), or None when zopfli is not installed."""
    try:
        import zopfli.zopfli
    except ImportError:
        return None
    return zopfli.zopfli.compress(data)[2:-4]  # its zlib wrapper: 2-byte header, 4-byte Adler-32


@dataclass(frozen=True)
class Encoded:
    """One member's data as it goes into the zip: the method, the bytes, and which encoder made them."""

    method: int
    payload: bytes
    encoder: str  # "stored", "deflate-9" or "zopfli"
    crc: int
    size: int
    tried: tuple[tuple[str, int], ...]  # (encoder, bytes) of every candidate, in the order tried


def encode_member(data: bytes, method: str, zopfli: bool = True) -> Encoded:
    """The member's encoding under a pack method: a function of the data (and the encoders' versions) alone.

    Ties go to the simpler encoding (stored, then deflate-9, then zopfli), so the choice never
    depends on anything but the bytes. zopfli is tried only where deflate-9 shrinks the member and
    the member is at most ZOPFLI_MAX_BYTES.
    """
    if method not in PACK_METHODS:
        raise ValueError(f"unknown pack method {method!r}")
    crc, size = zlib.crc32(data), len(data)
    candidates: list[tuple[str, int, bytes]] = [("stored", METHOD_STORED, data)]
    if method in ("deflate", "best"):
        candidates.append(("deflate-9", METHOD_DEFLATED, deflate_raw(data)))
    if method == "best" and zopfli and len(candidates[1][2]) < size and size <= ZOPFLI_MAX_BYTES:
        z = zopfli_raw(data)
        if z is not None:
            candidates.append(("zopfli", METHOD_DEFLATED, z))
    tried = tuple((enc, len(payload)) for enc, _, payload in candidates)
    enc, code, payload = min(candidates, key=lambda c: len(c[2]))  # min keeps the first of equals
    return Encoded(code, payload, enc, crc, size, tried)


def write_encoded(out: BinaryIO, name: str, mode: int, enc: Encoded) -> ZipEntry:
    """Append one file member whose data `encode_member` prepared."""
    raw, flags = _name_bytes(name)
    offset = out.tell()
    if enc.size > _LIMIT or offset + LOCAL_HEADER.size + len(raw) + len(enc.payload) > _LIMIT:
        raise OverflowError(f"{name}: zip64 would be needed (over 4 GiB)")
    out.write(_local_header(raw, flags, enc.method, enc.crc, len(enc.payload), enc.size, False))
    out.write(enc.payload)
    return ZipEntry(name, mode, enc.method, enc.crc, len(enc.payload), enc.size, offset)


def write_member(out: BinaryIO, name: str, mode: int, src: BinaryIO, deflate: bool) -> ZipEntry:
    """Append one file member read from `src`: stored, or with `deflate` deflate-9 where it shrinks the
    member (as Info-ZIP zip does: the archive's size is what the rate meters)."""
    return write_encoded(out, name, mode, encode_member(src.read(), "deflate" if deflate else "store"))


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
            CENTRAL_HEADER.pack(
                CENTRAL_SIGNATURE,
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
    out.write(END_RECORD.pack(END_SIGNATURE, 0, 0, len(entries), len(entries), size, start, 0))


# --------------------------------------------------------------------------- vetting

GiB = 1 << 30

# Compression methods Info-ZIP unzip 6.0 (Ubuntu's and Debian's) extracts that
# Python can also read: stored, deflated, bzip2. LZMA (14) and zstd (93) zips
# extract with Python but fail with "unsupported compression method" on the runner.
UNZIP_METHODS: dict[int, str] = {
    m: METHOD_NAMES[m] for m in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2)
}


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


def archive_error(archive: Path, message: str, fix: str) -> BadInput:
    """The BadInput for a fault of archive.zip (exit 2), naming the file and the fix."""
    return BadInput(f"{ARCHIVE_NAME}: {message}", path=archive, fix=fix)


def unzip_external_attr(info: zipfile.ZipInfo) -> int:
    """The external attributes as Info-ZIP unzip 6.0 reads them.

    Bit 2 of the internal attributes is PKWARE's "verification checksum": with it set, unzip keeps
    only the low byte (the DOS flags) and reads no Unix bits at all (process.c, measured: a
    directory stored as 0o40600 is then created with mode 0).
    """
    return info.external_attr & 0xFF if info.internal_attr & 0x4 else info.external_attr


# Hosts whose zips carry Unix permission bits that unzip restores as they are (VMS, Unix, Atari, QDOS,
# Acorn, BeOS, Tandem, AtheOS).
_UNIX_LIKE_HOSTS = frozenset({2, 3, 5, 12, 13, 16, 17, 30})
# Of those, the hosts whose S_IFLNK members unzip 6.0 creates as symbolic links; FAT (PKZip for Unix
# marks its zips FAT) too, when the owner bits agree with the DOS flags.
_SYMLINK_HOSTS = frozenset({2, 3, 5, 16, 30})
_FAT_HOST = 0


def _unix_mode(info: zipfile.ZipInfo) -> int | None:
    """st_mode as unzip reads it from a Unix-like host's upper attribute bits, else None."""
    if info.create_system not in _UNIX_LIKE_HOSTS:
        return None
    return (unzip_external_attr(info) >> 16) or None


def unzip_mode(info: zipfile.ZipInfo, umask: int) -> int:
    """The permission bits Info-ZIP unzip 6.0 gives an extracted member (without -K; unix.c, mapattr).

    - Unix-like hosts: the stored bits as they are, not umasked (none stored: mode 0, as unzip does;
      vetting refused the case where unzip reads them from an extra field).
    - FAT (PKZip for Unix says FAT): the stored bits, not umasked, when their owner part agrees with
      the DOS read-only and directory flags (measured: 0o1777 stored on a FAT dir gives 0o777).
    - Otherwise r/w(/x) from the DOS flags for owner, group and other (a name ending in / counts as
      the directory flag), then the umask.
    setuid, setgid and sticky are always dropped.
    """
    attr = unzip_external_attr(info)
    upper = attr >> 16
    if info.create_system in _UNIX_LIKE_HOSTS:
        return upper & 0o777
    stored = upper if info.create_system == _FAT_HOST else 0
    dos = attr & 0xFF
    if info.filename.endswith("/"):
        dos |= 0x10
    bits = (0 if dos & 0x01 else 0o2) | (0o1 if dos & 0x10 else 0)  # writable, searchable
    if (stored & 0o700) == (0o400 | bits << 6):
        return stored & 0o777
    return (0o444 | bits << 6 | bits << 3 | bits) & ~umask & 0o777


def _safe_name(archive: Path, raw: str) -> str:
    """The member's path relative to the destination, or BadInput if it could escape."""
    fix = "rebuild the zip from inside the directory with relative paths (e.g. `cd dir && zip -r ../archive.zip .`)"
    if "\x00" in raw:
        raise archive_error(archive, f"member name {raw!r} contains a NUL byte", fix)
    name = raw
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise archive_error(archive, f"member {raw!r} has an absolute path", fix)
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if ".." in parts:
        raise archive_error(archive, f"member {raw!r} climbs out of the extraction dir with '..' (zip slip)", fix)
    if not parts:
        raise archive_error(archive, f"member {raw!r} has an empty name", fix)
    return "/".join(parts)


def _local_span(fh: BinaryIO, info: zipfile.ZipInfo, archive: Path) -> tuple[int, int]:
    """Byte range [start, end) that a member's local header and data occupy."""
    head = read_local_header(fh, info.header_offset)
    if head is None or head.signature != LOCAL_SIGNATURE:
        raise archive_error(
            archive,
            f"member {info.filename!r}: local header missing or corrupt",
            "re-create the zip",
        )
    end = info.header_offset + LOCAL_HEADER.size + head.name_len + head.extra_len + info.compress_size
    if info.flag_bits & FLAG_DATA_DESCRIPTOR:
        end += _descriptor_length(fh, end, info, archive)
    return info.header_offset, end


_DESCRIPTOR_SIGNATURE = 0x08074B50


def _descriptor_length(fh: BinaryIO, at: int, info: zipfile.ZipInfo, archive: Path) -> int:
    """The bytes unzip 6.0's overlap check counts for the data descriptor at `at` (measured): 12, and 4 more
    where the first word reads as the optional signature. Its rule for a CRC or size that itself equals the
    signature value is followed word by word; a zip64 descriptor's 8 extra bytes are not counted."""
    fh.seek(at)
    raw = fh.read(12)
    if len(raw) < 12:
        raise archive_error(
            archive,
            f"member {info.filename!r}: its data descriptor is cut short by the end of the file",
            "re-create the zip with an ordinary zip tool",
        )
    first, second, third = struct.unpack("<III", raw)
    sig = _DESCRIPTOR_SIGNATURE
    signed = first == sig and (
        info.CRC != sig
        or (second == sig and ((info.compress_size & _LIMIT) != sig or (third == sig and info.file_size != sig)))
    )
    return 16 if signed else 12


def _check_local_agrees(fh: BinaryIO, info: zipfile.ZipInfo, archive: Path) -> None:
    """The local header (present: _local_span checked) says what the central directory says: unzip reads
    the flags, the method and, without a data descriptor, the sizes and CRC from the local header, and
    warns where the names differ."""
    head = read_local_header(fh, info.header_offset)
    assert head is not None
    name = fh.read(head.name_len)
    extra = fh.read(head.extra_len)
    fix = "re-create the zip with an ordinary zip tool; `unzip -t archive.zip` shows the fault"
    central_name = info.orig_filename.encode("utf-8" if info.flag_bits & FLAG_UTF8 else "cp437", "surrogateescape")
    problems = []
    if name != central_name:
        problems.append(f"name {name!r}")
    if head.flags != info.flag_bits:
        problems.append(f"flags {head.flags:#06x} (central {info.flag_bits:#06x})")
    if head.method != info.compress_type:
        problems.append(f"method {head.method} (central {info.compress_type})")
    if not _extra_fields_fit(extra):
        problems.append("its extra field is damaged (a field runs past its end; unzip then misreads the sizes)")
    # unzip checks a member against its local header's CRC and sizes, Python against the central ones
    if not head.flags & FLAG_DATA_DESCRIPTOR:
        sizes = _local_sizes(head, extra)
        if head.crc != info.CRC or sizes != (info.compress_size, info.file_size):
            problems.append(f"CRC/sizes {head.crc:#010x}/{sizes} (central {info.CRC:#010x}/"
                            f"{(info.compress_size, info.file_size)})")
    if problems:
        raise archive_error(
            archive,
            f"member {info.filename!r}: its local header disagrees with the central directory: " + ", ".join(problems),
            fix,
        )


def _extra_fields_fit(extra: bytes) -> bool:
    """Every (id, length) field of an extra block ends within it (fewer than 4 bytes left over are padding)."""
    pos = 0
    while pos + 4 <= len(extra):
        (length,) = struct.unpack_from("<H", extra, pos + 2)
        pos += 4 + length
        if pos > len(extra):
            return False
    return True


def _local_sizes(head: LocalHeader, extra: bytes) -> tuple[int, int]:
    """(compressed, uncompressed) as the local header gives them, from its zip64 extra field where marked."""
    compressed, size = head.compressed, head.size
    if _LIMIT not in (compressed, size):
        return compressed, size
    pos = 0
    while pos + 4 <= len(extra):
        ident, length = struct.unpack_from("<HH", extra, pos)
        if ident == 1:
            body = extra[pos + 4 : pos + 4 + length]
            values = [struct.unpack_from("<Q", body, i)[0] for i in range(0, len(body) - 7, 8)]
            if size == _LIMIT and values:
                size = values.pop(0)
            if compressed == _LIMIT and values:
                compressed = values.pop(0)
            break
        pos += 4 + length
    return compressed, size


def vet_archive(archive: Path, limits: ExtractLimits | None = None) -> list[tuple[zipfile.ZipInfo, str]]:
    """Check every member; return (info, safe relative name) pairs in archive order.

    The checks, in the order that decides which fault is reported first: the central
    directory as a whole (a readable zip, members present and not too many), then each
    member in archive order (name, file/dir clashes, encryption, file type, method, sizes),
    then the tree the names make (no file used as a directory) and the local headers
    (no two members' bytes overlap).
    """
    limits = limits or ExtractLimits()
    archive = Path(archive)
    try:
        with _open_zip(archive) as zf:
            infos = zf.infolist()
            _check_member_count(archive, infos, limits)
            with open(archive, "rb") as fh:
                _check_structure(archive, fh, len(infos))
            out = _vet_members(archive, infos, limits)
            _check_no_file_parents(archive, out)
            _check_no_overlaps(archive, out)
    except (OSError, ValueError, EOFError, struct.error, zipfile.BadZipFile, OverflowError, NotImplementedError) as e:
        # a record that points nowhere (an offset past the end, a negative seek): the zip is damaged
        fix = "re-create it with `zip` or Python's zipfile"
        raise archive_error(archive, f"not a readable zip file ({e})", fix) from e
    return out


_END64_SIGNATURE = 0x06064B50
_END64_LOCATOR_SIZE = 20
_END64_SIZE = 56


def _check_zip64_end(archive: Path, fh: BinaryIO, location: int, found: tuple[int, int, int]) -> None:
    """The zip64 end record and its locator as unzip reads them, and the classic end record's fields either
    saying "see zip64" (all ones) or the same values (unzip reads both; Python only the zip64 one)."""
    fix = "re-create the zip with an ordinary zip tool; `unzip -t archive.zip` shows the fault"
    members, cd_size, cd_offset = found
    fh.seek(location - _END64_LOCATOR_SIZE - _END64_SIZE)
    raw64 = fh.read(_END64_SIZE + _END64_LOCATOR_SIZE)
    fh.seek(location)
    raw = fh.read(END_RECORD.size)
    if len(raw64) != _END64_SIZE + _END64_LOCATOR_SIZE or len(raw) != END_RECORD.size:
        raise archive_error(archive, "the zip64 end record is cut short", fix)
    sig, rec_size, _, _, disk, disk_cd, here, total, size64, offset64 = struct.unpack_from("<IQHHIIQQQQ", raw64)
    lsig, ldisk, lpos, ldisks = struct.unpack_from("<IIQI", raw64, _END64_SIZE)
    if (sig, rec_size, disk, disk_cd, ldisk, ldisks) != (_END64_SIGNATURE, 44, 0, 0, 0, 1) or lpos != (
        location - _END64_LOCATOR_SIZE - _END64_SIZE
    ):
        raise archive_error(archive, "the zip64 end record or its locator is damaged", fix)
    _, e_disk, e_disk_cd, e_here, e_total, e_size, e_offset, _ = END_RECORD.unpack(raw)
    pairs = ((e_disk, 0, 0xFFFF), (e_disk_cd, 0, 0xFFFF), (e_here, here, 0xFFFF), (e_total, total, 0xFFFF),
             (e_size, size64, _LIMIT), (e_offset, offset64, _LIMIT))  # fmt: skip
    if any(v not in (want & top, top) for v, want, top in pairs) or (here, total, size64, offset64) != (
        members,
        members,
        cd_size,
        cd_offset,
    ):
        raise archive_error(archive, "the end record and the zip64 end record disagree", fix)


def _check_structure(archive: Path, fh: BinaryIO, members: int) -> None:
    """The records around the members as Info-ZIP unzip 6.0 expects them, where Python's zipfile is lenient.

    - nothing before the first record (a self-extractor stub that shifts the offsets: unzip warns
      "extra bytes at beginning", exit 1), one disk;
    - the end record's member counts equal the central records found (unzip: "expected N entries", exit 3);
    - the central directory is exactly its declared size, record after record (a name, extra or comment
      length that runs past it: unzip stops, exit 2 or 51), followed by the end record;
    - the archive comment ends the file.
    """
    fix = "re-create the zip with an ordinary zip tool; `unzip -t archive.zip` shows the fault"
    end = zipfile._EndRecData(fh)  # type: ignore[attr-defined]  # the record Python found, the one unzip finds
    if end is None:
        raise archive_error(archive, "no end of central directory record", fix)
    disk, disk_cd, here, total, cd_size, cd_offset, comment_len, _, location = end[1:10]
    zip64 = end[0] == zipfile.stringEndArchive64  # type: ignore[attr-defined]
    cd_end = location - (_END64_SIZE + _END64_LOCATOR_SIZE if zip64 else 0)
    if zip64:
        _check_zip64_end(archive, fh, location, (members, cd_size, cd_offset))
    if disk != 0 or disk_cd != 0:
        raise archive_error(archive, "the zip says it spans several disks", fix)
    if here != members or total != members:
        raise archive_error(
            archive,
            f"the end record counts {total} member(s) ({here} on this disk) but the central directory holds "
            f"{members}; the runner's unzip fails on it",
            fix,
        )
    if cd_offset + cd_size != cd_end:
        shift = cd_end - cd_size - cd_offset
        raise archive_error(
            archive,
            f"{shift:,} bytes precede the archive's records (a self-extractor stub, or data prepended to the zip); "
            "the runner's unzip warns and exits with status 1"
            if shift > 0
            else "the central directory's size and offset do not meet the end record",
            "pack the zip alone, without a stub in front (`zip -J` strips one)",
        )
    fh.seek(0, 2)
    size = fh.tell()
    if location + END_RECORD.size + comment_len != size:
        raise archive_error(archive, "the archive comment's length does not match the bytes after the end record", fix)
    fh.seek(cd_offset)
    directory = fh.read(cd_size)
    pos = 0
    for i in range(members):
        head = directory[pos : pos + CENTRAL_HEADER.size]
        if len(head) < CENTRAL_HEADER.size or head[:4] != b"PK\x01\x02":
            raise archive_error(archive, f"central directory record {i + 1} is damaged", fix)
        fields = CENTRAL_HEADER.unpack(head)
        pos += CENTRAL_HEADER.size + fields[10] + fields[11] + fields[12]
        if pos > cd_size:
            raise archive_error(archive, f"central directory record {i + 1} runs past the directory's end", fix)
    if pos != cd_size:
        raise archive_error(archive, f"the central directory holds {cd_size - pos:,} bytes after its last record", fix)


def _open_zip(archive: Path) -> zipfile.ZipFile:
    """The archive opened for reading (its central directory parsed), or BadInput."""
    if not archive.is_file():
        raise BadInput(f"{ARCHIVE_NAME} not found", path=archive, fix=f"put the submission's {ARCHIVE_NAME} in the dir")
    try:
        return zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError, struct.error) as e:
        raise archive_error(
            archive, f"not a readable zip file ({e})", "re-create it with `zip` or Python's zipfile"
        ) from e


def _check_member_count(archive: Path, infos: list[zipfile.ZipInfo], limits: ExtractLimits) -> None:
    if not infos:
        raise archive_error(
            archive,
            "the zip has no members (the runner's unzip fails on an empty zip)",
            "add the data",
        )
    if len(infos) > limits.max_members:
        raise archive_error(
            archive,
            f"{len(infos):,} members exceed the cap of {limits.max_members:,}",
            "pack the data into fewer files, or raise the cap with --max-members",
        )


def _vet_members(
    archive: Path, infos: list[zipfile.ZipInfo], limits: ExtractLimits
) -> list[tuple[zipfile.ZipInfo, str]]:
    """Each member's checks in turn, stopping at the first fault; (info, safe name) pairs."""
    seen: dict[str, str] = {}  # safe name without a trailing "/" -> the first member's raw name
    out: list[tuple[zipfile.ZipInfo, str]] = []
    total = 0
    for info in infos:
        _check_name_encoding(archive, info)
        _check_backslash(archive, info)
        name = _safe_name(archive, _unzip_name(archive, info.filename))
        _check_name_length(archive, info, name)
        _check_stored_sizes(archive, info)
        _check_volume_label(archive, info)
        _check_host(archive, info)
        _check_mode_source(archive, info)
        _check_unique(archive, info, name, seen)
        _check_not_encrypted(archive, info)
        _check_method(archive, info)  # before the version: an LZMA member's message names its method
        _check_version_needed(archive, info)
        _check_file_type(archive, info)
        total += info.file_size
        _check_total_size(archive, total, limits)
        _check_ratio(archive, info, limits)
        out.append((info, name))
    return out


# Info-ZIP unzip 6.0 (unix/unix.c, mapname) keeps a name's printable bytes and those from 128 to 254,
# dropping the control characters and DEL: `a\nb.txt` is written as `ab.txt` (measured).
_UNZIP_DROPS = re.compile(r"[\x01-\x1f\x7f]")


def _unzip_name(archive: Path, raw: str) -> str:
    """The name as unzip writes it: control characters dropped; BadInput where that empties a part or makes it
    `.` or `..` (no reading of that is safe)."""
    if not _UNZIP_DROPS.search(raw):
        return raw
    mapped = _UNZIP_DROPS.sub("", raw)
    for before, after in zip(raw.split("/"), mapped.split("/"), strict=True):
        if before != after and after in ("", ".", ".."):
            raise archive_error(
                archive,
                f"member {raw!r} has a path part made only of control characters and dots",
                "rename the member without control characters",
            )
    return mapped


# A name part longer than the file system's NAME_MAX, or a path near PATH_MAX with the extraction dir
# in front: neither extractor can create it (unzip skips it with an error, vcc would fail mid-way).
NAME_MAX_BYTES = 255
PATH_MAX_BYTES = 3072


def _check_backslash(archive: Path, info: zipfile.ZipInfo) -> None:
    """A backslash is an ordinary name byte for unzip 6.0 in a Unix-made zip (measured); from other hosts
    it may be read as a separator, so vcc refuses rather than guess."""
    if "\\" in info.filename and info.create_system not in _UNIX_LIKE_HOSTS:
        raise archive_error(
            archive,
            f"member {info.filename!r} has a backslash in its name, written by a non-Unix tool: the runner's "
            "unzip may read it as a directory separator",
            "use / as the separator (rebuild the zip with `zip -r`, Python's zipfile or `vcc pack`)",
        )


def _check_name_length(archive: Path, info: zipfile.ZipInfo, name: str) -> None:
    longest = max(len(part.encode("utf-8", "surrogateescape")) for part in name.split("/"))
    if longest > NAME_MAX_BYTES:
        raise archive_error(
            archive,
            f"member {info.filename[:80]!r}... has a path part of {longest} "
            f"bytes, over the file system's limit of {NAME_MAX_BYTES}",
            "shorten the member's name",
        )
    path_bytes = len(name.encode("utf-8", "surrogateescape"))
    if path_bytes > PATH_MAX_BYTES:
        raise archive_error(
            archive,
            f"member {info.filename[:80]!r}... has a path of {path_bytes:,} bytes, "
            f"over the {PATH_MAX_BYTES:,} that an extraction dir leaves of PATH_MAX",
            "shorten the member's path",
        )


# Amiga and THEOS: unzip 6.0 maps their attribute bits in ways of their own (measured: an Amiga-made
# member with Unix-looking bits is written with mode 0).
_UNMODELLED_HOSTS = {1: "Amiga", 18: "THEOS"}


def _check_host(archive: Path, info: zipfile.ZipInfo) -> None:
    if info.create_system in _UNMODELLED_HOSTS:
        raise archive_error(
            archive,
            f"member {info.filename!r} was made on {_UNMODELLED_HOSTS[info.create_system]} "
            f"(host {info.create_system}), whose file attributes vcc does not map as the runner's unzip does",
            "re-create the zip on Linux (Info-ZIP zip, Python's zipfile, `vcc pack`)",
        )


def _check_volume_label(archive: Path, info: zipfile.ZipInfo) -> None:
    """A member with the DOS volume-label attribute from a host unzip 6.0 reads it for (FAT, HPFS, NTFS,
    Atari): unzip skips it on Unix (measured), Python extracts it."""
    if info.create_system in _VOLUME_LABEL_HOSTS and unzip_external_attr(info) & 0x08:
        raise archive_error(
            archive,
            f"member {info.filename!r} carries the DOS volume-label attribute; the runner's unzip skips it",
            "re-create the zip without the volume label",
        )


_VOLUME_LABEL_HOSTS = frozenset({0, 5, 6, 11})


def _check_stored_sizes(archive: Path, info: zipfile.ZipInfo) -> None:
    """A stored member's compressed and uncompressed sizes agree (unzip: "ucsize <> csize for STORED entry")."""
    if info.compress_type == METHOD_STORED and info.compress_size != info.file_size:
        raise archive_error(
            archive,
            f"member {info.filename!r} is stored but its sizes differ ({info.compress_size:,} stored, "
            f"{info.file_size:,} declared); the runner's unzip warns and exits with status 1",
            "re-create the zip with an ordinary zip tool",
        )


# Extra fields that make unzip 6.0 read a Unix-made member's permissions elsewhere when its mode is 0:
# PKWARE VMS, Info-ZIP VMS, ASi Unix.
_MODE_EXTRA_IDS = {0x000C, 0x4D49, 0x756E}
def _check_mode_source(archive: Path, info: zipfile.ZipInfo) -> None:
    """BadInput for a Unix-made member without mode bits whose extra field unzip reads permissions from."""
    if info.create_system not in _UNIX_LIKE_HOSTS or unzip_external_attr(info) >> 16:
        return
    extra, pos = info.extra, 0
    while pos + 4 <= len(extra):
        ident, size = struct.unpack_from("<HH", extra, pos)
        if ident in _MODE_EXTRA_IDS:
            raise archive_error(
                archive,
                f"member {info.filename!r} stores its permissions in extra field {ident:#06x}, which vcc does not read",
                "write the zip with the mode in the external attributes (Info-ZIP zip, Python's zipfile)",
            )
        pos += 4 + size


def _check_unique(archive: Path, info: zipfile.ZipInfo, name: str, seen: dict[str, str]) -> None:
    """No path is both a file and a directory entry; records this member.

    The same file twice is allowed: `unzip -o` writes each copy in turn and the last one stays (its
    bytes, mode and time; measured), which extraction follows. The same directory twice keeps the
    first entry's mode, as unzip does. `vcc lint` counts the earlier copies as wasted bytes.
    """
    key = name.rstrip("/")
    first = seen.get(key)
    if first is not None and first.endswith("/") != info.filename.endswith("/"):
        raise archive_error(
            archive,
            f"member {info.filename!r} and member {first!r} name the same path, one as a file and one as a "
            "directory; the runner's unzip cannot extract both",
            "re-create the zip so that each path appears once",
        )
    seen[key] = info.filename


# FAT, HPFS, NTFS: unzip 6.0 (Ext_ASCII_TO_Native) converts their names from the OEM code page.
_OEM_HOSTS = {0, 6, 11}


def _check_name_encoding(archive: Path, info: zipfile.ZipInfo) -> None:
    """A non-ASCII name must carry the UTF-8 flag (bit 11).

    Without it the name is bytes in no stated encoding: Python decodes them as cp437, while
    Debian's unzip 6.0 writes them as they are for Unix-made zips (measured: it even drops some
    bytes, 0xff among them) and converts from the OEM code page for DOS-made ones. No single
    reading matches the runner's, so vcc refuses rather than guess which file inflate will find.
    """
    if info.orig_filename.isascii():
        return
    if info.create_system in _OEM_HOSTS:
        raise archive_error(
            archive,
            f"member {info.filename!r} has a non-ASCII name written by a DOS/Windows tool (host {info.create_system}); "
            "the runner's unzip converts such names from the OEM code page, even with the UTF-8 flag, "
            "so it writes another name than the one in the zip",
            "rename the member to ASCII, or write the zip on Linux (Python's zipfile, `vcc pack`)",
        )
    if info.flag_bits & FLAG_UTF8:
        return
    raw = info.orig_filename.encode("cp437", errors="replace")
    raise archive_error(
        archive,
        f"member name {raw!r} is not ASCII and has no UTF-8 flag, so its bytes name a different file "
        "for Python and for the runner's unzip",
        "rename the member to ASCII (the usual one-letter names), or write the zip with a tool that sets "
        "the UTF-8 flag (Python's zipfile, `vcc pack`)",
    )


def _check_not_encrypted(archive: Path, info: zipfile.ZipInfo) -> None:
    if info.flag_bits & FLAG_ENCRYPTED:
        raise archive_error(
            archive,
            f"member {info.filename!r} is encrypted; the runner's unzip would prompt for a password",
            "zip without a password",
        )


def _check_file_type(archive: Path, info: zipfile.ZipInfo) -> None:
    """A file member must be written as a regular file: no symbolic link (unzip creates one from an
    S_IFLNK mode on the hosts it trusts for links, FAT included), no device, fifo or socket."""
    if info.is_dir():
        return
    upper = unzip_external_attr(info) >> 16
    if stat.S_ISLNK(upper) and info.create_system in _SYMLINK_HOSTS | {_FAT_HOST}:
        raise archive_error(
            archive,
            f"member {info.filename!r} is a symbolic link",
            "store the file itself (zip without -y / --symlinks)",
        )
    mode = _unix_mode(info)
    if mode is not None and stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        raise archive_error(
            archive,
            f"member {info.filename!r} is a special file (mode {oct(mode)})",
            "store only regular files and directories",
        )


# Info-ZIP unzip 6.0 extracts what needs "PK compat." 4.6 at most, 4.2 for VMS-made members (process.c,
# store_info); a member asking for more is skipped: "need PK compat. v4.7 (can do v4.6)", exit 81.
UNZIP_VERSION = 46
_UNZIP_VMS_VERSION = 42
_VMS_HOST = 2


def _check_version_needed(archive: Path, info: zipfile.ZipInfo) -> None:
    """The central record's "version needed to extract" within what unzip 6.0 does (Python reads up to 6.3)."""
    most = _UNZIP_VMS_VERSION if info.reserved == _VMS_HOST else UNZIP_VERSION
    if info.extract_version > most:
        raise archive_error(
            archive,
            f"member {info.filename!r} needs zip version {info.extract_version // 10}.{info.extract_version % 10} "
            f"to extract; the runner's unzip 6.0 (can do {most // 10}.{most % 10}) skips it and exits with status 81",
            "re-create the zip with stored or deflated members (an ordinary zip tool, Python's zipfile, `vcc pack`)",
        )


def _check_method(archive: Path, info: zipfile.ZipInfo) -> None:
    if info.compress_type not in UNZIP_METHODS:
        raise archive_error(
            archive,
            f"member {info.filename!r} uses compression method {info.compress_type}, "
            "which the runner's unzip 6.0 cannot extract",
            "use stored, deflate or bzip2 (e.g. zipfile.ZIP_DEFLATED)",
        )


def _check_total_size(archive: Path, total: int, limits: ExtractLimits) -> None:
    """`total`: the uncompressed sizes of the members so far."""
    if total > limits.max_total_bytes:
        raise archive_error(
            archive,
            f"uncompressed size exceeds the cap of {limits.max_total_bytes:,} bytes (zip bomb?)",
            "raise the cap with --max-unzipped-bytes if this is intended",
        )


def _check_ratio(archive: Path, info: zipfile.ZipInfo, limits: ExtractLimits) -> None:
    """Members of at least ratio_floor_bytes must not expand more than max_ratio times."""
    if info.file_size < limits.ratio_floor_bytes:
        return
    ratio = info.file_size / max(info.compress_size, 1)
    if ratio > limits.max_ratio:
        raise archive_error(
            archive,
            f"member {info.filename!r} expands {ratio:,.0f}x "
            f"({info.compress_size:,} -> {info.file_size:,} bytes), over the cap of "
            f"{limits.max_ratio:,.0f}x (zip bomb?)",
            "raise the cap with --max-ratio if this is intended",
        )


def _check_no_file_parents(archive: Path, members: list[tuple[zipfile.ZipInfo, str]]) -> None:
    """No member sits under a path that another member makes a file."""
    files = {name for info, name in members if not info.is_dir()}
    for info, name in members:
        for parent in PurePosixPath(name).parents:
            if str(parent) in files:
                raise archive_error(
                    archive,
                    f"member {info.filename!r} sits under {str(parent)!r}, which is a file",
                    "re-create the zip so that no file shares its path with a directory",
                )


def _check_no_overlaps(archive: Path, members: list[tuple[zipfile.ZipInfo, str]]) -> None:
    """Every local header is intact, and no two members' bytes overlap.

    Members whose data overlap share compressed bytes: a non-recursive zip bomb.
    """
    with open(archive, "rb") as fh:
        spans = sorted((_local_span(fh, info, archive), info.filename) for info, _ in members)
        end_record = zipfile._EndRecData(fh)  # type: ignore[attr-defined]
    cd_offset = end_record[6] if end_record else 0
    last_end, last_name = spans[-1][0][1], spans[-1][1]
    if end_record and last_end > cd_offset:
        raise archive_error(
            archive,
            f"member {last_name!r}'s header and data run into the central directory",
            "re-create the zip with an ordinary zip tool",
        )
    for ((_, end), name_a), ((start, _), name_b) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise archive_error(
                archive,
                f"members {name_a!r} and {name_b!r} overlap in the file (zip bomb)",
                "re-create the zip with an ordinary zip tool",
            )
    with open(archive, "rb") as fh:
        for info, _ in members:
            _check_local_agrees(fh, info, archive)
