"""DALI's NVDEC-path RGB frames emulated on the CPU (scorer._dali): arithmetic, edges, batching.

The main reference here is independent of the implementation: exact rational arithmetic
(fractions) following the kernel as DALI's source writes it, with explicit rounding to
float32 after every operation (one rounding per fused multiply-add) and round-half-even
to integers. A second, looser reference is the documented formula in numpy float64.
"""

from __future__ import annotations

import math
import sys
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from vcc.base import EXIT_HARNESS, BadInput, HarnessError
from vcc.scorer import YuvFrame, frame_converter, iter_yuv_frames, yuv420_to_rgb_pyav
from vcc.scorer._dali import (
    DALI_VARIANTS,
    count_hevc_vcl_nal_units,
    dali_batch_outline,
    dali_chroma_x16,
    dali_frame_count,
    dali_version_warning,
    iter_dali_emulated_pair_batches,
    iter_dali_pair_batches,
    yuv420_to_rgb_dali,
)

GOLDEN = Path(__file__).parents[1].parent / "shared" / "golden"
GOLDEN_VIDEO = GOLDEN / "challenge" / "videos" / "0.mkv"
needs_golden = pytest.mark.skipif(not GOLDEN_VIDEO.is_file(), reason=f"golden video absent: {GOLDEN_VIDEO}")


# --- exact reference ----------------------------------------------------------------------------


def f32(q: Fraction) -> Fraction:
    """Round a rational to the nearest float32 (ties to even); normal range only."""
    if q == 0:
        return Fraction(0)
    sign, a = (-1, -q) if q < 0 else (1, q)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    if Fraction(2) ** (e + 1) <= a:
        e += 1
    scale = Fraction(2) ** (23 - e)
    return sign * Fraction(round(a * scale)) / scale  # Fraction.__round__: half to even


def lit(text: str) -> Fraction:
    """A C++ float literal: the decimal rounded once to float32."""
    return f32(Fraction(text))


K = f32(Fraction(255, 219))  # `255.0f / 219`
INV = f32(Fraction(1, 255))  # `1.0f / 255.0f`
LIMITED = tuple(lit(t) for t in ("1.5960267848", "0.39176228842", "0.81296764538", "2.0172321417"))
FULL = tuple(lit(t) for t in ("1.402", "0.344136285", "0.714136285", "1.772"))


