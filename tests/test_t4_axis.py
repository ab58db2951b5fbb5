"""The T4 axis: every score's `axis`, the gate's per-axis bounds, `vcc score --grid`, the DALI version
rules of `--decode dali`, bad input on the DALI target, and `vcc dali-verify --bundle`."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import av
import numpy as np
import pytest

from vcc.base import EXIT_BAD_INPUT, EXIT_HARNESS, EXIT_OK, HarnessError
from vcc.scorer._axis import CPU_RUNNER_LOCK, axis_line, score_axis
from vcc.scorer._dali import DALI_INSTALL_COMMAND, dali_conversion_for, require_pinned_dali
from vcc.scorer._grid import grid_deltas, grid_text
from vcc.scorer.cli import main as score_main
from vcc.submission._gate import GateBounds, evaluate_bounds

GOLDEN_VIDEO = Path(__file__).parents[1].parent / "shared" / "golden" / "challenge" / "videos" / "0.mkv"
needs_golden = pytest.mark.skipif(not GOLDEN_VIDEO.is_file(), reason=f"golden video absent: {GOLDEN_VIDEO}")


def _report(decode: str, device: str = "cpu", score: float = 1.0, **extra) -> dict:
    versions = {"torch": "2.10.0+cpu", **{k: v for k, v in CPU_RUNNER_LOCK.items() if k != "torch"}}
    numerics = {"class": "AVX2-AuthenticAMD", "torch_threads": 4}
    return {"decode": decode, "device": device, "score": score, "versions": versions, "numerics": numerics,
            "dali_variant": "1.52", **extra}


# --- axis ---------------------------------------------------------------------------------------


def test_cpu_runner_axis_says_whether_numerics_and_versions_match() -> None:
    axis = score_axis(_report("pyav"))
    assert axis["name"] == "cpu-runner" and axis["numerics"]["match"] and axis["versions"]["match"]
    assert axis["exact"]
    other = _report("pyav")
    other["numerics"] = {"class": "AVX512-AuthenticAMD", "torch_threads": 2}
    other["versions"]["numpy"] = "2.2.0"
    axis = score_axis(other)
    assert not axis["numerics"]["match"] and not axis["versions"]["match"] and not axis["exact"]
    line = axis_line(axis)
    assert "AVX512-AuthenticAMD at 2 threads differs from the runner's AVX2-AuthenticAMD at 4" in line
    assert "numpy 2.2.0 (lock 2.3.4)" in line


def test_t4_emulated_axis_is_an_approximation_with_what_is_left_out() -> None:
    axis = score_axis(_report("dali-emulated"))
    assert axis["name"] == "t4-emulated" and axis["exact"] is False
    assert "approximation" in axis["evidence_of"]
    assert axis["not_emulated"]["published_t4_minus_cpu"]["score"] > 0
    assert "CUDA kernels" in axis_line(axis)


@pytest.mark.parametrize("gpu,is_t4", [("Tesla T4", True), ("NVIDIA H200", False)])
def test_t4_gpu_axis_names_the_gpu(gpu: str, is_t4: bool) -> None:
    report = _report("dali", "cuda")
    report["numerics"]["gpu"] = {"name": gpu, "compute_capability": "7.5", "dali": "1.52.0"}
    report["versions"]["torch"] = "2.9.0+cu128"
    axis = score_axis(report)
    assert axis["name"] == "t4-gpu" and axis["gpu"]["is_t4"] is is_t4 and axis["versions"]["match"]
    assert gpu in axis_line(axis) and ("a T4" if is_t4 else "not a T4") in axis_line(axis)
    assert score_axis(_report("pyav", "cuda"))["name"] == "none"


# --- gate ---------------------------------------------------------------------------------------


def _run(primary: dict, *others: dict) -> dict:
    score = {**primary, "axis": score_axis(primary)}
    if others:
        score["targets"] = {t["decode"]: {**t, "axis": score_axis(t)} for t in (primary, *others)}
    return {"score": score}


def test_gate_bounds_each_axis_separately() -> None:
    run = _run(_report("pyav", score=2.0), _report("dali-emulated", score=2.5))
    checks = evaluate_bounds(GateBounds(max_score_cpu=2.1, max_score_t4=2.4), run)
    by_name = {c.name: c for c in checks}
    assert by_name["max_score_cpu"].ok and by_name["max_score_cpu"].actual == 2.0
    assert not by_name["max_score_t4"].ok and by_name["max_score_t4"].actual == 2.5
    assert "t4-emulated score 2.5 > 2.4" in by_name["max_score_t4"].message
    assert GateBounds(max_score_cpu=1.0, max_score_t4=1.0).requested()[-2:] == ["max_score_cpu", "max_score_t4"]


def test_gate_axis_bound_fails_when_the_run_did_not_score_that_axis() -> None:
    (check,) = evaluate_bounds(GateBounds(max_score_t4=9.0), _run(_report("pyav", score=2.0)))
    assert not check.ok and check.actual is None
    assert "no t4-gpu or t4-emulated score" in check.message and "--runner t4" in check.message


def test_gate_cli_declares_both_axis_bounds() -> None:
    import argparse

    from vcc.submission.cli import _add_axis_bounds

    p = argparse.ArgumentParser()
    _add_axis_bounds(p)
    args = p.parse_args(["--max-score-cpu", "1.5", "--max-score-t4", "1.6"])
    assert (args.max_score_cpu, args.max_score_t4) == (1.5, 1.6)


# --- grid arithmetic ----------------------------------------------------------------------------


def _cell(decode: str, device: str, seg: float, pose: float) -> dict:
    terms = {"segnet": 100 * seg, "posenet": (10 * pose) ** 0.5, "rate": 0.5}
    return {"decode": decode, "device": device, "samples": 10, "posenet_distortion": pose,
            "segnet_distortion": seg, "rate": 0.02, "score": sum(terms.values()), "terms": terms,
            "axis": "x"}


def test_grid_deltas_attribute_the_gap() -> None:
    cells = {"pyav/cpu": _cell("pyav", "cpu", 0.010, 0.001), "dali/cpu": _cell("dali-emulated", "cpu", 0.011, 0.002),
             "pyav/cuda": _cell("pyav", "cuda", 0.012, 0.004), "dali/cuda": _cell("dali", "cuda", 0.0117, 0.005)}
    d = grid_deltas(cells)
    gap = cells["dali/cuda"]["score"] - cells["pyav/cpu"]["score"]
    assert d["t4_minus_cpu"]["score"] == pytest.approx(gap)
    assert d["decoder_on_cpu"]["score"] + d["kernels_on_dali"]["score"] == pytest.approx(gap)
    assert d["kernels_on_pyav"]["score"] + d["decoder_on_cuda"]["score"] == pytest.approx(gap)
    assert d["interaction"]["score"] == pytest.approx(0.0, abs=1e-12)
    assert d["decoder_on_cpu"]["posenet_distortion_ratio"] == pytest.approx(2.0)
    cpu_only = grid_deltas({k: v for k, v in cells.items() if k.endswith("/cpu")})
    assert cpu_only["decoder_on_cpu"] is not None and cpu_only["kernels_on_pyav"] is None
    assert "interaction" not in cpu_only


# --- DALI versions ------------------------------------------------------------------------------


def test_dali_versions_map_to_conversions() -> None:
    assert dali_conversion_for("1.52.0") == "1.52"
    assert dali_conversion_for("1.53.0") == "post-6076"
    assert dali_conversion_for("2.0.1") == "post-6076"
    with pytest.raises(HarnessError, match="DALI 1.51.0"):
        dali_conversion_for("1.51.0")
    with pytest.raises(HarnessError, match="not installed"):
        dali_conversion_for(None)


@pytest.mark.parametrize("installed", [None, "1.53.0"])
def test_score_decode_dali_exits_4_with_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                             mini_challenge: Path, installed: str | None,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    import vcc.base

    monkeypatch.setattr(vcc.base, "installed_dali_version", lambda: installed)
    with pytest.raises(HarnessError) as info:
        require_pinned_dali()
    assert info.value.exit_code == EXIT_HARNESS and DALI_INSTALL_COMMAND in (info.value.fix or "")
    sub = tmp_path / "sub"
    (sub / "inflated").mkdir(parents=True)
    (sub / "archive.zip").write_bytes(b"x")
    (sub / "inflated" / "0.raw").write_bytes(b"\0" * (4 * 874 * 1164 * 3))
    code = score_main([str(sub), "--challenge-dir", str(mini_challenge), "--decode", "dali", "--device", "cuda",
                       "--quiet", "--no-cache"])
    err = capsys.readouterr().err
    assert code == EXIT_HARNESS
    assert "pip install --extra-index-url https://pypi.nvidia.com 'nvidia-dali-cuda120==1.52.0'" in err
    assert "1.52.0" in err and not (sub / "report.txt").exists()


# --- bad input on the DALI target ---------------------------------------------------------------


def _write_video(path: Path, frames: int, pix_fmt: str = "yuv420p", size: tuple[int, int] = (1164, 874)) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=20)
        stream.width, stream.height, stream.pix_fmt = *size, pix_fmt
        for i in range(frames):
            img = np.full((size[1], size[0], 3), 30 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def test_odd_frame_count_on_the_dali_target_is_bad_input(tmp_path: Path, mini_challenge: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    challenge = tmp_path / "challenge"
    shutil.copytree(mini_challenge, challenge)
    _write_video(challenge / "videos" / "0.mkv", 3)
    sub = tmp_path / "sub"
    (sub / "inflated").mkdir(parents=True)
    (sub / "archive.zip").write_bytes(b"x")
    (sub / "inflated" / "0.raw").write_bytes(b"\0" * (3 * 874 * 1164 * 3))
    code = score_main([str(sub), "--challenge-dir", str(challenge), "--decode", "dali-emulated", "--quiet",
                       "--no-cache"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert "odd frame count (3)" in err and "0.mkv" in err and "--decode pyav" in err
    assert not (sub / "report.txt").exists() and not (sub / "vcc-report.json").exists()


def test_bundle_refuses_a_video_not_420_8bit_and_writes_nothing(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    video = tmp_path / "444.mkv"
    _write_video(video, 2, "yuv444p", (64, 48))
    out = tmp_path / "b.tar"
    from vcc.base import run_cli
    from vcc.scorer.cli import register

    code = run_cli(["dali-verify", str(video), "--bundle", str(out)], [register])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert "yuv444p" in err and "444.mkv" in err and "4:2:0" in err
    assert list(tmp_path.iterdir()) == [video]  # no archive, no temporary left behind


# --- the grid and the bundle on the golden candidate (slow) -------------------------------------


@pytest.fixture(scope="module")
def near_submission(golden: Path, golden_spec: dict, candidate_raws: dict, tmp_path_factory) -> Path:
    from conftest import make_submission

    return make_submission(tmp_path_factory.mktemp("grid") / "near", candidate_raws["near"],
                           golden_spec["candidates"]["near"]["archive_bytes"])


def _check_cpu_column(grid: dict) -> None:
    import torch

    cells = grid["cells"]
    assert cells["pyav/cpu"]["decode"] == "pyav" and cells["pyav/cpu"]["axis"] == "cpu-runner"
    assert cells["dali/cpu"]["decode"] == "dali-emulated" and cells["dali/cpu"]["axis"] == "t4-emulated"
    assert cells["pyav/cpu"]["samples"] == cells["dali/cpu"]["samples"] > 0
    dec = grid["deltas"]["decoder_on_cpu"]
    assert dec["score"] == cells["dali/cpu"]["score"] - cells["pyav/cpu"]["score"]
    assert dec["segnet"] == cells["dali/cpu"]["terms"]["segnet"] - cells["pyav/cpu"]["terms"]["segnet"]
    assert dec["rate"] == 0.0 and dec["score"] != 0.0  # same archive; DALI's frames move the distortions
    if not torch.cuda.is_available():
        assert "needs a GPU" in grid["missing_columns"]["cuda"]
        assert grid["deltas"]["kernels_on_pyav"] is None


@pytest.mark.slow
@needs_golden
def test_score_grid_prints_the_decoder_column(near_submission: Path, golden_challenge: Path, gt_cache_dir: Path,
                                              tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "grid.json"
    code = score_main([str(near_submission), "--challenge-dir", str(golden_challenge), "--grid", "--threads", "2",
                       "--cache-dir", str(gt_cache_dir), "--quiet", "--json", str(out)])
    text = capsys.readouterr().out
    assert code == EXIT_OK
    grid = json.loads(out.read_text())
    _check_cpu_column(grid)
    assert "decoder_on_cpu" in text and "dali-emulated" in text
    assert grid_text(grid) in text
    assert not (near_submission / "report.txt").exists()  # the grid is no runner's report


@pytest.mark.slow
@needs_golden
def test_bundle_holds_every_figure_this_machine_measures(near_submission: Path, golden_challenge: Path,
                                                         gt_cache_dir: Path, tmp_path: Path) -> None:
    import torch

    from vcc.scorer import ScoreConfig, ScoreOptions
    from vcc.scorer._dali_bundle import BUNDLE_MEMBERS, write_bundle

    cfg = ScoreConfig(submission_dir=near_submission, challenge_dir=golden_challenge,
                      options=ScoreOptions(cache_dir=gt_cache_dir, threads=2), progress=False, write_reports=False)
    out = tmp_path / "bundle.tar"
    write_bundle(out, GOLDEN_VIDEO, cfg, max_frames=6)
    with tarfile.open(out) as tar:
        assert tuple(tar.getnames()) == BUNDLE_MEMBERS
        read = {n: tar.extractfile(n).read().decode() for n in BUNDLE_MEMBERS}  # type: ignore[union-attr]
    versions, frames, oracle, grid = (json.loads(read[n]) for n in
                                      ("versions.json", "frames.json", "oracle.json", "grid.json"))
    assert versions["torch"] == torch.__version__ and "dali" in versions and versions["vcc"]
    _check_cpu_column(grid)
    assert read["grid.txt"].strip() == grid_text(grid)
    if not torch.cuda.is_available():
        assert frames["ran"] is False and "CUDA" in frames["why"]
        assert "frames: not compared" in read["summary.txt"]
    if oracle["ran"]:
        assert oracle["matrix"]["host_bit_exact"] and oracle["chroma"]["bit_exact"] and oracle["frames"]["bit_exact"]
        assert oracle["frames"]["frames"] == 6
        assert f"device arithmetic differs on {oracle['matrix']['device_differing_triples']} triples" in \
            read["summary.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["bundle.tar"]  # no temporary left


def test_terminal_summary_and_reports_line_carry_the_axis() -> None:
    from vcc.scorer._report import reports_line, terminal_summary

    report = _report("dali-emulated", samples=3, posenet_distortion=0.1, segnet_distortion=0.2, rate=0.3,
                     terms={"segnet": 20.0, "posenet": 1.0, "rate": 7.5})
    report["axis"] = score_axis(report)
    assert "axis t4-emulated: an approximation" in terminal_summary(report)
    assert reports_line(Path("r.txt"), Path("v.json"), report) == "reports: r.txt  v.json  (axis t4-emulated)"
