"""The Docker backend against a real engine: limits, timeout, network, mounts, vcc score.

Skipped only where no Docker engine answers. The low-level tests run in a small image (the
local Debian base, or the pinned python base) because on the vfs storage driver every
container copies its image's whole file system; `vcc score` runs in the real vcc image,
built or reused by ensure_image.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

import vcc.runner._docker as rd
from vcc.runner._docker import docker_run, docker_unavailable_reason, ensure_image, image_labels

from conftest import GOLDEN_THREADS
from helpers import (
    LOCAL_BASE,
    build_local_base,
    can_build_local_base,
    docker_cli,
    have_image,
    official_base_image,
    pick_docker_profile,
)

REASON = docker_unavailable_reason()
pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(REASON is not None, reason=f"no Docker engine: {REASON}"),
]

GOLDEN = Path(__file__).parents[1].parent / "shared" / "golden"
MiB = 1 << 20


@pytest.fixture(scope="session")
def small_image() -> str:
    """A small image with sh and python3 for the low-level tests."""
    if have_image(LOCAL_BASE):
        return LOCAL_BASE
    official = official_base_image()
    if have_image(official) or docker_cli("pull", official).returncode == 0:
        return official
    if can_build_local_base():
        build_local_base()
        return LOCAL_BASE
    return ensure_image("cpu")  # slow on vfs, but it has everything


@pytest.fixture
def vcc_image(monkeypatch) -> str:
    """The vcc CPU image, built or reused now (the source may have changed since the last
    test). Without a registry: the local profile on a debootstrapped base."""
    pick_docker_profile(monkeypatch)
    return ensure_image("cpu")


def _run(image: str, argv: list[str], **kw: object) -> rd.DockerProcResult:
    opts: dict[str, object] = dict(
        mounts=[],
        workdir="/",
        env={},
        cpus=None,
        cpuset=None,
        memory_bytes=None,
        pids_limit=None,
        network=False,
        gpus=False,
        timeout_s=120,
    )
    opts.update(kw)
    return docker_run(image, argv, **opts)  # type: ignore[arg-type]


def _leftovers(marker: str) -> list[str]:
    proc = docker_cli("ps", "--all", "--no-trunc", "--format", "{{.Names}} {{.Command}}")
    return [line for line in proc.stdout.splitlines() if marker in line]


def test_exit_code_and_output_tails(small_image):
    res = _run(small_image, ["sh", "-c", "echo to-out; echo to-err >&2; exit 7"])
    assert res.returncode == 7
    assert res.stdout_tail == "to-out\n" and res.stderr_tail == "to-err\n"
    assert not res.timed_out and not res.oom_killed
    assert 0 <= res.elapsed_s < 60


def test_memory_limit_oom_kills(small_image):
    hog = "b = bytearray(768 * 1024 * 1024); print('survived')"
    res = _run(small_image, ["python3", "-c", hog], memory_bytes=256 * MiB)
    assert res.oom_killed, (res.returncode, res.stderr_tail)
    assert res.returncode == 137 and "survived" not in res.stdout_tail
    if res.peak_memory_bytes is not None:  # sampled; a fast kill may beat the first sample
        assert res.peak_memory_bytes <= 256 * MiB + 4 * MiB


def test_peak_memory_is_measured(small_image):
    code = "import time; b = bytearray(200 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"
    res = _run(small_image, ["python3", "-c", code], memory_bytes=1024 * MiB)
    assert res.returncode == 0 and not res.oom_killed, res.stderr_tail
    assert res.peak_memory_bytes is not None
    assert 200 * MiB <= res.peak_memory_bytes <= 1024 * MiB


def test_timeout_kills_and_leaves_nothing(small_image):
    marker = f"600.{uuid.uuid4().int % 10**6:06d}"  # a sleep length no one else uses
    t0 = time.monotonic()
    res = _run(small_image, ["sleep", marker], timeout_s=2)
    assert res.timed_out and res.returncode != 0
    assert time.monotonic() - t0 < 60
    assert 1.5 <= res.elapsed_s < 30
    assert _leftovers(marker) == []


def test_network_none_cannot_reach_the_host(small_image):
    """network=False: the container's loopback is its own; host networking reaches ours."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    accepted: list[bytes] = []

    def serve() -> None:
        server.settimeout(30)
        try:
            while True:
                conn, _ = server.accept()
                accepted.append(conn.recv(16))
                conn.close()
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    probe = (
        "import socket, sys\n"
        "s = socket.socket(); s.settimeout(5)\n"
        f"try:\n    s.connect(('127.0.0.1', {port})); s.sendall(b'hi'); print('connected')\n"
        "except OSError as e:\n    print('refused', e); sys.exit(3)\n"
        "import os; print(sorted(os.listdir('/sys/class/net')))\n"
    )
    try:
        closed = _run(small_image, ["python3", "-c", probe], network=False)
        assert closed.returncode == 3 and "refused" in closed.stdout_tail
        opened = _run(small_image, ["python3", "-c", probe], network=True)
        assert opened.returncode == 0 and "connected" in opened.stdout_tail, opened.stderr_tail
    finally:
        server.close()
        thread.join(timeout=5)
    assert accepted == [b"hi"]  # exactly the host-network container got through
    ifaces = _run(small_image, ["ls", "/sys/class/net"], network=False)
    assert ifaces.stdout_tail.split() == ["lo"]


