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

import os
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, NamedTuple

from ._errors import BadInput
from ._layout import ARCHIVE_NAME
from ._text import escape_control
from ._zipnames import NameReading, read_member_name, read_unicode_path, unzip_written_name

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
    "inspect_archive",
    "VettedArchive",
    "display_name",
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
    central_name = _header_name(info)
    problems = []
    if name != central_name:
        problems.append(f"name {name!r}")
    elif _extra_fields_fit(extra):
        # each header's name as unzip reads it (a Unicode Path field, the OEM conversion): unzip warns
        # "mismatching local filename" and exits 1 where the two differ
        local_read = _unzip_reads(info, name, extra, local=True)
        central_read = _unzip_reads(info, central_name, info.extra, local=False)
        if local_read.name != central_read.name:
            problems.append(f"the name as unzip reads it '{display_name(os.fsdecode(local_read.name))}' (central "
                            f"'{display_name(os.fsdecode(central_read.name))}'; unzip warns and exits with status 1)")
        elif _is_volume_label(info) and local_read.unicode != central_read.unicode:
            # read as native bytes, a label's name is also squeezed towards DOS's 11 characters (measured:
            # `e?/raw/x.txt` read as `e?/raw/xtxt`, any label host), read as Unicode it is not: the two differ
            problems.append("a volume label's name, read as Unicode from one header and as native bytes from the "
                            "other (unzip then reads the two apart)")
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


@dataclass(frozen=True)
class VettedArchive:
    """What vetting found: the members to extract and the ones unzip skips."""

    members: list[tuple[zipfile.ZipInfo, str]]  # (info, path as unzip writes it, os.fsdecode'd), archive order
    skipped: list[zipfile.ZipInfo]  # volume labels: unzip 6.0 skips them on Unix


def inspect_archive(archive: Path, limits: ExtractLimits | None = None) -> VettedArchive:
    """Check every member (BadInput at the first fault); the members to extract and those unzip skips.

    The checks, in the order that decides which fault is reported first: the central
    directory as a whole (a readable zip, members present and not too many), then each
    member in archive order (name, file/dir clashes, encryption, file type, method, sizes),
    then the tree the names make (no file used as a directory) and the local headers
    (no two members' bytes overlap, the skipped ones' included; each agrees with its central record).
    """
    limits = limits or ExtractLimits()
    archive = Path(archive)
    try:
        with _open_zip(archive) as zf:
            infos = zf.infolist()
            _check_member_count(archive, infos, limits)
            with open(archive, "rb") as fh:
                _check_structure(archive, fh, len(infos))
            out, skipped = _vet_members(archive, infos, limits)
            _check_no_file_parents(archive, out)
            _check_no_overlaps(archive, infos)  # every member vetting let through: extracted or skipped
    except (OSError, ValueError, EOFError, struct.error, zipfile.BadZipFile, OverflowError, NotImplementedError) as e:
        # a record that points nowhere (an offset past the end, a negative seek): the zip is damaged
        fix = "re-create it with `zip` or Python's zipfile"
        raise archive_error(archive, f"not a readable zip file ({e})", fix) from e
    return VettedArchive(out, skipped)


