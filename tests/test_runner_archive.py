"""`vcc run` on unsafe, corrupt or incomplete submissions: exit 2, nothing written outside.

The extraction itself is also checked against Info-ZIP `unzip -o` where it is installed.
"""

from __future__ import annotations

import io
import random
import shutil
import stat
import struct
import subprocess
import warnings
import zipfile
from pathlib import Path

import pytest

from vcc.base import BadInput, current_umask
from vcc.runner import ExtractLimits, extract_archive, vet_archive
from vcc.runner.cli import main as run_main

from helpers import run as vcc_run
from helpers import zip_of

GOOD_INFLATE = """#!/usr/bin/env bash
set -euo pipefail
mkdir -p "$2"
while read -r n; do [ -n "$n" ] && truncate -s $((4*3052008)) "$2/${n%.*}.raw"; done < "$3"
"""


def submission(tmp_path: Path, archive: bytes, inflate: str | None = GOOD_INFLATE) -> Path:
    sub = tmp_path / "sub"
    sub.mkdir(parents=True)
    (sub / "archive.zip").write_bytes(archive)
    if inflate is not None:
        (sub / "inflate.sh").write_text(inflate)
    return sub


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


# --- the archive faults, end to end through the CLI --------------------------------------------


def _symlink_member() -> bytes:
    info = zipfile.ZipInfo("link")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return zip_of((info, b"/etc/passwd"))


def _encrypted() -> bytes:
    data = bytearray(zip_of(("a", b"secret")))
    # Set the "encrypted" flag bit in the local header and the central directory entry.
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = data.index(sig)
        data[i + flag_at] |= 0x1
    return bytes(data)


def _bad_crc() -> bytes:
    data = bytearray(zip_of(("a", b"0123456789" * 100)))
    data[30 + 1 + 50] ^= 0xFF  # a byte inside the stored data of member "a"
    return bytes(data)


def _ratio_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("zeros", "w") as f:
            chunk = bytes(1 << 20)
            for _ in range(64):
                f.write(chunk)
    return buf.getvalue()


def _overlap_bomb() -> bytes:
    """One compressed body behind 3 central-directory entries (Fifield's non-recursive bomb)."""
    noise = random.Random(0).randbytes(1 << 20)  # incompressible: only the overlap gives it away
    body = zip_of(("a", noise), method=zipfile.ZIP_DEFLATED)
    cd_at = body.index(b"PK\x01\x02")
    eocd_at = body.index(b"PK\x05\x06")
    entry = body[cd_at:eocd_at]
    entries = entry + entry[:-1] + b"b" + entry[:-1] + b"c"  # names are the last byte (no extra)
    eocd = bytearray(body[eocd_at:])
    struct.pack_into("<HHLL", eocd, 8, 3, 3, len(entries), cd_at)
    return body[:cd_at] + entries + bytes(eocd)


def _file_and_dir_clash() -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w") as zf:
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns, then writes it anyway
        zf.writestr("a", b"1")
        zf.writestr(zipfile.ZipInfo("a/"), b"")
    return buf.getvalue()


ARCHIVE_FAULTS = {
    "zip-slip": (zip_of(("../evil.txt", b"x")), "zip slip"),
    "absolute path": (zip_of(("/tmp/vcc-evil-abs.txt", b"x")), "absolute path"),
    "symlink member": (_symlink_member(), "symbolic link"),
    "zip bomb (ratio)": (_ratio_bomb(), "zip bomb"),
    "zip bomb (overlapping members)": (_overlap_bomb(), "overlap"),
    "encrypted member": (_encrypted(), "encrypted"),
    "corrupt zip": (b"this is not a zip file at all" * 10, "not a readable zip"),
    "bad CRC": (_bad_crc(), "corrupt"),
    "empty zip": (zip_of(), "no members"),
    "a path both file and dir": (_file_and_dir_clash(), "one as a file and one as a directory"),
    "lzma member": (zip_of(("a", b"x" * 100), method=zipfile.ZIP_LZMA), "cannot extract"),
}


@pytest.mark.parametrize("fault", list(ARCHIVE_FAULTS))
def test_unsafe_or_corrupt_archive_exits_2(fault, tmp_path, mini_challenge, capsys):
    archive, words = ARCHIVE_FAULTS[fault]
    sub = submission(tmp_path, archive)
    before = tree(sub)
    code, report = vcc_run(sub, mini_challenge, tmp_path / "out")
    assert code == 2
    assert report["verdict"] == "bad_input"
    assert words in report["message"]
    assert "archive.zip" in capsys.readouterr().err
    assert report["inflate"] is None  # inflate never ran
    assert tree(sub) == before  # the user's dir is untouched
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "out" / "workspace").exists()  # scratch removed
    assert not Path("/tmp/vcc-evil-abs.txt").exists()


