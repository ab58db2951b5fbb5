"""Helpers shared by the `vcc run` tests: tiny submissions and wrappers that return run.json.

Imported as `from helpers import ...` (tests/ is on sys.path, as for conftest). No model is
loaded by these; the mini challenge (conftest.mini_challenge) has MINI_FRAMES frames.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from vcc.runner import bwrap_unavailable_reason

from conftest import MINI_FRAMES

FRAME_BYTES = 874 * 1164 * 3  # one RGB frame of a .raw
RAW_BYTES = MINI_FRAMES * FRAME_BYTES  # a complete raw for the mini challenge's video

# inflate.sh's first lines, before the body a test gives
SH_HEADER = "#!/usr/bin/env bash\nset -euo pipefail\n"

# An inflate.sh body that writes a raw of the right size for every name in $3.
WRITE_RAWS = f"""
mkdir -p "$2"
while read -r n; do [ -n "$n" ] && truncate -s {RAW_BYTES} "$2/${{n%.*}}.raw"; done < "$3"
"""

# `vcc run` refuses to run inflate without its sandbox: the suite uses bubblewrap where it works
# and says --sandbox off (plain processes) only where it does not.
# As root, an unsandboxed run is refused where inflate's paths are closed to other uids (pytest's 0700
# temp dirs) unless --allow-root-inflate accepts it: these tests say so.
SANDBOX_OFF_ARGS: tuple[str, ...] = ("--sandbox", "off", *(("--allow-root-inflate",) if os.geteuid() == 0 else ()))
SANDBOX_ARGS: tuple[str, ...] = () if bwrap_unavailable_reason() is None else SANDBOX_OFF_ARGS

# `vcc run` without scoring, with no time set aside for setup or scoring.
NO_SCORE_ARGS = ("--no-score", "--quiet", "--setup-overhead", "0", "--score-estimate", "0")


def make_sub(root: Path, body: str, files: dict[str, str] | None = None, payload: bytes = b"tiny payload") -> Path:
    """A submission dir: archive.zip with one member `a`, inflate.sh = SH_HEADER + body, and `files`."""
    root.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(root / "archive.zip", "w") as zf:
        zf.writestr("a", payload)
    (root / "inflate.sh").write_text(SH_HEADER + body)
    for name, text in (files or {}).items():
        (root / name).write_text(text)
    return root


def run_vcc(sub: Path, challenge: Path, out: Path, *args: str) -> tuple[int, dict]:
    """`vcc run SUB --challenge-dir CHALLENGE --out OUT ARGS...`: its exit code and run.json."""
    from vcc.runner.cli import main as run_main

    if "--sandbox" not in args:
        args = (*SANDBOX_ARGS, *args)
    code = run_main([str(sub), "--challenge-dir", str(challenge), "--out", str(out), *args])
    return code, json.loads((out / "run.json").read_text())


def run(sub: Path, challenge: Path, out: Path, *extra: str) -> tuple[int, dict]:
    """run_vcc without scoring (NO_SCORE_ARGS), then `extra`."""
    return run_vcc(sub, challenge, out, *NO_SCORE_ARGS, *extra)


# --- the system unzip (Info-ZIP 6.0, as on the runner) ----------------------------------------

SYSTEM_UNZIP = Path("/usr/bin/unzip")


def assert_system_unzip_extracts(archive: Path, expected: dict[str, bytes | None]) -> None:
    """`/usr/bin/unzip` extracts `archive` to exactly `expected` (member name -> bytes, None for an
    empty directory), byte for byte. Skips, saying why, only where the system unzip is absent."""
    import subprocess
    import tempfile

    import pytest

    if not SYSTEM_UNZIP.is_file():
        pytest.skip(f"{SYSTEM_UNZIP} is absent (Debian's unzip 6.0 package: apt-get install unzip)")
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "x"
        proc = subprocess.run([str(SYSTEM_UNZIP), "-o", "-q", str(archive), "-d", str(dest)],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"unzip refused {archive}: {proc.stdout}{proc.stderr}"
        files = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
        assert files == {n: d for n, d in expected.items() if d is not None}
        for name, data in expected.items():
            if data is None:
                assert (dest / name).is_dir(), name


def assert_pack_extracts(result) -> None:
    """A PackResult's archive, extracted by the system unzip, holds each member's source bytes."""
    expected = {m.name.rstrip("/"): (Path(m.source).read_bytes() if m.source else None) for m in result.members}
    assert_system_unzip_extracts(result.output, expected)
def synthetic_score_report(path: Path, *, pairs: dict[str, int] | None = None, seed: int = 0,
                           decode: str = "pyav", archive_bytes: int = 123_456, original_bytes: int = 656_047,
                           video_sha256: str = "a" * 64) -> dict:
    """A score report written by the scorer's own result classes from seeded random per-pair values
    (no nets run): input for the report commands' fast tests. Written to `path` as JSON; returned."""
    import numpy as np

    from vcc.base import score_formula, write_json_atomic
    from vcc.scorer import RawCheck, ScoreResult, TargetResult

    pairs = pairs or {"0.mkv": 35}
    rng = np.random.default_rng(seed)
    per_pair = []
    for video, n in pairs.items():
        pose = rng.gamma(2.0, 2e-5, n).astype(np.float32)
        seg = (rng.integers(0, 3000, n) / (384 * 512)).astype(np.float32)
        per_pair += [{"pair": i, "video": video, "posenet": float(p), "segnet": float(s)}
                     for i, (p, s) in enumerate(zip(pose, seg, strict=True))]
    samples = len(per_pair)
    posenet = float(np.float32(sum(p["posenet"] for p in per_pair) / samples))
    segnet = float(np.float32(sum(p["segnet"] for p in per_pair) / samples))
    rate = archive_bytes / original_bytes
    target = TargetResult(decode, samples, posenet, segnet, rate, score_formula(posenet, segnet, rate), per_pair,
                          "off", "(synthetic: no official report)\n")
    raws = [RawCheck(v, path.parent / f"{Path(v).stem}.raw", 2 * n * FRAME_BYTES, 2 * n, 2 * n)
            for v, n in pairs.items()]
    assets = {f"videos/{v}": {"bytes": original_bytes, "sha256": video_sha256, "official": False} for v in pairs}
    result = ScoreResult([target], archive_bytes, original_bytes, "cpu", {"torch": "synthetic"}, assets, raws,
                         ["synthetic report: no nets ran"], {"total_s": 0.0}, numerics={"class": "synthetic"})
    data = result.as_json()
    write_json_atomic(path, data)
    return data