def vet_archive(archive: Path, limits: ExtractLimits | None = None) -> list[tuple[zipfile.ZipInfo, str]]:
    """Check every member; the (info, path as unzip writes it) pairs to extract, in archive order
    (`inspect_archive` also gives the members unzip skips)."""
    return inspect_archive(archive, limits).members


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
      "extra bytes at beginning", exit 1), disk number 0;
    - the end record's total member count equals the central records found (unzip: "expected central
      file header signature not found", exit 3);
    - the central directory is exactly its declared size, record after record (a name, extra or comment
      length that runs past it: unzip stops, exit 2 or 51), followed by the end record.
    """
    fix = "re-create the zip with an ordinary zip tool; `unzip -t archive.zip` shows the fault"
    end = zipfile._EndRecData(fh)  # type: ignore[attr-defined]  # the record Python found, the one unzip finds
    if end is None:
        raise archive_error(archive, "no end of central directory record", fix)
    disk, _, _, total, cd_size, cd_offset, _, _, location = end[1:10]  # disk of the directory, count here, comment
    zip64 = end[0] == zipfile.stringEndArchive64  # type: ignore[attr-defined]
    cd_end = location - (_END64_SIZE + _END64_LOCATOR_SIZE if zip64 else 0)
    if zip64:
        _check_zip64_end(archive, fh, location, (members, cd_size, cd_offset))
    # unzip 6.0 reads the disk number (not 0: "claims to be last disk of a multi-part archive", exit 1) and the
    # total count; it ignores the central directory's disk and the count on this disk (measured), as Python does
    if disk != 0:
        raise archive_error(archive, "the zip says it spans several disks; the runner's unzip warns, exit 1", fix)
    if total != members:
        raise archive_error(
            archive,
            f"the end record counts {total} member(s) but the central directory holds {members}; the runner's "
            "unzip fails on it",
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
    # The archive comment's length is not checked: unzip finds the end record from the file's end and exits 0
    # whether the comment is shorter, longer or absent (measured), and Python reads it the same way.
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
) -> tuple[list[tuple[zipfile.ZipInfo, str]], list[zipfile.ZipInfo]]:
    """Each member's checks in turn, stopping at the first fault: (info, name as written) pairs, and the
    volume labels, which unzip skips (measured: exit 0, nothing written, whatever the name)."""
    seen: dict[str, str] = {}  # safe name without a trailing "/" -> the first member's raw name
    out: list[tuple[zipfile.ZipInfo, str]] = []
    labels: list[zipfile.ZipInfo] = []
    total = 0
    for info in infos:
        name = _safe_name(archive, _written_name(archive, info))
        _check_name_length(archive, info, name)
        _check_stored_sizes(archive, info)
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
        # A label passes every check first: unzip reads its version, flags and name before it skips it
        # (measured: "need PK compat. v4.7" exits 81, an absolute name warns, exit 1).
        if _is_volume_label(info):
            labels.append(info)
        else:
            out.append((info, name))
    return out, labels


def _header_name(info: zipfile.ZipInfo) -> bytes:
    """The central record's name bytes (Python decoded them as UTF-8 with the flag, else as cp437: both undo)."""
    return info.orig_filename.encode("utf-8" if info.flag_bits & FLAG_UTF8 else "cp437")


def _unzip_reads(info: zipfile.ZipInfo, raw: bytes, extra: bytes, local: bool) -> NameReading:
    """How unzip reads the name from one of the member's headers (base._zipnames, steps 1-3)."""
    return read_member_name(
        raw,
        utf8=bool(info.flag_bits & FLAG_UTF8),
        host=info.create_system,
        host_version=info.create_version,
        unix_attrs=bool(unzip_external_attr(info) >> 16),
        extra=extra,
        local=local,
    )


def display_name(name: str) -> str:
    """A written name (bytes that need not be UTF-8, as os.fsdecode gives them) for messages and reports."""
    return escape_control(os.fsencode(name).decode("utf-8", "backslashreplace"))


def _written_name(archive: Path, info: zipfile.ZipInfo) -> str:
    """The path unzip creates for the member (os.fsdecode of its bytes), or BadInput where it is no reading
    vcc can follow: dropping control bytes empties a part or makes it `.` or `..`, a Unicode Path field
    turns a file into a directory or back, a FAT-made name without a slash has a backslash."""
    read = _unzip_reads(info, _header_name(info), info.extra, local=False).name
    written = unzip_written_name(read)
    shown = display_name(os.fsdecode(read))
    for before, after in zip(read.split(b"/"), written.split(b"/"), strict=True):
        if before != after and after in (b"", b".", b".."):
            raise archive_error(
                archive,
                f"member '{shown}' has a path part made only of control characters and dots",
                "rename the member without control characters",
            )
    is_dir = info.filename.endswith("/")  # not info.is_dir(): it fails on an empty name, which _safe_name refuses
    if written and written.endswith(b"/") != is_dir:
        raise archive_error(
            archive,
            f"member {info.filename!r}: its Unicode Path extra field names it '{shown}', turning a "
            f"{'directory' if is_dir else 'file'} entry into the other kind",
            "re-create the zip with an ordinary zip tool",
        )
    if info.create_system == _FAT_HOST and b"\\" in read and b"/" not in read:
        # A FAT-made name without a slash: unzip reads its backslashes as separators and warns "appears to use
        # backslashes as path separators", exit 1. Anywhere else a backslash is a name byte (measured).
        raise archive_error(
            archive,
            f"member '{shown}' has a backslash in its name, written by a DOS/Windows tool: the runner's unzip "
            "reads it as a directory separator, warns and exits with status 1",
            "use / as the separator (rebuild the zip with `zip -r`, Python's zipfile or `vcc pack`)",
        )
    return os.fsdecode(written)


