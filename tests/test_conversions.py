"""Unit tests of the colour conversions against independent float64 reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vcc.base import FRAME_H, FRAME_W
from vcc.scorer import YuvFrame, pair_batches, posenet_input, rgb_to_yuv6, yuv420_to_rgb_pyav


def _bilinear_2x_reference(plane: np.ndarray, h: int, w: int) -> np.ndarray:
    """Half-pixel-centre bilinear resize (align_corners=False), written from the definition."""

    def axis(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
        i0 = np.floor(src).astype(int)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, src - i0

    y0, y1, ly = axis(h, plane.shape[0])
    x0, x1, lx = axis(w, plane.shape[1])
    p = plane.astype(np.float64)
    top = p[y0][:, x0] * (1 - lx) + p[y0][:, x1] * lx
    bottom = p[y1][:, x0] * (1 - lx) + p[y1][:, x1] * lx
    return top * (1 - ly[:, None]) + bottom * ly[:, None]


def _pyav_reference(frame: YuvFrame) -> np.ndarray:
    h, w = frame.y.shape
    yf = (frame.y.astype(np.float64) - 16) * 255 / 219
    uf = (_bilinear_2x_reference(frame.u, h, w) - 128) * 255 / 224
    vf = (_bilinear_2x_reference(frame.v, h, w) - 128) * 255 / 224
    rgb = np.stack([yf + 1.402 * vf, yf - 0.344136 * uf - 0.714136 * vf, yf + 1.772 * uf], -1)
    return np.rint(np.clip(rgb, 0, 255)).astype(np.uint8)


def _random_frame(h: int, w: int, seed: int = 0) -> YuvFrame:
    rng = np.random.default_rng(seed)
    return YuvFrame(
        y=rng.integers(0, 256, (h, w), dtype=np.uint8),
        u=rng.integers(0, 256, (h // 2, w // 2), dtype=np.uint8),
        v=rng.integers(0, 256, (h // 2, w // 2), dtype=np.uint8),
        full_range=False,
    )


def test_pyav_conversion_matches_reference() -> None:
    frame = _random_frame(FRAME_H, FRAME_W)
    got = yuv420_to_rgb_pyav(frame).astype(int)
    ref = _pyav_reference(frame).astype(int)
    diff = np.abs(got - ref)
    assert diff.max() <= 1  # float32 vs float64 rounding at .5 boundaries only
    assert (diff == 0).mean() > 0.999


def test_pyav_conversion_known_colours() -> None:
    # Limited-range black, white and neutral grey; flat chroma makes upsampling exact.
    for y, expected in ((16, 0), (235, 255), (126, 128)):
        frame = YuvFrame(np.full((4, 6), y, np.uint8), np.full((2, 3), 128, np.uint8),
                         np.full((2, 3), 128, np.uint8), False)
        assert (yuv420_to_rgb_pyav(frame) == expected).all()
    red = YuvFrame(np.full((4, 6), 81, np.uint8), np.full((2, 3), 90, np.uint8), np.full((2, 3), 240, np.uint8),
                   False)
    r, g, b = yuv420_to_rgb_pyav(red)[0, 0]
    assert r > 250 and g < 5 and b < 5  # U and V not swapped


def _yuv6_reference(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[:, c].astype(np.float64) for c in range(3))
    y = np.clip(0.299 * r + 0.587 * g + 0.114 * b, 0, 255)
    u = np.clip((b - y) / 1.772 + 128, 0, 255)
    v = np.clip((r - y) / 1.402 + 128, 0, 255)

    def sub(c: np.ndarray) -> np.ndarray:
        return (c[:, 0::2, 0::2] + c[:, 1::2, 0::2] + c[:, 0::2, 1::2] + c[:, 1::2, 1::2]) / 4

    return np.stack([y[:, 0::2, 0::2], y[:, 1::2, 0::2], y[:, 0::2, 1::2], y[:, 1::2, 1::2], sub(u), sub(v)], 1)


def test_rgb_to_yuv6_matches_reference() -> None:
    rgb = torch.from_numpy(np.random.default_rng(1).uniform(0, 255, (3, 3, 8, 10)).astype(np.float32))
    got = rgb_to_yuv6(rgb).numpy()
    assert got.shape == (3, 6, 4, 5)
    np.testing.assert_allclose(got, _yuv6_reference(rgb.numpy()), atol=1e-3)


def test_rgb_to_yuv6_luma_phase_order() -> None:
    # A grey image whose value encodes the pixel's phase: Y equals it, so the 4 luma
    # channels must come out as phases (0,0), (1,0), (0,1), (1,1) (row, column).
    phase = np.array([[10.0, 30.0], [20.0, 40.0]], np.float32)
    grey = np.tile(phase, (2, 3))
    rgb = torch.from_numpy(np.stack([grey] * 3)[None])
    out = rgb_to_yuv6(rgb)[0]
    assert [float(out[c, 0, 0]) for c in range(4)] == pytest.approx([10.0, 20.0, 30.0, 40.0], abs=1e-4)


def test_posenet_input_concatenates_frame0_then_frame1() -> None:
    x = torch.zeros(1, 2, 3, 874, 1164)
    x[:, 1] = 200.0
    out = posenet_input(x)
    assert out.shape == (1, 12, 192, 256)
    assert float(out[0, :4].max()) == 0.0 and float(out[0, 6:10].min()) > 199.0


def test_pair_batches_drop_odd_frame_and_keep_partial_batch() -> None:
    frames = [np.full((FRAME_H, FRAME_W, 3), i, np.uint8) for i in range(7)]
    batches = list(pair_batches(iter(frames), 2))
    assert [tuple(b.shape) for b in batches] == [(2, 2, FRAME_H, FRAME_W, 3), (1, 2, FRAME_H, FRAME_W, 3)]
    assert [int(batches[0][1, 0, 0, 0, 0]), int(batches[0][1, 1, 0, 0, 0])] == [2, 3]
    assert int(batches[1][0, 1, 0, 0, 0]) == 5  # frame 6 (odd one out) dropped


def test_raw_pair_batches_equal_memmap_pairing(tmp_path) -> None:
    from vcc.base import FRAME_BYTES
    from vcc.scorer import open_raw_frames, raw_pair_batches

    raw = tmp_path / "c.raw"
    rng = np.random.default_rng(3)
    with open(raw, "wb") as f:
        for _ in range(7):  # odd: the last frame is dropped
            f.write(rng.integers(0, 256, FRAME_BYTES, dtype=np.uint8).tobytes())
    direct = list(raw_pair_batches(raw, 2))
    mapped = list(pair_batches(iter(open_raw_frames(raw)), 2))
    assert [tuple(b.shape) for b in direct] == [tuple(b.shape) for b in mapped] == [
        (2, 2, FRAME_H, FRAME_W, 3), (1, 2, FRAME_H, FRAME_W, 3)]
    assert all(torch.equal(a, b) for a, b in zip(direct, mapped, strict=True))
