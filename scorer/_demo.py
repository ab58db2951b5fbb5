"""The demo: a self-contained synthetic challenge, an example submission, `run_demo`.

Everything here is a stand-in for the official assets (SPEC section 7): a
dashcam-like synthetic HEVC video and seeded random nets whose BatchNorm
statistics are calibrated on that video. Scores on it say nothing about the
leaderboard; they only show the whole pipeline working offline.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from base import BadInput, HarnessError, SubmissionFailed, file_sha256, vcc_cache_root

from ._assets import FRAME_H, FRAME_W

__all__ = [
    "DEMO_BUILDER_VERSION",
    "DEMO_DEFAULT_FRAMES",
    "DEMO_FPS",
    "DemoScene",
    "rgb_to_yuv420",
    "demo_cache_dir",
    "build_challenge",
    "cached_challenge",
    "calibrate_batchnorm",
    "example_submission_files",
    "build_example_submission",
    "run_demo",
]

# Bump when the scene, encoder settings or calibration change: it keys the cache.
DEMO_BUILDER_VERSION = 1
DEMO_DEFAULT_FRAMES = 60
DEMO_FPS = 20
_MANIFEST = "demo.json"
_NAMES_FILE = "public_test_video_names.txt"
_VIDEO_NAME = "0.mkv"
# x265 settings of the synthetic original. Thread counts are fixed because x265's
# frame-threads changes the bitstream; pools only sizes the worker pool.
_X265_PARAMS = "log-level=error:frame-threads=2:pools=2:bframes=0"
_X265_PRESET = "superfast"
_X265_CRF = "18"
_CALIBRATION_PAIRS = 48  # pairs spread over the video; enough for stable BN statistics
_CALIBRATION_BATCH = 8


# --------------------------------------------------------------------------- scene


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Value noise: random values on a grid every `cell` texels, bilinearly interpolated.

    Periodic in both axes (the texture wraps), float32 in about [-1, 1].
    """
    gh, gw = max(1, height // cell), max(1, width // cell)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    ys = np.arange(height, dtype=np.float32) * (gh / height)
    xs = np.arange(width, dtype=np.float32) * (gw / width)
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    # Smoothstep weights hide the grid's straight interpolation seams.
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    y1, x1 = (y0 + 1) % gh, (x0 + 1) % gw
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x1] * fx
    bottom = grid[y1][:, x0] * (1 - fx) + grid[y1][:, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def _fractal_noise(rng: np.random.Generator, height: int, width: int, cells: tuple[int, ...]) -> np.ndarray:
    out = np.zeros((height, width), np.float32)
    amp = 1.0
    for cell in cells:
        out += amp * _smooth_noise(rng, height, width, cell)
        amp *= 0.55
    return out / np.float32(np.abs(out).max() + 1e-6)


def _dash_coverage(z_near: np.ndarray, z_far: np.ndarray, period: float, on: float) -> np.ndarray:
    """Fraction of [z_near, z_far] covered by dashes `on` long every `period` (box filter).

    A row far away spans many metres of road: averaging the dash pattern over the
    row's footprint keeps distant dashes from flickering (aliasing).
    """

    def integral(u: np.ndarray) -> np.ndarray:
        return np.floor(u / period) * on + np.minimum(np.mod(u, period), on)

    span = np.maximum(z_far - z_near, 1e-6)
    return ((integral(z_far) - integral(z_near)) / span).astype(np.float32)


@dataclass
class _Car:
    lane_x: float  # lateral position of the car's centre, metres (road frame)
    z: float  # distance ahead, metres
    speed: float  # metres per second, relative to the ground
    color: tuple[float, float, float]


class DemoScene:
    """A dashcam-like synthetic scene, rendered frame by frame (never all at once).

    A camera 1.3 m above a two-lane road drives forward at a varying speed over a
    gently curving road: lane dashes and roadside poles stream toward the camera,
    other cars overtake or fall behind, the camera shakes a little, the hood stays
    fixed at the bottom. Deterministic given the seed: seeded RNGs and float32
    arithmetic, the same frames on every run on one machine (and, but for a
    last-bit difference in a vectorised exp/log2 that flips a rounding, on others).
    """

    focal = 910.0  # pixels, like comma's road camera
    cam_height = 1.3  # metres
    horizon0 = 0.46 * FRAME_H
    lane_half = 1.8  # ego lane spans [-1.8, 1.8]
    road_half = 5.6

    def __init__(self, seed: int = 0, fps: int = DEMO_FPS) -> None:
        self.fps = fps
        self.rng = np.random.default_rng(seed)
        rng = self.rng
        self.phase = rng.uniform(0, 2 * math.pi, size=8)
        # Ground textures in world units (10 cm texels, wrapping), one mip level per
        # octave so distant rows sample pre-blurred texels instead of aliasing.
        tex = _fractal_noise(rng, 512, 512, (64, 16, 4))
        self.mips = [tex]
        while self.mips[-1].shape[0] > 8:
            t = self.mips[-1]
            self.mips.append(0.25 * (t[0::2, 0::2] + t[1::2, 0::2] + t[0::2, 1::2] + t[1::2, 1::2]))
        # Sky clouds and the tree line: screen-space textures wider than the frame,
        # scrolled by the camera's yaw.
        self.pad = 64
        self.clouds = _fractal_noise(rng, FRAME_H // 2 + 2 * self.pad, FRAME_W + 2 * self.pad, (128, 48))
        self.treeline = 14 + 22 * _fractal_noise(rng, 1, 4 * FRAME_W, (96, 24, 6))[0]
        self.sensor_noise = [rng.normal(0, 1.6, size=(FRAME_H, FRAME_W, 1)).astype(np.float32) for _ in range(5)]
        palette = [
            (180, 30, 30),
            (30, 60, 160),
            (220, 220, 215),
            (40, 40, 45),
            (150, 150, 155),
            (200, 160, 40),
        ]
        self.cars = [
            _Car(0.0, 22.0, 13.0, palette[0]),
            _Car(3.6, 45.0, 16.5, palette[1]),
            _Car(-3.6, 12.0, 12.0, palette[2]),
            _Car(3.6, 90.0, 13.5, palette[3]),
        ]
        self.palette = palette
        self.travel = 0.0
        self.index = 0
        ys = np.arange(FRAME_H, dtype=np.float32)
        xs = np.arange(FRAME_W, dtype=np.float32)
        self.ys, self.xs = ys, xs
        # The hood: a fixed dark region at the bottom with a gently curved edge.
        u = (xs - FRAME_W / 2) / (FRAME_W / 2)
        self.hood_top = (FRAME_H - 70 + 38 * u * u).astype(np.float32)

    def _motion(self, t: float) -> tuple[float, float, float, float]:
        p = self.phase
        speed = 14.0 + 2.5 * math.sin(0.31 * t + p[0])
        shake_y = 2.2 * math.sin(2 * math.pi * 1.7 * t + p[1]) + 1.1 * math.sin(2 * math.pi * 4.3 * t + p[2])
        shake_x = 1.5 * math.sin(2 * math.pi * 0.9 * t + p[3]) + 0.8 * math.sin(2 * math.pi * 3.1 * t + p[4])
        curvature = 6e-4 * math.sin(0.23 * t + p[5])  # lateral offset = curvature * z^2
        return speed, shake_y, shake_x, curvature

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            yield self.render_next()

    def render_next(self) -> np.ndarray:
        """The next frame as uint8 RGB (874, 1164, 3)."""
        t = self.index / self.fps
        speed, shake_y, shake_x, curv = self._motion(t)
        img = self._render(t, shake_y, shake_x, curv)
        dt = 1.0 / self.fps
        self.travel += speed * dt
        self._move_cars(speed, dt)
        self.index += 1
        return img

    def _move_cars(self, ego_speed: float, dt: float) -> None:
        for car in self.cars:
            car.z += (car.speed - ego_speed) * dt
            if car.z < 7.0 or car.z > 140.0:
                # Respawn out of sight: far ahead if it fell behind, close behind otherwise.
                lane = float(self.rng.choice([-3.6, 0.0, 3.6]))
                car.lane_x = lane
                car.z = 130.0 if car.z < 7.0 else 8.0
                car.speed = ego_speed + float(self.rng.uniform(-3.0, 3.0))
                car.color = self.palette[int(self.rng.integers(len(self.palette)))]

    def _render(self, t: float, shake_y: float, shake_x: float, curv: float) -> np.ndarray:
        f, h = np.float32(self.focal), np.float32(self.cam_height)
        horizon = np.float32(self.horizon0 + shake_y)
        cx = np.float32(FRAME_W / 2 + shake_x)
        img = np.empty((FRAME_H, FRAME_W, 3), np.float32)

        # Sky: a vertical gradient with clouds, down to the horizon.
        first_ground = int(math.floor(horizon)) + 1
        sky_rows = first_ground
        grad = np.clip(self.ys[:sky_rows] / max(float(horizon), 1.0), 0, 1)[:, None, None]
        top, low = np.array([70, 120, 200], np.float32), np.array([190, 205, 222], np.float32)
        oy = int(round(self.pad - shake_y))
        ox = int(round(self.pad - shake_x + 40 * math.sin(0.05 * t)))
        cloud = self.clouds[oy : oy + sky_rows, ox : ox + FRAME_W]
        if cloud.shape[0] < sky_rows:  # the shaken horizon reaches below the cloud texture
            cloud = np.pad(cloud, ((0, sky_rows - cloud.shape[0]), (0, 0)), mode="edge")
        cloud = np.clip(cloud, 0, 1)[:, :, None] * (1 - grad)
        img[:sky_rows] = top * (1 - grad) + low * grad
        img[:sky_rows] += cloud * (np.float32(235) - img[:sky_rows])

        # Ground: each row below the horizon sees the road at one distance z.
        rows = self.ys[first_ground:]
        dy = np.maximum(rows - horizon, np.float32(0.5))
        z = f * h / dy  # metres ahead
        z_far = f * h / np.maximum(dy - 0.5, np.float32(0.25))
        z_near = f * h / (dy + 0.5)
        m_per_px = z / f  # lateral metres per pixel on this row
        xw = (self.xs[None, :] - cx) * m_per_px[:, None] - (curv * z * z)[:, None]
        px_per_m = (f / z)[:, None]

        ground = np.empty((rows.size, FRAME_W), np.float32)
        footprint = np.maximum(m_per_px, z_far - z_near)
        level = np.clip(np.floor(np.log2(np.maximum(footprint / 0.1, 1.0))), 0, len(self.mips) - 1)
        for lv in np.unique(level).astype(int):
            sel = level == lv
            mip = self.mips[lv]
            texel = np.float32(0.1 * 2**lv)
            iz = np.floor((z[sel] + np.float32(self.travel)) / texel).astype(np.int64) % mip.shape[0]
            ix = np.floor(xw[sel] / texel).astype(np.int64) % mip.shape[1]
            ground[sel] = mip[iz[:, None], ix]

        road = np.clip((self.road_half - np.abs(xw)) * px_per_m + 0.5, 0, 1)
        asphalt = np.array([92, 92, 97], np.float32) * (1 + 0.18 * ground)[..., None]
        grass = np.array([78, 104, 52], np.float32) * (1 + 0.35 * ground)[..., None]
        g = grass + road[..., None] * (asphalt - grass)

        paint = np.zeros_like(road)
        dash = _dash_coverage(z_near + self.travel, z_far + self.travel, 9.0, 3.0)[:, None]
        for x_line, dashed in (
            (-self.lane_half, True),
            (self.lane_half, True),
            (-5.3, False),
            (5.3, False),
        ):
            cover = np.clip((0.075 - np.abs(xw - np.float32(x_line))) * px_per_m + 0.5, 0, 1)
            paint = np.maximum(paint, cover * dash if dashed else cover)
        g += paint[..., None] * (np.float32(235) - g)

        # Distance haze toward the horizon colour.
        haze = (1 - np.exp(-z / np.float32(260))).astype(np.float32)[:, None, None]
        g += haze * (low - g)
        img[first_ground:] = g

        # Tree line above the horizon, scrolled by yaw.
        start = int(round(FRAME_W + shake_x * 3 + 200 * math.sin(0.05 * t))) % (3 * FRAME_W)
        heights = self.treeline[start : start + FRAME_W]
        tree_top = horizon - heights
        r0 = max(0, int(math.floor(float(tree_top.min()))))  # rows above are sky only
        yy = self.ys[r0:first_ground, None]
        tree = np.clip(np.minimum(yy - tree_top[None, :], horizon - yy + 1), 0, 1)[..., None]
        band = img[r0:first_ground]
        band += tree * (np.array([46, 66, 40], np.float32) - band)

        self._draw_objects(img, horizon, cx, curv)

        # Hood (rigid with the camera: no shake), then a little sensor noise.
        h0 = int(math.floor(float(self.hood_top.min())))  # rows above never show the hood
        ys = self.ys[h0:, None]
        hood = np.clip(ys - self.hood_top[None, :], 0, 1)[..., None]
        hood_col = np.array([30, 32, 36], np.float32) + np.float32(0.06) * (ys[..., None] - FRAME_H)
        band = img[h0:]
        band += hood * (hood_col - band)
        img += self.sensor_noise[self.index % len(self.sensor_noise)]
        img += np.float32(0.5)
        np.clip(img, 0, 255, out=img)
        return img.astype(np.uint8)

    def _project(self, x: float, z: float, horizon: float, cx: float, curv: float) -> tuple[float, float, float]:
        """Screen x of a road-frame point, the ground row under it, pixels per metre there."""
        s = self.focal / z
        return cx + (x + curv * z * z) * s, horizon + self.cam_height * s, s

    def _draw_objects(self, img: np.ndarray, horizon: float, cx: float, curv: float) -> None:
        items: list[tuple[float, str, float, tuple[float, float, float]]] = []
        spacing = 30.0
        first = spacing - (self.travel % spacing)
        for k in range(8):
            zp = first + k * spacing
            for side in (-7.5, 7.5):
                items.append((zp, "pole", side, (60, 58, 55)))
        for car in self.cars:
            items.append((car.z, "car", car.lane_x, car.color))
        for z, kind, x, color in sorted(items, key=lambda it: -it[0]):
            if z < 3.0:
                continue
            sx, ground_y, s = self._project(x, z, horizon, cx, curv)
            col = np.array(color, np.float32)
            if kind == "pole":
                self._rect(img, sx - 0.12 * s, ground_y - 7.0 * s, sx + 0.12 * s, ground_y, col)
                self._rect(img, sx - 0.9 * s, ground_y - 7.0 * s, sx + 0.9 * s, ground_y - 6.6 * s, col)
            else:
                half, height = 0.9 * s, 1.45 * s
                self._rect(img, sx - half, ground_y - 0.25 * s, sx + half, ground_y, np.float32(0.25) * col)
                self._rect(img, sx - half, ground_y - height, sx + half, ground_y - 0.25 * s, col)
                self._rect(
                    img,
                    sx - 0.75 * s,
                    ground_y - height,
                    sx + 0.75 * s,
                    ground_y - 0.95 * s,
                    np.array([35, 40, 50], np.float32),
                )
                lamp = np.array([230, 40, 30], np.float32)
                self._rect(img, sx - half, ground_y - 0.8 * s, sx - 0.6 * s, ground_y - 0.6 * s, lamp)
                self._rect(img, sx + 0.6 * s, ground_y - 0.8 * s, sx + half, ground_y - 0.6 * s, lamp)

    @staticmethod
    def _rect(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, color: np.ndarray) -> None:
        # Integer bounds plus a fractional coverage on each edge column: sub-pixel motion
        # stays smooth instead of jumping a pixel at a time.
        c0, c1 = max(int(math.floor(x0)), 0), min(int(math.ceil(x1)), FRAME_W)
        r0, r1 = max(int(round(y0)), 0), min(int(round(y1)), FRAME_H)
        if c0 >= c1 or r0 >= r1:
            return
        cover = np.ones(c1 - c0, np.float32)
        cover[0] = min(cover[0], 1 - (x0 - math.floor(x0))) if x0 > 0 else 1
        cover[-1] = min(cover[-1], 1 - (math.ceil(x1) - x1)) if x1 < FRAME_W else 1
        region = img[r0:r1, c0:c1]
        region += cover[None, :, None] * (color - region)


# --------------------------------------------------------------------------- video


def rgb_to_yuv420(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> PyAV's yuv420p layout (H*3/2, W): BT.601 limited range.

    Integer arithmetic only, so the encoder's input is identical on every machine;
    chroma comes from 2x2 RGB sums.
    """
    h, w, _ = rgb.shape
    c = rgb.astype(np.int32)
    r, g, b = c[..., 0], c[..., 1], c[..., 2]
    y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
    s = c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2]  # 4x the 2x2 mean
    sr, sg, sb = s[..., 0], s[..., 1], s[..., 2]
    u = ((-38 * sr - 74 * sg + 112 * sb + 512) >> 10) + 128
    v = ((112 * sr - 94 * sg - 18 * sb + 512) >> 10) + 128
    out = np.empty((h * 3 // 2, w), np.uint8)
    out[:h] = y
    out[h:].reshape(-1)[: u.size] = u.reshape(-1)
    out[h:].reshape(-1)[u.size :] = v.reshape(-1)
    return out


def _encode_video(path: Path, frames: int, seed: int, progress: bool) -> None:
    """Render the scene frame by frame straight into libx265 (Matroska, 20 fps)."""
    import av

    scene = DemoScene(seed)
    with av.open(str(path), "w", format="matroska", container_options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream("libx265", rate=DEMO_FPS)
        stream.width, stream.height, stream.pix_fmt = FRAME_W, FRAME_H, "yuv420p"
        stream.options = {"preset": _X265_PRESET, "crf": _X265_CRF, "x265-params": _X265_PARAMS}
        for i in _progress(range(frames), progress, "demo video"):
            frame = av.VideoFrame.from_ndarray(rgb_to_yuv420(scene.render_next()), format="yuv420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def _progress(it: range, enabled: bool, desc: str) -> Iterator[int]:
    if not enabled:
        return iter(it)
    from tqdm import tqdm

    return iter(tqdm(it, desc=desc, unit="frame", file=sys.stderr, leave=False))


# --------------------------------------------------------------------------- weights


def _calibration_batches(video: Path, frames: int) -> Iterator[torch.Tensor]:
    """uint8 (B, 2, H, W, 3) batches of pairs spread evenly over the video.

    Frames are the scorer's own decode of the encoded video, so the statistics
    describe exactly what the nets will see; only one batch is held at a time.
    """
    from ._decode import iter_yuv_frames, yuv420_to_rgb_pyav

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

    from ._distortion import posenet_input, segnet_input, to_model_input
    from ._nets import build_posenet, build_segnet

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
        _NAMES_FILE,
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
    if dest.exists() and _read_manifest(dest) is None and (not dest.is_dir() or any(dest.iterdir())):
        # Never delete something vcc did not build.
        raise BadInput(
            "refusing to replace a directory that is not a vcc demo challenge",
            path=dest,
            fix="choose an empty or new directory",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.build-", dir=dest.parent))
    try:
        started = time.monotonic()
        (tmp / "videos").mkdir()
        (tmp / "models").mkdir()
        video = tmp / "videos" / _VIDEO_NAME
        _encode_video(video, frames, seed, progress)
        _build_weights(video, tmp / "models", frames, seed)
        (tmp / _NAMES_FILE).write_text(_VIDEO_NAME + "\n")
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
        _replace_dir(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if not _is_complete(dest, frames, seed):
        raise HarnessError("demo challenge build did not complete", path=dest, fix="rerun with --rebuild")
    return dest


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

_SUBMISSION_MARKER = ".vcc-demo-submission"


def example_submission_files() -> list[str]:
    """The bundled example submission's scripts (package data under scorer/demo_submission)."""
    folder = resources.files(__package__) / "demo_submission"
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".sh", ".py")))


