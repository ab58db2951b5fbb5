"""`vcc dali-verify` (scorer._dali_verify): statistics and verdicts on the CPU, real DALI on a GPU."""

from __future__ import annotations

import argparse
import importlib.util
import json
import types
from pathlib import Path

import numpy as np
import pytest
import torch

import vcc.scorer._dali_verify as dv
from vcc.base import BadInput, GateFailed, HarnessError
from vcc.scorer import iter_yuv_frames, yuv420_to_rgb_pyav
from vcc.scorer._dali import iter_dali_pair_batches, yuv420_to_rgb_dali
from vcc.scorer.cli import register_dali_verify

GOLDEN_VIDEO = Path(__file__).parents[1].parent / "shared" / "golden" / "challenge" / "videos" / "0.mkv"
needs_golden = pytest.mark.skipif(not GOLDEN_VIDEO.is_file(), reason=f"golden video absent: {GOLDEN_VIDEO}")


def _dali_missing_reason() -> str | None:
    if not torch.cuda.is_available():
        return "needs CUDA: torch sees no CUDA device"
    try:
        if importlib.util.find_spec("nvidia.dali") is None:
            return "needs NVIDIA DALI: pip install 'vcc[dali]'"
    except ModuleNotFoundError:
        return "needs NVIDIA DALI: pip install 'vcc[dali]'"
    return None


_MISSING = _dali_missing_reason()
needs_dali = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


# --- statistics ---------------------------------------------------------------------------------


def test_frame_diff_stats_on_synthetic_frames() -> None:
    a = np.zeros((2, 3, 3), np.uint8)
    b = np.zeros((2, 3, 3), np.uint8)
    a[0, 0] = [5, 0, 0]  # R: +5 at one pixel
    a[1, 2, 1] = 2  # G: +2
    b[1, 1, 1] = 3  # G: -3
    b[0, 1, 2] = 255  # B: -255
    stats = dv.FrameDiffStats()
    stats.update(a, b)
    stats.update(a, a)  # a second, identical frame
    out = stats.as_json()
    assert out["frames"] == 2 and out["pixels_per_channel"] == 12 and not out["bit_exact"]
    r, g, b_ = (out["channels"][c] for c in "RGB")
    assert r == {"equal_share": 11 / 12, "max_abs_diff": 5, "mean_signed_diff": 5 / 12}
    assert g == {"equal_share": 10 / 12, "max_abs_diff": 3, "mean_signed_diff": -1 / 12}
    assert b_ == {"equal_share": 11 / 12, "max_abs_diff": 255, "mean_signed_diff": -255 / 12}


def test_frame_diff_stats_exact_and_shape_checks() -> None:
    stats = dv.FrameDiffStats()
    assert not stats.as_json()["bit_exact"]  # nothing compared is not a match
    frame = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    stats.update(frame, frame.copy())
    assert stats.as_json()["bit_exact"]
    with pytest.raises(ValueError, match="H, W, 3"):
        stats.update(frame, frame[:, :3])


def _stats(means: tuple[float, float, float], share: float = 1.0) -> dict:
    return {"frames": 10, "pixels_per_channel": 100, "bit_exact": share == 1.0,
            "channels": {c: {"equal_share": share, "max_abs_diff": 0 if share == 1 else 2,
                             "mean_signed_diff": m} for c, m in zip("RGB", means, strict=True)}}


def test_verdicts() -> None:
    bias = _stats((0.78, -0.43, 1.14), 0.2)
    exact, off = _stats((0, 0, 0)), _stats((0.78, -0.43, 1.14), 0.2)
    assert dv.verdict_from_stats({"1.52": exact, "post-6076": off}, "1.52", bias) == "matches 1.52 emulation"
    assert (dv.verdict_from_stats({"1.52": off, "post-6076": exact}, "1.52", bias)
            == "looks like the post-6076 conversion")
    assert (dv.verdict_from_stats({"1.52": off, "post-6076": exact}, "post-6076", bias)
            == "matches post-6076 emulation")
    # No variant matches byte for byte, but the offset against 1.52 is the post-6076 bias.
    near = _stats((0.80, -0.40, 1.10), 0.2)
    assert (dv.verdict_from_stats({"1.52": near, "post-6076": _stats((0.1, 0.1, 0.1), 0.5)}, "1.52", bias)
            == "looks like the post-6076 conversion")
    wrong = _stats((0.0, 0.0, 0.3), 0.9)
    assert dv.verdict_from_stats({"1.52": wrong, "post-6076": off}, "1.52", bias) == "neither"
    empty = dict(_stats((0, 0, 0)), frames=0)
    assert dv.verdict_from_stats({"1.52": empty, "post-6076": empty}, "1.52", bias) == "neither"


# --- verify_dali with the DALI side replaced (the comparison logic, on the CPU) -------------------


