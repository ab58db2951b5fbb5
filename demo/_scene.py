"""The demo's synthetic original: a dashcam-like scene rendered frame by frame, encoded with libx265."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vcc.base import FRAME_H, FRAME_W, progress_iter

# Bump when the scene, encoder settings or calibration change: it keys the cache.
DEMO_BUILDER_VERSION = 1
DEMO_DEFAULT_FRAMES = 60
DEMO_FPS = 20
_MANIFEST = "demo.json"
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
        horizon = np.float32(self.horizon0 + shake_y)
        cx = np.float32(FRAME_W / 2 + shake_x)
        img = np.empty((FRAME_H, FRAME_W, 3), np.float32)
        first_ground = int(math.floor(horizon)) + 1
        self._draw_sky(img, t, shake_y, shake_x, horizon, first_ground)
        self._draw_ground(img, horizon, cx, curv, first_ground)
        self._draw_tree_line(img, t, shake_x, horizon, first_ground)
        self._draw_objects(img, horizon, cx, curv)
        self._draw_hood(img)
        img += self.sensor_noise[self.index % len(self.sensor_noise)]  # a little sensor noise
        img += np.float32(0.5)
        np.clip(img, 0, 255, out=img)
        return img.astype(np.uint8)

    _SKY_TOP = np.array([70, 120, 200], np.float32)
    _SKY_LOW = np.array([190, 205, 222], np.float32)  # also the haze colour at the horizon

    def _draw_sky(self, img: np.ndarray, t: float, shake_y: float, shake_x: float, horizon: np.float32,
                  sky_rows: int) -> None:
        """A vertical gradient with clouds, down to the horizon."""
        grad = np.clip(self.ys[:sky_rows] / max(float(horizon), 1.0), 0, 1)[:, None, None]
        top, low = self._SKY_TOP, self._SKY_LOW
        oy = int(round(self.pad - shake_y))
        ox = int(round(self.pad - shake_x + 40 * math.sin(0.05 * t)))
        cloud = self.clouds[oy : oy + sky_rows, ox : ox + FRAME_W]
        if cloud.shape[0] < sky_rows:  # the shaken horizon reaches below the cloud texture
            cloud = np.pad(cloud, ((0, sky_rows - cloud.shape[0]), (0, 0)), mode="edge")
        cloud = np.clip(cloud, 0, 1)[:, :, None] * (1 - grad)
        img[:sky_rows] = top * (1 - grad) + low * grad
        img[:sky_rows] += cloud * (np.float32(235) - img[:sky_rows])

    def _draw_ground(self, img: np.ndarray, horizon: np.float32, cx: np.float32, curv: float,
                     first_ground: int) -> None:
        """Each row below the horizon sees the road at one distance z: texture, road, paint, haze."""
        f, h = np.float32(self.focal), np.float32(self.cam_height)
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
        g += haze * (self._SKY_LOW - g)
        img[first_ground:] = g

    def _draw_tree_line(self, img: np.ndarray, t: float, shake_x: float, horizon: np.float32,
                        first_ground: int) -> None:
        """Trees above the horizon, scrolled by yaw."""
        start = int(round(FRAME_W + shake_x * 3 + 200 * math.sin(0.05 * t))) % (3 * FRAME_W)
        heights = self.treeline[start : start + FRAME_W]
        tree_top = horizon - heights
        r0 = max(0, int(math.floor(float(tree_top.min()))))  # rows above are sky only
        yy = self.ys[r0:first_ground, None]
        tree = np.clip(np.minimum(yy - tree_top[None, :], horizon - yy + 1), 0, 1)[..., None]
        band = img[r0:first_ground]
        band += tree * (np.array([46, 66, 40], np.float32) - band)

    def _draw_hood(self, img: np.ndarray) -> None:
        """The car's hood: rigid with the camera, so no shake."""
        h0 = int(math.floor(float(self.hood_top.min())))  # rows above never show the hood
        ys = self.ys[h0:, None]
        hood = np.clip(ys - self.hood_top[None, :], 0, 1)[..., None]
        hood_col = np.array([30, 32, 36], np.float32) + np.float32(0.06) * (ys[..., None] - FRAME_H)
        band = img[h0:]
        band += hood * (hood_col - band)

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
    return progress_iter(it, len(it), desc, "frame", enabled=enabled)


# --------------------------------------------------------------------------- weights


