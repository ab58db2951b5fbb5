"""DALI's own CPU kernels as the oracle for vcc's DALI emulation, on any machine (no GPU).

The T4's NV12->RGB kernel runs only on CUDA, but its two halves are DALI code that also has
CPU operators: the chroma sampler (`fn.warp_affine`, linear, inverse map x0.5) and the BT.601
matrix (`fn.color_space_conversion`, YCbCr->RGB). Both are compiled for the host, so they
check the emulation with its arithmetic switched to "host" (no fused multiply-add, ties away
from zero); what the "device" arithmetic (the CUDA kernel's FMA and half-to-even) changes is
counted exactly, over every input. What neither settles (NVDEC's planes, the video kernel's
own compilation, 1.52 vs post-6076 on a real GPU) is `vcc dali-verify`'s job on a GPU.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np

from vcc.base import HarnessError

from ._container import iter_yuv_frames
from ._dali import _luts_152, dali_chroma_x16, rgb_from_ycbcr_152, yuv420_to_rgb_dali

__all__ = ["DALI_ORACLE_PIN", "import_dali_cpu", "chroma_oracle", "matrix_oracle", "frame_oracle"]

# The newest DALI for CUDA 12 whose real wheel PyPI serves (PyPI's 1.52.0 is a placeholder that
# fetches from NVIDIA's index). Its CPU operators run without a GPU (device_id=None).
DALI_ORACLE_PIN = "nvidia-dali-cuda120==1.53.0"
_CHUNK = 8  # frames per DALI batch


def import_dali_cpu() -> Any:
    """`nvidia.dali` for its CPU operators, or a HarnessError with the install command."""
    try:
        import nvidia.dali as dali
    except ImportError as exc:
        raise HarnessError(f"NVIDIA DALI is not installed ({exc}); its CPU kernels are the emulation's oracle",
                           fix=f"pip install '{DALI_ORACLE_PIN}'  (or pip install 'vcc[test]')") from exc
    return dali


def _cpu_pipeline(graph: Any, batch_size: int) -> Any:
    """A CPU-only pipeline (device_id=None), fed and run one batch at a time."""
    from nvidia.dali import pipeline_def

    pipe = pipeline_def(graph, batch_size=batch_size, num_threads=1, device_id=None,
                        prefetch_queue_depth=1, exec_async=False, exec_pipelined=False)()
    pipe.build()
    return pipe


def _warp_chroma(types: Any, fn: Any, planes: Any, height: int, width: int, dtype: Any) -> Any:
    """DALI's 2x chroma upsampling as a generic CPU operator: output pixel p samples source
    (p * 0.5) minus the half-pixel centres, linear, clamped: the NVDEC kernel's geometry."""
    return fn.warp_affine(planes, device="cpu", matrix=[0.5, 0, 0, 0, 0.5, 0], size=[height, width],
                          inverse_map=True, interp_type=types.INTERP_LINEAR, dtype=dtype)


def _frames_in_chunks(video: Path, max_frames: int | None) -> Any:
    frames = iter_yuv_frames(Path(video))
    if max_frames is not None:
        frames = itertools.islice(frames, max_frames)
    while chunk := list(itertools.islice(frames, _CHUNK)):
        yield chunk


def _padded(items: list[np.ndarray]) -> list[np.ndarray]:
    return items + [items[-1]] * (_CHUNK - len(items))


