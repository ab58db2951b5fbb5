"""The name Info-ZIP unzip 6.0 gives a member on Linux, as bytes.

Measured against Debian's unzip 6.0-28 (the runner's Ubuntu 24.04 ships 6.0-28ubuntu4, the same
upstream code for names) in the runner's C.UTF-8 locale, by tests/test_zip_names.py and the
differential fuzzing. A member's name goes through these steps, the local header's and the
central directory's each on their own (unzip warns, exit 1, where the two results differ):

1. The header's bytes up to the first NUL (unzip reads a C string; Python's zipfile cuts there too).
2. Where the header has an extra field (any, even 4 bytes): with the UTF-8 flag (bit 11) the name is
   taken as Unicode as it is; without it, an Info-ZIP Unicode Path field (0x7075: version, CRC-32
   of step 1's bytes, the name in UTF-8) replaces the name (an empty one keeps it). Either ends
   the steps here. Python's zipfile ignores the field: where it applies, the two name different
   files.
3. Otherwise names from FAT, HPFS and NTFS hosts are converted from the OEM code page (cp850) to
   ISO 8859-1, UTF-8 flag or not, except a FAT member whose "version made by" is 2.5, 2.6 or 4.0
   (PKZip for Unix) read from its local header or carrying Unix attribute bits, and an NTFS
   member unless that version is 5.0 (unzip's Ext_ASCII_TO_Native conditions).
4. When the file is created, control bytes, DEL and 0xff are dropped (mapname keeps printable
   ASCII and 128-254).

Torch-free, like the rest of base.
"""

from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

__all__ = [
    "UNICODE_PATH_ID",
    "OEM_TO_LATIN1",
    "read_unicode_path",
    "converts_from_oem",
    "NameReading",
    "read_member_name",
    "unzip_member_name",
    "unzip_written_name",
]

UNICODE_PATH_ID = 0x7075

_FAT, _HPFS, _NTFS = 0, 6, 11
_PKZIP_FOR_UNIX_VERSIONS = frozenset({25, 26, 40})
_NTFS_CONVERTED_VERSION = 50


def _oem_table() -> bytes:
    """unzip's OEM (cp850) to ISO 8859-1 table: the same character where Latin-1 has it, else unzip's stand-in
    (measured byte by byte: box drawing becomes `+ - ¦ _ =`, the dotless i `i`, the florin 0x83)."""
    stand_in = {0x9F: 0x83, 0xD5: ord("i"), 0xDC: ord("_"), 0xDF: 0xAF, 0xF2: ord("=")}
    stand_in |= dict.fromkeys((0xB0, 0xB1, 0xB2, 0xB3, 0xB4, 0xB9, 0xBA, 0xCC, 0xDB, 0xFE), 0xA6)
    stand_in |= dict.fromkeys((0xBB, 0xBC, 0xBF, 0xC0, 0xC3, 0xC5, 0xC8, 0xC9, 0xCE, 0xD9, 0xDA), ord("+"))
    stand_in |= dict.fromkeys((0xC1, 0xC2, 0xC4, 0xCA, 0xCB, 0xCD), ord("-"))
    table = bytearray(range(256))
    for code in range(0x80, 0x100):
        try:
            table[code] = bytes([code]).decode("cp850").encode("latin-1")[0]
        except UnicodeEncodeError:
            table[code] = stand_in[code]
    return bytes(table)


OEM_TO_LATIN1 = _oem_table()
# mapname's filter: what it drops from a name as it creates the file (NUL never gets this far).
_DROPPED = bytes([*range(0x01, 0x20), 0x7F, 0xFF])


def read_unicode_path(extra: bytes, name: bytes) -> tuple[bool, bytes | None]:
    """(whether unzip took any Unicode Path field, the name they give or None) for the fields in `extra` of the
    member whose header names it `name`.

    unzip reads the fields in order: each one of version 0 or 1 whose CRC-32 is that of `name` is taken
    and sets the name (an empty one sets it back to the header's); the first of another version or
    CRC, or shorter than its 5 fixed bytes, stops the reading, and what an earlier field set stays
    (measured).
    """
    taken, found = False, None
    pos = 0
    while pos + 4 <= len(extra):
        ident, size = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if ident != UNICODE_PATH_ID:
            continue
        if len(body) < 5 or body[0] > 1 or struct.unpack_from("<I", body, 1)[0] != zlib.crc32(name):
            break
        taken, found = True, body[5:].split(b"\0", 1)[0] or None
    return taken, found


def converts_from_oem(host: int, host_version: int, unix_attrs: bool, local: bool) -> bool:
    """Whether unzip converts a name from this host from the OEM code page (without a Unicode Path field)."""
    if host == _FAT:
        return not ((local or unix_attrs) and host_version in _PKZIP_FOR_UNIX_VERSIONS)
    if host == _HPFS:
        return True
    return host == _NTFS and host_version == _NTFS_CONVERTED_VERSION


class NameReading(NamedTuple):
    """How unzip read one header's name: the name, and whether as Unicode (step 2) or as native bytes (step 3)."""

    name: bytes
    unicode: bool


def read_member_name(
    raw: bytes, *, utf8: bool, host: int, host_version: int, unix_attrs: bool, extra: bytes, local: bool
) -> NameReading:
    """How unzip reads the name of one header (steps 1-3 of the module's list).

    raw: the header's name bytes; utf8: its flag bit 11; host, host_version: the central record's
    "version made by" bytes; unix_attrs: the external attributes' upper half (as unzip reads it) is
    not 0; extra: this header's extra field; local: read from the local header.
    """
    raw = raw.split(b"\0", 1)[0]
    if extra:
        if utf8:
            return NameReading(raw, True)
        taken, up = read_unicode_path(extra, raw)
        if taken:  # an empty one too: the header's name, not converted (measured)
            return NameReading(up or raw, True)
    if converts_from_oem(host, host_version, unix_attrs, local):
        return NameReading(raw.translate(OEM_TO_LATIN1), False)
    return NameReading(raw, False)


def unzip_member_name(
    raw: bytes, *, utf8: bool, host: int, host_version: int, unix_attrs: bool, extra: bytes, local: bool
) -> bytes:
    """The name unzip reads from one header: what it compares between the local header and the central
    directory (`read_member_name`'s name)."""
    return read_member_name(
        raw, utf8=utf8, host=host, host_version=host_version, unix_attrs=unix_attrs, extra=extra, local=local
    ).name


def unzip_written_name(name: bytes) -> bytes:
    """The file name unzip creates for a name `unzip_member_name` read (step 4)."""
    return name.translate(None, _DROPPED)
