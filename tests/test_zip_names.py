"""The names Info-ZIP unzip 6.0 gives members (base/_zipnames.py), pinned as rules and checked against unzip.

The rule rows need nothing; the unzip rows build each archive with tests/zipfuzz.py's writer, run
vcc's extraction beside `/usr/bin/unzip -o` (zipfuzz.run_case) and require the outcome each row
names: the same tree with unzip exiting 0, or a refusal naming archive.zip (where unzip warns or
fails). Each unzip row is a reading the differential fuzzing found or the measurements behind
base/_zipnames.py established.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
import zipfuzz

from vcc.base import OEM_TO_LATIN1, inspect_archive, unzip_member_name, unzip_written_name
from vcc.runner import extract_archive

needs_unzip = pytest.mark.skipif(not Path(zipfuzz.UNZIP).is_file(), reason=f"{zipfuzz.UNZIP} (Info-ZIP unzip 6.0) "
                                 "is not installed")  # fmt: skip
UNIX_FILE = 0o100644 << 16
FAT, HPFS, UNIX, NTFS = 0, 6, 3, 11


def unicode_path(header_name: bytes, name: bytes, version: int = 1, crc: int | None = None) -> bytes:
    """An Info-ZIP Unicode Path extra field (0x7075) for a member whose header names it `header_name`."""
    body = bytes([version]) + struct.pack("<I", zlib.crc32(header_name) if crc is None else crc) + name
    return struct.pack("<HH", 0x7075, len(body)) + body


OTHER_EXTRA = struct.pack("<HH", 0xCAFE, 1) + b"z"


def read(raw: bytes, host: int = UNIX, version: int = 30, *, utf8: bool = False, unix_attrs: bool = False,
         extra: bytes = b"", local: bool = False) -> bytes:  # fmt: skip
    return unzip_member_name(raw, utf8=utf8, host=host, host_version=version, unix_attrs=unix_attrs, extra=extra,
                             local=local)  # fmt: skip


# --------------------------------------------------------------------------- the rules


def test_oem_conversion_by_host_and_version() -> None:
    assert read(b"caf\x82", FAT) == b"caf\xe9"  # cp850 0x82 is e-acute, Latin-1 0xe9
    assert read(b"caf\x82", HPFS, 25) == b"caf\xe9"
    assert read(b"caf\x82", NTFS, 50) == b"caf\xe9" and read(b"caf\x82", NTFS, 30) == b"caf\x82"
    assert read(b"caf\x82", UNIX) == b"caf\x82"
    # PKZip for Unix (FAT, 2.5/2.6/4.0): its local header, or Unix bits, keep the bytes
    for version in (25, 26, 40):
        assert read(b"\x82", FAT, version) == b"\xe9"
        assert read(b"\x82", FAT, version, local=True) == b"\x82"
        assert read(b"\x82", FAT, version, unix_attrs=True) == b"\x82"
    assert read(b"\x82", FAT, 20, local=True, unix_attrs=True) == b"\xe9"


def test_utf8_flag_with_and_without_an_extra_field() -> None:
    utf8 = "é".encode()
    assert read(utf8, FAT, utf8=True) == b"+\xae"  # no extra field: converted although flagged
    assert read(utf8, FAT, utf8=True, extra=OTHER_EXTRA) == utf8  # any extra field: taken as Unicode
    assert read(b"a", FAT, utf8=True, extra=unicode_path(b"a", b"b")) == b"a"  # the flag wins over the field


def test_unicode_path_fields_in_order() -> None:
    assert read(b"a", extra=unicode_path(b"a", b"b")) == b"b"
    assert read(b"a", extra=unicode_path(b"a", b"b", version=0)) == b"b"
    assert read(b"a", extra=unicode_path(b"a", b"b", version=2)) == b"a"
    assert read(b"a", extra=unicode_path(b"a", b"b", crc=1)) == b"a"
    assert read(b"a", extra=unicode_path(b"a", b"b") + unicode_path(b"a", b"c")) == b"c"
    assert read(b"a", extra=unicode_path(b"a", b"b") + unicode_path(b"a", b"c", crc=1)) == b"b"  # reading stops
    assert read(b"a", extra=unicode_path(b"a", b"b", crc=1) + unicode_path(b"a", b"c")) == b"a"
    assert read(b"a", extra=unicode_path(b"a", b"b") + unicode_path(b"a", b"")) == b"a"  # empty: back to the header
    assert read(b"p\x89", FAT, extra=unicode_path(b"p\x89", b"")) == b"p\x89"  # ...and not converted
    assert read(b"a", extra=OTHER_EXTRA + unicode_path(b"a", b"b\0c")) == b"b"  # C strings
    assert read(b"a\0z", extra=unicode_path(b"a", b"b")) == b"b"  # the CRC of the name up to its NUL


def test_written_name_drops_controls_del_and_0xff() -> None:
    assert unzip_written_name(b"a\x01b\x1f\x7fc\xffd\x80\xfe") == b"abcd\x80\xfe"


# --------------------------------------------------------------------------- against unzip


def unzip_tree(archive: bytes, tmp_path: Path) -> tuple[int, list[bytes]]:
    (tmp_path / "u.zip").write_bytes(archive)
    out = tmp_path / "u"
    res = subprocess.run([zipfuzz.UNZIP, "-o", "-qq", str(tmp_path / "u.zip"), "-d", str(out)],
                         capture_output=True, env=zipfuzz._UNZIP_ENV)  # fmt: skip
    names = sorted(os.path.relpath(os.path.join(d, f), os.fsencode(out))
                   for d, _, fs in os.walk(os.fsencode(out)) for f in fs)  # fmt: skip
    return res.returncode, names


@needs_unzip
def test_oem_table_is_unzips(tmp_path: Path) -> None:
    """Every byte from 0x80 to 0xff in a DOS-made name, as unzip writes it and as vcc does."""
    members = [zipfuzz.Member(b"x%02x" % c + bytes([c]) + b"y", b"d", create_system=FAT, external_attr=0x20)
               for c in range(0x80, 0x100)]  # fmt: skip
    archive = bytes(zipfuzz.build(members).data)
    rc, names = unzip_tree(archive, tmp_path)
    assert rc == 0
    expected = sorted(b"x%02x" % c + unzip_written_name(bytes([c]).translate(OEM_TO_LATIN1)) + b"y"
                      for c in range(0x80, 0x100))  # fmt: skip
    assert names == expected
    assert zipfuzz.run_case(archive, tmp_path / "case").kind == "equal"


def M(name: bytes, *, host: int = UNIX, attr: int = UNIX_FILE, flags: int = 0, local: bytes = b"",
      central: bytes = b"", descriptor: str = "", version: int = 30, needed: int | None = None) -> zipfuzz.Member:
    return zipfuzz.Member(name, b"data", flags=flags, create_system=host, external_attr=attr, extra_local=local,
                          extra_central=central, descriptor=descriptor, made_version=version,
                          version_needed=needed)


def up_both(name: bytes, new: bytes, **kw: object) -> zipfuzz.Member:
    """A member whose local and central headers carry the same Unicode Path field (as Info-ZIP zip writes it)."""
    field = unicode_path(name, new)
    return M(name, local=field, central=field, **kw)  # type: ignore[arg-type]


UP_B = unicode_path(b"a.txt", b"b.txt")
READS = "the name as unzip reads it"
# (members, expected): the names unzip and vcc both write, or the words of vcc's refusal
UNZIP_ROWS: dict[str, tuple[list[zipfuzz.Member], list[bytes] | str]] = {
    "UTF-8 bytes without the flag (Info-ZIP zip 3.0)": ([M("café.txt".encode())], ["café.txt".encode()]),
    "Latin-1 bytes without the flag, 0xff dropped": ([M(b"caf\xe9\xfe \xff\x80.bin")], [b"caf\xe9\xfe \x80.bin"]),
    "a DOS tool's cp850 name": ([M(b"caf\x82.txt", host=FAT, attr=0x20)], [b"caf\xe9.txt"]),
    "Unicode Path in both headers": ([up_both(b"a.txt", b"b.txt")], [b"b.txt"]),
    "Unicode Path naming a subdirectory": ([up_both(b"a.txt", b"d/b")], [b"d/b"]),
    "Unicode Path with a control character": ([up_both(b"a.txt", b"b\x01.txt")], [b"b.txt"]),
    "Unicode Path with a wrong CRC is ignored": ([M(b"a.txt", central=unicode_path(b"a.txt", b"b", crc=7))],
                                                 [b"a.txt"]),
    "two names become one: the last copy stays": ([up_both(b"a.txt", b"b.txt"), M(b"b.txt")], [b"b.txt"]),
    "a volume label is skipped": ([M(b"LABEL", host=FAT, attr=0x08), M(b"a.txt")], [b"a.txt"]),
    "Unicode Path in the central header only": ([M(b"a.txt", central=UP_B)], READS),
    "Unicode Path in the local header only": ([M(b"a.txt", local=UP_B)], READS),
    "PKZip for Unix: only the central name converted": ([M(b"caf\x82", host=FAT, attr=0x20, version=25)], READS),
    "flagged DOS name, an extra field in one header": ([M("é".encode(), host=FAT, attr=0x20, flags=0x800,
                                                          local=OTHER_EXTRA)], READS),
    "a data descriptor beside a Unicode Path": ([up_both(b"a.txt", b"b.txt"), M(b"s", descriptor="sig")],
                                                "overlapped components"),
    "Unicode Path turns a file into a directory": ([up_both(b"a.txt", b"d/")], "into the other kind"),
    "a backslash in a Unix name is a byte": ([M(b"a\\b")], [b"a\\b"]),
    "a backslash in an NTFS name is a byte": ([M(b"a\\b", host=NTFS, attr=0x20)], [b"a\\b"]),
    "a backslash in a FAT name with a slash is a byte": ([M(b"d/a\\b", host=FAT, attr=0x20)], [b"d/a\\b"]),
    "a backslash in a FAT name without a slash": ([M(b"a\\b", host=FAT, attr=0x20)], "backslash"),
    "a volume label needing zip 4.7": ([M(b"LABEL", host=FAT, attr=0x08, needed=47), M(b"a.txt")],
                                       "needs zip version 4.7"),
}  # fmt: skip


@needs_unzip
@pytest.mark.parametrize("row", list(UNZIP_ROWS))
def test_names_as_unzip_writes_them(row: str, tmp_path: Path) -> None:
    members, expected = UNZIP_ROWS[row]
    archive = bytes(zipfuzz.build(members).data)
    outcome = zipfuzz.run_case(archive, tmp_path / "case")
    rc, names = unzip_tree(archive, tmp_path)
    if isinstance(expected, str):
        assert outcome.kind == "refused" and expected in outcome.detail, outcome
        assert rc != 0 or "needs zip" in expected or "other kind" in expected, "a refusal where unzip is clean"
    else:
        assert outcome.kind == "equal", outcome
        assert (rc, names) == (0, expected)


def test_volume_labels_are_skipped_and_reported(tmp_path: Path) -> None:
    archive = tmp_path / "archive.zip"
    archive.write_bytes(bytes(zipfuzz.build([M(b"LABEL", host=FAT, attr=0x08), M(b"a.txt")]).data))
    vetted = inspect_archive(archive)
    assert [name for _, name in vetted.members] == ["a.txt"] and [i.filename for i in vetted.skipped] == ["LABEL"]
    result = extract_archive(archive, tmp_path / "out")
    assert sorted(os.listdir(tmp_path / "out")) == ["a.txt"]
    assert any("volume label" in w and "LABEL" in w for w in result.warnings)


def test_renamed_members_are_reported_in_printable_form(tmp_path: Path) -> None:
    archive = tmp_path / "archive.zip"
    archive.write_bytes(bytes(zipfuzz.build([M(b"caf\x82.txt", host=FAT, attr=0x20)]).data))
    result = extract_archive(archive, tmp_path / "out")
    assert os.listdir(os.fsencode(tmp_path / "out")) == [b"caf\xe9.txt"]
    assert result.members[0].as_json()["name"] == "caf\\xe9.txt"  # not UTF-8: escaped, never a lone surrogate
    assert any("is written as 'caf\\xe9.txt'" in w for w in result.warnings)


ZIP = shutil.which("zip")


@needs_unzip
@pytest.mark.skipif(ZIP is None, reason="Info-ZIP zip is not installed (apt-get install zip)")
def test_info_zip_archive_with_a_non_ascii_name(tmp_path: Path) -> None:
    """`zip -r` (Info-ZIP zip 3.0) in a UTF-8 locale stores UTF-8 bytes without the flag: extracted as unzip does."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "café.bin").write_bytes(b"weights")
    (src / "plain").write_bytes(b"x")
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    subprocess.run([str(ZIP), "-q", "-r", str(tmp_path / "archive.zip"), "."], cwd=src, env=env, check=True)
    archive = (tmp_path / "archive.zip").read_bytes()
    assert zipfuzz.run_case(archive, tmp_path / "case").kind == "equal"
    extract_archive(tmp_path / "archive.zip", tmp_path / "out")
    assert (tmp_path / "out" / "café.bin").read_bytes() == b"weights"


