"""runner/_docker.py parts that need no Docker engine: image naming, build arguments, CLI args."""

from __future__ import annotations

import csv
import os
import shutil
from datetime import UTC
from pathlib import Path

import pytest

import vcc.runner._docker as rd
from vcc.base import BadInput, HarnessError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake_root(tmp_path, monkeypatch):
    """A copy of the files the image is built from, as the project root."""
    root = tmp_path / "root"
    for rel in rd._context_files(ROOT):
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest)
    monkeypatch.setattr(rd, "_project_root", lambda: root)
    # No engine is asked about the base image: a base named by tag hashes by name here.
    monkeypatch.setattr(rd, "_docker", _no_engine)
    monkeypatch.delenv("VCC_DOCKER_PROFILE", raising=False)
    monkeypatch.delenv("VCC_DOCKER_BUILD_ARGS", raising=False)
    return root


def _no_engine(*args, **kwargs):
    import subprocess

    return subprocess.CompletedProcess(["docker", *args], 1, "", "no engine in unit tests")


def test_context_is_the_allowlist_without_caches(fake_root):
    files = rd._context_files(ROOT)
    tops = {f.parts[0] for f in files}
    assert tops <= set(rd._CONTEXT_ITEMS)
    assert Path("docker/Dockerfile.cpu") in files and Path("docker/Dockerfile.t4") in files
    assert not any("__pycache__" in f.parts or f.suffix == ".pyc" for f in files)
    assert not any(part.startswith(".") for f in files for part in f.parts)


