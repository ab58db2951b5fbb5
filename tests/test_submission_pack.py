"""`vcc pack`: byte-identical archives from the same inputs, whatever the machine's mtimes and
walk order; the runner's unzip reads them back as written; inputs are never touched."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from vcc.runner import extract_archive, vet_archive
from vcc.submission import OFFICIAL_ORIGINAL_BYTES, PackConfig, PackResult, rate_contribution
from vcc.submission.cli import main

from helpers import assert_pack_extracts, assert_system_unzip_extracts


def pack_archive(cfg: PackConfig) -> PackResult:
    """conftest has every packed archive extracted by the system unzip; here its absence is a skip, said."""
    from vcc.submission import pack_archive as pack

    result = pack(cfg)
    assert_pack_extracts(result)
    return result


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(root: Path) -> dict[str, tuple[int, int, int, str]]:
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        out[str(p)] = (st.st_size, st.st_mtime_ns, st.st_mode, sha256(p) if p.is_file() else "")
    return out


def make_tree(root: Path, order: list[str], mtime: int) -> Path:
    """The same files, created in `order`, every timestamp set to `mtime`."""
    content = {
        "0.hevc": bytes(range(256)) * 40,
        "model/weights.bin": b"\x00\x01" * 3000,
        "model/notes.txt": "a" * 5000,
        "decode.sh": "#!/bin/sh\necho decode\n",
    }
    root.mkdir(parents=True)
    for name in order:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        data = content[name]
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
    (root / "decode.sh").chmod(0o775)
    (root / "empty").mkdir()
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"litter")
    for p in [*root.rglob("*"), root]:
        os.utime(p, (mtime, mtime), follow_symlinks=False)
    return root


NAMES = ["0.hevc", "model/weights.bin", "model/notes.txt", "decode.sh"]


@pytest.mark.parametrize("method", ["store", "deflate", "best"])
def test_same_inputs_give_identical_archives(tmp_path, method):
    a = make_tree(tmp_path / "a" / "data", NAMES, mtime=1_000_000_000)
    b = make_tree(tmp_path / "b" / "elsewhere", list(reversed(NAMES)), mtime=1_700_000_000)
    (b / "model" / "notes.txt").chmod(0o600)  # only the executable bit is kept
    r1 = pack_archive(PackConfig([a], tmp_path / "1.zip", method=method))
    r2 = pack_archive(PackConfig([a], tmp_path / "2.zip", method=method))
    r3 = pack_archive(PackConfig([b], tmp_path / "other" / "3.zip", method=method))
    assert r1.sha256 == r2.sha256 == r3.sha256 == sha256(r3.output)
    assert (tmp_path / "1.zip").read_bytes() == (tmp_path / "other" / "3.zip").read_bytes()
    assert r1.skipped == ["__pycache__/"]


def test_archive_layout_is_minimal_and_fixed(tmp_path):
    src = make_tree(tmp_path / "data", NAMES, mtime=1_234_567_890)
    out = tmp_path / "archive.zip"
    result = pack_archive(PackConfig([src], out, method="store"))
    with zipfile.ZipFile(out) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names, key=str.encode)
        assert names == ["0.hevc", "decode.sh", "empty/", "model/notes.txt", "model/weights.bin"]
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.extra == b"" and info.comment == b""
            assert info.create_system == 3
            assert info.flag_bits == 0  # no data descriptor, no encryption
            assert info.compress_type == zipfile.ZIP_STORED
            mode = info.external_attr >> 16
            if info.is_dir():
                assert stat.S_ISDIR(mode) and stat.S_IMODE(mode) == 0o755
            else:
                assert stat.S_ISREG(mode)
                assert stat.S_IMODE(mode) == (0o755 if info.filename == "decode.sh" else 0o644)
                assert zf.read(info) == (src / info.filename).read_bytes()
        assert zf.comment == b""
    raw = out.read_bytes()
    for info in infos:  # the local headers carry no extra field either
        assert struct.unpack_from("<H", raw, info.header_offset + 28)[0] == 0
    # Every byte is a header, a name or data: 30 + 46 bytes and the name twice per member, 22 at the end.
    overhead = sum(76 + 2 * len(n.encode()) for n in names) + 22
    assert result.bytes == out.stat().st_size == overhead + sum(m.compressed_bytes for m in result.members)
    assert result.overhead_bytes == overhead
    vet_archive(out)


def test_runner_extracts_what_was_packed(tmp_path):
    src = make_tree(tmp_path / "data", NAMES, mtime=1_234_567_890)
    out = tmp_path / "archive.zip"
    pack_archive(PackConfig([src], out, method="deflate"))
    dest = tmp_path / "x"
    extract_archive(out, dest)
    for name in NAMES:
        assert (dest / name).read_bytes() == (src / name).read_bytes()
    assert (dest / "decode.sh").stat().st_mode & 0o100
    assert (dest / "empty").is_dir()
    if shutil.which("unzip"):  # Info-ZIP, as on the runner
        proc = subprocess.run(["unzip", "-t", str(out)], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_deflate_compresses_what_shrinks_and_stores_the_rest(tmp_path):
    (tmp_path / "text").write_text("the same line again\n" * 2000)
    (tmp_path / "noise").write_bytes(hashlib.sha256(b"seed").digest() * 1 + os.urandom(4096))
    r = pack_archive(PackConfig([tmp_path / "text", tmp_path / "noise"], tmp_path / "a.zip", method="deflate"))
    by_name = {m.name: m for m in r.members}
    assert by_name["text"].method == "deflated" and by_name["text"].compressed_bytes < 1000
    assert by_name["noise"].method == "stored"
    assert by_name["noise"].compressed_bytes == by_name["noise"].bytes
    with zipfile.ZipFile(r.output) as zf:
        assert zf.testzip() is None
        assert zf.read("text") == (tmp_path / "text").read_bytes()


def test_cli_prints_size_and_rate_and_never_touches_inputs(tmp_path, capsys):
    src = make_tree(tmp_path / "data", NAMES, mtime=1_234_567_890)
    stream = tmp_path / "0.hevc"
    stream.write_bytes(b"\x00\x00\x01" * 1000)
    before = snapshot(tmp_path)
    out = tmp_path / "out" / "archive.zip"
    assert main(["pack", str(stream), "--store", "--name-map", "0.hevc=0", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    size = out.stat().st_size
    assert f"{size:,} bytes" in printed
    assert f"{rate_contribution(size):.8f}" in printed
    assert OFFICIAL_ORIGINAL_BYTES == 37_545_489  # the official denominator: the size of videos/0.mkv, all of videos/
    assert "37,545,489" in printed
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["0"]  # the one-letter member of the official baseline
    assert size == 3000 + 30 + 46 + 2 + 22
    assert_system_unzip_extracts(out, {"0": stream.read_bytes()})
    after = snapshot(tmp_path)
    del after[str(out)], after[str(out.parent)]
    assert after == before
    assert src.exists()


def test_failed_pack_leaves_previous_output_and_no_temp_files(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x").write_bytes(b"1")
    (tmp_path / "b" / "x").write_bytes(b"2")
    out = tmp_path / "archive.zip"
    out.write_bytes(b"previous")
    assert main(["pack", str(tmp_path / "a" / "x"), str(tmp_path / "b" / "x"), "-o", str(out)]) == 2
    assert "two inputs give the member name 'x'" in capsys.readouterr().err
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "archive.zip", "b"]


def test_output_inside_an_input_dir_is_not_packed_into_itself(tmp_path):
    d = tmp_path / "sub"
    d.mkdir()
    (d / "v").write_bytes(b"data")
    pack_archive(PackConfig([d], d / "archive.zip"))
    first = (d / "archive.zip").read_bytes()
    pack_archive(PackConfig([d], d / "archive.zip"))  # the old archive is in the dir now
    assert (d / "archive.zip").read_bytes() == first
    with zipfile.ZipFile(d / "archive.zip") as zf:
        assert zf.namelist() == ["v"]


@pytest.mark.parametrize(
    "argv_tail, message",
    [
        (["--name-map", "nope=0"], "--name-map names members that no input gives: nope"),
        (["--name-map", "v=../up"], "is not a clean relative path"),
        (["--name-map", "v"], "is not OLD=NEW"),
    ],
)
def test_bad_name_maps_exit_2(tmp_path, capsys, argv_tail, message):
    (tmp_path / "v").write_bytes(b"x")
    code = main(["pack", str(tmp_path / "v"), "-o", str(tmp_path / "a.zip"), *argv_tail])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "a.zip").exists()


def test_missing_or_empty_inputs_exit_2(tmp_path, capsys):
    assert main(["pack", str(tmp_path / "missing"), "-o", str(tmp_path / "a.zip")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["pack", str(tmp_path / "empty"), "-o", str(tmp_path / "a.zip")]) == 2
    assert "hold no files" in capsys.readouterr().err
    src = tmp_path / "v"
    src.write_bytes(b"x")
    assert main(["pack", str(src), "-o", str(src)]) == 2  # output == input
    assert src.read_bytes() == b"x"


def test_archive_vcc_run_would_refuse_is_packed_with_a_warning(tmp_path):
    (tmp_path / "zeros").write_bytes(bytes(4 << 20))  # deflates ~1030:1, over vcc run's 1000:1 bomb cap
    r = pack_archive(PackConfig([tmp_path / "zeros"], tmp_path / "a.zip", method="deflate"))
    assert len(r.warnings) == 1 and "zip bomb" in r.warnings[0] and "--max-ratio" in r.warnings[0]
    with zipfile.ZipFile(r.output) as zf:
        assert zf.testzip() is None
    assert "warning: `vcc run` refuses" in r.summary()


# --------------------------------------------------------------------------- the tightest container


def member_data() -> dict[str, bytes]:
    """Members of every kind: text that deflates well, noise that does not, a tiny file, an empty one."""
    rng = __import__("random").Random(7)
    return {
        "notes.txt": ("the same line of text, again and again\n" * 400).encode(),  # 15,600 bytes of text
        "0": bytes(rng.getrandbits(8) for _ in range(20_000)),
        "w.bin": bytes(range(256)) * 64 + bytes(rng.getrandbits(8) for _ in range(3000)),
        "t": b"x",
        "empty.txt": b"",
    }


def write_members(root: Path, data: dict[str, bytes], mtime: int) -> Path:
    root.mkdir(parents=True)
    for name, blob in data.items():
        (root / name).write_bytes(blob)
        os.utime(root / name, (mtime, mtime))
    return root


def test_best_is_the_smallest_per_member_and_never_larger_than_store(tmp_path):
    src = write_members(tmp_path / "src", member_data(), 1_600_000_000)
    results = {m: pack_archive(PackConfig([src], tmp_path / f"{m}.zip", method=m)) for m in ("store", "deflate",
                                                                                              "best")}  # fmt: skip
    best, store, deflate = results["best"], results["store"], results["deflate"]
    assert best.bytes <= deflate.bytes <= store.bytes
    assert best.bytes < store.bytes  # the text no longer stays stored
    assert best.overhead_bytes == store.overhead_bytes == deflate.overhead_bytes  # same headers, same names
    by_name = {m.name: m for m in best.members}
    assert by_name["notes.txt"].compressed_bytes < 1000 and by_name["notes.txt"].method == "deflated"
    assert by_name["0"].encoder == "stored" and by_name["0"].compressed_bytes == 20_000  # noise stays stored
    assert by_name["t"].encoder == "stored" and by_name["empty.txt"].encoder == "stored"
    for m in best.members:
        assert m.compressed_bytes == min(m.tried.values())  # the smallest candidate was kept
        assert m.compressed_bytes <= m.bytes
    if "zopfli" in by_name["notes.txt"].tried:
        assert by_name["notes.txt"].tried["zopfli"] <= by_name["notes.txt"].tried["deflate-9"]
    assert "container overhead:" in best.summary()


def test_best_pack_is_byte_identical_across_machines_worth_of_mtimes_dirs_and_processes(tmp_path):
    """Two copies with other mtimes, paths, creation order, permissions and a fresh interpreter with another
    cwd, time zone and umask: the same bytes."""
    data = member_data()
    a = write_members(tmp_path / "machine-a" / "src", data, 1_000_000_000)
    b = tmp_path / "elsewhere" / "deeper" / "copy"
    b.mkdir(parents=True)
    for name in reversed(list(data)):
        (b / name).write_bytes(data[name])
        os.utime(b / name, (1_750_000_000, 1_750_000_000))
        (b / name).chmod(0o600)
    r1 = pack_archive(PackConfig([a], tmp_path / "1.zip"))
    code = (
        "import sys; from vcc.submission import PackConfig, pack_archive; "
        "pack_archive(PackConfig([sys.argv[1]], sys.argv[2]))"
    )
    env = {**os.environ, "TZ": "Asia/Kolkata", "LC_ALL": "C", "PYTHONPATH": str(Path(__file__).parents[1])}
    subprocess.run(["sh", "-c", 'umask 077 && exec "$@"', "sh", sys.executable, "-c", code, str(b),
                    str(tmp_path / "2.zip")], cwd=tmp_path / "elsewhere", env=env, check=True)  # fmt: skip
    assert (tmp_path / "1.zip").read_bytes() == (tmp_path / "2.zip").read_bytes()
    assert_system_unzip_extracts(tmp_path / "2.zip", data)
    assert r1.sha256 == sha256(tmp_path / "2.zip")


def test_without_zopfli_best_is_deflate_9_and_says_so(tmp_path, monkeypatch):

    from vcc import base

    monkeypatch.setattr(base._zip, "zopfli_raw", lambda data: None)
    monkeypatch.setattr("vcc.submission._pack.zopfli_version", lambda: None)
    src = write_members(tmp_path / "src", member_data(), 1_600_000_000)
    best = pack_archive(PackConfig([src], tmp_path / "best.zip"))
    deflate = pack_archive(PackConfig([src], tmp_path / "deflate.zip", method="deflate"))
    assert best.output.read_bytes() == deflate.output.read_bytes()
    assert all("zopfli" not in m.tried for m in best.members)
    assert "zopfli is not installed" in best.summary()


def test_zopfli_is_used_when_installed(tmp_path):
    pytest.importorskip("zopfli", reason="the zopfli extra is not installed (pip install 'vcc[zopfli]')")
    src = write_members(tmp_path / "src", member_data(), 1_600_000_000)
    best = pack_archive(PackConfig([src], tmp_path / "best.zip"))
    notes = next(m for m in best.members if m.name == "notes.txt")
    assert "zopfli" in notes.tried
    assert best.as_json()["encoders"]["zopfli"]


@pytest.mark.parametrize("flag", ["--store", "--deflate", "--best", None])
def test_cli_methods_stay_explicit_choices(tmp_path, capsys, flag):
    src = write_members(tmp_path / "src", member_data(), 1_600_000_000)
    out = tmp_path / "a.zip"
    assert main(["pack", str(src), "-o", str(out), "--json", str(tmp_path / "a.json"), *([flag] if flag else [])]) == 0
    report = __import__("json").loads((tmp_path / "a.json").read_text())
    assert report["method"] == (flag or "--best").removeprefix("--")
    assert "container overhead:" in capsys.readouterr().out
    assert_system_unzip_extracts(out, member_data())
    if flag == "--store":
        assert {m["encoder"] for m in report["members"]} == {"stored"}


@pytest.mark.parametrize("bad_name", ["line\nbreak", "tab\there", "a:b", "trailing.", "what?"])
def test_non_portable_member_names_exit_2_naming_the_file(tmp_path, capsys, bad_name):
    src = tmp_path / "src"
    src.mkdir()
    (src / bad_name).write_bytes(b"data")
    assert main(["pack", str(src), "-o", str(tmp_path / "a.zip")]) == 2
    err = capsys.readouterr().err
    assert repr(bad_name) in err and "file:" in err and "fix:" in err and "--name-map" in err
    assert not (tmp_path / "a.zip").exists()


def test_unreadable_source_exits_2_naming_it(tmp_path, capsys, monkeypatch):
    src = write_members(tmp_path / "src", {"ok": b"fine", "locked": b"secret"}, 1_600_000_000)
    (src / "locked").chmod(0)
    if os.geteuid() == 0:  # root reads a mode-0 file: make the read fail as it would for a user
        real = Path.read_bytes

        def read_bytes(self: Path) -> bytes:
            if self.name == "locked":
                raise PermissionError(13, "Permission denied", str(self))
            return real(self)

        monkeypatch.setattr(Path, "read_bytes", read_bytes)
    assert main(["pack", str(src), "-o", str(tmp_path / "a.zip")]) == 2
    err = capsys.readouterr().err
    assert "cannot read an input" in err and str(src / "locked") in err and "chmod" in err
    assert not (tmp_path / "a.zip").exists() and not list(tmp_path.glob(".a.zip.*"))
