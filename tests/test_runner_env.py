"""`vcc env sync` and `vcc run --env`: inflate runs in the checkout's own `uv sync --group` env.

Fast: a tiny checkout whose pyproject.toml lists brotli and einops (small PyPI wheels) in a
dependency group `cpu`, locked in the test with `uv lock`; no model is loaded (--no-score).
Needs uv (a vcc dependency) and PyPI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vcc.base import HarnessError
from vcc.runner import _env
from vcc.runner.env_cli import main as env_main

from helpers import RAW_BYTES, run
from helpers import make_sub as make_inflate_sub

try:
    UV = _env.find_uv()
except Exception:  # HarnessError when uv is not installed
    UV = None

pytestmark = pytest.mark.skipif(UV is None, reason="uv is not installed (pip install uv)")

PYPROJECT = """\
[project]
name = "mini-challenge"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = []

[dependency-groups]
cpu = ["brotli==1.2.0", "einops==0.8.1"]
"""

INFLATE_PY = f"""\
import sys
from pathlib import Path

import brotli
import einops

out = Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
assert brotli.decompress(brotli.compress(b"x" * 100)) == b"x" * 100
for name in Path(sys.argv[3]).read_text().split():
    with open(out / (name.rsplit(".", 1)[0] + ".raw"), "wb") as f:
        f.truncate({RAW_BYTES})
print("inflate python:", sys.prefix, "einops", einops.__version__)
"""


def uv_lock(project: Path) -> None:
    subprocess.run([UV, "lock", "--python", sys.executable], cwd=project, check=True, capture_output=True)


@pytest.fixture(scope="module")
def env_challenge(mini_challenge: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mini challenge with the checkout's pyproject.toml and a uv.lock made here."""
    root = tmp_path_factory.mktemp("env-challenge")
    for entry in mini_challenge.iterdir():
        (shutil.copytree if entry.is_dir() else shutil.copy)(entry, root / entry.name)
    (root / "pyproject.toml").write_text(PYPROJECT)
    uv_lock(root)
    return root


@pytest.fixture(scope="module")
def envs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("envs")