@needs_golden
@pytest.mark.parametrize(
    "source,verdict",
    [("1.52", "matches 1.52 emulation"), ("post-6076", "looks like the post-6076 conversion"),
     ("pyav", "neither")],
)
def test_verify_logic_with_stand_in_frames(monkeypatch: pytest.MonkeyPatch, source: str, verdict: str):
    def frames(video: Path, device: str, limit: int):
        for n, yuv in enumerate(iter_yuv_frames(video)):
            if n >= limit:
                return
            yield yuv420_to_rgb_pyav(yuv) if source == "pyav" else yuv420_to_rgb_dali(yuv, source)

    monkeypatch.setattr(dv, "require_dali", lambda device: types.SimpleNamespace(__version__="1.52.0"))
    monkeypatch.setattr(dv, "_dali_frames", frames)
    result = dv.verify_dali(GOLDEN_VIDEO, "1.52", max_frames=3)
    assert result["frames_compared"] == 3 and result["verdict"] == verdict
    if source == "1.52":
        assert result["vs_emulation"]["1.52"]["bit_exact"]
    assert "verdict: " + verdict in dv.format_result(result)
    assert result["conversion_for_version"] == "1.52"


@needs_golden
@pytest.mark.parametrize("version,conversion", [("1.52.0", "1.52"), ("1.53.0", "post-6076"), ("2.1.0", "post-6076")])
def test_verify_names_the_conversion_of_the_installed_version(monkeypatch: pytest.MonkeyPatch, version: str,
                                                              conversion: str) -> None:
    def frames(video: Path, device: str, limit: int):
        for n, yuv in enumerate(iter_yuv_frames(video)):
            if n >= limit:
                return
            yield yuv420_to_rgb_dali(yuv, conversion)

    monkeypatch.setattr(dv, "require_dali", lambda device: types.SimpleNamespace(__version__=version))
    monkeypatch.setattr(dv, "_dali_frames", frames)
    result = dv.verify_dali(GOLDEN_VIDEO, max_frames=1)  # no --variant: the version's conversion is expected
    assert (result["variant"], result["conversion_for_version"]) == (conversion, conversion)
    assert result["verdict"] == f"matches {conversion} emulation"
    assert f"DALI {version} (conversion {conversion})" in dv.format_result(result)


def test_verify_refuses_a_dali_version_without_a_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    video = tmp_path / "v.mkv"
    video.write_bytes(b"x")
    monkeypatch.setattr(dv, "require_dali", lambda device: types.SimpleNamespace(__version__="1.40.0"))
    with pytest.raises(HarnessError, match="DALI 1.40.0") as info:
        dv.verify_dali(video)
    assert "1.52.0" in info.value.fix and "pypi.nvidia.com" in info.value.fix


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vcc")
    register_dali_verify(parser.add_subparsers(dest="command", required=True))
    return parser


@needs_golden
def test_cli_writes_json_and_fails_the_gate_on_mismatch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    def post_frames(video: Path, device: str, limit: int):
        for n, yuv in enumerate(iter_yuv_frames(video)):
            if n >= limit:
                return
            yield yuv420_to_rgb_dali(yuv, "post-6076")

    monkeypatch.setattr(dv, "require_dali", lambda device: types.SimpleNamespace(__version__="1.52.0"))
    monkeypatch.setattr(dv, "_dali_frames", post_frames)
    out = tmp_path / "verify.json"
    args = _parser().parse_args(["dali-verify", str(GOLDEN_VIDEO), "--max-frames", "2", "--json", str(out)])
    with pytest.raises(GateFailed, match="post-6076"):
        args.handler(args)
    assert json.loads(out.read_text())["verdict"] == "looks like the post-6076 conversion"
    assert "equal share" in capsys.readouterr().out
    args = _parser().parse_args(["dali-verify", str(GOLDEN_VIDEO), "--max-frames", "2",
                                 "--variant", "post-6076"])
    assert args.handler(args) == 0


def test_cli_arguments() -> None:
    args = _parser().parse_args(["dali-verify", "v.mkv"])
    assert (args.video, args.variant, args.device, args.max_frames, args.json) == (
        Path("v.mkv"), None, "cuda", None, None)
    with pytest.raises(SystemExit):
        _parser().parse_args(["dali-verify", "v.mkv", "--variant", "1.53"])


def test_verify_errors_here(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="not found"):
        dv.verify_dali(tmp_path / "missing.mkv")
    video = tmp_path / "v.mkv"
    video.write_bytes(b"x")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(HarnessError, match="CUDA"):
        dv.verify_dali(video)


# --- real DALI (GPU machines with DALI only) ----------------------------------------------------


@needs_dali
@needs_golden
def test_real_dali_batches_follow_the_official_outline() -> None:
    batches = list(iter_dali_pair_batches(GOLDEN_VIDEO, 16, torch.device("cuda")))
    assert [b.shape[0] for b in batches] == [16, 16, 3]
    assert all(b.is_cuda and b.dtype == torch.uint8 and tuple(b.shape[1:]) == (2, 874, 1164, 3)
               for b in batches)


@needs_dali
@needs_golden
def test_real_dali_matches_an_emulation() -> None:
    import nvidia.dali

    result = dv.verify_dali(GOLDEN_VIDEO)  # the installed version's conversion is expected
    print(dv.format_result(result))
    assert result["frames_compared"] == 70
    want = "1.52" if nvidia.dali.__version__.startswith("1.52.") else "post-6076"
    assert result["conversion_for_version"] == want
    assert result["verdict"] == f"matches {want} emulation"