# A name part longer than the file system's NAME_MAX, or a path near PATH_MAX with the extraction dir
# in front: neither extractor can create it (unzip skips it with an error, vcc would fail mid-way).
NAME_MAX_BYTES = 255
PATH_MAX_BYTES = 3072


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


# FAT, Atari, HPFS, NTFS: the hosts whose DOS volume-label attribute unzip 6.0 honours.
_VOLUME_LABEL_HOSTS = frozenset({0, 5, 6, 11})


def _is_volume_label(info: zipfile.ZipInfo) -> bool:
    """A member unzip 6.0 skips on Unix ("skipping: NAME volume label", measured for files and dirs, any name)."""
    return info.create_system in _VOLUME_LABEL_HOSTS and bool(unzip_external_attr(info) & 0x08)


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


def _check_no_overlaps(archive: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Every local header is intact and agrees with its central record, and no two members' bytes overlap
    (`infos` in central-directory order).

    Members whose data overlap share compressed bytes: a non-recursive zip bomb. Directory entries are
    held to unzip 6.0's own rule (measured): a directory's header must not start inside the bytes of a
    file listed before it, and directories never count against others (a directory listed twice is
    extracted once, exit 0).
    """
    with open(archive, "rb") as fh:
        located = [(_local_span(fh, info, archive), info) for info in infos]
        end_record = zipfile._EndRecData(fh)  # type: ignore[attr-defined]
    cd_offset = end_record[6] if end_record else 0
    (_, last_end), last = max(located, key=lambda item: item[0][1])
    if end_record and last_end > cd_offset:
        raise archive_error(
            archive,
            f"member {last.filename!r}'s header and data run into the central directory",
            "re-create the zip with an ordinary zip tool",
        )
    spans = sorted((span, info.filename) for span, info in located if not info.filename.endswith("/"))
    for ((_, end), name_a), ((start, _), name_b) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise archive_error(
                archive,
                f"members {name_a!r} and {name_b!r} overlap in the file (zip bomb)",
                "re-create the zip with an ordinary zip tool",
            )
    files_before: list[tuple[tuple[int, int], str]] = []
    for span, info in located:
        if not info.filename.endswith("/"):
            files_before.append((span, info.filename))
            continue
        inside = next((name for (a, b), name in files_before if a <= span[0] < b), None)
        if inside is not None:
            raise archive_error(
                archive,
                f"directory member {info.filename!r} starts inside the bytes of member {inside!r}; the runner's "
                "unzip reports overlapped components and exits with status 12",
                "re-create the zip with an ordinary zip tool",
            )
    with open(archive, "rb") as fh:
        for info in infos:
            _check_local_agrees(fh, info, archive)
        _check_descriptors_and_unicode_paths(fh, infos, archive)


def _unicode_path_taken(fh: BinaryIO, info: zipfile.ZipInfo) -> bool:
    """Whether unzip takes a Unicode Path field of the member's (in either header; never with the UTF-8 flag)."""
    if info.flag_bits & FLAG_UTF8:
        return False
    head = read_local_header(fh, info.header_offset)
    assert head is not None
    fh.seek(info.header_offset + LOCAL_HEADER.size + head.name_len)
    local_extra = fh.read(head.extra_len)
    name = _header_name(info).split(b"\0", 1)[0]
    return read_unicode_path(info.extra, name)[0] or read_unicode_path(local_extra, name)[0]


def _check_descriptors_and_unicode_paths(fh: BinaryIO, infos: list[zipfile.ZipInfo], archive: Path) -> None:
    """Not both a member with a data descriptor and a member whose Unicode Path field unzip takes: unzip 6.0
    then reports overlapped components and exits 12, whichever members they are, in whichever order
    (measured; the field's name does not matter)."""
    streamed = next((i for i in infos if i.flag_bits & FLAG_DATA_DESCRIPTOR), None)
    if streamed is None:
        return
    named = next((i for i in infos if _unicode_path_taken(fh, i)), None)
    if named is not None:
        raise archive_error(
            archive,
            f"member {streamed.filename!r} has a data descriptor and member {named.filename!r} an Info-ZIP Unicode "
            "Path extra field; with both in one zip the runner's unzip reports \"overlapped components\" and "
            "exits with status 12",
            "re-create the zip without streaming (no data descriptors: `zip -r` on files, Python's zipfile, "
            "`vcc pack`)",
        )