@pytest.fixture(scope="module")
def synced(env_challenge: Path, envs_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("sync") / "env.json"
    code = env_main(["sync", "--challenge-dir", str(env_challenge), "--envs-dir", str(envs_dir),
                     "--json", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    return json.loads(out.read_text())


def make_sub(root: Path) -> Path:
    """inflate.sh runs inflate.py (brotli, einops) with the environment's python."""
    return make_inflate_sub(root, 'python "$(dirname "$0")/inflate.py" "$@"\n', files={"inflate.py": INFLATE_PY})


def test_sync_builds_the_locked_env(synced, env_challenge, envs_dir):
    assert synced["mode"] == "lock" and synced["fallbacks"] == [] and synced["reused"] is False
    assert synced["group"] == "cpu"
    assert synced["installed"]["brotli"] == "1.2.0" and synced["installed"]["einops"] == "0.8.1"
    assert synced["not_as_locked"] == {}
    assert synced["lock"]["sha256"] == _env.hashlib.sha256((env_challenge / "uv.lock").read_bytes()).hexdigest()
    venv = Path(synced["env"])
    assert venv.parent.parent == envs_dir and venv.parent.name == synced["key"]
    assert (venv.parent / "env.json").is_file()
    p = subprocess.run([venv / "bin" / "python", "-c", "import brotli, einops"], capture_output=True)
    assert p.returncode == 0, p.stderr
    assert not (env_challenge / ".venv").exists()  # the checkout is only read


def test_second_sync_is_a_no_op(synced, env_challenge, envs_dir, capsys):
    record = Path(synced["env"]).parent / "env.json"
    before = record.stat().st_mtime_ns
    assert env_main(["sync", "--challenge-dir", str(env_challenge), "--envs-dir", str(envs_dir), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "REUSED" in captured.out and "nothing to do" in captured.err
    assert record.stat().st_mtime_ns == before
    found = _env.find_env(env_challenge, "cpu", envs_dir=envs_dir)
    assert found is not None and found.path == Path(synced["env"])


def test_run_inflates_in_the_official_env(synced, env_challenge, envs_dir, tmp_path):
    sub = make_sub(tmp_path / "sub")
    code, r = run(sub, env_challenge, tmp_path / "out", "--envs-dir", str(envs_dir))  # --env auto
    assert code == 0, r["message"]
    env = r["environment"]["inflate"]
    assert env["kind"] == "official" and env["path"] == synced["env"]
    assert env["lock_sha256"] == synced["lock"]["sha256"] and env["fallbacks"] == []
    assert env["python"] == synced["python"]["version"]
    assert f"inflate python: {synced['env']}" in r["inflate"]["stdout_tail"]
    assert r["environment"]["scorer"]["kind"] == "vcc" and r["environment"]["scorer"]["prefix"] == sys.prefix
    assert not any("vcc's own Python environment" in w for w in r["warnings"])


def test_env_vcc_fails_with_module_hint(synced, env_challenge, envs_dir, tmp_path):
    sub = make_sub(tmp_path / "sub")
    code, r = run(sub, env_challenge, tmp_path / "out", "--envs-dir", str(envs_dir), "--env", "vcc")
    assert code == 3 and r["verdict"] == "inflate_failed"
    assert r["environment"]["inflate"]["kind"] == "vcc"
    assert "ModuleNotFoundError" in r["message"]
    assert "vcc env sync --challenge-dir" in r["message"]


def test_auto_without_a_synced_env_warns(env_challenge, tmp_path):
    sub = make_sub(tmp_path / "sub")
    code, r = run(sub, env_challenge, tmp_path / "out", "--envs-dir", str(tmp_path / "no-envs"))
    assert r["environment"]["inflate"]["kind"] == "vcc"
    assert any("vcc's own Python environment" in w and "vcc env sync" in w for w in r["warnings"])
    assert code == 3  # brotli is not in vcc's env


def test_missing_lock_is_bad_input(env_challenge, tmp_path, capsys):
    ch = tmp_path / "ch"
    ch.mkdir()
    (ch / "pyproject.toml").write_text(PYPROJECT)
    assert env_main(["sync", "--challenge-dir", str(ch), "--envs-dir", str(tmp_path / "e"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no uv.lock" in err and str(ch / "uv.lock") in err and "fix:" in err


def test_missing_pyproject_is_bad_input(tmp_path, capsys):
    assert env_main(["sync", "--challenge-dir", str(tmp_path), "--envs-dir", str(tmp_path / "e"), "--quiet"]) == 2
    assert "no pyproject.toml" in capsys.readouterr().err


def test_unknown_group_is_bad_input(env_challenge, tmp_path, capsys):
    code = env_main(["sync", "--challenge-dir", str(env_challenge), "--group", "cu999",
                     "--envs-dir", str(tmp_path / "e"), "--quiet"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown dependency group 'cu999'" in err and "cpu" in err and "pyproject.toml" in err


@pytest.mark.parametrize("shape", ["cu126", "cu130", "mps"])
def test_sync_builds_a_group_only_shapes_group(shape, tmp_path):
    """The checkout's other uv groups, by shape: `--runner SHAPE` syncs that group of the lock."""
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT + f'{shape} = ["einops==0.8.1"]\n')
    uv_lock(root)
    out = tmp_path / "env.json"
    code = env_main(["sync", "--challenge-dir", str(root), "--runner", shape, "--envs-dir", str(tmp_path / "e"),
                     "--json", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    record = json.loads(out.read_text())
    assert record["group"] == shape and record["installed"]["einops"] == "0.8.1" and "brotli" not in record["installed"]


def test_default_envs_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _env.default_envs_dir() == tmp_path / "vcc" / "envs"


def test_key_changes_with_lock_group_and_python():
    base = _env.env_key(b"p", b"l", "cpu", "3.11.7")
    assert base != _env.env_key(b"p", b"l2", "cpu", "3.11.7")
    assert base != _env.env_key(b"p", b"l", "cu128", "3.11.7")
    assert base != _env.env_key(b"p", b"l", "cpu", "3.12.0")


# --- the torch fallback, without downloading torch ---------------------------------------------

TORCH_PYPROJECT = """\
[project]
name = "mini-challenge"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["einops==0.8.1", "pyppmd"]

[dependency-groups]
cpu = ["torch==2.10.0"]

[tool.uv.sources]
torch = [{ index = "pytorch-cpu", group = "cpu" }]

[[tool.uv.index]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/cpu"
explicit = true
"""

H1, H2, H3 = "a" * 64, "b" * 64, "c" * 64
TORCH_WHEEL = "https://download.pytorch.org/whl/cpu/torch-2.10.0%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl"
TORCH_LOCK = f"""\
version = 1
revision = 3
requires-python = ">=3.11"

[[package]]
name = "einops"
version = "0.8.1"
source = {{ registry = "https://pypi.org/simple" }}
wheels = [
    {{ url = "https://files.pythonhosted.org/packages/aa/einops-0.8.1-py3-none-any.whl", hash = "sha256:{H1}" }},
]

[[package]]
name = "filelock"
version = "3.20.0"
source = {{ registry = "https://pypi.org/simple" }}
wheels = [
    {{ url = "https://files.pythonhosted.org/packages/bb/filelock-3.20.0-py3-none-any.whl", hash = "sha256:{H2}" }},
]

[[package]]
name = "mini-challenge"
version = "0.1.0"
source = {{ virtual = "." }}
dependencies = [
    {{ name = "einops" }},
]

[package.dev-dependencies]
cpu = [
    {{ name = "torch" }},
]

[package.metadata]
requires-dist = [{{ name = "einops", specifier = "==0.8.1" }}]

[package.metadata.requires-dev]
cpu = [{{ name = "torch", specifier = "==2.10.0", index = "https://download.pytorch.org/whl/cpu" }}]

[[package]]
name = "torch"
version = "2.10.0+cpu"
source = {{ registry = "https://download.pytorch.org/whl/cpu" }}
dependencies = [
    {{ name = "filelock" }},
]
wheels = [
    {{ url = "{TORCH_WHEEL}", hash = "sha256:{H3}" }},
]
"""


@pytest.fixture
def torch_checkout(tmp_path: Path) -> Path:
    ch = tmp_path / "torch-checkout"
    ch.mkdir()
    (ch / "pyproject.toml").write_text(TORCH_PYPROJECT)
    (ch / "uv.lock").write_text(TORCH_LOCK)
    return ch


def export(ch: Path) -> str:
    p = subprocess.run([UV, "export", "--frozen", "--group", "cpu", "--no-emit-project", "--no-header"],
                       cwd=ch, capture_output=True, text=True, check=True)  # fmt: skip
    return p.stdout


def test_lock_names_torch_from_the_pytorch_index(torch_checkout):
    lock = _env.tomllib.loads(TORCH_LOCK)
    sources = _env.lock_sources(lock)
    assert sources[("torch", "2.10.0+cpu")] == "https://download.pytorch.org/whl/cpu"
    assert sources[("einops", "0.8.1")] == _env.PYPI_SIMPLE
    assert ("torch", "2.10.0+cpu") in _env.exported_pins(export(torch_checkout))


def test_fallback_rewrites_torch_only(torch_checkout):
    text, changes = _env.fallback_requirements(export(torch_checkout), {"torch"}, ["pyppmd"])
    assert changes == [{"package": "torch", "locked": "2.10.0+cpu", "installed_spec": "==2.10.0"}]
    lines = text.splitlines()
    torch_line = next(line for line in lines if line.startswith("torch"))
    assert torch_line.split(" ;")[0] == "torch==2.10.0" and not torch_line.endswith("\\")
    assert H3 not in text  # the CPU wheel's hash would reject PyPI's wheel
    assert f"--hash=sha256:{H1}" in text and f"--hash=sha256:{H2}" in text  # the rest keep theirs
    assert "einops==0.8.1" in text and "filelock==3.20.0" in text
    assert lines[-1] == "pyppmd"


def test_fallback_on_hand_written_export():
    exported = (
        "numpy==2.3.4 \\\n    --hash=sha256:11 \\\n    --hash=sha256:22\n"
        "torch==2.10.0+cpu ; sys_platform == 'linux' \\\n    --hash=sha256:33\n    # via mini\n"
        "torchvision==0.25.0+cpu \\\n    --hash=sha256:44\n"
    )
    text, changes = _env.fallback_requirements(exported, {"torch", "torchvision"})
    assert text == (
        "numpy==2.3.4 \\\n    --hash=sha256:11 \\\n    --hash=sha256:22\n"
        "torch==2.10.0 ; sys_platform == 'linux'\n    # via mini\n"
        "torchvision==0.25.0\n"
    )
    assert [c["locked"] for c in changes] == ["2.10.0+cpu", "0.25.0+cpu"]


def test_stale_lock_lists_what_pyproject_adds():
    stale = _env.stale_requirements(_env.tomllib.loads(TORCH_PYPROJECT), _env.tomllib.loads(TORCH_LOCK), "cpu")
    assert stale == ["pyppmd"]


def test_unreachable_index_without_fallback_is_a_harness_error(torch_checkout, tmp_path, monkeypatch):
    monkeypatch.setattr(_env, "_probe", lambda url, timeout: None if "pypi.org" in url else "no route (test)")
    cfg = _env.EnvConfig(torch_checkout, group="cpu", envs_dir=tmp_path / "e", fallback=False)
    with pytest.raises(HarnessError) as info:
        _env.sync_env(cfg)
    msg = info.value.render()
    assert info.value.exit_code == 4
    assert "https://download.pytorch.org/whl/cpu" in msg and "torch==2.10.0+cpu" in msg and "--no-fallback" in msg
    assert not (torch_checkout / ".venv").exists()


def test_fallback_never_covers_other_packages(torch_checkout, tmp_path, monkeypatch):
    # einops from another unreachable index (as nvidia-dali from NVIDIA's): no PyPI fallback for it.
    lock = TORCH_LOCK.replace(
        'name = "einops"\nversion = "0.8.1"\nsource = { registry = "https://pypi.org/simple" }',
        'name = "einops"\nversion = "0.8.1"\nsource = { registry = "https://pypi.example.invalid/simple" }',
    )
    (torch_checkout / "uv.lock").write_text(lock)
    monkeypatch.setattr(_env, "_probe", lambda url, timeout: "no route (test)")
    cfg = _env.EnvConfig(torch_checkout, group="cpu", envs_dir=tmp_path / "e")
    with pytest.raises(HarnessError) as info:
        _env.sync_env(cfg)
    assert "pypi.example.invalid" in str(info.value) and "einops has no PyPI fallback" in (info.value.fix or "")


def test_env_official_syncs_when_missing(env_challenge, tmp_path):
    envs = tmp_path / "fresh-envs"
    code, r = run(make_sub(tmp_path / "sub"), env_challenge, tmp_path / "out", "--envs-dir", str(envs),
                  "--env", "official")  # fmt: skip
    assert code == 0, r["message"]
    env = r["environment"]["inflate"]
    assert env["kind"] == "official" and env["reused"] is False
    assert Path(env["path"]).is_relative_to(envs) and Path(env["record"]).is_file()


# --- vcc score --env official: scoring inside the synced env ------------------------------------
# The tiny env has no torch, so these stop at the import check or run only the copied code; a
# positive score in an env with torch needs the official lock's torch (gigabytes) and is not here.

SCORE_ARGS = ("--env", "official", "--quiet")


def vcc_main(*argv: str) -> int:
    import vcc

    return vcc.main(list(argv))


def test_score_env_official_without_a_synced_env_exits_2(env_challenge, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_env, "default_envs_dir", lambda: tmp_path / "no-envs")
    assert vcc_main("score", str(tmp_path / "sub"), "--challenge-dir", str(env_challenge), *SCORE_ARGS) == 2
    err = capsys.readouterr().err
    assert f"vcc env sync --challenge-dir {env_challenge} --group cpu" in err
    assert "no synced environment" in err and str(tmp_path / "no-envs") in err


def test_score_env_official_cuda_wants_the_cu128_group(env_challenge, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_env, "default_envs_dir", lambda: tmp_path / "no-envs")
    code = vcc_main("score", str(tmp_path / "sub"), "--challenge-dir", str(env_challenge), "--device", "cuda",
                    *SCORE_ARGS)  # fmt: skip
    assert code == 2
    assert "unknown dependency group 'cu128'" in capsys.readouterr().err


def test_score_env_official_without_torch_exits_4(synced, env_challenge, envs_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_env, "default_envs_dir", lambda: envs_dir)
    code = vcc_main("score", str(tmp_path / "sub"), "--challenge-dir", str(env_challenge), "--env=official")
    assert code == 4
    err = capsys.readouterr().err
    assert "cannot import what the scorer needs" in err and "torch" in err and "segmentation_models_pytorch" in err
    assert synced["env"] in err and "vcc env sync --challenge-dir" in err
    assert not (Path(synced["env"]).parent / "vcc-code").exists()  # nothing copied for an env that cannot score


def test_missing_modules_names_only_what_is_missing(synced):
    python = Path(synced["env"]) / "bin" / "python"
    assert _env.missing_modules(python, ["brotli", "einops"]) == {}
    missing = _env.missing_modules(python, ["brotli", "torch", "tqdm"])
    assert sorted(missing) == ["torch", "tqdm"] and "ModuleNotFoundError" in missing["torch"]


def test_score_env_request_reads_only_score_env_official():

    ch = ["--challenge-dir", "CH"]
    assert _env._score_env_request(["score", "S", *ch, "--env", "official"]) == (Path("CH"), "cpu")
    abbreviated = ["score", "S", *ch, "--en", "official", "--device", "cuda:0"]
    assert _env._score_env_request(abbreviated) == (Path("CH"), "cuda:0")
    assert _env._score_env_request(["score", "S", *ch, "--env", "vcc"]) is None
    assert _env._score_env_request(["score", "S", *ch]) is None
    assert _env._score_env_request(["run", "S", *ch, "--env", "official"]) is None  # vcc run has its own --env
    assert _env._score_env_request(["score", "S", *ch, "--env", "official", "--help"]) is None
    assert _env._score_env_request(["score", "S", "--env", "official"]) is None  # argparse says what is missing
    assert _env._child_argv(["score", "S", "--env", "official", "--quiet"]) == ["score", "S", "--env", "vcc", "--quiet"]
    assert _env._child_argv(["score", "S", "--env=official"]) == ["score", "S", "--env=vcc"]
    assert _env._child_argv(["score", "S", "--en", "official"]) == ["score", "S", "--en", "official", "--env", "vcc"]


def test_score_parser_validates_env():
    import vcc

    parser = vcc.build_parser()
    assert parser.parse_args(["score", "S", "--challenge-dir", "CH"]).env == "vcc"
    assert parser.parse_args(["score", "S", "--challenge-dir", "CH", "--env", "official"]).env == "official"
    with pytest.raises(SystemExit):
        parser.parse_args(["score", "S", "--challenge-dir", "CH", "--env", "conda"])


def test_official_env_command_runs_vcc_copy_in_the_env(synced, env_challenge, envs_dir, monkeypatch):
    import vcc

    monkeypatch.setattr(_env, "default_envs_dir", lambda: envs_dir)
    monkeypatch.setattr(_env, "SCORER_MODULES", ("brotli", "einops"))  # what this env has, in torch's place
    argv = ["score", "S", "--challenge-dir", str(env_challenge), "--env", "official", "--threads", "2"]
    cmd, env = _env.official_env_command(argv)
    python = str(Path(synced["env"]) / "bin" / "python")
    assert cmd == [python, "-m", "vcc", "score", "S", "--challenge-dir", str(env_challenge), "--env", "vcc",
                   "--threads", "2"]  # fmt: skip
    code = Path(env["PYTHONPATH"])
    assert code.parent == Path(synced["env"]).parent / "vcc-code" and (code / ".complete").is_file()
    assert env["VCC_SCORING_ENV"] == synced["env"] and env["PYTHONSAFEPATH"] == "1"
    assert env["PATH"].split(":")[0] == str(Path(synced["env"]) / "bin")
    probe = (
        "import importlib.util, json, sys, vcc, vcc.base\n"
        "runner = importlib.util.find_spec('vcc.runner').origin\n"
        "print(json.dumps({'vcc': vcc.__file__, 'base': vcc.base.__file__, 'env': runner,"
        " 'torch': importlib.util.find_spec('torch') is not None, 'prefix': sys.prefix}))"
    )
    # From vcc's own checkout: the current directory must not shadow the copy (PYTHONSAFEPATH).
    p = subprocess.run([python, "-c", probe, *argv], env=env, capture_output=True, text=True,
                       cwd=Path(vcc.__file__).parent)  # fmt: skip
    assert p.returncode == 0, p.stderr
    seen = json.loads(p.stdout)
    for name in ("vcc", "base", "env"):
        assert Path(seen[name]).is_relative_to(code), seen
    assert seen["torch"] is False  # vcc's torch (in vcc's site-packages) is not visible
    assert seen["prefix"] == synced["env"]
    # the copy, run in the env, takes itself as already there (no second re-run)
    monkeypatch.setattr(_env.sys, "prefix", synced["env"])
    monkeypatch.delenv("VCC_SCORING_ENV", raising=False)
    assert _env.official_env_command(argv) is None
    assert os.environ["VCC_SCORING_ENV"] == synced["env"]


def test_vcc_code_copy_is_reused_and_refreshed(tmp_path):
    src = tmp_path / "src"
    (src / "pkg" / "__pycache__").mkdir(parents=True)
    (src / "pkg" / "__init__.py").write_text("X = 1\n")
    (src / "pkg" / "data.sh").write_text("echo hi\n")
    (src / "pkg" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (src / "sub").mkdir()
    (src / "sub" / "__init__.py").write_text("import pkg\n")
    sources = {"pkg": src / "pkg", "pkg.sub": src / "sub"}
    first = _env.install_vcc_code(tmp_path / "env", sources)
    assert sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file()) == [
        ".complete", "pkg/__init__.py", "pkg/data.sh", "pkg/sub/__init__.py"]  # fmt: skip
    stamp = (first / "pkg" / "__init__.py").stat().st_mtime_ns
    assert _env.install_vcc_code(tmp_path / "env", sources) == first  # unchanged: reused, not copied again
    assert (first / "pkg" / "__init__.py").stat().st_mtime_ns == stamp
    (src / "pkg" / "__init__.py").write_text("X = 2\n")
    second = _env.install_vcc_code(tmp_path / "env", sources)
    assert second != first and (second / "pkg" / "__init__.py").read_text() == "X = 2\n"
    assert first.is_dir()  # another vcc may still run from it; pruned after a day unused
    old = time.time() - 2 * 24 * 3600
    os.utime(first / ".complete", (old, old))
    assert _env.install_vcc_code(tmp_path / "env", sources) == second and not first.exists()


def test_vcc_code_sources_are_vccs_own_files():
    from vcc import base

    sources = _env.vcc_code_sources()
    assert sorted(sources) == sorted(_env.VCC_CODE_PACKAGES)
    assert sources["vcc.base"] == Path(base.__file__).resolve().parent and sources["vcc"].name == "vcc"
    assert all("site-packages" not in str(p) or p.name != "torch" for p in sources.values())
    # optional parts
    assert sorted(_env.vcc_code_sources(["vcc.base", "vcc", "vcc.no_such_part"])) == ["vcc", "vcc.base"]
    # the copy lays every package out under vcc/, once
    rels = [rel for rel, _ in _env._code_files(sources)]
    assert "vcc/scorer/__init__.py" in rels and "vcc/__main__.py" in rels and len(rels) == len(set(rels))


def test_score_report_records_the_scoring_environment(monkeypatch):
    from vcc.scorer._result import ScoreResult

    monkeypatch.delenv("VCC_SCORING_ENV", raising=False)
    assert ScoreResult([], 0, 0, "cpu", {}, {}, []).environment == {"kind": "vcc", "prefix": sys.prefix}
    monkeypatch.setenv("VCC_SCORING_ENV", sys.prefix)
    assert ScoreResult([], 0, 0, "cpu", {}, {}, []).environment["kind"] == "official"