def test_missing_inflate_sh_exits_2(tmp_path, mini_challenge, capsys):
    sub = submission(tmp_path, zip_of(("a", b"x")), inflate=None)
    code = run_main([str(sub), "--challenge-dir", str(mini_challenge), "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "inflate.sh not found" in err and "fix:" in err


def test_missing_archive_exits_2(tmp_path, mini_challenge, capsys):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "inflate.sh").write_text(GOOD_INFLATE)
    code = run_main([str(sub), "--challenge-dir", str(mini_challenge), "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2
    assert "archive.zip not found" in capsys.readouterr().err


def test_size_caps_are_overridable(tmp_path, mini_challenge):
    big = submission(tmp_path / "big", zip_of(("a", random.Random(1).randbytes(3 << 20))))
    code, report = vcc_run(big, mini_challenge, tmp_path / "o1", "--max-unzipped-bytes", "2M")
    assert code == 2 and "cap of 2,097,152 bytes" in report["message"]
    code, report = vcc_run(big, mini_challenge, tmp_path / "o2")
    assert code == 0, report["message"]

    zeros = zip_of(("a", bytes(3 << 20)), method=zipfile.ZIP_DEFLATED)
    zeros = submission(tmp_path / "zeros", zeros)
    code, report = vcc_run(zeros, mini_challenge, tmp_path / "o3")
    assert code == 2 and "--max-ratio" in report["error"]
    code, report = vcc_run(zeros, mini_challenge, tmp_path / "o4", "--max-ratio", "5000")
    assert code == 0, report["message"]
    assert report["runs"][0]["extract"]["total_bytes"] == 3 << 20


# --- extraction fidelity ----------------------------------------------------------------------


def _mode_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, mode, data in (
            ("run.sh", 0o755, b"#!/bin/sh\necho hi\n"),
            ("data/weights.bin", 0o600, bytes(range(256)) * 64),
            ("data/nested/deep.txt", 0o644, b"deep"),
            ("setuid", 0o4755, b"x"),
        ):
            info = zipfile.ZipInfo(name, date_time=(2024, 5, 6, 7, 8, 10))
            info.create_system = 3
            info.external_attr = (stat.S_IFREG | mode) << 16
            zf.writestr(info, data)
        d = zipfile.ZipInfo("emptydir/", date_time=(2024, 5, 6, 7, 8, 10))
        d.create_system = 3
        d.external_attr = (stat.S_IFDIR | 0o750) << 16 | 0x10
        zf.writestr(d, b"")
        dos = zipfile.ZipInfo("from-dos.txt", date_time=(2024, 5, 6, 7, 8, 10))
        dos.create_system = 0  # written by a DOS/Windows tool: no Unix mode, unzip uses 0666 & ~umask
        zf.writestr(dos, b"no unix mode")
        ro = zipfile.ZipInfo("readonly.txt", date_time=(2024, 5, 6, 7, 8, 10))
        ro.create_system, ro.external_attr = 0, 0x01  # DOS read-only flag, no Unix bits
        zf.writestr(ro, b"read only")
        ntfs = zipfile.ZipInfo("ntfsdir/", date_time=(2024, 5, 6, 7, 8, 10))
        ntfs.create_system, ntfs.external_attr = 11, 0x10
        zf.writestr(ntfs, b"")
        # The same name twice, the first copy read-only: `unzip -o` keeps the last copy's bytes and mode.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            for mode, data in ((0o444, b"first copy"), (0o640, b"second, kept")):
                twice = zipfile.ZipInfo("data/twice.txt", date_time=(2024, 5, 6, 7, 8, 10))
                twice.create_system, twice.external_attr = 3, (stat.S_IFREG | mode) << 16
                zf.writestr(twice, data)


def _layout(root: Path) -> dict[str, tuple[str, int, bytes | None, int]]:
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        data = p.read_bytes() if p.is_file() else None
        mtime = int(st.st_mtime) if p.is_file() else 0
        out[str(p.relative_to(root))] = (
            "d" if p.is_dir() else "f",
            stat.S_IMODE(st.st_mode),
            data,
            mtime,
        )
    return out


def test_extraction_matches_unzip(tmp_path):
    archive = tmp_path / "archive.zip"
    _mode_zip(archive)
    ours = tmp_path / "ours"
    (ours / "stale").mkdir(parents=True)  # rm -rf first, as evaluate.sh does
    result = extract_archive(archive, ours)
    assert not (ours / "stale").exists()
    assert (ours / "run.sh").stat().st_mode & 0o777 == 0o755
    assert (ours / "data/weights.bin").stat().st_mode & 0o777 == 0o600
    assert (ours / "setuid").stat().st_mode & 0o7777 == 0o755  # no setuid, like unzip without -K
    assert (ours / "readonly.txt").stat().st_mode & 0o777 == 0o444
    assert (ours / "data/twice.txt").read_bytes() == b"second, kept"
    assert [m.name for m in result.members].count("data/twice.txt") == 1
    assert result.total_bytes == sum(m.bytes for m in result.members)
    unzip = shutil.which("unzip")
    if unzip is None:
        pytest.skip("Info-ZIP unzip is not installed: modes checked, comparison with unzip skipped")
    theirs = tmp_path / "theirs"
    subprocess.run([unzip, "-o", "-q", str(archive), "-d", str(theirs)], check=True)
    assert _layout(ours) == _layout(theirs)


def test_vet_rejects_file_and_dir_sharing_a_path(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(zip_of(("x", b"file"), ("x/y", b"under a file")))
    with pytest.raises(BadInput, match="is a file"):
        vet_archive(archive)


def test_small_high_ratio_members_pass(tmp_path):
    # A 100 KB file of zeros compresses ~1000x but is far below the ratio floor: fine.
    archive = tmp_path / "a.zip"
    archive.write_bytes(zip_of(("zeros", bytes(100_000)), method=zipfile.ZIP_DEFLATED))
    assert [n for _, n in vet_archive(archive, ExtractLimits())] == ["zeros"]


def _one_member(tmp_path: Path, **fields: int) -> Path:
    """archive.zip of one file member "m" whose ZipInfo carries `fields` (create_system, external_attr, ...)."""
    info = zipfile.ZipInfo("m", date_time=(2024, 5, 6, 7, 8, 10))
    for key, value in fields.items():
        setattr(info, key, value)
    archive = tmp_path / "archive.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, b"payload")
    return archive


# Info-ZIP unzip 6.0's readings of the attributes, each found by the differential fuzzing (tests/zipfuzz.py)
UNZIP_MODES = {
    # internal attributes bit 2 (PKWARE's verification checksum): unzip keeps only the DOS flags
    "verification bit drops the Unix bits": (dict(create_system=3, internal_attr=4, external_attr=0o100644 << 16), 0),
    # FAT with Unix bits whose owner part agrees with the DOS flags: the stored bits, not umasked
    "FAT-made member keeps its bits": (dict(create_system=0, external_attr=(0o100666 << 16) | 0x20), 0o666),
    "FAT-made member, owner bits disagree": (dict(create_system=0, external_attr=(0o100444 << 16) | 0x20), None),
    "Atari-made member keeps its bits": (dict(create_system=5, external_attr=0o100666 << 16), 0o666),
}


@pytest.mark.parametrize("case", list(UNZIP_MODES))
def test_modes_as_unzip_reads_the_attributes(case: str, tmp_path: Path) -> None:
    fields, mode = UNZIP_MODES[case]
    result = extract_archive(_one_member(tmp_path, **fields), tmp_path / "out")
    expected = mode if mode is not None else 0o666 & ~current_umask()  # from the DOS flags: r/w for all, umasked
    assert stat.S_IMODE((tmp_path / "out" / "m").stat().st_mode) == expected == result.members[0].mode


UNZIP_REFUSALS = {
    "needs zip 4.7": (dict(extract_version=47), "needs zip version 4.7"),
    "VMS member needs 4.3": (dict(extract_version=43, reserved=2), "can do 4.2"),
    "FAT-made symbolic link": (dict(create_system=0, external_attr=(0o120644 << 16) | 0x20), "symbolic link"),
    "Atari-made symbolic link": (dict(create_system=5, external_attr=0o120777 << 16), "symbolic link"),
}


@pytest.mark.parametrize("case", list(UNZIP_REFUSALS))
def test_refused_where_unzip_skips_or_links(case: str, tmp_path: Path) -> None:
    fields, words = UNZIP_REFUSALS[case]
    with pytest.raises(BadInput, match=words):
        vet_archive(_one_member(tmp_path, **fields))


def test_descriptor_counted_in_the_overlap_check(tmp_path: Path) -> None:
    """unzip counts 12 bytes of data descriptor after a member's data: a next header inside them overlaps."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a", b"first")
        zf.writestr("b", b"second")
    raw = bytearray(buf.getvalue())
    second = raw.index(b"PK\x03\x04", 4)
    struct.pack_into("<H", raw, 6, 0x8)  # member a's local flags: a data descriptor follows its data
    cd = raw.index(b"PK\x01\x02")
    struct.pack_into("<H", raw, cd + 8, 0x8)  # and its central flags
    assert second == 30 + 1 + 5  # b's header starts where a's data ends: no room for a's 12 bytes
    archive = tmp_path / "archive.zip"
    archive.write_bytes(bytes(raw))
    with pytest.raises(BadInput, match="overlap"):
        vet_archive(archive)