def chroma_oracle(video: Path, max_frames: int | None = None) -> dict[str, Any]:
    """vcc's chroma (x16, exact) against `fn.warp_affine` (FLOAT) on every frame's Cb and Cr.

    Also the UINT8 output against vcc's chroma rounded half up (the host's `ConvertSat`), and
    how many samples are exact ties (x.5), where device (half to even) and host rounding part.
    """
    import_dali_cpu()
    from nvidia.dali import fn, types

    stats = {"frames": 0, "samples": 0, "float_mismatches": 0, "uint8_mismatches": 0, "ties": 0}
    pipes: dict[tuple[int, int], tuple[Any, Any]] = {}
    for chunk in _frames_in_chunks(video, max_frames):
        h, w = chunk[0].y.shape
        if (h, w) not in pipes:
            def graph(dtype: Any, h: int = h, w: int = w) -> Any:
                planes = fn.external_source(name="uv", device="cpu", layout="HWC")
                return _warp_chroma(types, fn, planes, h, w, dtype)

            pipes[h, w] = (_cpu_pipeline(lambda: graph(types.FLOAT), _CHUNK),
                           _cpu_pipeline(lambda: graph(types.UINT8), _CHUNK))
        as_float, as_uint8 = pipes[h, w]
        planes = _padded([np.ascontiguousarray(np.stack([f.u[: h // 2, : w // 2], f.v[: h // 2, : w // 2]], -1))
                          for f in chunk])
        for pipe in (as_float, as_uint8):
            pipe.feed_input("uv", planes)
        got_float, got_uint8 = as_float.run()[0], as_uint8.run()[0]
        for i, frame in enumerate(chunk):
            want = np.stack([dali_chroma_x16(frame.u, h, w), dali_chroma_x16(frame.v, h, w)], -1)
            stats["float_mismatches"] += int(np.count_nonzero(np.asarray(got_float.at(i)) * 16 != want))
            stats["uint8_mismatches"] += int(np.count_nonzero(np.asarray(got_uint8.at(i)) != (want + 8) >> 4))
            stats["ties"] += int(np.count_nonzero((want & 15) == 8))
            stats["samples"] += want.size
            stats["frames"] += 1
    stats["bit_exact"] = stats["frames"] > 0 and stats["float_mismatches"] == 0 and stats["uint8_mismatches"] == 0
    return stats


def _all_triples() -> np.ndarray:
    """Every (Y, Cb, Cr) as a (4096, 4096, 3) uint8 image: index Y * 65536 + Cb * 256 + Cr."""
    v = np.arange(1 << 24, dtype=np.uint32)
    return np.stack([v >> 16, (v >> 8) & 255, v & 255], -1).astype(np.uint8).reshape(4096, 4096, 3)


def matrix_oracle() -> dict[str, Any]:
    """1.52's matrix (limited range) against `fn.color_space_conversion` on all 2^24 triples.

    The emulation with host arithmetic must equal DALI's CPU kernel everywhere; the device
    arithmetic's differences are listed exactly (triple, channel, device minus host), with how
    many of them the fused multiply-add alone causes and how many the rounding of ties alone.
    """
    import_dali_cpu()
    from nvidia.dali import fn, types

    from ._dali import _rgb_from_int_ycbcr, _to_u8

    def graph() -> Any:
        image = fn.external_source(name="ycbcr", device="cpu", layout="HWC")
        return fn.color_space_conversion(image, device="cpu", image_type=types.YCbCr, output_type=types.RGB)

    pipe = _cpu_pipeline(graph, 1)
    triples = _all_triples()
    pipe.feed_input("ycbcr", [triples])
    dali_rgb = np.asarray(pipe.run()[0].at(0)).reshape(256, 256, 256, 3)
    host_mismatches = 0
    differences: list[dict[str, Any]] = []
    fma_only = rounding_only = 0
    r_dev, g_dev, b_dev = _luts_152(False, "device")
    v = np.arange(256, dtype=np.int32)
    cb, cr = np.meshgrid(v, v, indexing="ij")
    for y in range(256):  # one luma value at a time: bounded memory
        yy = np.full_like(cb, y)
        host = rgb_from_ycbcr_152(yy, cb, cr, False, "host")
        host_mismatches += int(np.count_nonzero(host != dali_rgb[y]))
        device = np.stack([np.broadcast_to(r_dev[y][None, :], (256, 256)), g_dev[y],
                           np.broadcast_to(b_dev[y][:, None], (256, 256))], -1)
        fused = _rgb_from_int_ycbcr(yy, cb, cr, False, "device")
        fused_half_away = np.stack([_to_u8(c, "host") for c in fused], -1)  # FMA, host rounding
        fma_only += int(np.count_nonzero(fused_half_away != host))
        rounding_only += int(np.count_nonzero(fused_half_away != device))
        for b_i, r_i, ch in zip(*np.nonzero(device != dali_rgb[y]), strict=True):
            differences.append({"y": y, "cb": int(b_i), "cr": int(r_i), "channel": "RGB"[ch],
                                "device_minus_host": int(device[b_i, r_i, ch]) - int(dali_rgb[y, b_i, r_i, ch])})
    inputs = {(d["y"], d["cb"], d["cr"]) for d in differences}
    return {
        "dali_version": import_dali_cpu().__version__,
        "triples": 1 << 24,
        "host_mismatches": host_mismatches,
        "host_bit_exact": host_mismatches == 0,
        "device_differing_triples": len(inputs),
        "device_differing_values": len(differences),
        "device_differing_channels": sorted({d["channel"] for d in differences}),
        "device_max_abs_diff": max((abs(d["device_minus_host"]) for d in differences), default=0),
        "device_differences_from_fma": fma_only,
        "device_differences_from_tie_rounding": rounding_only,
        "device_differences": differences,
    }


def frame_oracle(video: Path, max_frames: int | None = None) -> dict[str, Any]:
    """Whole frames: the 1.52 emulation (host arithmetic) against DALI's CPU operators composed as
    the NVDEC kernel is (luma as is, chroma via `warp_affine` UINT8, then `color_space_conversion`);
    and how many bytes the device arithmetic changes on these frames.
    """
    import_dali_cpu()
    from nvidia.dali import fn, types

    # `color_space_conversion`'s YCbCr is the limited-range matrix; a full-range frame is not comparable.
    stats = {"frames": 0, "bytes": 0, "host_mismatches": 0, "device_vs_host_bytes": 0, "full_range_frames_skipped": 0}
    pipes: dict[tuple[int, int], Any] = {}
    for chunk in _frames_in_chunks(video, max_frames):
        h, w = chunk[0].y.shape
        if (h, w) not in pipes:
            def graph(h: int = h, w: int = w) -> Any:
                luma = fn.external_source(name="y", device="cpu", layout="HWC")
                planes = fn.external_source(name="uv", device="cpu", layout="HWC")
                ycbcr = fn.cat(luma, _warp_chroma(types, fn, planes, h, w, types.UINT8), axis=2)
                return fn.color_space_conversion(ycbcr, device="cpu", image_type=types.YCbCr,
                                                 output_type=types.RGB)

            pipes[h, w] = _cpu_pipeline(graph, _CHUNK)
        pipe = pipes[h, w]
        pipe.feed_input("y", _padded([np.ascontiguousarray(f.y[..., None]) for f in chunk]))
        pipe.feed_input("uv", _padded([np.ascontiguousarray(np.stack([f.u[: h // 2, : w // 2],
                                                                       f.v[: h // 2, : w // 2]], -1))
                                       for f in chunk]))
        out = pipe.run()[0]
        for i, frame in enumerate(chunk):
            if frame.full_range:
                stats["full_range_frames_skipped"] += 1
                continue
            dali_rgb = np.asarray(out.at(i))
            host = yuv420_to_rgb_dali(frame, "1.52", "host")
            device = yuv420_to_rgb_dali(frame, "1.52", "device")
            stats["host_mismatches"] += int(np.count_nonzero(host != dali_rgb))
            stats["device_vs_host_bytes"] += int(np.count_nonzero(device != host))
            stats["bytes"] += host.size
            stats["frames"] += 1
    stats["bit_exact"] = stats["frames"] > 0 and stats["host_mismatches"] == 0
    return stats
