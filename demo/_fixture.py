"""The demo challenge: the synthetic video, seeded nets calibrated on it, laid out and cached like a checkout."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from vcc.base import FRAME_H, FRAME_W, NAMES_FILE, BadInput, HarnessError, file_sha256, vcc_cache_root

from ._scene import (
    _CALIBRATION_BATCH,
    _CALIBRATION_PAIRS,
    _MANIFEST,
    _VIDEO_NAME,
    _X265_CRF,
    _X265_PARAMS,
    _X265_PRESET,
    DEMO_BUILDER_VERSION,
    DEMO_DEFAULT_FRAMES,
    DEMO_FPS,
    _encode_video,
)


def _calibration_batches(video: Path, frames: int) -> Iterator[torch.Tensor]:
    """uint8 (B, 2, H, W, 3) batches of pairs spread evenly over the video.

    Frames are the scorer's own decode of the encoded video, so the statistics
    describe exactly what the nets will see; only one batch is held at a time.
    """
    from vcc.scorer import iter_yuv_frames, yuv420_to_rgb_pyav

    pairs = frames // 2
    wanted = sorted({int(round(p)) for p in np.linspace(0, pairs - 1, min(_CALIBRATION_PAIRS, pairs))})
    wanted_set, last = set(wanted), wanted[-1]
    batch = np.empty((_CALIBRATION_BATCH, 2, FRAME_H, FRAME_W, 3), np.uint8)
    filled = 0
    # Decode every frame (HEVC needs it) but convert to RGB only the wanted ones.
    for i, frame in enumerate(iter_yuv_frames(video)):
        pair, slot = divmod(i, 2)
        if pair > last:
            break
        if pair not in wanted_set:
            continue
        batch[filled, slot] = yuv420_to_rgb_pyav(frame)
        if slot == 1:
            filled += 1
            if filled == _CALIBRATION_BATCH:
                yield torch.from_numpy(batch)
                batch = np.empty_like(batch)
                filled = 0
    if filled:
        yield torch.from_numpy(batch[:filled].copy())


def calibrate_batchnorm(models: list[torch.nn.Module], batches: Iterator[list[torch.Tensor]]) -> int:
    """Replace every BatchNorm's running statistics by their average over `batches`.

    `batches` yields one input per model. Random weights with default statistics
    (mean 0, var 1) leave activations unnormalised; a random PoseNet then answers
    nearly the same for every input. Train mode under no_grad with momentum=None
    gives a cumulative average; momentum is restored afterwards. Returns the
    number of batches seen.
    """
    from torch import nn

    norms = [m for model in models for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    seen = 0
    try:
        for model in models:
            model.train()
        with torch.no_grad():
            for inputs in batches:
                for model, x in zip(models, inputs, strict=True):
                    model(x)
                seen += 1
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        for model in models:
            model.eval()
    if seen == 0:
        raise HarnessError("no frames to calibrate the demo nets on", fix="build the demo with at least 2 frames")
    return seen


def _build_weights(video: Path, models_dir: Path, frames: int, seed: int) -> None:
    from safetensors.torch import save_file

    from vcc.scorer import build_posenet, build_segnet, posenet_input, segnet_input, to_model_input

    # Each net gets its own seed so either can be rebuilt alone with the same weights.
    torch.manual_seed(seed)
    segnet = build_segnet()
    torch.manual_seed(seed + 1)
    posenet = build_posenet()

    def inputs() -> Iterator[list[torch.Tensor]]:
        for batch in _calibration_batches(video, frames):
            x = to_model_input(batch)
            yield [segnet_input(x), posenet_input(x)]

    calibrate_batchnorm([segnet, posenet], inputs())
    for name, model in (("segnet", segnet), ("posenet", posenet)):
        state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
        save_file(state, str(models_dir / f"{name}.safetensors"), metadata={"format": "pt"})


# --------------------------------------------------------------------------- fixture


def demo_cache_dir() -> Path:
    """Where built demo challenges live: $XDG_CACHE_HOME/vcc/demo (default ~/.cache/vcc/demo)."""
    return vcc_cache_root() / "demo"


def _fixture_files() -> list[str]:
    return [
        f"videos/{_VIDEO_NAME}",
        "models/segnet.safetensors",
        "models/posenet.safetensors",
        NAMES_FILE,
    ]


def _read_manifest(dest: Path) -> dict | None:
    try:
        return json.loads((dest / _MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _is_complete(dest: Path, frames: int, seed: int) -> bool:
    """A finished build of this version with these parameters, every file in place."""
    manifest = _read_manifest(dest)
    if not isinstance(manifest, dict):
        return False
    if (manifest.get("builder_version"), manifest.get("frames"), manifest.get("seed")) != (
        DEMO_BUILDER_VERSION,
        frames,
        seed,
    ):
        return False
    sizes = manifest.get("files", {})
    for rel in _fixture_files():
        p = dest / rel
        if not p.is_file() or p.stat().st_size != sizes.get(rel, {}).get("bytes"):
            return False
    return True


def build_challenge(dest: Path, *, frames: int, seed: int = 0, progress: bool = False, rebuild: bool = False) -> Path:
    """Build (or reuse) a synthetic challenge laid out like the official checkout.

    Writes `videos/0.mkv` (HEVC, 1164x874, yuv420p, 20 fps, `frames` frames),
    `models/{segnet,posenet}.safetensors` (seeded random weights, BatchNorm
    calibrated on that video), `public_test_video_names.txt` and `demo.json` (the
    manifest). Built in a temporary sibling directory and renamed into place, so
    `dest` is either absent or complete. An existing complete build with the
    same parameters is reused unless `rebuild`.
    """
    dest = Path(dest)
    if frames < 2:
        raise BadInput(f"the demo needs at least 2 frames, got {frames}", fix="pass --frames 2 or more")
    if not rebuild and _is_complete(dest, frames, seed):
        return dest
    with build_replacing(dest, ours=_read_manifest(dest) is not None, what="challenge") as tmp:
        started = time.monotonic()
        (tmp / "videos").mkdir()
        (tmp / "models").mkdir()
        video = tmp / "videos" / _VIDEO_NAME
        _encode_video(video, frames, seed, progress)
        _build_weights(video, tmp / "models", frames, seed)
        (tmp / NAMES_FILE).write_text(_VIDEO_NAME + "\n")
        manifest = {
            "about": "vcc demo challenge: synthetic stand-ins, not the official assets",
            "builder_version": DEMO_BUILDER_VERSION,
            "frames": frames,
            "seed": seed,
            "fps": DEMO_FPS,
            "x265": {"preset": _X265_PRESET, "crf": _X265_CRF, "params": _X265_PARAMS},
            "build_seconds": round(time.monotonic() - started, 1),
            "files": {
                rel: {"bytes": (tmp / rel).stat().st_size, "sha256": file_sha256(tmp / rel)} for rel in _fixture_files()
            },
        }
        (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    if not _is_complete(dest, frames, seed):
        raise HarnessError("demo challenge build did not complete", path=dest, fix="rerun with --rebuild")
    return dest


@contextmanager
def build_replacing(dest: Path, *, ours: bool, what: str) -> Iterator[Path]:
    """A temporary sibling of `dest` to build in, renamed over `dest` when the block succeeds and
    removed when it fails, so `dest` is absent or complete. Never replaces a non-empty directory
    that vcc did not build (`ours` False)."""
    if dest.exists() and not ours and (not dest.is_dir() or any(dest.iterdir())):
        raise BadInput(
            f"refusing to replace a directory that is not a vcc demo {what}",
            path=dest,
            fix="choose an empty or new directory",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.build-", dir=dest.parent))
    # mkdtemp makes it 0700; a checkout is 0755, and vcc run's sandbox can then run inflate as an
    # unprivileged uid (it keeps root without capabilities where a bound dir is closed to others)
    tmp.chmod(0o755)
    try:
        yield tmp
        _replace_dir(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _replace_dir(new: Path, dest: Path) -> None:
    """Move `new` to `dest`, replacing an old build there (each step a rename)."""
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
        os.rename(dest, old / "x")
    try:
        os.rename(new, dest)
    except OSError:
        # Another process finished the same build first: keep theirs.
        if not dest.exists():
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def cached_challenge(
    frames: int = DEMO_DEFAULT_FRAMES,
    seed: int = 0,
    *,
    rebuild: bool = False,
    progress: bool = False,
    cache_dir: Path | None = None,
) -> Path:
    """The demo challenge for (frames, seed) from the cache, built on first use."""
    root = Path(cache_dir) if cache_dir is not None else demo_cache_dir()
    dest = root / f"challenge-v{DEMO_BUILDER_VERSION}-f{frames}-s{seed}"
    return build_challenge(dest, frames=frames, seed=seed, progress=progress, rebuild=rebuild)


# --------------------------------------------------------------------------- example submission