def test_read_only_mount_cannot_be_written(small_image, tmp_path):
    ro, rw = tmp_path / "ro", tmp_path / "rw"
    ro.mkdir()
    rw.mkdir()
    (ro / "original").write_bytes(b"keep")
    script = (
        "echo x > /in/original; a=$?; echo y > /in/new; b=$?; "
        "cat /in/original > /out/copy; echo $a $b"
    )
    res = _run(small_image, ["sh", "-c", script], mounts=[(str(ro), "/in", True), (str(rw), "/out", False)])
    assert res.returncode == 0, res.stderr_tail
    write_status = res.stdout_tail.split()
    assert len(write_status) == 2 and "0" not in write_status  # both writes refused
    assert "Read-only file system" in res.stderr_tail
    assert (ro / "original").read_bytes() == b"keep" and sorted(p.name for p in ro.iterdir()) == ["original"]
    copy = rw / "copy"
    assert copy.read_bytes() == b"keep"
    assert copy.stat().st_uid == os.getuid()  # written as the caller


def test_limits_reach_the_cgroup(small_image):
    """cpus, cpuset, memory (no swap) and pids as the kernel sees them inside the container."""
    script = r"""
import os, pathlib
def first(*paths):
    for p in paths:
        try:
            return pathlib.Path(p).read_text().strip()
        except OSError:
            pass
    return "?"
print("mem", first("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max"))
print("swap", first("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", "/sys/fs/cgroup/memory.swap.max"))
print("pids", first("/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/pids.max"))
q = first("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"); p = first("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
if q == "?":
    q, p = (first("/sys/fs/cgroup/cpu.max") + " ?").split()[:2]
print("cpu", q, p)
print("cpuset", sorted(os.sched_getaffinity(0)))
"""
    res = _run(
        small_image,
        ["python3", "-c", script],
        memory_bytes=300 * MiB,
        pids_limit=77,
        cpus=0.5,
        cpuset="0",
    )
    assert res.returncode == 0, res.stderr_tail
    got = {line.split()[0]: line.split()[1:] for line in res.stdout_tail.splitlines()}
    assert got["mem"] == [str(300 * MiB)]
    assert got["swap"] in ([str(300 * MiB)], ["0"], ["?"])  # memsw absent without swap accounting
    assert got["pids"] == ["77"]
    quota, period = (int(x) for x in got["cpu"])
    assert math.isclose(quota / period, 0.5)
    assert got["cpuset"] == ["[0]"]


def test_cpus_above_the_engine_are_lowered(small_image):
    """docker refuses --cpus above the engine's count; the official 4 on a 2-core host runs."""
    engine = int(docker_cli("info", "--format", "{{.NCPU}}").stdout.strip())
    script = (
        "import pathlib\n"
        "q = pathlib.Path('/sys/fs/cgroup/cpu/cpu.cfs_quota_us')\n"
        "if q.exists():\n"
        "    print(int(q.read_text()) / int(pathlib.Path('/sys/fs/cgroup/cpu/cpu.cfs_period_us').read_text()))\n"
        "else:\n"
        "    a, b = pathlib.Path('/sys/fs/cgroup/cpu.max').read_text().split()\n"
        "    print(int(a) / int(b))\n"
    )
    res = _run(small_image, ["python3", "-c", script], cpus=engine + 2)
    assert res.returncode == 0, res.stderr_tail
    assert float(res.stdout_tail) == engine


