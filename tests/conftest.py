"""Shared fixtures: the golden stand-in challenge (../shared/golden) and its candidates."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parents[1].parent / "shared" / "golden"


def golden_or_skip() -> Path:
    if not (GOLDEN / "expected.json").is_file():
        pytest.skip(f"golden data not found at {GOLDEN} (it sits beside the checkout as shared/golden)")
    return GOLDEN


@pytest.fixture(scope="session")
def golden() -> Path:
    return golden_or_skip()


@pytest.fixture(scope="session")
def golden_challenge(golden: Path) -> Path:
    return golden / "challenge"


@pytest.fixture(scope="session")
def expected(golden: Path) -> dict:
    return json.loads((golden / "expected.json").read_text())


@pytest.fixture(scope="session")
def candidate_raws(golden: Path, expected: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The golden candidates' .raw files, written by the golden make_candidates.py."""
    out = tmp_path_factory.mktemp("candidates")
    raws = {}
    for name, cand in expected["candidates"].items():
        raw = out / f"{name}.raw"
        subprocess.run(
            [sys.executable, str(golden / "make_candidates.py"), str(golden / "challenge/videos/0.mkv"), str(raw),
             *cand["make_candidates_args"]],
            check=True,
        )
        raws[name] = raw
    return raws


def make_submission(root: Path, raw: Path | None, archive_bytes: int, raw_name: str = "0.raw") -> Path:
    """A scored submission dir: archive.zip of the given size and inflated/<raw_name>."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "archive.zip").write_bytes(b"\0" * archive_bytes)
    if raw is not None:
        (root / "inflated").mkdir(exist_ok=True)
        target = root / "inflated" / raw_name
        try:
            target.hardlink_to(raw)
        except OSError:
            shutil.copyfile(raw, target)
    return root


@pytest.fixture(scope="session")
def gt_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ground-truth cache for the session: the first golden score fills it."""
    return tmp_path_factory.mktemp("gt-cache")


# --- `vcc run` fixtures (runner) -------------------------------------------------------------

MINI_FRAMES = 4  # frames in the mini challenge's video


@pytest.fixture(scope="session")
def mini_challenge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny challenge for runner tests that never load a model: a 4-frame video, dummy weights,
    and a root module (frame_utils.py) like the official checkout's."""
    import av
    import numpy as np

    root = tmp_path_factory.mktemp("mini-challenge")
    (root / "videos").mkdir()
    (root / "models").mkdir()
    with av.open(str(root / "videos" / "0.mkv"), "w") as out:
        stream = out.add_stream("ffv1", rate=20)
        stream.width, stream.height, stream.pix_fmt = 1164, 874, "yuv420p"
        for i in range(MINI_FRAMES):
            img = np.full((874, 1164, 3), 40 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    for net in ("segnet", "posenet"):
        (root / "models" / f"{net}.safetensors").write_bytes(b"dummy weights: never loaded\n" * 8)
    (root / "public_test_video_names.txt").write_text("0.mkv\n")
    (root / "frame_utils.py").write_text("FROM_ROOT = 'the checkout root is importable'\n")
    return root


@pytest.fixture(scope="session")
def golden_checkout(golden: Path, golden_challenge: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden challenge shaped like the official checkout, with a root module: frame_utils.py
    (tests/submissions/checkout_root) doing the golden "near" conversion via make_candidates.py."""
    root = tmp_path_factory.mktemp("golden-checkout")
    (root / "videos").mkdir()
    (root / "videos" / "0.mkv").symlink_to(golden_challenge / "videos" / "0.mkv")
    (root / "models").symlink_to(golden_challenge / "models")
    shutil.copy(golden_challenge / "public_test_video_names.txt", root)
    shutil.copy(Path(__file__).parent / "submissions" / "checkout_root" / "frame_utils.py", root)
    # A copy, not a link: inflate's sandbox has a private /tmp, and shared/ may live under /tmp.
    shutil.copy(golden / "make_candidates.py", root / "make_candidates.py")
    return root
