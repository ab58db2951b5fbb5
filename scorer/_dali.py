"""The T4 runner's ground truth: real DALI on CUDA, and DALI's RGB frames emulated on the CPU.

DALI decodes with NVDEC (bit-exact HEVC, so its YUV planes equal libavcodec's) and then
converts NV12 to RGB in its own CUDA kernel. The emulation reproduces that kernel's
arithmetic from the planes PyAV gives us. What the kernel does, read from DALI's source
(repository NVIDIA/DALI, files named below), facts only:

- `dali/operators/video/color_space.cu`: one thread per 2x2 luma block; luma is read
  nearest with border clamp; chroma comes from a LINEAR sampler over an interleaved UV
  surface of `width / 2` x `height / 2` (integer division) sampled at
  `(halfx + j/2 + 1/4, halfy + i/2 + 1/4)`.
- `dali/kernels/imgproc/sampler.h`: the linear sampler subtracts 0.5 (pixel centres),
  clamps the four taps to `[0, size - 1]`, and blends `s0 = s00*px + s01*qx`,
  `s1 = s10*px + s11*qx`, `s0 + (s1 - s0)*qy`, then `ConvertSat<T>` to the output type.
  For 2x upsampling the weights are 1/4 and 3/4, so the blend is exact in float32
  (a multiple of 1/16): the geometry is torch's `align_corners=False`, scale exactly 2.
- DALI 1.52: the sample lands in a `u8vec3`, so chroma is ROUNDED to an integer
  (`include/dali/core/convert.h`: `ConvertSat<uint8_t>(float)` on the device is
  `__float2int_rn`, round half to even, then a clamp) before
  `itu_r_bt_601::ycbcr_to_rgb<uint8_t>` (or `jpeg::` when the stream's
  `video_full_range_flag` is set; `frames_decoder_gpu.cc`).
- After PR #6076 ("Remove texture-based video processing in NvDecoder", merged Nov 2025;
  DALI 1.52 predates it): the sample lands in a float `vec3` (no rounding), the
  vector is scaled by `1.0f / 255.0f`, converted with `ycbcr_to_rgb<float>` (biases 0.0625
  and 0.5 in normalised units, i.e. 15.9375 and 127.5 in 8-bit units), multiplied by
  255.0f and rounded with `ConvertSat<uint8_t>`.
- `dali/kernels/imgproc/color_manipulation/color_space_conversion_impl.h`:
  `ys = (Y - ybias) * (255.0f / 219) * s`, `R = ys + 1.5960267848f*Cr'`,
  `G = ys - 0.39176228842f*Cb' - 0.81296764538f*Cr'`, `B = ys + 2.0172321417f*Cb'`
  (`s` = 1 here); full range: `R = Y + 1.402f*Cr'`, `G = Y - 0.344136285f*Cb' -
  0.714136285f*Cr'`, `B = Y + 1.772f*Cb'`.

Arithmetic assumed for the compiled kernel (nvcc's default `--fmad=true`, LLVM's NVPTX
contraction rules): every `a + b*c` / `a - b*c` above is one fused multiply-add with a
single rounding; `ys` (used three times) is a rounded product; in the post-6076 kernel the
`x * (1/255) - bias` pairs are fused too. The emulation computes each FMA exactly in
float64 (the operands' bits fit in 53) and rounds once to float32.
"""

from __future__ import annotations

import itertools
import math
import mmap
import warnings
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from vcc.base import RUNNERS, BadInput, HarnessError

from ._assets import FRAME_H, FRAME_W
from ._container import YuvFrame, count_video_frames, iter_yuv_frames
from ._targets import DALI_VARIANTS

__all__ = [
    "DALI_VARIANTS",
    "DALI_PIN",
    "DALI_EXTRA_HINT",
    "ARITHMETICS",
    "yuv420_to_rgb_dali",
    "rgb_from_ycbcr_152",
    "dali_chroma_x16",
    "dali_frame_count",
    "count_hevc_vcl_nal_units",
    "dali_batch_outline",
    "iter_dali_pair_batches",
    "iter_dali_emulated_pair_batches",
    "dali_version_warning",
    "dali_conversion_for",
    "require_dali",
    "require_pinned_dali",
    "DALI_INSTALL_COMMAND",
]

