"""The distribution: one wheel, one import namespace, no build warnings, usable from anywhere.

Builds the wheel from this checkout (not editable), installs it into a fresh virtual environment,
and runs the CLI and a library call from a directory outside the checkout. The fresh environment
holds the wheel alone; its dependencies (torch and the rest, gigabytes) are read from the test
environment's site-packages through one .pth line, whose own .pth files (the editable install's
finder) Python does not process, so `import vcc` can only find the installed wheel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What the build may print that is not a warning: pip's notes on this machine's own index setup.
_NOT_OURS = ("WARNING: Location 'file:",)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("wheel")
    # A copy of the checkout's tracked layout is not needed: setuptools builds in a temporary dir
    # and leaves only build/ behind, which .gitignore names.
    p = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "default"},
    )  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    wheels = sorted(out.glob("vcc-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0], p.stdout + p.stderr


def test_build_prints_no_warning(wheel):
    _, log = wheel
    lines = [line for line in log.splitlines() if not line.startswith(_NOT_OURS)]
    warned = [line for line in lines if "warning" in line.lower() or "deprecat" in line.lower()]
    assert not warned, "\n".join(warned)


def test_wheel_installs_one_top_level_name_and_its_data(wheel):
    path, _ = wheel
    names = zipfile.ZipFile(path).namelist()
    tops = sorted({n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")})
    assert tops == ["vcc"], tops
    for part in ("base", "scorer", "runner", "submission", "demo"):
        assert f"vcc/{part}/__init__.py" in names, part
    for data in ("vcc/demo/example_submission/inflate.sh", "vcc/demo/example_submission/compress.sh",
                 "vcc/demo/example_submission/inflate.py", "vcc/submission/ci-example.yml"):  # fmt: skip
        assert data in names, data
    assert not [n for n in names if n.startswith("vcc/tests/") or "__pycache__" in n]


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    path, _ = wheel
    env_dir = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=300)
    python = env_dir / "bin" / "python"
    p = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", str(path)],
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    Path(site, "_vcc_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir


def _run(venv: Path, *cmd: str, cwd: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environ.update(PATH=f"{venv / 'bin'}{os.pathsep}{environ.get('PATH', '')}", **env)
    return subprocess.run(list(cmd), capture_output=True, text=True, cwd=cwd, env=environ, timeout=timeout)


def test_installed_vcc_runs_outside_the_checkout(venv, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "import json, vcc, vcc.scorer, vcc.runner, vcc.submission, vcc.demo, vcc.base\n"
        "from vcc.scorer import ScoreConfig, score_submission\n"
        "from vcc.runner import run_submission\n"
        "from vcc.submission import PackConfig, pack_archive\n"
        "print(json.dumps({'vcc': vcc.__file__, 'scorer': vcc.scorer.__file__, 'version': vcc.__version__,"
        " 'score': callable(score_submission), 'run': callable(run_submission)}))\n"
    )
    p = _run(venv, str(venv / "bin" / "python"), "-c", probe, cwd=elsewhere)
    assert p.returncode == 0, p.stderr
    seen = json.loads(p.stdout)
    assert Path(seen["vcc"]).is_relative_to(venv) and Path(seen["scorer"]).is_relative_to(venv), seen
    assert seen["score"] and seen["run"] and seen["version"] != "0+unknown"
    # no generic top-level names are importable from the wheel
    p = _run(venv, str(venv / "bin" / "python"), "-c",
             "import importlib.util as u; print([n for n in ('base', 'scorer', 'runner', 'submission', 'demo')"
             " if u.find_spec(n)])", cwd=elsewhere)  # fmt: skip
    assert p.returncode == 0 and p.stdout.strip() == "[]", p.stdout + p.stderr

    p = _run(venv, str(venv / "bin" / "vcc"), "--help", cwd=elsewhere)
    assert p.returncode == 0 and "score" in p.stdout and "run" in p.stdout, p.stderr


def test_installed_vcc_demo_end_to_end(venv, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    p = _run(venv, str(venv / "bin" / "vcc"), "demo", "--frames", "8", cwd=elsewhere, timeout=900,
             XDG_CACHE_HOME=str(tmp_path / "cache"))  # fmt: skip
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "score" in p.stdout.lower()
    # the example submission came from the wheel's package data
    assert (tmp_path / "cache" / "vcc" / "demo").is_dir()
