"""The demo's fixture builder, its example submission and `run_demo`.

A module-wide 8-frame challenge keeps this file short (each build encodes the
video and calibrates both nets: ~10 s on 2 cores).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vcc import demo
from vcc.base import FRAME_BYTES, FRAME_H, FRAME_W, BadInput
from vcc.demo import (
    DemoScene,
    build_challenge,
    build_example_submission,
    cached_challenge,
    demo_cache_dir,
    example_submission_files,
    rgb_to_yuv420,
    run_demo,
)
from vcc.scorer import Challenge, iter_rgb_frames, load_nets
from vcc.scorer._nets import build_posenet, build_segnet

FRAMES = 8


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory) -> Path:
    """Plays $XDG_CACHE_HOME: the demo cache lives at cache_root/vcc/demo."""
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(scope="module")
def challenge(cache_root) -> Path:
    return cached_challenge(FRAMES, seed=0, cache_dir=cache_root / "vcc" / "demo")


def frame_hashes(video: Path) -> list[str]:
    return [hashlib.sha256(f.tobytes()).hexdigest() for f in iter_rgb_frames(video)]


def file_mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_video_is_hevc_1164x874_yuv420p_with_all_frames(challenge):
    video = challenge / "videos" / "0.mkv"
    with av.open(str(video)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "hevc"
        assert (s.codec_context.width, s.codec_context.height) == (FRAME_W, FRAME_H)
        assert s.average_rate == 20
        frames = list(c.decode(s))
    assert len(frames) == FRAMES
    assert {f.format.name for f in frames} == {"yuv420p"}
    assert challenge.joinpath("public_test_video_names.txt").read_text() == "0.mkv\n"
    # Laid out like the official checkout: the scorer accepts it, nothing extra in videos/.
    ch = Challenge.load(challenge)
    assert [v.name for v in ch.videos] == ["0.mkv"] and ch.warnings == []
    assert ch.original_bytes == video.stat().st_size


def test_scene_moves_like_ego_motion(challenge):
    frames = list(iter_rgb_frames(challenge / "videos" / "0.mkv"))
    diffs = [np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(frames[:-1], frames[1:], strict=True)]
    # Consecutive frames differ (motion), but far less than unrelated images would.
    assert all(0.3 < d < 30 for d in diffs), diffs
    assert frames[0].std() > 20  # structure, not a flat field


def test_weights_load_strictly_into_the_scorers_nets(challenge):
    segnet, posenet = load_nets(challenge / "models")
    assert not segnet.training and not posenet.training
    for name, model in (("segnet", build_segnet()), ("posenet", build_posenet())):
        saved = load_file(str(challenge / "models" / f"{name}.safetensors"))
        assert set(saved) == set(model.state_dict())  # keys exactly as state_dict()


def test_batchnorm_statistics_are_calibrated(challenge):
    for name in ("segnet", "posenet"):
        state = load_file(str(challenge / "models" / f"{name}.safetensors"))
        means = [k for k in state if k.endswith("running_mean")]
        assert means
        for k in means:
            prefix = k[: -len("running_mean")]
            # Defaults are mean 0, var 1, nothing tracked.
            assert not torch.all(state[k] == 0), k
            assert not torch.all(state[prefix + "running_var"] == 1), k
            assert state[prefix + "num_batches_tracked"].item() > 0, k


def test_second_build_reuses_the_fixture(challenge, cache_root):
    before = file_mtimes(challenge)
    again = cached_challenge(FRAMES, seed=0, cache_dir=cache_root / "vcc" / "demo")
    assert again == challenge
    assert file_mtimes(challenge) == before


def test_challenge_is_open_to_the_sandbox_uid(challenge):
    """Like a checkout (0755): vcc run's sandbox can then run inflate as an unprivileged uid."""
    assert challenge.stat().st_mode & 0o777 == 0o755


def test_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert demo_cache_dir() == tmp_path / "vcc" / "demo"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert demo_cache_dir() == Path.home() / ".cache" / "vcc" / "demo"


def test_rebuild_is_deterministic(challenge, tmp_path):
    other = build_challenge(tmp_path / "again", frames=FRAMES, seed=0)
    assert frame_hashes(other / "videos" / "0.mkv") == frame_hashes(challenge / "videos" / "0.mkv")
    for rel in ("models/segnet.safetensors", "models/posenet.safetensors"):
        a, b = load_file(str(challenge / rel)), load_file(str(other / rel))
        assert all(torch.equal(a[k], b[k]) for k in a), rel