DALI_PIN = "nvidia-dali-cuda120==1.52.0"
# PyPI's 1.52.0 is a placeholder that fetches the real wheel from NVIDIA's index at install time;
# the official uv.lock takes it from that index too, so the command names it.
DALI_INDEX = "https://pypi.nvidia.com"
DALI_INSTALL_COMMAND = f"pip install --extra-index-url {DALI_INDEX} '{DALI_PIN}'"
DALI_EXTRA_HINT = (f"{DALI_INSTALL_COMMAND}  (or pip install --extra-index-url {DALI_INDEX} 'vcc[dali]'; "
                   "the T4 runner pins 1.52.0)")

_F32 = np.float32
# The T4's CUDA kernel ("device") and DALI's CPU operators ("host"): see "the matrix" below.
ARITHMETICS = ("device", "host")

# The kernel's float32 constants (C++ float literals / constant expressions, IEEE round to
# nearest). `255.0f / 219` and `1.0f / 255.0f` are float divisions, done here in float32 too.
_Y_SCALE = _F32(255.0) / _F32(219.0)
_INV_255 = _F32(1.0) / _F32(255.0)
_LIMITED = (_F32(1.5960267848), _F32(0.39176228842), _F32(0.81296764538), _F32(2.0172321417))
_FULL = (_F32(1.402), _F32(0.344136285), _F32(0.714136285), _F32(1.772))


def _check_variant(variant: str) -> None:
    if variant not in DALI_VARIANTS:
        raise BadInput(
            f"unknown DALI conversion variant {variant!r}",
            fix=f"use one of {', '.join(DALI_VARIANTS)} (1.52 is the official runner's DALI)",
        )


# --- chroma -----------------------------------------------------------------------------------


def _upsample_axis(src: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """DALI's 2x linear sampler along one axis, in quarters (exact integers).

    Output pixel p samples at (p - 0.5) / 2 in source pixel-centre units: even p = 2k
    blends taps k-1 and k with weights 1/4 and 3/4, odd p = 2k+1 taps k and k+1 with 3/4
    and 1/4; taps clamp to the surface's edge (border clamp).
    """
    edge_lo = np.take(src, [0], axis=axis)
    edge_hi = np.take(src, [src.shape[axis] - 1], axis=axis)
    padded = np.concatenate([edge_lo, src, edge_hi], axis=axis)  # padded[i + 1] == src[i]
    n_even, n_odd = (n_out + 1) // 2, n_out // 2

    def part(start: int, stop: int) -> np.ndarray:
        index = [slice(None)] * padded.ndim
        index[axis] = slice(start, stop)
        return padded[tuple(index)]

    shape = list(src.shape)
    shape[axis] = n_out
    out = np.empty(shape, np.uint16)
    even = [slice(None)] * src.ndim
    odd = [slice(None)] * src.ndim
    even[axis], odd[axis] = slice(0, None, 2), slice(1, None, 2)
    out[tuple(even)] = part(0, n_even) + 3 * part(1, n_even + 1)
    out[tuple(odd)] = 3 * part(1, n_odd + 1) + part(2, n_odd + 2)
    return out


def dali_chroma_x16(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """DALI's bilinear chroma at every luma pixel, times 16 (exact uint16, 0..4080).

    `plane` is the decoder's chroma plane (ceil sizes for odd frames); DALI's surface is
    its top-left `height // 2` x `width // 2`, so an odd frame's last chroma row/column is
    never read. The sampler's float32 blend of 1/4 and 3/4 weights is exact, so integer
    arithmetic gives its value bit for bit.
    """
    hc, wc = height // 2, width // 2
    if hc < 1 or wc < 1:
        raise BadInput(f"a {width}x{height} frame is too small for DALI's 4:2:0 conversion",
                       fix="frames must be at least 2x2")
    if plane.shape[0] < hc or plane.shape[1] < wc:
        raise BadInput(f"chroma plane {plane.shape} is smaller than {hc}x{wc}",
                       fix="pass the decoder's 4:2:0 planes")
    src = plane[:hc, :wc].astype(np.uint16)
    return _upsample_axis(_upsample_axis(src, width, 1), height, 0)


def _round_x16(v16: np.ndarray, arithmetic: str = "device") -> np.ndarray:
    """round(v16 / 16) in integers (v16 >= 0): `ConvertSat<uint8_t>` on exact sampler values.

    device: `__float2int_rn`, ties to even; host: ties away from zero (half up here).
    """
    if arithmetic == "host":
        return (v16 + 8) >> 4
    return (v16 + 7 + ((v16 >> 4) & 1)) >> 4


# --- the matrix -------------------------------------------------------------------------------
# One implementation, two arithmetics. "device" is the CUDA kernel as nvcc compiles it (every
# `a + b*c` one fused multiply-add, `ConvertSat` rounds half to even); "host" is the same source
# compiled for the CPU as DALI's CPU operators run it (every product and sum rounded to float32
# on its own, `ConvertSat` rounds half away from zero). Host arithmetic is what
# `fn.color_space_conversion(device="cpu")` computes, so DALI's own CPU kernel checks the
# constants, the order of operations and the ranges bit for bit on any machine; the device
# arithmetic's differences from it are counted by the tests.


def _check_arithmetic(arithmetic: str) -> None:
    if arithmetic not in ARITHMETICS:
        raise BadInput(f"unknown arithmetic {arithmetic!r}", fix=f"use one of {', '.join(ARITHMETICS)}")


def _madd(a: np.ndarray | np.floating, b: np.ndarray, c: np.ndarray, arithmetic: str) -> np.ndarray:
    """float32 `c + a*b`: device, one fused rounding (exact in float64 for these operands, then
    rounded once); host, the product rounded to float32, then the sum."""
    if arithmetic == "host":
        return (_mul32(b, a).astype(np.float64) + np.asarray(c, np.float64)).astype(_F32)
    return (np.float64(a) * np.asarray(b, np.float64) + np.asarray(c, np.float64)).astype(_F32)


def _mul32(a: np.ndarray, b: np.floating) -> np.ndarray:
    """float32 a * b, rounded once (the float64 product of two float32 values is exact)."""
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64)).astype(_F32)