def _with_directory_at(members: list[zipfuzz.Member], directory: int, offset_of: int | None, dup: bool) -> bytes:
    """The archive of `members` with central record `directory` pointing `offset_of`'s data (+4: inside it,
    where the data holds a copy of the directory's local header), or listed twice."""
    built = zipfuzz.build(members)
    raw = built.data
    start, end = built.central_records[directory]
    if offset_of is not None:
        target = struct.unpack_from("<I", raw, built.central_records[offset_of][0] + 42)[0]
        name_len = struct.unpack_from("<H", raw, target + 26)[0]
        struct.pack_into("<I", raw, start + 42, target + 30 + name_len + 4)
    if dup:
        raw[end:end] = raw[start:end]
        e = built.end_offset + (end - start)
        count = struct.unpack_from("<H", raw, e + 10)[0] + 1
        struct.pack_into("<HHI", raw, e + 8, count, count, struct.unpack_from("<I", raw, e + 12)[0] + end - start)
    return bytes(raw)


_DIR_HEADER = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, 0, 0, 0, 2, 0) + b"d/"
_DIR = zipfuzz.Member(b"d/", b"", external_attr=0o40755 << 16)
_HOLDS_DIR = zipfuzz.Member(b"f", b"AAAA" + _DIR_HEADER + b"BBBB", external_attr=UNIX_FILE)
DIRECTORY_OVERLAPS = {
    "a directory listed twice": (_with_directory_at([_DIR, M(b"f")], 0, None, dup=True), "equal"),
    "a directory inside a file listed after it": (_with_directory_at([_DIR, _HOLDS_DIR], 0, 1, dup=False), "equal"),
    "a directory inside a file listed before it": (_with_directory_at([_HOLDS_DIR, _DIR], 1, 0, dup=False),
                                                   "refused"),
    "a file listed twice": (_with_directory_at([M(b"f"), _DIR], 0, None, dup=True), "refused"),
}


@needs_unzip
@pytest.mark.parametrize("row", list(DIRECTORY_OVERLAPS))
def test_directory_overlaps_as_unzip_checks_them(row: str, tmp_path: Path) -> None:
    archive, expected = DIRECTORY_OVERLAPS[row]
    outcome = zipfuzz.run_case(archive, tmp_path / "case")
    assert outcome.kind == expected, outcome
    if expected == "refused":
        assert outcome.unzip_rc == 12 and "overlap" in outcome.detail