# --- the Docker tests' images -----------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
LOCAL_BASE = "vcc-base:bookworm"  # docker/build-base.sh's default name


def docker_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def have_image(image: str) -> bool:
    return docker_cli("image", "inspect", image).returncode == 0


def can_build_local_base() -> bool:
    return os.geteuid() == 0 and shutil.which("debootstrap") is not None


def official_base_image() -> str:
    text = (ROOT / "docker" / "Dockerfile.cpu").read_text()
    return text.split("ARG BASE_IMAGE=", 1)[1].split()[0]


def build_local_base() -> None:
    subprocess.run(["bash", str(ROOT / "docker" / "build-base.sh"), LOCAL_BASE], check=True)


def pick_docker_profile(mp: pytest.MonkeyPatch) -> None:
    """Where VCC_DOCKER_PROFILE is unset and the official base image is not here (no registry),
    set the local profile, building its debootstrap base first if it is absent and can be built,
    so that ensure_image("cpu") builds what this machine can (docker/README.md)."""
    if os.environ.get("VCC_DOCKER_PROFILE"):
        return
    if have_image(LOCAL_BASE) or (not have_image(official_base_image()) and can_build_local_base()):
        mp.setenv("VCC_DOCKER_PROFILE", "local")
        if not have_image(LOCAL_BASE):
            build_local_base()


def zip_of(*members: tuple[str | zipfile.ZipInfo, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    """An in-memory zip of (name or ZipInfo, data) members, as Python's zipfile writes it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()