def _tool_env() -> dict[str, str]:
    # The scripts call `python3`: put this interpreter's directory first on PATH, as the
    # runner does, so they see the same libraries as vcc.
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _run_script(argv: list[str], what: str, cwd: Path) -> None:
    proc = subprocess.run(argv, cwd=cwd, env=_tool_env(), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SubmissionFailed(
            f"{what} exited with status {proc.returncode}: {proc.stderr.strip()[-2000:]}",
            path=argv[1] if len(argv) > 1 else None,
            fix="see the script's error above",
        )


def build_example_submission(challenge: Path, dest: Path) -> Path:
    """Write the example submission to `dest`: its scripts and the `archive.zip` they make.

    Runs the bundled `compress.sh` on the challenge's videos (x265 at 45% scale),
    then `dest` holds archive.zip, compress.sh/.py and inflate.sh/.py, ready for
    `vcc run` (or the official evaluate.sh). Built in a temporary sibling and
    renamed into place; a previous example submission at `dest` is replaced,
    anything else there is refused.
    """
    challenge, dest = Path(challenge), Path(dest)
    if dest.exists() and not (dest / _SUBMISSION_MARKER).is_file() and (not dest.is_dir() or any(dest.iterdir())):
        raise BadInput(
            "refusing to replace a directory that is not a vcc demo submission",
            path=dest,
            fix="choose an empty or new directory",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.build-", dir=dest.parent))
    try:
        os.chmod(tmp, 0o755)
        folder = resources.files(__package__) / "demo_submission"
        for name in example_submission_files():
            target = tmp / name
            target.write_bytes((folder / name).read_bytes())
            target.chmod(0o755)
        names = challenge / _NAMES_FILE
        _run_script(
            ["bash", str(tmp / "compress.sh"), str(challenge / "videos"), str(tmp), str(names)],
            "the example submission's compress.sh",
            cwd=tmp,
        )
        if not (tmp / "archive.zip").is_file():
            raise HarnessError("compress.sh wrote no archive.zip", path=tmp, fix="report this bug")
        (tmp / _SUBMISSION_MARKER).write_text("built by `vcc demo`; replaced on the next run\n")
        _replace_dir(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


# --------------------------------------------------------------------------- run_demo


def _run_example(submission: Path, challenge: Path, out: Path, progress: bool) -> dict:
    """The example submission through `vcc run` (unzip, inflate.sh, checks, scoring)."""
    from runner import RunConfig, run_submission

    if out.exists() and any(out.iterdir()):
        if not (out / "run.json").is_file():
            raise BadInput(
                "refusing to replace a directory that is not a previous demo run",
                path=out,
                fix="choose another --workdir",
            )
        shutil.rmtree(out)  # the previous demo run's reports: the runner wants an empty --out
    result = run_submission(
        RunConfig(
            submission_dir=submission,
            challenge_dir=challenge,
            out_dir=out,
            progress=progress,
            # A rerun of the demo may reuse the ground truth: the demo is not a clock check.
            use_cache=True,
        )
    )
    result.raise_for_verdict()
    if result.score is None:
        raise HarnessError("vcc run gave no score for the demo", path=out, fix="report this bug")
    return {"score": result.score, "message": result.message, "run_json": str(result.json_path)}


def run_demo(
    workdir: Path | None = None,
    frames: int = DEMO_DEFAULT_FRAMES,
    rebuild: bool = False,
    progress: bool = True,
) -> dict:
    """`vcc demo`: build (once) the synthetic challenge and example submission, inflate, score.

    The challenge is cached under demo_cache_dir(); the example submission goes to
    `workdir/example-submission` (default: the demo cache). Prints the official
    report, the full-precision terms and how to rerun `vcc score`/`vcc run` on the
    fixture; returns the scorer's JSON dict plus a "demo" entry with the paths.
    """
    from ._report import terminal_summary

    def say(msg: str) -> None:
        if progress:
            print(f"vcc demo: {msg}", file=sys.stderr, flush=True)

    started = time.monotonic()
    root = demo_cache_dir()
    say(f"challenge ({frames} frames): building or reusing under {root}")
    challenge = cached_challenge(frames, rebuild=rebuild, progress=progress)
    built_s = time.monotonic() - started
    work = Path(workdir) if workdir is not None else root / f"work-v{DEMO_BUILDER_VERSION}-f{frames}-s0"
    submission = work / "example-submission"
    say(f"example submission: compressing into {submission}")
    build_example_submission(challenge, submission)
    say("inflating and scoring (vcc run)")
    run = _run_example(submission, challenge, work / "run", progress)
    result = run["score"]
    result["demo"] = {
        "challenge_dir": str(challenge),
        "submission_dir": str(submission),
        "run_dir": str(work / "run"),
        "run_json": run["run_json"],
        "run_message": run["message"],
        "frames": frames,
        "builder_version": DEMO_BUILDER_VERSION,
        "challenge_s": round(built_s, 2),
        "total_s": round(time.monotonic() - started, 2),
    }
    print(result["official_report"], end="")
    print(terminal_summary(result))
    print(f"vcc run: {run['message']} (report: {run['run_json']})")
    names = challenge / _NAMES_FILE
    print(
        "\nThese are synthetic stand-ins (a generated video, random nets with calibrated\n"
        "BatchNorm), not the official challenge: the numbers only show the pipeline working.\n"
        f"  challenge:  {challenge}\n"
        f"  submission: {submission}\n"
        "Rerun the whole job (unzip, inflate, checks, score) on them:\n"
        f"  vcc run {submission} --challenge-dir {challenge} --out NEW_DIR\n"
        "or inflate by hand and score only:\n"
        f"  cd {submission} && unzip -o archive.zip -d archive && "
        f"bash inflate.sh archive inflated {names}\n"
        f"  vcc score {submission} --challenge-dir {challenge}\n"
        "For the real challenge: git clone the official repository "
        "(commaai/comma_video_compression_challenge),\n"
        "run `git lfs pull` in it, and pass that checkout as --challenge-dir."
    )
    return result
