"""base: torch-free at import, and its files and zip helpers."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import vcc.base._files as files
from vcc import base
from vcc.base import (
    CENTRAL_HEADER,
    END_RECORD,
    LOCAL_HEADER,
    LOCAL_SIGNATURE,
    file_sha256,
    read_local_header,
    remove_tree,
    vcc_cache_root,
    vet_archive,
    write_atomic,
    write_central_directory,
    write_json_atomic,
    write_member,
)

ROOT = Path(__file__).resolve().parents[1]


def _imports_without_torch(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)


def test_base_never_imports_torch():
    p = _imports_without_torch(
        "import sys, vcc.base, vcc.base._zip, vcc.base._files, vcc.base._layout, vcc.base._errors, vcc.base._numerics\n"
        "assert 'torch' not in sys.modules, 'torch'\n"
    )
    assert p.returncode == 0, p.stderr


def test_submission_pack_manifest_lint_never_import_torch():
    p = _imports_without_torch(
        "import sys\n"
        "import vcc.submission\n"
        "from vcc.submission import build_manifest, lint_submission, pack_archive\n"
        "import vcc.submission._checks, vcc.submission._files, vcc.submission._lint, vcc.submission._manifest\n"
        "import vcc.submission._pack\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'torch'"
        " or m.startswith(('vcc.scorer', 'vcc.runner')))\n"
        "assert not loaded, loaded\n"
    )
    assert p.returncode == 0, p.stderr


def test_everything_in_all_is_there():
    for name in base.__all__:
        assert hasattr(base, name), name


@pytest.mark.parametrize("size", [0, 1, (1 << 20) + 7])
def test_file_sha256_is_hashlibs(tmp_path, size):
    p = tmp_path / "f"
    p.write_bytes(os.urandom(size))
    assert file_sha256(p) == hashlib.sha256(p.read_bytes()).hexdigest()


def test_file_sha256_reads_afresh(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"a")
    first = file_sha256(p)
    p.write_bytes(b"b")
    assert file_sha256(p) != first


def test_write_atomic_writes_text_and_bytes(tmp_path):
    write_atomic(tmp_path / "sub" / "t.txt", "h\u00e9\n")
    assert (tmp_path / "sub" / "t.txt").read_bytes() == "h\u00e9\n".encode()
    write_atomic(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"


def test_write_atomic_leaves_no_temp_file_on_error(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("old")

    def fail(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    assert target.read_text() == "old"


def test_write_json_atomic_format(tmp_path):
    obj = {"b": 1, "a": [1, 2], "s": "x"}
    write_json_atomic(tmp_path / "o.json", obj)
    assert (tmp_path / "o.json").read_text() == json.dumps(obj, indent=2) + "\n"


def test_vcc_cache_root_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert vcc_cache_root() == tmp_path / "vcc"
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert vcc_cache_root() == Path.home() / ".cache" / "vcc"


def test_remove_tree_removes_read_only_dirs(tmp_path):
    top = tmp_path / "top"
    (top / "a" / "b").mkdir(parents=True)
    (top / "a" / "b" / "f").write_text("x")
    for d in (top / "a" / "b", top / "a", top):
        d.chmod(stat.S_IRUSR | stat.S_IXUSR)
    remove_tree(top)
    assert not top.exists()
    remove_tree(top)  # missing: no error


def test_remove_tree_unlinks_a_link_not_its_target(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep").write_text("x")
    link = tmp_path / "link"
    link.symlink_to(target)
    remove_tree(link)
    assert not link.exists() and (target / "keep").read_text() == "x"


def test_zip_record_sizes():
    assert (LOCAL_HEADER.size, CENTRAL_HEADER.size, END_RECORD.size) == (30, 46, 22)


def test_written_zip_reads_back_and_vets(tmp_path):
    out = tmp_path / "a.zip"
    with open(out, "w+b") as fh:
        entry = write_member(fh, "x/y.bin", stat.S_IFREG | 0o644, io.BytesIO(b"data" * 100), deflate=True)
        write_central_directory(fh, [entry])
    with zipfile.ZipFile(out) as zf:
        assert zf.read("x/y.bin") == b"data" * 100
        info = zf.getinfo("x/y.bin")
    with open(out, "rb") as fh:
        head = read_local_header(fh, info.header_offset)
        assert head is not None and head.signature == LOCAL_SIGNATURE
        assert (head.name_len, head.extra_len, head.crc) == (len("x/y.bin"), 0, info.CRC)
        assert read_local_header(fh, out.stat().st_size - 10) is None
    assert [name for _, name in vet_archive(out)] == ["x/y.bin"]


def test_old_import_places_still_work():

    from vcc import runner, scorer, submission

    assert scorer.write_atomic is scorer._report.write_atomic is base.write_atomic
    assert scorer.write_json_atomic is base.write_json_atomic
    assert (scorer.FRAME_H, scorer.FRAME_W, scorer.FRAME_BYTES) == (base.FRAME_H, base.FRAME_W, base.FRAME_BYTES)
    assert scorer.OFFICIAL_ASSETS is base.OFFICIAL_ASSETS
    assert runner._archive.vet_archive is base.vet_archive
    assert runner._archive.ExtractLimits is base.ExtractLimits
    assert runner._archive.UNZIP_METHODS is base.UNZIP_METHODS
    assert submission._files.sha256_file is base.file_sha256
    assert submission._pack.OFFICIAL_ORIGINAL_BYTES == base.OFFICIAL_ORIGINAL_BYTES == 37_545_489