def test_seed_changes_the_scene():
    a = DemoScene(seed=0).render_next()
    b = DemoScene(seed=1).render_next()
    assert a.shape == (FRAME_H, FRAME_W, 3) and a.dtype == np.uint8
    assert not np.array_equal(a, b)
    assert np.array_equal(a, DemoScene(seed=0).render_next())


def test_rgb_to_yuv420_layout_and_range():
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[:, :, 0] = 255  # pure red
    yuv = rgb_to_yuv420(rgb)
    assert yuv.shape == (6, 6)
    y, u, v = yuv[:4], yuv[4:].reshape(-1)[:6], yuv[4:].reshape(-1)[6:]
    # BT.601 limited range red: Y 82, U 90, V 240.
    assert (y == 82).all() and (u == 90).all() and (v == 240).all()


def test_failed_build_leaves_nothing(monkeypatch, tmp_path):
    def boom(*args, **kwargs):
        raise RuntimeError("simulated crash while calibrating")

    monkeypatch.setattr(demo._fixture, "_build_weights", boom)
    with pytest.raises(RuntimeError, match="simulated"):
        build_challenge(tmp_path / "ch", frames=2, seed=0)
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_replace_a_foreign_directory(tmp_path):
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "notes.txt").write_text("keep me")
    with pytest.raises(BadInput, match="not a vcc demo challenge"):
        build_challenge(dest, frames=2, seed=0)
    assert (dest / "notes.txt").read_text() == "keep me"


def test_example_submission_round_trip(challenge, tmp_path):
    sub = build_example_submission(challenge, tmp_path / "sub")
    assert set(example_submission_files()) == {"compress.sh", "compress.py", "inflate.sh", "inflate.py"}
    for name in example_submission_files():
        assert (sub / name).is_file()
    with zipfile.ZipFile(sub / "archive.zip") as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == ["0"]
        assert infos[0].compress_type == zipfile.ZIP_STORED
        assert infos[0].date_time == (1980, 1, 1, 0, 0, 0)
        zf.extractall(tmp_path / "archive")
    # The archive is a real codec round trip, much smaller than the original.
    assert (sub / "archive.zip").stat().st_size < (challenge / "videos" / "0.mkv").stat().st_size / 3

    # Deterministic: a rebuild gives the same bytes.
    again = build_example_submission(challenge, tmp_path / "sub2")
    assert (again / "archive.zip").read_bytes() == (sub / "archive.zip").read_bytes()

    # inflate.sh with the official argv, from a directory that cannot see the original.
    names = tmp_path / "names.txt"
    names.write_text("0.mkv\n")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    subprocess.run(
        ["bash", str(sub / "inflate.sh"), str(tmp_path / "archive"), str(tmp_path / "inflated"), str(names)],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
    )
    raw = tmp_path / "inflated" / "0.raw"
    assert raw.stat().st_size == FRAMES * FRAME_BYTES
    frames = np.fromfile(raw, np.uint8).reshape(FRAMES, FRAME_H, FRAME_W, 3)
    originals = list(iter_rgb_frames(challenge / "videos" / "0.mkv"))
    err = np.mean([np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(frames, originals, strict=True)])
    assert 0.5 < err < 20  # lossy, but the same scene


def test_example_submission_refuses_a_foreign_directory(challenge, tmp_path):
    dest = tmp_path / "sub"
    dest.mkdir()
    (dest / "archive.zip").write_bytes(b"not ours")
    with pytest.raises(BadInput, match="not a vcc demo submission"):
        build_example_submission(challenge, dest)
    assert (dest / "archive.zip").read_bytes() == b"not ours"


@pytest.mark.slow
def test_run_demo_end_to_end(challenge, cache_root, tmp_path, monkeypatch, capsys):
    # The module's challenge sits in this cache: run_demo reuses it, builds nothing.
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_root))
    before = file_mtimes(challenge)
    result = run_demo(tmp_path / "work", FRAMES, rebuild=False, progress=False)
    assert file_mtimes(challenge) == before
    assert result["demo"]["challenge_dir"] == str(challenge)
    assert result["samples"] == FRAMES // 2
    assert 1e-5 <= result["posenet_distortion"] <= 1
    assert 0 < result["segnet_distortion"] < 1
    assert result["archive_bytes"] == (tmp_path / "work" / "example-submission" / "archive.zip").stat().st_size
    assert result["original_bytes"] == (challenge / "videos" / "0.mkv").stat().st_size
    out = capsys.readouterr().out
    assert f"=== Evaluation results over {FRAMES // 2} samples ===" in out
    assert repr(result["score"]) in out  # the full-precision score, not only 2 decimals
    assert str(challenge) in out  # where to rerun vcc on the fixture
