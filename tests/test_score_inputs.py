"""Bad input: a clear message naming the file and the fix, exit code 2, no model loaded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import vcc
from vcc.base import FRAME_BYTES, BadInput
from vcc.scorer import (
    Challenge,
    ScoreConfig,
    ScoreOptions,
    build_segnet,
    load_weights,
    official_loop_outcome,
    score_submission,
)

from conftest import make_submission

LFS_POINTER = b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n"


@pytest.fixture
def challenge_copy(tmp_path: Path, golden_challenge: Path) -> Path:
    """A writable copy of the golden challenge (weights symlinked: they are large)."""
    root = tmp_path / "challenge"
    (root / "models").mkdir(parents=True)
    shutil.copytree(golden_challenge / "videos", root / "videos")
    shutil.copy(golden_challenge / "public_test_video_names.txt", root)
    for f in (golden_challenge / "models").iterdir():
        (root / "models" / f.name).symlink_to(f)
    return root


def _fake_raw(path: Path, frames: int, extra_bytes: int = 0) -> Path:
    with open(path, "wb") as f:
        f.truncate(frames * FRAME_BYTES + extra_bytes)
    return path


def _run(sub: Path, challenge: Path, capsys: pytest.CaptureFixture, *extra: str) -> tuple[int, str]:
    rc = vcc.main(["score", str(sub), "--challenge-dir", str(challenge), "--no-cache", "--quiet", *extra])
    return rc, capsys.readouterr().err


def _expect_bad(sub: Path, challenge: Path, capsys: pytest.CaptureFixture, *needles: str) -> str:
    rc, err = _run(sub, challenge, capsys)
    assert rc == 2, err
    for needle in needles:
        assert needle in err, err
    assert "fix:" in err
    return err


def test_missing_archive(tmp_path: Path, golden_challenge: Path, capsys: pytest.CaptureFixture) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    _expect_bad(sub, golden_challenge, capsys, "archive.zip not found", str(sub / "archive.zip"))


def test_missing_inflated_dir(tmp_path: Path, golden_challenge: Path, capsys: pytest.CaptureFixture) -> None:
    sub = make_submission(tmp_path / "sub", None, 10)
    _expect_bad(sub, golden_challenge, capsys, "inflated/ directory not found")


def test_missing_raw(tmp_path: Path, golden_challenge: Path, capsys: pytest.CaptureFixture) -> None:
    sub = make_submission(tmp_path / "sub", None, 10)
    (sub / "inflated").mkdir()
    _expect_bad(sub, golden_challenge, capsys, "raw file for video '0.mkv' is missing", "0.raw")


def test_raw_not_whole_frames(tmp_path: Path, golden_challenge: Path, capsys: pytest.CaptureFixture) -> None:
    raw = _fake_raw(tmp_path / "0.raw", 70, extra_bytes=5)
    sub = make_submission(tmp_path / "sub", raw, 10)
    _expect_bad(sub, golden_challenge, capsys, "not a whole number", "5 stray bytes")


def test_short_raw_says_what_official_does(tmp_path: Path, golden_challenge: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    sub = make_submission(tmp_path / "sub", _fake_raw(tmp_path / "0.raw", 64), 10)
    _expect_bad(sub, golden_challenge, capsys, "64 frames, the original has 70",
                "silently scores 32 of 35 samples", "--official-truncation")
    assert not (sub / "report.txt").exists()


def test_short_raw_that_official_asserts_on(tmp_path: Path, golden_challenge: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    sub = make_submission(tmp_path / "sub", _fake_raw(tmp_path / "0.raw", 50), 10)
    _expect_bad(sub, golden_challenge, capsys, "50 frames", "batch shape assertion after 16 of 35")


def test_long_raw(tmp_path: Path, golden_challenge: Path, capsys: pytest.CaptureFixture) -> None:
    sub = make_submission(tmp_path / "sub", _fake_raw(tmp_path / "0.raw", 72), 10)
    _expect_bad(sub, golden_challenge, capsys, "72 frames, the original has 70")


def test_names_file_missing_and_empty(tmp_path: Path, challenge_copy: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    sub = make_submission(tmp_path / "sub", _fake_raw(tmp_path / "0.raw", 70), 10)
    names = challenge_copy / "public_test_video_names.txt"
    names.write_text("\n\n")
    _expect_bad(sub, challenge_copy, capsys, "lists no video", str(names))
    names.unlink()
    _expect_bad(sub, challenge_copy, capsys, "video names file not found", "--names-file")


def test_listed_video_absent(tmp_path: Path, challenge_copy: Path, capsys: pytest.CaptureFixture) -> None:
    (challenge_copy / "public_test_video_names.txt").write_text("0.mkv\n1.mkv\n")
    sub = make_submission(tmp_path / "sub", _fake_raw(tmp_path / "0.raw", 70), 10)
    _expect_bad(sub, challenge_copy, capsys, "video '1.mkv' listed", "not found")


def test_corrupt_video(tmp_path: Path, challenge_copy: Path, capsys: pytest.CaptureFixture) -> None:
    video = challenge_copy / "videos" / "0.mkv"
    video.write_bytes(b"\x1a\x45\xdf\xa3" + b"garbage" * 1000)
    sub = make_submission(tmp_path / "sub", _fake_raw(tmp_path / "0.raw", 70), 10)
    _expect_bad(sub, challenge_copy, capsys, "video", str(video))


def test_lfs_pointer_video_and_weights(tmp_path: Path, challenge_copy: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    sub = make_submission(tmp_path / "sub", _fake_raw(tmp_path / "0.raw", 70), 10)
    weights = challenge_copy / "models" / "posenet.safetensors"
    weights.unlink()
    weights.write_bytes(LFS_POINTER)
    _expect_bad(sub, challenge_copy, capsys, "Git LFS pointer", "git lfs pull", str(weights))
    (challenge_copy / "videos" / "0.mkv").write_bytes(LFS_POINTER)
    _expect_bad(sub, challenge_copy, capsys, "Git LFS pointer", "0.mkv")


def test_weights_that_do_not_load_name_the_keys(tmp_path: Path) -> None:
    model = build_segnet()
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("segmentation_head")}
    state["extra.weight"] = torch.zeros(3)
    bad = tmp_path / "segnet.safetensors"
    save_file(state, str(bad))
    with pytest.raises(BadInput) as err:
        load_weights(model, bad)
    text = err.value.render()
    assert "missing keys: segmentation_head.0.bias" in text and "unexpected keys: extra.weight" in text
    assert str(bad) in text
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors at all")
    with pytest.raises(BadInput, match="cannot read weights"):
        load_weights(model, tmp_path / "junk.safetensors")


def test_extra_files_in_videos_warn_and_count(challenge_copy: Path) -> None:
    (challenge_copy / "videos" / "notes.txt").write_bytes(b"x" * 1000)
    (challenge_copy / "videos" / "sub").mkdir()
    (challenge_copy / "videos" / "sub" / "old.mkv").write_bytes(b"y" * 500)
    ch = Challenge.load(challenge_copy)
    assert ch.original_bytes == 656_047 + 1500  # the official rglob('*') denominator
    [warning] = ch.warnings
    assert "notes.txt" in warning and "sub/old.mkv" in warning and "657,547" in warning


def test_non_official_assets_flagged(golden_challenge: Path) -> None:
    ch = Challenge.load(golden_challenge)
    infos = ch.assets()
    assert [a.official for a in infos] == [False, False, False]
    assert "will not match the leaderboard" in ch.asset_warnings(infos)[0]


def test_bad_arguments(tmp_path: Path, golden_challenge: Path, capsys: pytest.CaptureFixture) -> None:
    sub = make_submission(tmp_path / "sub", _fake_raw(tmp_path / "0.raw", 70), 10)
    rc, err = _run(sub, golden_challenge, capsys, "--batch-size", "0")
    assert rc == 2 and "--batch-size" in err
    rc, err = _run(sub, tmp_path / "nope", capsys)
    assert rc == 2 and "challenge dir not found" in err
    with pytest.raises(SystemExit) as exit_:  # argparse's own usage errors exit 2 as well
        vcc.main(["score"])
    assert exit_.value.code == 2


def test_validation_is_fast_and_loads_no_model(tmp_path: Path, golden_challenge: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import vcc.scorer._score as score_mod

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("a model was loaded for an invalid submission")

    monkeypatch.setattr(score_mod, "load_nets", boom)
    sub = make_submission(tmp_path / "sub", _fake_raw(tmp_path / "0.raw", 64), 10)
    with pytest.raises(BadInput):
        score_submission(ScoreConfig(sub, golden_challenge, options=ScoreOptions(use_cache=False), progress=False))


@pytest.mark.parametrize(
    ("gt", "cand", "expected"),
    [
        ([35], [35], (True, 35, 35)),
        ([35], [32], (True, 32, 35)),  # short by whole batches: silently truncated
        ([35], [30], (False, 16, 35)),  # partial batch mismatch: assertion
        ([35], [36], (False, 32, 35)),
        ([32], [40], (True, 32, 32)),  # longer candidate ignored when batches align
        ([16, 35], [32, 35], (False, 48, 51)),  # a long first video shifts the second one's batches
    ],
)
def test_official_loop_outcome(gt: list[int], cand: list[int], expected: tuple) -> None:
    assert official_loop_outcome(gt, cand, 16) == expected