def _to_u8(x: np.ndarray, arithmetic: str = "device") -> np.ndarray:
    """ConvertSat<uint8_t>(float): device rounds half to even, host half away from zero; then clamp."""
    if arithmetic == "host":
        x64 = np.asarray(x, np.float64)  # x +- 0.5 is exact in float64 for a float32 x
        rounded = np.where(x64 >= 0, np.floor(x64 + 0.5), np.ceil(x64 - 0.5))
        return np.clip(rounded, 0, 255).astype(np.uint8)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _rgb_from_int_ycbcr(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, full_range: bool,
                        arithmetic: str = "device") -> tuple:
    """DALI 1.52: `ycbcr_to_rgb<uint8_t>` on integer Y, Cb, Cr; returns float32 R, G, B."""
    tb = cb.astype(np.int32) - 128  # exact in float32
    tr = cr.astype(np.int32) - 128
    if full_range:
        kr, kgb, kgr, kb = _FULL
        ys = y.astype(_F32)  # `ycbcr[0] * s` with s == 1
    else:
        kr, kgb, kgr, kb = _LIMITED
        ys = _mul32(y.astype(np.int32) - 16, _Y_SCALE)
    r = _madd(kr, tr, ys, arithmetic)
    g = _madd(-kgr, tr, _madd(-kgb, tb, ys, arithmetic), arithmetic)
    b = _madd(kb, tb, ys, arithmetic)
    return r, g, b


def _rgb_from_float_ycbcr(
    y: np.ndarray, cb16: np.ndarray, cr16: np.ndarray, full_range: bool, arithmetic: str = "device"
) -> tuple:
    """Post-6076: unrounded chroma (given x16), scaled by 1/255, `ycbcr_to_rgb<float>`, x255."""
    cb = cb16.astype(np.float64) / 16.0  # exact: the sampler's float32 value
    cr = cr16.astype(np.float64) / 16.0
    tb = _madd(_INV_255, cb, np.float64(-0.5), arithmetic)  # fma(Cb, 1/255, -0.5)
    tr = _madd(_INV_255, cr, np.float64(-0.5), arithmetic)
    if full_range:
        kr, kgb, kgr, kb = _FULL
        ys = _mul32(y, _INV_255)  # Y/255 is used three times: a rounded product
    else:
        kr, kgb, kgr, kb = _LIMITED
        ys = _mul32(_madd(_INV_255, y.astype(np.float64), np.float64(-0.0625), arithmetic), _Y_SCALE)
    r = _mul32(_madd(kr, tr, ys, arithmetic), _F32(255.0))
    g = _mul32(_madd(-kgr, tr, _madd(-kgb, tb, ys, arithmetic), arithmetic), _F32(255.0))
    b = _mul32(_madd(kb, tb, ys, arithmetic), _F32(255.0))
    return r, g, b


