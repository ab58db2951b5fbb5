"""`vcc advise` / `vcc pack --advise`: what each coder gives per member, the container's bytes by kind,
and the tightest archives; checked against real coders, real zips (data descriptors, extra fields,
comments) and `vcc pack` itself. Bad archives exit 2 naming the file."""

from __future__ import annotations

import io
import json
import lzma
import random
import zipfile
from pathlib import Path

import brotli
import pytest
import zstandard

from vcc.base import OFFICIAL_ORIGINAL_BYTES, rate_term
from vcc.submission import (
    AdviseConfig,
    PackConfig,
    advise,
    entropy_bits_per_byte,
    minimal_container_bytes,
    pack_archive,
)
from vcc.submission.cli import main

from helpers import assert_pack_extracts

TEXT = ("the same line of text, again and again\n" * 400).encode()
NOISE = random.Random(3).randbytes(30_000)


def python_zip(path: Path, members: dict[str, bytes], descriptors: bool, extra: bool) -> Path:
    """A zip as Python's zipfile writes it; to a stream it cannot seek, it writes data descriptors."""
    buf = io.BytesIO()

    class NoSeek(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b) -> int:  # type: ignore[override]
            return buf.write(b)

    target = NoSeek() if descriptors else buf
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:  # type: ignore[arg-type]
        zf.writestr(zipfile.ZipInfo("dir/"), b"")  # a directory entry for a directory that holds a file
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 5, 1, 12, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            if extra:
                info.extra = b"\x55\x54\x05\x00\x01\x00\x00\x00\x00"  # extended timestamp, 9 bytes
                info.comment = b"a comment"
            zf.writestr(info, data)
        zf.comment = b"archive comment"
    path.write_bytes(buf.getvalue())
    return path


MEMBERS = {"dir/notes.txt": TEXT, "noise.bin": NOISE}


