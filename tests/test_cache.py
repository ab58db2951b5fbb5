"""The ground-truth cache: keys, checksums, atomic writes, list/clear."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest
import torch

import vcc
from vcc.scorer import CacheKey, GroundTruthCache, NetOutputs


def _key(**changes: object) -> CacheKey:
    base = CacheKey(video_sha256="a" * 64, segnet_sha256="b" * 64, posenet_sha256="c" * 64, decode="pyav",
                    device_type="cpu", batch_size=16, threads=2,
                    versions=(("av", "17.0.0"), ("torch", "2.14.1")),
                    numerics=(("class", "AVX2-AuthenticAMD"), ("profile", "native")))
    return dataclasses.replace(base, **changes)


def _outputs(n: int = 5, seed: int = 0) -> NetOutputs:
    g = torch.Generator().manual_seed(seed)
    return NetOutputs(pose=torch.randn(n, 6, generator=g),
                      seg=torch.randint(0, 5, (n, 384, 512), generator=g, dtype=torch.uint8))


def _equal(a: NetOutputs, b: NetOutputs) -> bool:
    return torch.equal(a.pose, b.pose) and torch.equal(a.seg, b.seg)


def test_round_trip_is_exact(tmp_path: Path) -> None:
    cache, out = GroundTruthCache(tmp_path), _outputs()
    cache.put(_key(), out)
    got = cache.get(_key())
    assert got is not None and _equal(got, out)


@pytest.mark.parametrize("change", [
    {"video_sha256": "d" * 64},  # another video
    {"segnet_sha256": "e" * 64},  # other weights
    {"posenet_sha256": "f" * 64},
    {"decode": "dali-emulated:1.52"},
    {"device_type": "cuda"},
    {"batch_size": 8},
    {"threads": 4},
    {"versions": (("av", "17.0.0"), ("torch", "2.10.0"))},
    {"numerics": (("class", "AVX512-GenuineIntel"), ("profile", "native"))},  # another CPU class
    {"numerics": (("class", "AVX2-AuthenticAMD"), ("profile", "portable"))},  # other kernel caps
    {"decode": "dali:1.53.0"},  # a DALI upgrade changes the T4 frames
])
def test_any_key_change_misses(tmp_path: Path, change: dict) -> None:
    cache = GroundTruthCache(tmp_path)
    cache.put(_key(), _outputs())
    assert cache.get(_key(**change)) is None
    assert cache.get(_key()) is not None  # the original entry is untouched


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "empty"])
def test_corrupt_entry_is_dropped(tmp_path: Path, damage: str) -> None:
    cache = GroundTruthCache(tmp_path)
    path = cache.put(_key(), _outputs())
    blob = bytearray(path.read_bytes())
    if damage == "flip":
        blob[-7] ^= 0x01
    elif damage == "truncate":
        blob = blob[: len(blob) // 2]
    elif damage == "garbage":
        blob = bytearray(b"not a cache entry" * 10)
    else:
        blob = bytearray()
    path.write_bytes(bytes(blob))
    assert cache.get(_key()) is None
    assert not path.exists()  # removed, so the next score rebuilds it


def test_concurrent_writers_leave_a_valid_entry(tmp_path: Path) -> None:
    cache = GroundTruthCache(tmp_path)
    out = _outputs(n=40)
    threads = [threading.Thread(target=cache.put, args=(_key(), out)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = cache.get(_key())
    assert got is not None and _equal(got, out)
    assert [p.name for p in tmp_path.iterdir()] == [cache.path_for(_key()).name]  # no temp files left


def test_cli_list_and_clear(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cache = GroundTruthCache(tmp_path)
    cache.put(_key(), _outputs())
    cache.put(_key(decode="dali-emulated:1.52"), _outputs())
    (tmp_path / "keep-me.txt").write_text("not ours")
    listing_json = tmp_path.parent / "listing.json"
    assert vcc.main(["cache", "list", "--cache-dir", str(tmp_path), "--json", str(listing_json)]) == 0
    listing = capsys.readouterr().out
    assert "2 entries" in listing and "decode=dali-emulated:1.52" in listing
    assert sorted(e["key"]["decode"] for e in json.loads(listing_json.read_text())) == ["dali-emulated:1.52", "pyav"]
    assert vcc.main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 0
    assert cache.entries() == [] and (tmp_path / "keep-me.txt").exists()  # only our files go


def test_entry_is_safetensors_with_key_and_checksums(tmp_path: Path) -> None:
    from safetensors import safe_open

    out = _outputs(n=37)
    path = GroundTruthCache(tmp_path).put(_key(), out)
    assert path.suffix == ".safetensors"
    with safe_open(str(path), framework="pt") as f:  # any safetensors reader can open it
        assert torch.equal(f.get_tensor("pose"), out.pose) and torch.equal(f.get_tensor("seg"), out.seg)
        meta = f.metadata()
    assert json.loads(meta["key"]) == json.loads(json.dumps(_key().as_json()))
    assert int(meta["samples"]) == 37 and int(meta["batch_size"]) == 16
    assert len(json.loads(meta["batch_sha256"])) == 3  # 16 + 16 + 5


def test_batches_written_in_any_order_read_one_at_a_time(tmp_path: Path) -> None:
    from vcc.scorer._cache import output_bytes

    cache, out = GroundTruthCache(tmp_path), _outputs(n=37, seed=3)
    writer = cache.writer(_key(), 37)
    for index in (2, 0, 1):  # workers deliver batches in any order
        writer.write_batch(index, *output_bytes(NetOutputs(out.pose[16 * index: 16 * index + 16],
                                                           out.seg[16 * index: 16 * index + 16])))
    writer.commit()
    entry = cache.open(_key(), samples=37)
    assert entry is not None and len(entry) == 3
    first, last = entry.read_batches([0, 2])  # only the batches asked for
    assert _equal(first, NetOutputs(out.pose[:16], out.seg[:16]))
    assert _equal(last, NetOutputs(out.pose[32:], out.seg[32:]))
    assert cache.open(_key(), samples=36) is None  # another sample count: not this video's entry
    assert not cache.path_for(_key()).exists()


def test_incomplete_or_aborted_writer_leaves_nothing(tmp_path: Path) -> None:
    from vcc.base import HarnessError
    from vcc.scorer._cache import output_bytes

    cache, out = GroundTruthCache(tmp_path), _outputs(n=20)
    writer = cache.writer(_key(), 20)
    writer.write_batch(0, *output_bytes(NetOutputs(out.pose[:16], out.seg[:16])))
    with pytest.raises(HarnessError, match="missing batches"):
        writer.commit()
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    assert cache.get(_key()) is None


def test_a_batch_changed_after_open_fails_loudly(tmp_path: Path) -> None:
    from vcc.base import HarnessError

    cache = GroundTruthCache(tmp_path)
    path = cache.put(_key(), _outputs(n=40))
    entry = cache.open(_key())
    assert entry is not None
    blob = bytearray(path.read_bytes())
    blob[-3] ^= 0x01  # the last batch's seg maps
    path.write_bytes(bytes(blob))
    batches = entry.read_batches([0, 2])
    next(batches)  # batch 0 is intact
    with pytest.raises(HarnessError, match="batch 2 fails its checksum"):
        next(batches)


def test_old_format_entries_are_never_read_but_listed_and_cleared(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    cache = GroundTruthCache(tmp_path)
    old = tmp_path / f"gt-{_key().digest()}.bin"  # a format-2 entry's name and magic
    old.write_bytes(b"VCCGT\x00\x00\x01" + b"\x00" * 64)
    assert cache.get(_key()) is None and old.exists()  # ignored, not mistaken for this format
    [info] = cache.entries()
    assert info.key.get("stale") is True and info.samples == -1
    assert vcc.main(["cache", "list", "--cache-dir", str(tmp_path)]) == 0
    assert "1 entries" in capsys.readouterr().out
    assert cache.clear() == 1 and not old.exists()