def ref_chroma(plane: np.ndarray, height: int, width: int, x: int, y: int) -> Fraction:
    """color_space.cu + sampler.h, literally: sample at (halfx + j/2 + 1/4, ...) minus 1/2."""
    hc, wc = height // 2, width // 2
    cx = Fraction(x // 2) + Fraction(x % 2, 2) + Fraction(1, 4) - Fraction(1, 2)
    cy = Fraction(y // 2) + Fraction(y % 2, 2) + Fraction(1, 4) - Fraction(1, 2)
    x0, y0 = math.floor(cx), math.floor(cy)
    qx, qy = cx - x0, cy - y0

    def tap(yy: int, xx: int) -> Fraction:
        return Fraction(int(plane[min(max(yy, 0), hc - 1), min(max(xx, 0), wc - 1)]))

    s0 = tap(y0, x0) * (1 - qx) + tap(y0, x0 + 1) * qx
    s1 = tap(y0 + 1, x0) * (1 - qx) + tap(y0 + 1, x0 + 1) * qx
    return s0 + (s1 - s0) * qy


def ref_pixel(y: int, cb: Fraction, cr: Fraction, variant: str, full: bool) -> tuple[int, int, int]:
    kr, kgb, kgr, kb = FULL if full else LIMITED
    if variant == "1.52":
        tb, tr = Fraction(round(cb) - 128), Fraction(round(cr) - 128)  # u8vec3: half to even
        ys = Fraction(y) if full else f32((y - 16) * K)
        out_scale = Fraction(1)
    else:
        tb, tr = f32(cb * INV - Fraction(1, 2)), f32(cr * INV - Fraction(1, 2))
        ys = f32(y * INV) if full else f32(f32(y * INV - Fraction(1, 16)) * K)
        out_scale = Fraction(255)
    r = f32(kr * tr + ys)
    g = f32(-kgr * tr + f32(-kgb * tb + ys))
    b = f32(kb * tb + ys)
    if variant != "1.52":
        r, g, b = (f32(c * out_scale) for c in (r, g, b))
    return tuple(min(max(round(c), 0), 255) for c in (r, g, b))  # type: ignore[return-value]


def ref_frame(frame: YuvFrame, variant: str) -> np.ndarray:
    h, w = frame.y.shape
    out = np.empty((h, w, 3), np.uint8)
    for yy in range(h):
        for xx in range(w):
            cb = ref_chroma(frame.u, h, w, xx, yy)
            cr = ref_chroma(frame.v, h, w, xx, yy)
            out[yy, xx] = ref_pixel(int(frame.y[yy, xx]), cb, cr, variant, frame.full_range)
    return out


def random_frame(rng: np.random.Generator, h: int, w: int, full: bool = False) -> YuvFrame:
    return YuvFrame(
        y=rng.integers(0, 256, (h, w), dtype=np.uint8),
        u=rng.integers(0, 256, ((h + 1) // 2, (w + 1) // 2), dtype=np.uint8),
        v=rng.integers(0, 256, ((h + 1) // 2, (w + 1) // 2), dtype=np.uint8),
        full_range=full,
    )


# --- chroma -------------------------------------------------------------------------------------


@pytest.mark.parametrize("h,w", [(2, 2), (4, 6), (5, 7), (7, 3), (6, 9)])
def test_chroma_equals_kernel_sampler(h: int, w: int) -> None:
    rng = np.random.default_rng(h * 100 + w)
    plane = rng.integers(0, 256, ((h + 1) // 2, (w + 1) // 2), dtype=np.uint8)
    got = dali_chroma_x16(plane, h, w)
    want = np.array([[ref_chroma(plane, h, w, x, y) * 16 for x in range(w)] for y in range(h)])
    assert got.shape == (h, w)
    assert np.array_equal(got.astype(object), want)


def test_chroma_edges_clamp_and_even_size_is_align_corners_false() -> None:
    rng = np.random.default_rng(1)
    plane = rng.integers(0, 256, (5, 6), dtype=np.uint8)
    got = dali_chroma_x16(plane, 10, 12) / 16
    # Corners: every tap clamps to the corner sample.
    assert got[0, 0] == plane[0, 0] and got[-1, -1] == plane[-1, -1]
    assert got[0, -1] == plane[0, -1] and got[-1, 0] == plane[-1, 0]
    # Even sizes: torch's bilinear with align_corners=False gives the same numbers.
    t = torch.nn.functional.interpolate(
        torch.from_numpy(plane.astype(np.float64))[None, None], size=(10, 12), mode="bilinear",
        align_corners=False,
    )[0, 0].numpy()
    assert np.array_equal(got, t)


def test_odd_size_reads_only_the_floor_surface() -> None:
    # 5x7 luma with 3x4 chroma planes: DALI's surface is 2x3, the last row/column unused.
    rng = np.random.default_rng(2)
    frame = random_frame(rng, 5, 7)
    assert frame.u.shape == (3, 4)
    changed_u = frame.u.copy()
    changed_u[2, :] = 255 - changed_u[2, :]
    changed_u[:, 3] = 255 - changed_u[:, 3]
    changed = YuvFrame(frame.y, changed_u, frame.v, frame.full_range)
    for variant in DALI_VARIANTS:
        assert np.array_equal(yuv420_to_rgb_dali(frame, variant), yuv420_to_rgb_dali(changed, variant))
        assert np.array_equal(yuv420_to_rgb_dali(frame, variant), ref_frame(frame, variant))


# --- the whole conversion against the exact reference --------------------------------------------


@pytest.mark.parametrize("variant", DALI_VARIANTS)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("h,w", [(6, 8), (5, 7)])
def test_conversion_equals_exact_reference(variant: str, full: bool, h: int, w: int) -> None:
    rng = np.random.default_rng(zlib.crc32(f"{variant}{full}{h}{w}".encode()))
    for _ in range(3):
        frame = random_frame(rng, h, w, full)
        assert np.array_equal(yuv420_to_rgb_dali(frame, variant), ref_frame(frame, variant))


@pytest.mark.parametrize("variant", DALI_VARIANTS)
def test_every_luma_and_chroma_value(variant: str) -> None:
    # Flat chroma blocks make the sampled chroma equal the plane value: 256 Y x 16 chroma pairs.
    ys = np.repeat(np.arange(256, dtype=np.uint8), 2)[None, :].repeat(2, 0)  # 2 x 512
    for full in (False, True):
        for c in range(0, 256, 17):
            u = np.full((1, 256), c, np.uint8)
            v = np.full((1, 256), 255 - c, np.uint8)
            frame = YuvFrame(ys, u, v, full)
            got = yuv420_to_rgb_dali(frame, variant)
            want = [ref_pixel(int(y), Fraction(c), Fraction(255 - c), variant, full) for y in ys[0]]
            assert np.array_equal(got[0], np.array(want, np.uint8)), (full, c)


# (Y, Cb, Cr, full_range) whose G differs between fused and unfused float32 arithmetic: only
# 21 of 2**24 limited-range triples do (none for R, B), so these pin the FMA assumption.
FMA_SENSITIVE = [(20, 16, 69, False), (22, 35, 91, False), (26, 104, 93, False),
                 (33, 67, 4, False), (86, 115, 74, False), (1, 178, 78, True), (3, 178, 78, True)]


@pytest.mark.parametrize("y,cb,cr,full", FMA_SENSITIVE)
def test_fma_sensitive_inputs(y: int, cb: int, cr: int, full: bool) -> None:
    frame = YuvFrame(np.full((2, 2), y, np.uint8), np.full((1, 1), cb, np.uint8),
                     np.full((1, 1), cr, np.uint8), full)
    want = ref_pixel(y, Fraction(cb), Fraction(cr), "1.52", full)
    assert tuple(yuv420_to_rgb_dali(frame, "1.52")[0, 0]) == want
    # The same expression with two roundings lands on the other side of a .5.
    kr, kgb, kgr, kb = FULL if full else LIMITED
    ys = Fraction(y) if full else f32((y - 16) * K)
    unfused = f32(f32(ys - f32(kgb * (cb - 128))) - f32(kgr * (cr - 128)))
    assert min(max(round(unfused), 0), 255) != want[1]


def test_152_rounds_chroma_half_to_even_and_post_6076_does_not() -> None:
    # Chroma row [0, 2] upsamples to 0, 0.5, 1.5, 2 (exact ties at luma columns 1 and 2).
    y = np.full((2, 4), 128, np.uint8)
    v = np.array([[0, 2]], np.uint8)
    u = np.full((1, 2), 128, np.uint8)
    frame = YuvFrame(y, u, v, False)
    assert np.array_equal(dali_chroma_x16(v, 2, 4)[0], [0, 8, 24, 32])
    got = yuv420_to_rgb_dali(frame, "1.52")
    for col, rounded in enumerate([0, 0, 2, 2]):  # 0.5 -> 0 and 1.5 -> 2: ties to even
        assert tuple(got[0, col]) == ref_pixel(128, Fraction(128), Fraction(rounded), "1.52", False)
    post = yuv420_to_rgb_dali(frame, "post-6076")
    assert tuple(post[0, 1]) == ref_pixel(128, Fraction(128), Fraction(1, 2), "post-6076", False)


def test_full_range_flag_switches_coefficients_and_clamps() -> None:
    y = np.array([[0, 16, 235, 255]], np.uint8).repeat(2, 0)
    grey = np.full((1, 2), 128, np.uint8)
    limited = yuv420_to_rgb_dali(YuvFrame(y, grey, grey, False))
    full = yuv420_to_rgb_dali(YuvFrame(y, grey, grey, True))
    assert limited[0, :, 0].tolist() == [0, 0, 255, 255]  # clamped below 16 and above 235
    assert full[0, :, 0].tolist() == [0, 16, 235, 255]  # full range: Y passes through
    assert (limited[0] == limited[0, :, :1]).all() and (full[0] == full[0, :, :1]).all()  # grey
    # Saturated chroma clamps each channel at 0 and 255.
    hot = yuv420_to_rgb_dali(YuvFrame(np.full((2, 2), 235, np.uint8), np.zeros((1, 1), np.uint8),
                                      np.full((1, 1), 255, np.uint8), False))
    assert hot[0, 0].tolist() == [255, 202, 0]  # R above 255, B below 0
    assert tuple(hot[0, 0]) == ref_pixel(235, Fraction(0), Fraction(255), "1.52", False)


def test_documented_float64_formula_agrees_but_for_near_ties() -> None:
    """DALI 1.52's formula (chroma rounded, BT.601 limited range) in float64 with np.rint: the float32 FMA
    path may differ by one."""
    rng = np.random.default_rng(5)
    frame = random_frame(rng, 64, 96)
    h, w = frame.y.shape
    cb = np.rint(dali_chroma_x16(frame.u, h, w) / 16.0) - 128
    cr = np.rint(dali_chroma_x16(frame.v, h, w) / 16.0) - 128
    ys = (frame.y.astype(np.float64) - 16) * (255 / 219)
    want = np.stack([ys + 1.5960267848 * cr, ys - 0.39176228842 * cb - 0.81296764538 * cr,
                     ys + 2.0172321417 * cb], -1)
    want = np.clip(np.rint(want), 0, 255)
    got = yuv420_to_rgb_dali(frame, "1.52").astype(np.float64)
    assert np.abs(got - want).max() <= 1
    assert (got == want).mean() > 0.999


def test_unknown_variant_is_bad_input() -> None:
    frame = random_frame(np.random.default_rng(0), 2, 2)
    with pytest.raises(BadInput, match="variant"):
        yuv420_to_rgb_dali(frame, "1.53")


def test_both_variants_registered_for_the_decode_path() -> None:
    frame = random_frame(np.random.default_rng(3), 6, 8)
    for variant in DALI_VARIANTS:
        convert = frame_converter(f"dali-emulated:{variant}")
        assert np.array_equal(convert(frame), yuv420_to_rgb_dali(frame, variant))


# --- golden video ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def golden_frames() -> list[YuvFrame]:
    if not GOLDEN_VIDEO.is_file():
        pytest.skip(f"golden video absent: {GOLDEN_VIDEO}")
    return [f for _, f in zip(range(6), iter_yuv_frames(GOLDEN_VIDEO), strict=False)]


def _mean_diff(frames: list[YuvFrame], a, b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    total = np.zeros(3)
    equal = np.zeros(3)
    worst = np.zeros(3)
    n = 0
    for f in frames:
        d = (a(f).astype(np.int16) - b(f).astype(np.int16)).reshape(-1, 3)
        total += d.sum(0)
        equal += (d == 0).sum(0)
        worst = np.maximum(worst, np.abs(d).max(0))
        n += d.shape[0]
    return total / n, equal / n, worst


def test_golden_post_6076_bias_against_152(golden_frames: list[YuvFrame]) -> None:
    mean, equal, worst = _mean_diff(golden_frames, lambda f: yuv420_to_rgb_dali(f, "post-6076"),
                                    yuv420_to_rgb_dali)
    # From the source: luma bias 0.0625 * 255/219 and chroma offset 127.5 instead of 128.
    ybias = 0.0625 * 255 / 219
    theory = np.array([ybias + 0.5 * 1.5960267848, ybias - 0.5 * (0.39176228842 + 0.81296764538),
                       ybias + 0.5 * 2.0172321417])  # +0.871, -0.530, +1.081
    print(f"post-6076 - 1.52: mean {mean}, equal {equal}, max {worst}; theory {theory}")
    assert np.all(np.abs(mean - theory) < 0.15)  # the rest: chroma rounding on this content
    assert mean[1] < 0  # G goes DOWN (the description's "+0.68" for G after PR #6076 has the sign wrong)
    assert worst.max() <= 3


def test_golden_152_differs_from_pyav(golden_frames: list[YuvFrame]) -> None:
    mean, equal, worst = _mean_diff(golden_frames, yuv420_to_rgb_dali, yuv420_to_rgb_pyav)
    print(f"dali-emulated 1.52 - pyav: mean {mean}, equal {equal}, max {worst}")
    assert np.all(equal < 1.0)  # different targets
    assert np.all(equal > 0.8) and worst.max() <= 2 and np.all(np.abs(mean) < 0.05)


# --- frame count, outline, emulated batches -------------------------------------------------------


def test_count_hevc_vcl_nal_units_synthetic() -> None:
    def nal(t: int, payload: bytes = b"\xaa\xbb") -> bytes:
        return bytes([t << 1, 1]) + payload

    stream = (b"\x00\x00\x00\x01" + nal(32) + b"\x00\x00\x01" + nal(33) + b"\x00\x00\x01" + nal(34)
              + b"\x00\x00\x01" + nal(39) + b"\x00\x00\x01" + nal(19) + b"\x00\x00\x00\x01" + nal(1)
              + b"\x00\x00\x01" + nal(0) + b"\x00\x00\x01" + nal(31) + b"\x00\x00\x01" + nal(40))
    assert count_hevc_vcl_nal_units(stream) == 4  # types 19, 1, 0, 31
    assert count_hevc_vcl_nal_units(b"") == 0


@needs_golden
def test_dali_frame_count_mkv_and_annexb(tmp_path: Path) -> None:
    assert dali_frame_count(GOLDEN_VIDEO) == 70
    hevc = tmp_path / "0.hevc"
    with av.open(str(GOLDEN_VIDEO)) as src, av.open(str(hevc), "w", format="hevc") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.size:
                packet.stream = stream
                dst.mux(packet)
    assert dali_frame_count(hevc) == 70


def test_dali_batch_outline() -> None:
    assert dali_batch_outline(70, 16) == [16, 16, 3]
    assert dali_batch_outline(64, 16) == [16, 16]
    assert dali_batch_outline(65, 16) == [16, 16]  # the padded 33rd pair is never fetched
    assert dali_batch_outline(71, 16) == [16, 16, 4]  # 3 pairs + the last frame padded with zeros
    assert dali_batch_outline(1, 16) == []


@needs_golden
def test_emulated_batches_follow_dali_outline() -> None:
    batches = list(iter_dali_emulated_pair_batches(GOLDEN_VIDEO, 16))
    assert [b.shape[0] for b in batches] == [16, 16, 3]
    assert all(b.dtype == torch.uint8 and tuple(b.shape[1:]) == (2, 874, 1164, 3) for b in batches)
    first = next(iter_yuv_frames(GOLDEN_VIDEO))
    assert np.array_equal(batches[0][0, 0].numpy(), yuv420_to_rgb_dali(first))


@needs_golden
def test_emulated_odd_count_pads_the_last_pair_with_zeros(monkeypatch: pytest.MonkeyPatch) -> None:
    import vcc.scorer._dali as dali_mod

    monkeypatch.setattr(dali_mod, "dali_frame_count", lambda path: 69)
    batches = list(iter_dali_emulated_pair_batches(GOLDEN_VIDEO, 16))
    assert [b.shape[0] for b in batches] == [16, 16, 3]  # 2 full pairs + (frame 68, zeros)
    last = batches[-1].numpy()
    assert not last[2, 1].any() and last[2, 0].any()
    monkeypatch.setattr(dali_mod, "dali_frame_count", lambda path: 72)  # more than it decodes
    with pytest.raises(BadInput, match="fewer frames"):
        list(iter_dali_emulated_pair_batches(GOLDEN_VIDEO, 16))


# --- the real path's errors where DALI or CUDA is missing -----------------------------------------


def test_real_dali_without_cuda_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(HarnessError, match="CUDA") as info:
        next(iter_dali_pair_batches(GOLDEN_VIDEO, 16, torch.device("cuda")))
    assert info.value.exit_code == EXIT_HARNESS
    assert "dali-emulated" in (info.value.fix or "")


def test_real_dali_on_cpu_device_says_so() -> None:
    with pytest.raises(HarnessError, match="CUDA device"):
        next(iter_dali_pair_batches(GOLDEN_VIDEO, 16, torch.device("cpu")))


def test_real_dali_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setitem(sys.modules, "nvidia.dali", None)  # import fails even where installed
    with pytest.raises(HarnessError, match="DALI is not installed") as info:
        next(iter_dali_pair_batches(GOLDEN_VIDEO, 16, torch.device("cuda")))
    assert "--extra-index-url https://pypi.nvidia.com 'vcc[dali]'" in info.value.render()
    assert "nvidia-dali-cuda120==1.52.0" in info.value.render()


def test_dali_version_warning() -> None:
    assert dali_version_warning("1.52.0") is None
    assert dali_version_warning(None) is None
    assert "1.52.0" in (dali_version_warning("1.53.0") or "")
