"""`vcc manifest`: a reproducible description of a submission, and `--check` naming each change."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from vcc.submission import PackConfig, build_manifest, compare_manifests, pack_archive, rate_contribution
from vcc.submission.cli import main


def make_submission(root: Path, payload: bytes = b"\x01\x02" * 500) -> Path:
    root.mkdir(parents=True)
    data = root.parent / f"{root.name}-data"
    data.mkdir()
    (data / "0").write_bytes(payload)
    (data / "m.bin").write_bytes(b"weights" * 100)
    pack_archive(PackConfig([data / "0", data / "m.bin"], root / "archive.zip", method="store"))
    (root / "inflate.sh").write_text(
        '#!/usr/bin/env bash\nset -euo pipefail\npython3 "$(dirname "$0")/inflate.py" "$@"\n'
    )
    (root / "inflate.py").write_text("import sys\nprint(sys.argv)\n")
    (root / "lib").mkdir()
    (root / "lib" / "util.py").write_text("X = 1\n")
    # Outputs of a local evaluate.sh run and build litter: not part of the submission.
    (root / "inflated").mkdir()
    (root / "inflated" / "0.raw").write_bytes(b"\0" * 100)
    (root / "archive").mkdir()
    (root / "archive" / "0").write_bytes(payload)
    (root / "report.txt").write_text("=== Evaluation config ===\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "inflate.cpython-311.pyc").write_bytes(b"pyc")
    return root


def test_manifest_contents(tmp_path):
    sub = make_submission(tmp_path / "sub")
    m = build_manifest(sub)
    archive = sub / "archive.zip"
    a = m["archive"]
    assert a["bytes"] == archive.stat().st_size
    assert a["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert a["rate_contribution"] == rate_contribution(a["bytes"])
    with zipfile.ZipFile(archive) as zf:
        expected = [
            {
                "name": i.filename,
                "bytes": i.file_size,
                "compressed_bytes": i.compress_size,
                "crc32": f"{i.CRC:08x}",
                "method": "stored",
                "sha256": hashlib.sha256(zf.read(i)).hexdigest(),
            }
            for i in zf.infolist()
        ]
    assert a["members"] == expected
    assert [f["path"] for f in m["files"]] == ["inflate.py", "inflate.sh", "lib/util.py"]
    for f in m["files"]:
        assert f["sha256"] == hashlib.sha256((sub / f["path"]).read_bytes()).hexdigest()
        assert f["bytes"] == (sub / f["path"]).stat().st_size


def test_manifest_is_the_same_wherever_the_submission_lives(tmp_path, capsys):
    sub = make_submission(tmp_path / "sub")
    copy = tmp_path / "elsewhere" / "renamed"
    shutil.copytree(sub, copy)  # new mtimes, another path
    assert main(["manifest", str(sub)]) == 0
    first = capsys.readouterr().out
    assert main(["manifest", str(copy)]) == 0
    assert capsys.readouterr().out == first
    assert json.loads(first)["vcc_manifest_schema"] == 1


def test_round_trip_then_check_catches_a_changed_member(tmp_path, capsys):
    sub = make_submission(tmp_path / "sub")
    saved = sub / "manifest.json"  # saved inside the submission: it must not describe itself
    assert main(["manifest", str(sub), "--json", str(saved)]) == 0
    assert main(["manifest", str(sub), "--check", str(saved)]) == 0
    assert "matches" in capsys.readouterr().out

    data = tmp_path / "sub-data"
    (data / "0").write_bytes(b"\x01\x02" * 499 + b"\x01\x03")  # one byte of one member, same size
    pack_archive(PackConfig([data / "0", data / "m.bin"], sub / "archive.zip", method="store"))
    report = tmp_path / "check.json"
    assert main(["manifest", str(sub), "--check", str(saved), "--json", str(report)]) == 1
    err = capsys.readouterr().err
    assert "archive.zip: sha256" in err
    assert "archive.zip member '0': crc32" in err and "sha256" in err
    assert "'m.bin'" not in err  # unchanged members are not listed
    assert "bytes" not in err.split("member '0':")[1].splitlines()[0]  # same size: only the hashes moved
    r = json.loads(report.read_text())
    assert r["matches"] is False and len(r["changes"]) == 2


def test_check_lists_added_removed_and_edited_code(tmp_path, capsys):
    sub = make_submission(tmp_path / "sub")
    saved = tmp_path / "manifest.json"
    assert main(["manifest", str(sub), "--json", str(saved)]) == 0
    (sub / "inflate.py").write_text("import sys\nprint(sys.argv[1:])\n")
    (sub / "lib" / "util.py").unlink()
    (sub / "lib" / "new.py").write_text("Y = 2\n")
    (sub / "inflated" / "0.raw").write_bytes(b"\1" * 100)  # run outputs never count
    capsys.readouterr()
    assert main(["manifest", str(sub), "--check", str(saved)]) == 1
    err = capsys.readouterr().err
    changes = [line.strip()[2:] for line in err.splitlines() if line.startswith("  - ")]
    assert len(changes) == 3, err
    assert changes[0].startswith("file inflate.py: bytes 27 -> 31, sha256")
    assert changes[1:] == ["file lib/new.py: added", "file lib/util.py: removed"]  # the archive and run outputs: same


def test_check_reports_an_archive_that_is_no_longer_a_zip(tmp_path):
    sub = make_submission(tmp_path / "sub")
    saved = build_manifest(sub)
    (sub / "archive.zip").write_bytes(b"not a zip at all")
    changes = compare_manifests(saved, build_manifest(sub))
    assert any("no longer a readable zip" in c for c in changes)
    assert any(c.startswith("archive.zip: bytes") for c in changes)


@pytest.mark.parametrize("content", ["{not json", '{"something": "else"}'])
def test_bad_manifest_file_is_bad_input(tmp_path, capsys, content):
    sub = make_submission(tmp_path / "sub")
    bad = tmp_path / "m.json"
    bad.write_text(content)
    assert main(["manifest", str(sub), "--check", str(bad)]) == 2
    assert "m.json" in capsys.readouterr().err


def test_missing_archive_is_bad_input(tmp_path, capsys):
    sub = make_submission(tmp_path / "sub")
    (sub / "archive.zip").unlink()
    assert main(["manifest", str(sub)]) == 2
    assert "archive.zip not found" in capsys.readouterr().err
