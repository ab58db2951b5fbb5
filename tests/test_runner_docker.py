"""`vcc run --backend docker`: inflate and scoring inside the runner's image.

Tests that need an engine skip where none answers. The image is built once per vcc source by
runner._docker.ensure_image (VCC_DOCKER_PROFILE picks the build arguments), or taken from
VCC_TEST_DOCKER_IMAGE when set (a prebuilt image: no build in the test run).
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest

import vcc.runner._docker_backend as docker_backend
from vcc import demo
from vcc.runner._docker import docker_unavailable_reason

from conftest import GOLDEN_THREADS
from helpers import WRITE_RAWS, pick_docker_profile, run_vcc
from helpers import make_sub as make_helper_sub

HERE = Path(__file__).resolve().parent

_REASON = docker_unavailable_reason()
needs_docker = pytest.mark.skipif(_REASON is not None, reason=f"no Docker engine: {_REASON}")


_IMAGE: list[str] = []


@pytest.fixture(scope="module")
def docker_image() -> str:
    """The cpu image, built once (or VCC_TEST_DOCKER_IMAGE); skip where it cannot be built here.
    Without a registry: the local profile on a debootstrapped base, as in test_docker.py."""
    from vcc.base import HarnessError
    from vcc.runner._docker import ensure_image

    try:
        given = os.environ.get("VCC_TEST_DOCKER_IMAGE", "").strip() or None
        with pytest.MonkeyPatch.context() as mp:  # the runs below name the image with --image
            if given is None:
                pick_docker_profile(mp)
            image = ensure_image("cpu", given)
    except HarnessError as e:
        pytest.skip(f"the vcc-cpu image cannot be built on this machine: {e} ({e.fix})")
    _IMAGE[:] = [image]
    return image


def image_args() -> list[str]:
    return ["--image", _IMAGE[0]] if _IMAGE else []


def make_sub(root: Path, body: str) -> Path:
    return make_helper_sub(root, body, payload=b"payload")


def run(sub: Path, challenge: Path, out: Path, *extra: str) -> tuple[int, dict]:
    """`vcc run --backend docker` in the test image."""
    return run_vcc(sub, challenge, out, "--backend", "docker", "--quiet", *image_args(), *extra)


def test_no_engine_is_a_harness_error(tmp_path, mini_challenge, monkeypatch, capsys):
    monkeypatch.setattr(docker_backend, "docker_unavailable_reason", lambda: "engine stopped")
    sub = make_sub(tmp_path / "sub", WRITE_RAWS)
    code, r = run(sub, mini_challenge, tmp_path / "out", "--no-score")
    assert code == 4
    assert r["verdict"] == "harness_error"
    assert "engine stopped" in capsys.readouterr().err


@pytest.mark.docker
@needs_docker
def test_docker_limits_and_verdicts(tmp_path, mini_challenge, docker_image):
    """Inflate only, two containers (each costs a copy of the image on slow storage drivers):
    hidden originals, no network, no GPU, root imports, then past the memory cap; then the clock."""
    limit = ["--no-score", "--setup-overhead", "0", "--score-estimate", "0"]
    video = mini_challenge / "videos" / "0.mkv"
    body = (
        f'test ! -e "{video}" || {{ echo "originals visible" >&2; exit 9; }}\n'
        'test $(grep -c : /proc/net/dev) -eq 1 || { echo "network visible" >&2; exit 9; }\n'
        'test "$CUDA_VISIBLE_DEVICES" = "" || { echo "GPU visible" >&2; exit 9; }\n'
        "python3 -c 'import frame_utils' || exit 9\n"
        "(setsid sleep 300 &)\n"
        "python3 -c 'b = bytearray(400 << 20)'\n" + WRITE_RAWS
    )
    sub = make_sub(tmp_path / "hog", body)
    code, r = run(sub, mini_challenge, tmp_path / "o1", *limit, "--network", "off", "--memory", "200M")
    assert r["isolation"]["sandbox"].startswith("docker")
    assert code == 3, r["message"]
    assert r["inflate"]["returncode"] != 9, r["inflate"]["stderr_tail"]
    assert r["verdict"] == "out_of_memory"

    hang = make_sub(tmp_path / "hang", "(sleep 300 &)\nsleep 300\n")
    code, r = run(hang, mini_challenge, tmp_path / "o2", *limit, "--clock", "5")
    assert code == 3 and r["verdict"] == "timeout"
    assert r["inflate"]["elapsed_s"] < 30


@pytest.mark.docker
@needs_docker
@pytest.mark.slow
def test_official_style_submission_in_docker(tmp_path, golden_checkout, golden_challenge, expected, docker_image):
    challenge = golden_checkout
    sub = tmp_path / "official_style"
    shutil.copytree(HERE / "submissions" / "official_style", sub)
    with zipfile.ZipFile(sub / "archive.zip", "w") as zf:
        zf.write(golden_challenge / "videos" / "0.mkv", "v")
    code, r = run(sub, challenge, tmp_path / "out", "--threads", str(GOLDEN_THREADS))
    assert code == 0, r["message"] + (r["inflate"] or {}).get("stderr_tail", "")
    near = expected["candidates"]["near"]
    assert r["score"]["samples"] == near["samples"]
    image_torch = r["score"]["versions"]["torch"].split("+")[0]
    if image_torch == expected["library_versions"]["torch"]:  # same stack: bit for bit
        assert r["score"]["segnet_distortion"] == near["segnet_distortion"]
        assert r["score"]["posenet_distortion"] == near["posenet_distortion"]
    else:  # the official lock's torch 2.10 differs from the golden data's in the last bits
        assert r["score"]["segnet_distortion"] == pytest.approx(near["segnet_distortion"], abs=1e-3)
        assert r["score"]["posenet_distortion"] == pytest.approx(near["posenet_distortion"], rel=0.05)
    for key in ("extract_s", "inflate_s", "score_s"):
        assert r["phases"][key] > 0
    assert "headroom_s" in r["clock"]


@pytest.mark.docker
@needs_docker
@pytest.mark.slow
def test_demo_submission_in_docker(tmp_path, golden_challenge, docker_image):
    import subprocess
    import sys


    example = Path(demo.__file__).resolve().parent / "example_submission"
    sub = tmp_path / "demo"
    shutil.copytree(example, sub)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    names = golden_challenge / "public_test_video_names.txt"
    subprocess.run(
        ["bash", str(sub / "compress.sh"), str(golden_challenge / "videos"), str(sub), str(names)],
        check=True,
        env=env,
    )
    code, r = run(sub, golden_challenge, tmp_path / "out")
    assert code == 0, r["message"] + (r["inflate"] or {}).get("stderr_tail", "")
    assert r["score"]["samples"] == 35
    assert r["runner"]["backend"] == "docker"
