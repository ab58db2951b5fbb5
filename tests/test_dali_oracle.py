"""vcc's DALI emulation held to DALI's own CPU kernels, bit for bit (scorer._dali_oracle).

DALI's CPU operators run without a GPU (device_id=None); the test extra installs them
(nvidia-dali-cuda120==1.53.0). With host arithmetic the emulation must equal them everywhere;
the device arithmetic's differences (the T4 kernel's FMA and half-to-even) are counted.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from vcc.base import HarnessError
from vcc.scorer._dali import (
    ARITHMETICS,
    _rgb_from_int_ycbcr,
    dali_chroma_x16,
    rgb_from_ycbcr_152,
    yuv420_to_rgb_dali,
)
from vcc.scorer._dali_oracle import DALI_ORACLE_PIN, chroma_oracle, frame_oracle, import_dali_cpu, matrix_oracle

GOLDEN_VIDEO = Path(__file__).parents[1].parent / "shared" / "golden" / "challenge" / "videos" / "0.mkv"
needs_golden = pytest.mark.skipif(not GOLDEN_VIDEO.is_file(), reason=f"golden video absent: {GOLDEN_VIDEO}")


def _dali_installed() -> bool:
    try:
        return importlib.util.find_spec("nvidia.dali") is not None
    except ModuleNotFoundError:  # no `nvidia` namespace at all
        return False


needs_dali = pytest.mark.skipif(not _dali_installed(),
                                reason=f"DALI is not installed: pip install '{DALI_ORACLE_PIN}' (the test extra)")


@needs_dali
@needs_golden
def test_chroma_geometry_equals_warp_affine_on_every_golden_frame() -> None:
    stats = chroma_oracle(GOLDEN_VIDEO)
    assert stats["frames"] > 0 and stats["samples"] > 0
    assert stats["float_mismatches"] == 0, stats
    assert stats["uint8_mismatches"] == 0, stats  # the host rounds ties up
    assert stats["ties"] > 0  # the device's half-to-even parts from the host there


@needs_dali
def test_matrix_equals_color_space_conversion_on_all_triples() -> None:
    result = matrix_oracle()
    print({k: v for k, v in result.items() if k != "device_differences"})
    assert result["triples"] == 1 << 24
    assert result["host_mismatches"] == 0
    # The device arithmetic moves G alone, by one, on a few inputs; each listed difference is one
    # the FMA or the tie rounding explains, checked here by recomputing it both ways.
    assert result["device_differing_channels"] == ["G"]
    assert result["device_max_abs_diff"] == 1
    assert 0 < result["device_differing_triples"] <= result["device_differences_from_fma"] + \
        result["device_differences_from_tie_rounding"]
    for d in result["device_differences"]:
        y, cb, cr = (np.array([d[k]]) for k in ("y", "cb", "cr"))
        device = rgb_from_ycbcr_152(y, cb, cr, False, "device")[0]
        host = rgb_from_ycbcr_152(y, cb, cr, False, "host")[0]
        assert int(device[1]) - int(host[1]) == d["device_minus_host"]
        g_fused = float(_rgb_from_int_ycbcr(y, cb, cr, False, "device")[1][0])
        g_host = float(_rgb_from_int_ycbcr(y, cb, cr, False, "host")[1][0])
        # either the fused value lands elsewhere, or it is an exact .5 tie (even vs away from zero)
        assert g_fused != g_host or g_fused % 1 == 0.5


@needs_dali
@needs_golden
def test_whole_frames_equal_dali_cpu_operators_composed() -> None:
    stats = frame_oracle(GOLDEN_VIDEO)
    print(stats)
    assert stats["frames"] > 0
    assert stats["host_mismatches"] == 0
    assert 0 < stats["device_vs_host_bytes"] < stats["bytes"] // 100  # ties and FMAs: a fraction of a percent


def test_arithmetic_is_a_parameter_of_one_implementation() -> None:
    assert ARITHMETICS == ("device", "host")
    from vcc.scorer import YuvFrame

    # Luma pixel (1, 1) samples the chroma taps with weights 9, 3, 3, 1 (/16): 128 * 15/16 + 136/16
    # = 128.5, a tie: the device rounds Cb to 128 (even), the host to 129.
    flat = np.full((2, 2), 128, np.uint8)
    frame = YuvFrame(np.full((4, 4), 100, np.uint8), np.array([[128, 128], [128, 136]], np.uint8), flat, False)
    host, device = (yuv420_to_rgb_dali(frame, "1.52", a) for a in ("host", "device"))
    assert host.shape == device.shape == (4, 4, 3)
    assert host[1, 1, 2] > device[1, 1, 2]  # B rises with Cb
    x16 = dali_chroma_x16(frame.u, 4, 4)
    even_ties = ((x16 & 15) == 8) & ((x16 >> 4) % 2 == 0)  # k.5 with k even: half-even keeps k, half-up k+1
    assert np.array_equal((host != device).any(-1), even_ties)
    with pytest.raises(Exception, match="arithmetic"):
        yuv420_to_rgb_dali(frame, "1.52", "fast")


def test_missing_dali_names_the_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "nvidia.dali", None)
    with pytest.raises(HarnessError) as info:
        import_dali_cpu()
    assert DALI_ORACLE_PIN in info.value.fix