def test_missing_image_is_a_harness_error():
    from vcc.base import HarnessError

    with pytest.raises(HarnessError):
        _run(f"vcc-no-such-image:{uuid.uuid4().hex[:8]}", ["true"])


def test_ensure_image_reuses_and_labels(vcc_image):
    before = rd.image_spec("cpu").tag
    t0 = time.monotonic()
    again = ensure_image("cpu")
    reuse_s = time.monotonic() - t0
    if rd.image_spec("cpu").tag == before == vcc_image:  # nobody edited the source meanwhile
        assert again == vcc_image
        assert reuse_s < 30, f"reuse took {reuse_s:.1f} s"
    labels = image_labels(again)
    assert labels["vcc.kind"] == "cpu"
    assert labels["vcc.timm"] == "1.0.22" and labels["vcc.av"] == "17.0.0"
    assert labels["vcc.profile"] == (os.environ.get("VCC_DOCKER_PROFILE") or "official")
    # What runs is stated: the lock's torch for the official profile, the deviation otherwise.
    official_torch = labels["vcc.profile"] == "official"
    assert (labels["vcc.torch"] == "2.10.0+cpu") == official_torch
    assert ensure_image("cpu", image=again) == again  # an explicit image is used as is


@pytest.mark.slow
def test_vcc_score_in_image_matches_golden(vcc_image, tmp_path, expected):
    near = expected["candidates"]["near"]
    challenge = GOLDEN / "challenge"
    sub = tmp_path / "submission"
    (sub / "inflated").mkdir(parents=True)
    subprocess.run(
        [
            sys.executable,
            str(GOLDEN / "make_candidates.py"),
            str(challenge / "videos" / "0.mkv"),
            str(sub / "inflated" / "0.raw"),
            "near",
        ],
        check=True,
    )
    # Only the archive's size enters the score (expected.json: any file of that size works).
    (sub / "archive.zip").write_bytes(b"\0" * near["archive_bytes"])
    out = tmp_path / "out"
    out.mkdir()
    res = docker_run(
        vcc_image,
        [
            "vcc",
            "score",
            "/submission",
            "--challenge-dir",
            "/challenge",
            "--report",
            "/out/report.txt",
            "--json",
            "/out/score.json",
            "--quiet",
            "--threads",
            str(GOLDEN_THREADS),
        ],
        mounts=[(str(challenge), "/challenge", True), (str(sub), "/submission", True), (str(out), "/out", False)],
        workdir="/out",
        env={},
        cpus=2,
        cpuset=None,
        memory_bytes=8 << 30,
        pids_limit=4096,
        network=False,
        gpus=False,
        timeout_s=900,
    )
    assert res.returncode == 0, res.stderr_tail[-3000:]
    assert not res.timed_out and not res.oom_killed
    got = json.loads((out / "score.json").read_text())
    assert got["samples"] == near["samples"]
    assert got["archive_bytes"] == near["archive_bytes"]
    assert got["original_bytes"] == near["original_bytes"]
    assert got["rate"] == near["rate"]

    ran = {k: str(v).split("+")[0] for k, v in (got.get("versions") or {}).items()}
    wanted = expected["library_versions"]
    same_libs = all(ran.get(k) == v for k, v in wanted.items())
    print(f"vcc score in {vcc_image}: {res.elapsed_s:.1f} s, libraries {ran}, "
          f"{'bit-exact check' if same_libs else 'closeness check'}")
    fields = ("posenet_distortion", "segnet_distortion", "score")
    if same_libs:
        # The image runs the golden's library versions: the figures must be bit-identical.
        for f in fields:
            assert got[f] == near[f], f
        assert [p["posenet"] for p in got["per_pair"]] == near["per_pair_posenet"]
        assert [p["segnet"] for p in got["per_pair"]] == near["per_pair_segnet"]
    else:
        # Other torch/timm/... builds change float last bits; the figures stay close.
        for f in fields:
            assert math.isclose(got[f], near[f], rel_tol=1e-3), (f, got[f], near[f], ran)