def rgb_from_ycbcr_152(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, full_range: bool = False,
                       arithmetic: str = "device") -> np.ndarray:
    """DALI 1.52's matrix on integer (Y, Cb, Cr) triples (equal-shaped arrays): uint8 (..., 3)."""
    _check_arithmetic(arithmetic)
    r, g, b = _rgb_from_int_ycbcr(np.asarray(y), np.asarray(cb), np.asarray(cr), full_range, arithmetic)
    return np.stack([_to_u8(r, arithmetic), _to_u8(g, arithmetic), _to_u8(b, arithmetic)], axis=-1)


@lru_cache(maxsize=4)
def _luts_152(full_range: bool, arithmetic: str = "device") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1.52's whole conversion as tables: R[Y, Cr], G[Y, Cb, Cr] (16 MiB), B[Y, Cb].

    Built by running the arithmetic above on every input, so a frame costs three lookups.
    """
    v = np.arange(256, dtype=np.int32)
    yy, cc = np.meshgrid(v, v, indexing="ij")
    r, _, _ = _rgb_from_int_ycbcr(yy, np.full_like(cc, 128), cc, full_range, arithmetic)
    _, _, b = _rgb_from_int_ycbcr(yy, cc, np.full_like(cc, 128), full_range, arithmetic)
    g = np.empty((256, 256, 256), np.uint8)
    for yv in range(256):  # per luma value: bounded memory while building
        cb, cr = np.meshgrid(v, v, indexing="ij")
        _, gg, _ = _rgb_from_int_ycbcr(np.full_like(cb, yv), cb, cr, full_range, arithmetic)
        g[yv] = _to_u8(gg, arithmetic)
    return _to_u8(r, arithmetic), g, _to_u8(b, arithmetic)


def yuv420_to_rgb_dali(frame: YuvFrame, variant: str = "1.52", arithmetic: str = "device") -> np.ndarray:
    """The RGB frame DALI's NVDEC path outputs for these planes: uint8 (H, W, 3).

    `variant` "1.52" (the official lock) or "post-6076" (newer DALI, see module docstring).
    `frame.full_range` (the stream's `video_full_range_flag`) selects the JPEG matrix.
    `arithmetic` "device" (the CUDA kernel: what the T4 runs) or "host" (the same source as
    DALI's CPU operators compute it: what DALI's CPU kernels check bit for bit).
    """
    _check_variant(variant)
    _check_arithmetic(arithmetic)
    y = np.asarray(frame.y)
    h, w = y.shape
    cb16 = dali_chroma_x16(np.asarray(frame.u), h, w)
    cr16 = dali_chroma_x16(np.asarray(frame.v), h, w)
    out = np.empty((h, w, 3), np.uint8)
    if variant == "1.52":
        cb = _round_x16(cb16, arithmetic)
        cr = _round_x16(cr16, arithmetic)
        r_lut, g_lut, b_lut = _luts_152(bool(frame.full_range), arithmetic)
        y_hi = y.astype(np.uint32) << 8
        out[..., 0] = np.take(r_lut, y_hi | cr)
        out[..., 1] = np.take(g_lut, (y_hi << 8) | (cb.astype(np.uint32) << 8) | cr)
        out[..., 2] = np.take(b_lut, y_hi | cb)
        return out
    r, g, b = _rgb_from_float_ycbcr(y, cb16, cr16, bool(frame.full_range), arithmetic)
    out[..., 0] = _to_u8(r, arithmetic)
    out[..., 1] = _to_u8(g, arithmetic)
    out[..., 2] = _to_u8(b, arithmetic)
    return out


# --- frame count and batch outline (evaluate.py's rule, DALI's batching) ------------------------


def count_hevc_vcl_nal_units(data: bytes | np.ndarray) -> int:
    """Annex-B start codes (00 00 01) followed by a VCL NAL header: type (b >> 1) & 0x3F <= 31."""
    buf = np.frombuffer(data, np.uint8) if isinstance(data, bytes | bytearray | mmap.mmap) else data
    if buf.size < 4:
        return 0
    hit = (buf[:-3] == 0) & (buf[1:-2] == 0) & (buf[2:-1] == 1)
    types = (buf[3:][hit] >> 1) & 0x3F
    return int(np.count_nonzero(types <= 31))


def dali_frame_count(path: Path) -> int:
    """Frames the official DALI path iterates over.

    `.hevc`: count of VCL NAL units in the Annex-B stream; otherwise the container's
    `frames` field, else the number of non-empty packets.
    """
    path = Path(path)
    if path.suffix == ".hevc":
        try:
            with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return count_hevc_vcl_nal_units(np.frombuffer(mm, np.uint8).copy())
        except (OSError, ValueError) as exc:  # ValueError: mmap of an empty file
            raise BadInput(f"cannot read video: {exc}", path=path,
                           fix="replace it with the challenge's original video") from exc
    return count_video_frames(path)


def dali_batch_outline(frames: int, batch_size: int) -> list[int]:
    """Samples per batch the official loop takes: ceil((frames // 2) / batch_size) batches.

    `fn.experimental.inputs.video(sequence_length=2, last_sequence_policy="pad")` emits full
    batches, then one with the remaining full pairs plus, for an odd count, the last frame
    padded with a zero frame; the loop stops after ceil((frames // 2) / batch) batches.
    """
    iterations = math.ceil((frames // 2) / batch_size)
    sequences = (frames + 1) // 2  # pairs, the padded one included
    return [min(batch_size, sequences - i * batch_size) for i in range(iterations)]


def iter_dali_emulated_pair_batches(
    path: Path, batch_size: int, variant: str = "1.52"
) -> Iterator[torch.Tensor]:
    """The real DALI path's batches, emulated on the CPU: same outline, DALI's RGB frames.

    uint8 tensors (B, 2, H, W, 3). A padded last sequence holds a zero frame, as DALI's.
    """
    _check_variant(variant)
    path = Path(path)
    total = dali_frame_count(path)
    outline = dali_batch_outline(total, batch_size)
    # DALI reads NumFrames frames, no more; the rest of a padded sequence stays zero.
    frames = (yuv420_to_rgb_dali(f, variant) for f in itertools.islice(iter_yuv_frames(path), total))
    padded_last = total % 2 == 1  # DALI pads the odd last frame's sequence with zeros
    for index, size in enumerate(outline):
        batch = np.zeros((size, 2, FRAME_H, FRAME_W, 3), np.uint8)
        n = 0
        for frame in itertools.islice(frames, 2 * size):
            batch[n // 2, n % 2] = frame
            n += 1
        # The zero-padded sequence, if any, is the last one DALI emits.
        pad_slot = padded_last and index == len(outline) - 1 and sum(outline) == (total + 1) // 2
        if n < 2 * size - (1 if pad_slot else 0):
            raise BadInput(
                f"the video decodes to fewer frames than its frame count ({total}) promises",
                path=path, fix="replace it with the challenge's original video",
            )
        yield torch.from_numpy(batch)


# --- real DALI (CUDA) -------------------------------------------------------------------------


def dali_conversion_for(version: str | None) -> str:
    """The RGB conversion (a DALI_VARIANTS name) a DALI release uses, or a HarnessError.

    1.52.x: the texture path (chroma rounded to uint8). 1.53 and later: PR #6076's direct
    conversion (merged Nov 2025; 1.53.0's libdali_operators.so ships the
    `VideoColorSpaceConversionKernel` it introduced). Older releases are not modelled.
    """
    if version is None:
        raise HarnessError("NVIDIA DALI is not installed", fix=DALI_EXTRA_HINT)
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError as exc:
        raise HarnessError(f"cannot read the DALI version {version!r}", fix=DALI_EXTRA_HINT) from exc
    if (major, minor) == (1, 52):
        return "1.52"
    if (major, minor) > (1, 52):
        return "post-6076"
    raise HarnessError(f"DALI {version} is installed; vcc has no model of its RGB conversion (it knows 1.52 and "
                       "the post-#6076 conversion of 1.53 and later)", fix=DALI_EXTRA_HINT)


def require_pinned_dali() -> str:
    """The installed DALI's version when it is the T4 runner's 1.52.x, else a HarnessError saying
    what is installed, what the runner pins and the command that installs it."""
    from vcc.base import installed_dali_version

    version = installed_dali_version()
    if version is None:
        raise HarnessError("--decode dali needs NVIDIA DALI, which is not installed (the T4 runner pins "
                           f"{DALI_PIN})", fix=DALI_INSTALL_COMMAND)
    if not version.startswith("1.52."):
        raise HarnessError(
            f"--decode dali scores against the T4 runner's ground truth, which is DALI 1.52.0's; DALI {version} is "
            f"installed (conversion {dali_conversion_for_or_none(version) or 'unknown'})",
            fix=f"{DALI_INSTALL_COMMAND}; or use --decode dali-emulated --dali-variant 1.52 on the CPU")
    return version


def dali_conversion_for_or_none(version: str | None) -> str | None:
    try:
        return dali_conversion_for(version)
    except HarnessError:
        return None


def require_dali(device: torch.device | str = "cuda"):
    """The `nvidia.dali` module, or a HarnessError that says what is missing and how to get it."""
    device = torch.device(device)
    if device.type != "cuda":
        raise HarnessError(f"the DALI path decodes on a CUDA device, not {device}",
                           fix="use --device cuda, or --decode dali-emulated on the CPU")
    if not torch.cuda.is_available():
        raise HarnessError(
            "the DALI path needs CUDA (NVDEC decodes the video on the GPU), "
            "and torch sees no CUDA device",
            fix="run on a machine with an NVIDIA GPU and driver, "
            "or use --decode dali-emulated on the CPU",
        )
    try:
        import nvidia.dali as dali
        import nvidia.dali.plugin.pytorch  # noqa: F401 - DALIGenericIterator lives here
    except ImportError as exc:
        raise HarnessError(
            f"NVIDIA DALI is not installed ({exc})",
            fix=DALI_EXTRA_HINT,
        ) from exc
    return dali


def dali_version_warning(version: str | None) -> str | None:
    """A warning when the installed DALI is not the one a public runner's lock pins (the runner
    table's dali_version, 1.52.x for the T4), None if it is."""
    pinned = {s.kind: s.dali_version for s in RUNNERS.values() if s.dali_version}
    if version is None or any(version.startswith(f"{v}.") for v in pinned.values()):
        return None
    uses = ", ".join(f"the official {kind.upper()} runner uses {v}.0" for kind, v in pinned.items())
    return (f"DALI {version} is installed; {uses}, and DALI's "
            "YUV-to-RGB conversion changed after 1.52 (PR #6076): ground-truth frames may differ")


def iter_dali_pair_batches(
    path: Path, batch_size: int, device: torch.device
) -> Iterator[torch.Tensor]:
    """The official T4 ground truth: real DALI, uint8 CUDA tensors (B, 2, 874, 1164, 3).

    The pipeline, iterator and iteration count are evaluate.py's: one `inputs.video` operator fed
    the memory-mapped file (sequence length 2, mixed device, pad policy), batch 16, a partial last
    batch, ceil(pairs / 16) iterations.
    """
    device = torch.device(device)
    dali = require_dali(device)
    from nvidia.dali import fn, pipeline_def
    from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy

    note = dali_version_warning(getattr(dali, "__version__", None))
    if note:
        warnings.warn(note, stacklevel=2)
    path = Path(path)
    frames = dali_frame_count(path)
    iterations = math.ceil((frames // 2) / batch_size)
    device_id = device.index if device.index is not None else torch.cuda.current_device()

    @pipeline_def
    def video_pipeline():
        return fn.experimental.inputs.video(
            name="inbuf", sequence_length=2, device="mixed", no_copy=True, blocking=False,
            last_sequence_policy="pad",
        )

    with path.open("rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    data = np.frombuffer(mm, np.uint8)  # no_copy: DALI reads this buffer while it decodes
    pipe = video_pipeline(batch_size=batch_size, num_threads=2, device_id=device_id,
                          prefetch_queue_depth=4)
    pipe.build()
    pipe.feed_input("inbuf", [data])
    iterator = DALIGenericIterator(
        [pipe], output_map=["video"], auto_reset=False, last_batch_policy=LastBatchPolicy.PARTIAL,
        last_batch_padded=False, prepare_first_batch=False,
    )
    try:
        for _ in range(iterations):
            out = next(iterator)[0]["video"]
            # Our own copy: the consumer may hold a batch while DALI produces the next.
            yield out.clone()
    finally:
        del iterator, pipe, data
        try:
            mm.close()
        except BufferError:  # DALI still holds a view: the mapping goes with the last reference
            pass