def test_dockerignore_allows_what_the_context_holds():
    allowed = {
        line[1:].strip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    assert allowed == set(rd._CONTEXT_ITEMS)


def test_tag_names_kind_profile_and_changes_with_source(fake_root):
    a = rd.image_spec("cpu")
    assert a.tag.startswith("vcc-cpu:official-") and len(a.source_hash) == 64
    assert rd.image_spec("cpu").tag == a.tag  # deterministic
    assert rd.image_spec("t4").tag != a.tag
    (fake_root / "scorer" / "_score.py").write_text(
        (fake_root / "scorer" / "_score.py").read_text() + "\n# changed\n"
    )
    assert rd.image_spec("cpu").tag != a.tag


def test_caches_do_not_change_the_tag(fake_root):
    a = rd.image_spec("cpu").tag
    (fake_root / "scorer" / "__pycache__").mkdir(exist_ok=True)
    (fake_root / "scorer" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0" * 10)
    (fake_root / "runner" / ".swp").write_text("editor")
    assert rd.image_spec("cpu").tag == a


def test_local_profile_reads_args_file_and_changes_tag(fake_root, monkeypatch):
    official = rd.image_spec("cpu")
    monkeypatch.setenv("VCC_DOCKER_PROFILE", "local")
    local = rd.image_spec("cpu")
    assert local.tag.startswith("vcc-cpu:local-") and local.tag != official.tag
    assert local.build_args["BASE_IMAGE"] == "vcc-base:bookworm"
    assert local.build_args["TORCH_VERSION"] == "2.14.1"
    monkeypatch.setenv("VCC_DOCKER_BUILD_ARGS", "TORCH_VERSION=2.13.0 TORCHVISION_VERSION=0.28.0")
    over = rd.image_spec("cpu")
    assert over.build_args["TORCH_VERSION"] == "2.13.0" and over.tag != local.tag


def test_unknown_profile_and_bad_args_are_bad_input(fake_root, monkeypatch):
    monkeypatch.setenv("VCC_DOCKER_PROFILE", "nosuch")
    with pytest.raises(BadInput, match="nosuch"):
        rd.image_spec("cpu")
    monkeypatch.setenv("VCC_DOCKER_PROFILE", "official")
    monkeypatch.setenv("VCC_DOCKER_BUILD_ARGS", "NOEQUALS")
    with pytest.raises(BadInput, match="NOEQUALS"):
        rd.image_spec("cpu")
    with pytest.raises(BadInput, match="runner kind"):
        rd.image_spec("gpu")


def test_missing_dockerfile_is_a_harness_error(fake_root):
    (fake_root / "docker" / "Dockerfile.t4").unlink()
    with pytest.raises(HarnessError, match="Dockerfile.t4") as exc:
        rd.image_spec("t4")
    assert exc.value.exit_code == 4


def test_official_pins_in_dockerfiles():
    """The defaults are the official lock's (torch 2.10.0+cpu for the CPU image,
    2.9.0+cu128 and DALI 1.52.0 for the T4's); a local build overrides them."""
    cpu = (ROOT / "docker" / "Dockerfile.cpu").read_text()
    t4 = (ROOT / "docker" / "Dockerfile.t4").read_text()
    assert "ARG TORCH_VERSION=2.10.0+cpu" in cpu and "ARG TORCHVISION_VERSION=0.25.0+cpu" in cpu
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in cpu
    assert "ARG TORCH_VERSION=2.9.0+cu128" in t4 and "ARG TORCHVISION_VERSION=0.24.0+cu128" in t4
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128" in t4
    assert "ARG DALI_VERSION=1.52.0" in t4 and "nvidia-dali-cuda120==${DALI_VERSION}" in t4
    assert "ARG DALI_INDEX_URL=https://pypi.nvidia.com" in t4
    for text in (cpu, t4):
        assert "ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:" in text
    reqs = (ROOT / "docker" / "requirements.txt").read_text()
    for pin in (
        "timm==1.0.22",
        "segmentation-models-pytorch==0.5.0",
        "av==17.0.0",
        "numpy==2.3.4",
        "einops==0.8.1",
        "safetensors==0.6.2",
    ):
        assert pin in reqs


def test_mount_arg_quotes_commas_and_checks_paths(tmp_path):
    odd = tmp_path / "a,b"
    odd.mkdir()
    arg = rd._mount_arg(str(odd), "/data", True)
    fields = next(csv.reader([arg]))
    assert fields == ["type=bind", f"source={odd}", "target=/data", "readonly"]
    assert "readonly" not in rd._mount_arg(str(tmp_path), "/w", False)
    with pytest.raises(HarnessError, match="does not exist"):
        rd._mount_arg(str(tmp_path / "missing"), "/x", False)
    with pytest.raises(HarnessError, match="absolute"):
        rd._mount_arg(str(tmp_path), "rel", False)


def test_parse_docker_times():
    t = rd._parse_time("2026-11-25T00:15:32.123456789Z")
    assert t is not None and t.tzinfo is not None
    assert t.astimezone(UTC).microsecond == 123456
    assert rd._parse_time("0001-01-01T00:00:00Z") is None
    assert rd._parse_time("garbage") is None


def test_unavailable_reason_without_cli(monkeypatch):
    monkeypatch.setattr(rd.shutil, "which", lambda name: None)
    assert "not on PATH" in rd.docker_unavailable_reason()


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI on PATH")
def test_unavailable_reason_with_no_engine(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    reason = rd.docker_unavailable_reason()
    assert reason is not None and "no Docker engine" in reason


def test_ca_bundle_from_env(monkeypatch, tmp_path):
    monkeypatch.delenv("VCC_DOCKER_CA_BUNDLE", raising=False)
    monkeypatch.delenv("PIP_CERT", raising=False)
    assert rd._ca_bundle() is None
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("PIP_CERT", str(pem))
    assert rd._ca_bundle() == pem
    monkeypatch.setenv("VCC_DOCKER_CA_BUNDLE", str(tmp_path / "nope.pem"))
    with pytest.raises(BadInput, match="VCC_DOCKER_CA_BUNDLE"):
        rd._ca_bundle()


def test_check_versions_script(tmp_path):
    import subprocess
    import sys

    script = ROOT / "docker" / "check_versions.py"
    import numpy

    ok = subprocess.run(
        [sys.executable, str(script), f"numpy={numpy.__version__}"], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stdout
    reqs = tmp_path / "r.txt"
    reqs.write_text("numpy==0.0.1  # wrong on purpose\n")
    bad = subprocess.run(
        [sys.executable, str(script), "--requirements", str(reqs)], capture_output=True, text=True
    )
    assert bad.returncode == 1 and "BAD numpy" in bad.stdout
    # "NAME=" demands the package is absent (the T4 image built without DALI).
    absent = subprocess.run(
        [sys.executable, str(script), "vcc-no-such-package="], capture_output=True, text=True
    )
    assert absent.returncode == 0
    present = subprocess.run([sys.executable, str(script), "numpy="], capture_output=True, text=True)
    assert present.returncode == 1


def test_build_fix_hints(fake_root):
    spec = rd.image_spec("cpu")
    assert "VCC_DOCKER_PROFILE=local" in rd._build_fix_hint(
        "pull access denied for python, repository does not exist", spec
    )
    assert "CA_BUNDLE" in rd._build_fix_hint("SSL: CERTIFICATE_VERIFY_FAILED", spec)
    assert os.sep not in spec.tag


def test_snapshot_of_the_context_hashes_like_the_tree(fake_root, tmp_path):
    """ensure_image builds from a copy and names the image after the copy."""
    spec = rd.image_spec("cpu")
    snap = tmp_path / "snap"
    snap.mkdir()
    rd._copy_context(spec, snap)
    assert rd.image_spec("cpu", root=snap).tag == spec.tag
    (fake_root / "vcc" / "_cli.py").write_text("# edited after the snapshot\n")
    assert rd.image_spec("cpu", root=snap).tag == spec.tag != rd.image_spec("cpu").tag


def test_leftovers_are_read_like_the_local_backend_and_the_list_removed(tmp_path):
    from vcc.runner._docker_backend import _take_leftovers

    listed = tmp_path / "leftover-0"
    listed.write_text("sleep 300 \n\n(zombie)\n")
    assert _take_leftovers(listed) == ["sleep 300", "(zombie)"] and not listed.exists()
    assert _take_leftovers(tmp_path / "leftover-1") == []  # none written: inflate left nothing