def test_coders_give_real_decodable_sizes_and_flags(tmp_path):
    adv = advise(AdviseConfig(python_zip(tmp_path / "a.zip", MEMBERS, descriptors=False, extra=False)))
    text, noise = (next(m for m in adv.members if m.name == n) for n in MEMBERS)
    # Each figure is the length of a stream that decodes back to the member.
    assert brotli.decompress(brotli.compress(TEXT, quality=11, lgwin=24)) == TEXT
    assert text.coders["brotli"] == len(brotli.compress(TEXT, quality=11, lgwin=24))
    assert lzma.decompress(lzma.compress(TEXT, format=lzma.FORMAT_ALONE, preset=9 | lzma.PRESET_EXTREME)) == TEXT
    assert zstandard.ZstdDecompressor().decompress(
        zstandard.ZstdCompressor(level=22).compress(TEXT)) == TEXT  # fmt: skip
    assert text.coders["stored"] == len(TEXT) and text.now < len(TEXT) and text.now_method == "deflated"
    assert all(v < len(TEXT) // 10 for k, v in text.coders.items() if k != "stored" and v is not None)
    assert not text.incompressible and text.entropy < 5
    assert noise.incompressible and noise.entropy > 7.9
    assert noise.best(unzip_only=True) == ("stored", len(NOISE))  # nothing beats storing noise
    assert entropy_bits_per_byte(b"") == 0.0 and entropy_bits_per_byte(bytes(range(256))) == 8.0
    report = adv.as_json()
    t = report["members"][0]
    assert t["best_unzip"]["coder"] in ("deflate-9", "zopfli")
    assert t["best_any"]["inflate_decodes"] == (t["best_any"]["coder"] in ("brotli", "lzma", "zstd"))


@pytest.mark.parametrize("descriptors, extra", [(False, False), (True, False), (False, True), (True, True)])
def test_container_bytes_are_accounted_for_to_the_byte(tmp_path, descriptors, extra):
    archive = python_zip(tmp_path / "a.zip", MEMBERS, descriptors, extra)
    adv = advise(AdviseConfig(archive))
    c = adv.container
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        data = sum(i.compress_size for i in infos)
    assert c.total + data == archive.stat().st_size  # every byte is a record, a name, data or "other"
    assert c.other == 0
    assert c.local_headers == 30 * len(infos) and c.central_headers == 46 * len(infos)
    assert c.local_names == c.central_names == sum(len(i.filename) for i in infos)
    assert c.data_descriptors == (16 * len(infos) if descriptors else 0)
    assert c.central_extra == (9 * len(MEMBERS) if extra else 0)
    assert c.comments == len(b"archive comment") + (len(b"a comment") * len(MEMBERS) if extra else 0)
    assert c.redundant_dirs == ["dir/"]
    assert c.minimal == minimal_container_bytes(list(MEMBERS)) < c.total


def test_tightest_unzip_archive_is_what_vcc_pack_writes(tmp_path):
    """The advisor's figure for the tightest unzip-readable archive equals `vcc pack`'s real archive."""
    archive = python_zip(tmp_path / "a.zip", MEMBERS, descriptors=True, extra=True)
    adv = advise(AdviseConfig(archive))
    src = tmp_path / "src"
    for name, data in MEMBERS.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    packed = pack_archive(PackConfig([src], tmp_path / "packed.zip"))
    assert_pack_extracts(packed)
    assert packed.bytes == adv.tightest_unzip_bytes
    assert adv.tightest_any_bytes <= adv.tightest_unzip_bytes < adv.archive_bytes
    saved = adv.archive_bytes - adv.tightest_unzip_bytes
    assert adv.as_json()["tightest_unzip"] == {
        "bytes": packed.bytes, "saving_bytes": saved, "saving_score": rate_term(saved, OFFICIAL_ORIGINAL_BYTES)}
    # advising the packed archive: nothing left to save for unzip, the container is already minimal
    again = advise(AdviseConfig(packed.output))
    assert again.tightest_unzip_bytes == again.archive_bytes and again.container.total == again.container.minimal


def test_a_dir_of_files_is_advised_as_vcc_pack_would_store_it(tmp_path):
    src = tmp_path / "files"
    src.mkdir()
    (src / "t").write_bytes(TEXT)
    adv = advise(AdviseConfig(src))
    stored = pack_archive(PackConfig([src], tmp_path / "s.zip", method="store"))
    assert adv.archive_bytes == stored.bytes and adv.container.total == stored.overhead_bytes
    assert adv.tightest_unzip_bytes == pack_archive(PackConfig([src], tmp_path / "b.zip")).bytes


def test_cli_table_and_json_say_what_inflate_must_decode(tmp_path, capsys):
    archive = python_zip(tmp_path / "a.zip", MEMBERS, descriptors=False, extra=False)
    assert main(["advise", str(archive), "--json", str(tmp_path / "adv.json")]) == 0
    out = capsys.readouterr().out
    for word in ("stored", "deflate-9", "zopfli", "brotli", "lzma", "zstd", "entropy", "container:", "minimal"):
        assert word in out
    assert "inflate must decode" in out and "unzip reads them as they are" in out
    report = json.loads((tmp_path / "adv.json").read_text())
    assert report["settings"]["brotli"] == {"quality": 11, "lgwin": 24}
    assert {m["name"] for m in report["members"]} == set(MEMBERS)


def test_advisor_says_when_zopfli_is_absent(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("vcc.submission._advise.zopfli_version", lambda: None)
    archive = python_zip(tmp_path / "a.zip", MEMBERS, descriptors=False, extra=False)
    assert main(["advise", str(archive)]) == 0
    out = capsys.readouterr().out
    assert "zopfli is not installed" in out and "pip install 'vcc[zopfli]'" in out


def test_zopfli_column_is_filled_when_installed(tmp_path):
    pytest.importorskip("zopfli", reason="the zopfli extra is not installed (pip install 'vcc[zopfli]')")
    adv = advise(AdviseConfig(python_zip(tmp_path / "a.zip", MEMBERS, descriptors=False, extra=False)))
    text = next(m for m in adv.members if m.name == "dir/notes.txt")
    assert text.coders["zopfli"] is not None and text.coders["zopfli"] <= text.coders["deflate-9"]


def test_pack_advise_prints_the_table_and_keeps_it_in_the_json(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "t").write_bytes(TEXT)
    out = tmp_path / "a.zip"
    assert main(["pack", str(src), "-o", str(out), "--advise", "--json", str(tmp_path / "p.json")]) == 0
    assert "vcc advise:" in capsys.readouterr().out
    assert json.loads((tmp_path / "p.json").read_text())["advice"]["archive_bytes"] == out.stat().st_size


@pytest.mark.parametrize("kind", ["lzma-method", "not-a-zip", "missing", "traversal"])
def test_archives_unzip_would_refuse_exit_2_naming_the_file(tmp_path, capsys, kind):
    archive = tmp_path / "archive.zip"
    if kind == "lzma-method":
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_LZMA) as zf:
            zf.writestr("x", TEXT)
    elif kind == "not-a-zip":
        archive.write_bytes(b"PK\x03\x04 truncated")
    elif kind == "traversal":
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("../escape", b"x")
    assert main(["advise", str(archive)]) == 2
    err = capsys.readouterr().err
    assert str(archive) in err and "fix:" in err


# --------------------------------------------------------------------------- the demo submission


@pytest.fixture(scope="module")
def demo_submission(tmp_path_factory) -> Path:
    """The demo's example submission, as `vcc demo` builds it (its compress.sh writes archive.zip)."""
    from vcc.demo import build_example_submission, cached_challenge

    challenge = cached_challenge(8, seed=0, cache_dir=tmp_path_factory.mktemp("demo-cache"))
    return build_example_submission(challenge, tmp_path_factory.mktemp("demo") / "example_submission")


def test_demo_archive_advice_and_pack(demo_submission, tmp_path, capsys):
    archive = demo_submission / "archive.zip"
    assert main(["advise", str(demo_submission), "--json", str(tmp_path / "adv.json")]) == 0
    table = capsys.readouterr().out
    assert str(archive) in table and "container:" in table
    adv = json.loads((tmp_path / "adv.json").read_text())
    assert adv["archive_bytes"] == archive.stat().st_size
    (member,) = adv["members"]
    assert member["now_method"] == "stored"  # the example's compress.py stores its HEVC stream
    # Repack the stream the advisor looked at: `vcc pack` gives exactly the advisor's tightest figure,
    # never more than --store, and the system unzip extracts both.
    with zipfile.ZipFile(archive) as zf:
        stream = tmp_path / "stream"
        stream.mkdir()
        (stream / member["name"]).write_bytes(zf.read(member["name"]))
    best = pack_archive(PackConfig([stream], tmp_path / "best.zip"))
    store = pack_archive(PackConfig([stream], tmp_path / "store.zip", method="store"))
    assert_pack_extracts(best)
    assert_pack_extracts(store)
    assert best.bytes <= store.bytes == archive.stat().st_size  # compress.py's zip is already minimal
    assert best.bytes == adv["tightest_unzip"]["bytes"]
    assert adv["tightest_unzip"]["saving_bytes"] == store.bytes - best.bytes >= 0
