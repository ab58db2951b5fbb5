"""The official job's Python environment: `uv sync --group GROUP` of the challenge checkout.

The runner runs inflate inside the environment that `uv sync --group cpu|cu128` builds from
the checkout's own pyproject.toml and uv.lock (brotli, einops, pillow, torch 2.10.0+cpu, ...),
not inside vcc's. `sync_env` builds that environment with uv into vcc's cache:

    $XDG_CACHE_HOME/vcc/envs/<key>/venv          the environment (UV_PROJECT_ENVIRONMENT)
    $XDG_CACHE_HOME/vcc/envs/<key>/project/      private copies of pyproject.toml and uv.lock
    $XDG_CACHE_HOME/vcc/envs/<key>/env.json      the record, written atomically, last

<key> is the sha256 of pyproject.toml, uv.lock, the group and the Python version, so an
environment is built once and reused (a second sync is a no-op and says so). The user's
checkout is never written to.

When the lock pins wheels from an index this machine cannot reach (the PyTorch index, say),
torch/torchvision/torchaudio may fall back to PyPI's release of the same base version
(2.10.0+cpu -> 2.10.0): the lock is exported to requirement lines (`uv export --frozen`), those
packages' lines are rewritten without their local label and hashes, and the list is installed
with `uv pip install` so that uv resolves only what PyPI's torch needs beyond the CPU wheel's
dependencies (nvidia-*, triton); every other package keeps its locked version and hashes.
Rewriting uv.lock itself was rejected: the lock would need PyPI's wheel URLs and hashes, which
it does not hold, and a frozen sync cannot resolve them. The fallback is stated in the record
and in `vcc run`'s report.

`vcc score --env official` scores inside that environment: `missing_modules` checks that its
Python imports what the scorer needs, and `install_vcc_code` puts a private copy of vcc's own
pure-Python code beside the env (never vcc's site-packages, which holds vcc's torch).

No torch import here: errors, atomic writes and the cache root come from base.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from vcc.base import BadInput, HarnessError, public_runner_for, vcc_cache_root, write_json_atomic

__all__ = [
    "ENV_SCHEMA",
    "FALLBACK_PACKAGES",
    "PYPI_SIMPLE",
    "SCORER_MODULES",
    "VCC_CODE_PACKAGES",
    "EnvConfig",
    "EnvRecord",
    "default_envs_dir",
    "env_key",
    "find_env",
    "find_uv",
    "fallback_requirements",
    "install_vcc_code",
    "lock_sources",
    "missing_modules",
    "official_env_command",
    "official_env_rerun",
    "require_env",
    "scoring_environ",
    "stale_requirements",
    "sync_env",
    "vcc_code_sources",
]

ENV_SCHEMA = 1
PYPI_SIMPLE = "https://pypi.org/simple"
# Packages that may come from PyPI (same base version) when their pinned index is unreachable.
FALLBACK_PACKAGES = ("torch", "torchvision", "torchaudio")
_UV_TAIL_LINES = 40


def default_envs_dir() -> Path:
    """$XDG_CACHE_HOME/vcc/envs (default ~/.cache/vcc/envs)."""
    return vcc_cache_root() / "envs"


@dataclass
class EnvConfig:
    challenge_dir: Path
    group: str = "cpu"
    python: str | None = None  # interpreter for the env; default: the one vcc runs on
    envs_dir: Path | None = None  # default: $XDG_CACHE_HOME/vcc/envs
    fallback: bool = True  # allow PyPI's torch of the same base version when its index is unreachable
    rebuild: bool = False  # build afresh even when a complete env exists
    progress: bool = False  # echo uv's output to stderr
    probe_timeout_s: float = 10.0  # per index, to tell an unreachable index before uv retries

    def __post_init__(self) -> None:
        self.challenge_dir = Path(self.challenge_dir)
        if self.envs_dir is not None:
            self.envs_dir = Path(self.envs_dir)

    @property
    def pyproject(self) -> Path:
        return self.challenge_dir / "pyproject.toml"

    @property
    def lock(self) -> Path:
        return self.challenge_dir / "uv.lock"


@dataclass
class EnvRecord:
    """What env.json says about one synced environment."""

    path: Path  # the venv
    record_path: Path
    data: dict[str, Any] = field(default_factory=dict)
    reused: bool = False  # this call found it complete and did nothing

    @property
    def bin_dir(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> Path:
        return self.bin_dir / "python"

    @property
    def fallbacks(self) -> list[dict[str, Any]]:
        return list(self.data.get("fallbacks", []))

    def base_prefix(self) -> Path:
        """Where the env's interpreter really lives (the sandbox must be able to read it)."""
        return self.python.resolve().parent.parent

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": "official",
            "path": str(self.path),
            "record": str(self.record_path),
            "group": self.data.get("group"),
            "python": self.data.get("python", {}).get("version"),
            "lock_sha256": self.data.get("lock", {}).get("sha256"),
            "pyproject_sha256": self.data.get("pyproject", {}).get("sha256"),
            "mode": self.data.get("mode"),
            "fallbacks": self.fallbacks,
            "stale_lock": self.data.get("stale_lock", []),
            "reused": self.reused,
        }


# --- inputs ------------------------------------------------------------------------------------


def _read_inputs(cfg: EnvConfig) -> tuple[bytes, bytes, dict[str, Any], dict[str, Any]]:
    if not cfg.challenge_dir.is_dir():
        raise BadInput(
            "the challenge dir does not exist",
            path=cfg.challenge_dir,
            fix="pass --challenge-dir a checkout of the official repository",
        )
    for path, what in ((cfg.pyproject, "pyproject.toml"), (cfg.lock, "uv.lock")):
        if not path.is_file():
            raise BadInput(
                f"the challenge checkout has no {what}: the runner's environment is `uv sync` of its "
                "pyproject.toml and uv.lock",
                path=path,
                fix="check out the whole official repository (its root holds pyproject.toml and uv.lock)"
                if what == "pyproject.toml"
                else "check out the official uv.lock (or run `uv lock` in the checkout for a lock of your own)",
            )
    pyproject_bytes, lock_bytes = cfg.pyproject.read_bytes(), cfg.lock.read_bytes()
    parsed = []
    for path, data in ((cfg.pyproject, pyproject_bytes), (cfg.lock, lock_bytes)):
        try:
            parsed.append(tomllib.loads(data.decode("utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise BadInput(f"{path.name} is not valid TOML: {e}", path=path, fix="restore the official file") from e
    pyproject, lock = parsed
    groups = pyproject.get("dependency-groups", {})
    if cfg.group not in groups:
        known = ", ".join(sorted(groups)) or "none"
        raise BadInput(
            f"unknown dependency group {cfg.group!r}: pyproject.toml defines {known}",
            path=cfg.pyproject,
            fix=f"use --group with one of: {known} ({_runner_groups_text()})",
        )
    return pyproject_bytes, lock_bytes, pyproject, lock


def _runner_groups_text() -> str:
    """'the cpu runner syncs 'cpu', the t4 runner 'cu128'': from the runner table."""
    from vcc.base import RUNNERS

    return ", ".join(f"the {k} runner syncs {s.uv_group!r}" for k, s in RUNNERS.items())


def _python_info(python: str | None) -> dict[str, str]:
    if python is None:
        return {
            "executable": sys.executable,
            "version": platform.python_version(),
            "implementation": sys.implementation.name,
            "machine": platform.machine(),
        }
    code = "import platform, sys; print(platform.python_version(), sys.implementation.name, platform.machine())"
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise BadInput(f"cannot run the interpreter {python!r}: {e}", fix="pass --python a working python") from e
    version, impl, machine = out.split()
    return {"executable": python, "version": version, "implementation": impl, "machine": machine}


def env_key(pyproject: bytes, lock: bytes, group: str, python_version: str, machine: str = "") -> str:
    h = hashlib.sha256()
    for part in (pyproject, lock, group.encode(), python_version.encode(), machine.encode()):
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


# --- what the lock holds -----------------------------------------------------------------------


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _req_name(spec: str) -> str | None:
    m = _REQ_NAME.match(spec)
    return _norm(m.group(1)) if m else None


def _group_specs(pyproject: dict[str, Any], group: str, seen: frozenset[str] = frozenset()) -> list[str]:
    specs: list[str] = []
    for item in pyproject.get("dependency-groups", {}).get(group, []):
        if isinstance(item, str):
            specs.append(item)
        elif isinstance(item, dict) and "include-group" in item and item["include-group"] not in seen:
            specs += _group_specs(pyproject, item["include-group"], seen | {group})
    return specs


def _root_package(lock: dict[str, Any]) -> dict[str, Any] | None:
    for pkg in lock.get("package", []):
        src = pkg.get("source", {})
        if src.get("virtual") == "." or src.get("editable") == "." or src.get("directory") == ".":
            return pkg
    return None


def stale_requirements(pyproject: dict[str, Any], lock: dict[str, Any], group: str) -> list[str]:
    """pyproject's requirement strings (project deps and the group) whose package the lock lacks.

    The official job's plain `uv sync` re-resolves these; `--frozen` would silently skip them.
    """
    root = _root_package(lock) or {}
    meta = root.get("metadata", {})
    locked = {_norm(d.get("name", "")) for d in meta.get("requires-dist", [])}
    locked |= {_norm(d.get("name", "")) for d in meta.get("requires-dev", {}).get(group, [])}
    locked |= {_norm(p.get("name", "")) for p in lock.get("package", [])}
    wanted = list(pyproject.get("project", {}).get("dependencies", [])) + _group_specs(pyproject, group)
    return [s for s in wanted if (n := _req_name(s)) is not None and n not in locked]


def lock_sources(lock: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(name, version) -> the registry URL the lock fetches it from (PyPI, the PyTorch index, ...)."""
    out: dict[tuple[str, str], str] = {}
    for pkg in lock.get("package", []):
        registry = pkg.get("source", {}).get("registry")
        if registry:
            out[(_norm(pkg["name"]), str(pkg.get("version", "")))] = registry.rstrip("/")
    return out


_EXPORT_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def exported_pins(requirements: str) -> list[tuple[str, str]]:
    """(name, version) of each pinned line in `uv export` output."""
    pins = []
    for line in requirements.splitlines():
        m = _EXPORT_PIN.match(line)
        if m:
            pins.append((_norm(m.group(1)), m.group(2)))
    return pins


def fallback_requirements(
    requirements: str, packages: set[str], extra: list[str] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """`uv export` output with `packages` re-pinned to their base version, hashes dropped.

    `torch==2.10.0+cpu ; marker \\` with its `--hash` lines becomes `torch==2.10.0 ; marker`.
    `extra` requirement strings are appended (what pyproject lists but the lock lacks).
    Returns the new text and one entry per rewritten line.
    """
    out: list[str] = []
    changes: list[dict[str, Any]] = []
    dropping = False
    for line in requirements.splitlines():
        if dropping:
            if line[:1].isspace() and line.strip().startswith("--hash"):
                continue
            dropping = False
        m = _EXPORT_PIN.match(line)
        if m and _norm(m.group(1)) in packages:
            name, version = m.group(1), m.group(2)
            base = version.split("+", 1)[0]
            rest = line[m.end() :].rstrip()
            if rest.endswith("\\"):
                rest = rest[:-1].rstrip()
            out.append(f"{name}=={base}{rest}")
            changes.append({"package": _norm(name), "locked": version, "installed_spec": f"=={base}"})
            dropping = True
            continue
        out.append(line)
    if extra:
        out.append("# in pyproject.toml but not in uv.lock (resolved afresh, as the runner's `uv sync` does)")
        out += list(extra)
    return "\n".join(out) + "\n", changes


# --- uv ----------------------------------------------------------------------------------------


def find_uv() -> str:
    """The uv binary: the `uv` package's (a dependency of vcc), else PATH."""
    try:
        import uv  # type: ignore[import-not-found]

        found = uv.find_uv_bin()
        if found and os.access(found, os.X_OK):
            return str(found)
    except (ImportError, FileNotFoundError, AttributeError):
        pass
    found = shutil.which("uv")
    if found:
        return found
    raise HarnessError(
        "uv is not installed: vcc builds the runner's environment with it",
        fix="pip install uv (it is one of vcc's dependencies: reinstall vcc)",
    )


def _uv_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX")}
    env["UV_PYTHON_DOWNLOADS"] = "never"  # use the interpreter given; never fetch one
    env["UV_NO_PROGRESS"] = "1"
    env.update(extra or {})
    return env


def _run_uv(
    uv: str, args: list[str], *, cwd: Path, env: dict[str, str], progress: bool, log: list[str]
) -> subprocess.CompletedProcess[str]:
    log.append("$ uv " + " ".join(args))
    if progress:
        print("vcc env: uv " + " ".join(args), file=sys.stderr, flush=True)
    try:
        p = subprocess.run([uv, *args], cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except OSError as e:
        raise HarnessError(f"could not start uv ({uv}): {e}", fix="reinstall uv (pip install uv)") from e
    if progress and p.stderr.strip():
        print(p.stderr.rstrip(), file=sys.stderr, flush=True)
    log += p.stderr.splitlines()
    return p


def _uv_failed(what: str, p: subprocess.CompletedProcess[str], path: Path, fix: str) -> HarnessError:
    tail = "\n".join("    " + line for line in p.stderr.strip().splitlines()[-_UV_TAIL_LINES:])
    return HarnessError(f"{what} failed (uv exit {p.returncode}):\n{tail}", path=path, fix=fix)


def _probe(url: str, timeout_s: float) -> str | None:
    """None when the index answers at all (any HTTP status), else why not."""
    try:
        req = urllib.request.Request(url.rstrip("/") + "/", method="HEAD")
        with urllib.request.urlopen(req, timeout=timeout_s):
            return None
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        return str(reason)


# --- sync --------------------------------------------------------------------------------------


def _paths(cfg: EnvConfig, key: str) -> tuple[Path, Path, Path, Path]:
    root = (cfg.envs_dir or default_envs_dir()) / key
    return root, root / "venv", root / "project", root / "env.json"


def _load_record(venv: Path, record_path: Path) -> EnvRecord | None:
    try:
        data = json.loads(record_path.read_text())
    except (OSError, ValueError):
        return None
    if data.get("vcc_env_schema") != ENV_SCHEMA or not (venv / "bin" / "python").exists():
        return None
    return EnvRecord(path=venv, record_path=record_path, data=data)


def find_env(
    challenge_dir: Path, group: str = "cpu", *, envs_dir: Path | None = None, python: str | None = None
) -> EnvRecord | None:
    """The complete synced env for this checkout, group and Python; None if not synced (or no lock)."""
    cfg = EnvConfig(challenge_dir=challenge_dir, group=group, envs_dir=envs_dir, python=python)
    if not (cfg.pyproject.is_file() and cfg.lock.is_file()):
        return None
    info = _python_info(python)
    key = env_key(cfg.pyproject.read_bytes(), cfg.lock.read_bytes(), group, info["version"], info["machine"])
    _, venv, _, record_path = _paths(cfg, key)
    return _load_record(venv, record_path)


def require_env(challenge_dir: Path, group: str = "cpu", *, envs_dir: Path | None = None) -> EnvRecord:
    """find_env, or BadInput (exit 2) naming `vcc env sync`; no sync here (the lock's torch is gigabytes)."""
    cfg = EnvConfig(challenge_dir=challenge_dir, group=group, envs_dir=envs_dir)
    _read_inputs(cfg)  # no checkout, no pyproject.toml/uv.lock, an unknown group: said precisely
    record = find_env(challenge_dir, group, envs_dir=envs_dir)
    if record is None:
        sync = f"vcc env sync --challenge-dir {challenge_dir} --group {group}"
        if envs_dir is not None:
            sync += f" --envs-dir {envs_dir}"
        raise BadInput(
            f"--env official: no synced environment for this checkout's uv.lock (group {group}, Python "
            f"{platform.python_version()}) under {envs_dir or default_envs_dir()}",
            path=challenge_dir,
            fix=f"run `{sync}` first, or score with --env vcc",
        )
    return record


def _installed(uv: str, venv: Path, env: dict[str, str], cwd: Path, log: list[str]) -> dict[str, str]:
    p = _run_uv(uv, ["pip", "list", "--python", str(venv / "bin" / "python"), "--format", "json"],
                cwd=cwd, env=env, progress=False, log=log)  # fmt: skip
    if p.returncode != 0:
        return {}
    try:
        return {_norm(d["name"]): d["version"] for d in json.loads(p.stdout)}
    except (ValueError, KeyError, TypeError):
        return {}


def sync_env(cfg: EnvConfig, *, echo: Callable[[str], None] | None = None) -> EnvRecord:
    """Build (or reuse) the official environment for cfg.challenge_dir's lock and cfg.group."""
    say = echo or (lambda _m: None)
    pyproject_bytes, lock_bytes, pyproject, lock = _read_inputs(cfg)
    info = _python_info(cfg.python)
    key = env_key(pyproject_bytes, lock_bytes, cfg.group, info["version"], info["machine"])
    root, venv, project, record_path = _paths(cfg, key)
    root.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"{key}.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # one builder per env; others wait, then reuse
        existing = None if cfg.rebuild else _load_record(venv, record_path)
        if existing is not None:
            existing.reused = True
            say(f"environment already synced, nothing to do: {venv}")
            return existing
        return _build(cfg, pyproject_bytes, lock_bytes, pyproject, lock, info, key, say)


@dataclass
class _UvRunner:
    """uv as one build runs it: in the private project dir, with one environment and one log."""

    exe: str
    env: dict[str, str]
    project: Path
    progress: bool
    log: list[str] = field(default_factory=list)

    def run(self, args: list[str], *, quiet: bool = False) -> subprocess.CompletedProcess[str]:
        """`uv ARGS`; output echoed to stderr with cfg.progress, unless quiet."""
        progress = False if quiet else self.progress
        return _run_uv(self.exe, args, cwd=self.project, env=self.env, progress=progress, log=self.log)


def _build(
    cfg: EnvConfig,
    pyproject_bytes: bytes,
    lock_bytes: bytes,
    pyproject: dict[str, Any],
    lock: dict[str, Any],
    info: dict[str, str],
    key: str,
    say: Callable[[str], None],
) -> EnvRecord:
    _, venv, project, record_path = _paths(cfg, key)
    _fresh_project(venv, project, record_path, pyproject_bytes, lock_bytes)
    uv = _UvRunner(find_uv(), _uv_env({"UV_PROJECT_ENVIRONMENT": str(venv)}), project, cfg.progress)
    t0 = time.perf_counter()
    uv_version = uv.run(["--version"], quiet=True).stdout.strip()
    stale = stale_requirements(pyproject, lock, cfg.group)
    requirements = _export_lock(cfg, uv)
    unreachable = _unreachable_indexes(requirements, lock, cfg.probe_timeout_s)
    if unreachable:
        mode = "fallback"
        fallbacks = _install_fallback(cfg, uv, venv, info, requirements, unreachable, stale, say)
    else:
        mode, fallbacks = "lock", []
        _sync_locked(cfg, uv, info, stale)
    installed = _installed(uv.exe, venv, uv.env, project, uv.log)
    for fb in fallbacks:
        fb["installed"] = installed.get(fb["package"])
    data = {
        **_record_inputs(cfg, key, pyproject_bytes, lock_bytes, info, uv_version, venv),
        **_record_outcome(mode, fallbacks, stale, installed, exported_pins(requirements)),
        "sync_s": round(time.perf_counter() - t0, 3),
        "uv_log_tail": uv.log[-_UV_TAIL_LINES:],
    }
    write_json_atomic(record_path, data)
    say(f"environment synced ({mode}) in {data['sync_s']:.1f} s: {venv}")
    return EnvRecord(path=venv, record_path=record_path, data=data)


def _fresh_project(venv: Path, project: Path, record_path: Path, pyproject_bytes: bytes, lock_bytes: bytes) -> None:
    """Drop any earlier record, env and project copy; write private copies of pyproject.toml and uv.lock."""
    record_path.unlink(missing_ok=True)
    shutil.rmtree(venv, ignore_errors=True)
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_bytes(pyproject_bytes)
    (project / "uv.lock").write_bytes(lock_bytes)


def _export_lock(cfg: EnvConfig, uv: _UvRunner) -> str:
    """The group's closure as `uv export` requirement lines (pins and hashes, from the lock)."""
    p = uv.run(["export", "--frozen", "--group", cfg.group, "--no-emit-project", "--no-header"], quiet=True)
    if p.returncode != 0:
        raise _uv_failed("`uv export` of the lock", p, cfg.lock, "check that uv.lock matches uv's format")
    return p.stdout


def _unreachable_indexes(requirements: str, lock: dict[str, Any], timeout_s: float) -> dict[str, tuple[list[str], str]]:
    """Each index other than PyPI that the lock fetches an exported pin from and that does not
    answer: index -> (its "name==version" pins, why)."""
    sources = lock_sources(lock)
    registries: dict[str, list[str]] = {}
    for name, version in exported_pins(requirements):
        reg = sources.get((name, version))
        if reg and reg != PYPI_SIMPLE:
            registries.setdefault(reg, []).append(f"{name}=={version}")
    unreachable = {}
    for reg, pkgs in registries.items():
        why = _probe(reg, timeout_s)
        if why is not None:
            unreachable[reg] = (pkgs, why)
    return unreachable


def _install_fallback(
    cfg: EnvConfig,
    uv: _UvRunner,
    venv: Path,
    info: dict[str, str],
    requirements: str,
    unreachable: dict[str, tuple[list[str], str]],
    stale: list[str],
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    """FALLBACK_PACKAGES from PyPI (same base version), the rest as locked; one entry per rewritten pin.

    HarnessError when fallback is off or an unreachable index serves another package.
    """
    blocked = {pkg.split("==")[0] for pkgs, _ in unreachable.values() for pkg in pkgs}
    not_allowed = sorted(blocked - set(FALLBACK_PACKAGES))
    listing = "; ".join(f"{reg} ({why}) for {', '.join(pkgs)}" for reg, (pkgs, why) in unreachable.items())
    if not_allowed or not cfg.fallback:
        fix = (
            "run where that index is reachable"
            + ("" if cfg.fallback else ", or drop --no-fallback to take torch/torchvision from PyPI")
            + (f" ({', '.join(not_allowed)} has no PyPI fallback)" if not_allowed else "")
        )
        raise HarnessError(f"the lock pins wheels from an index this machine cannot reach: {listing}",
                       path=cfg.lock, fix=fix)  # fmt: skip
    text, fallbacks = fallback_requirements(requirements, blocked, stale)
    index_of = {pkg.split("==")[0]: reg for reg, (pkgs, _) in unreachable.items() for pkg in pkgs}
    for fb in fallbacks:
        fb["unreachable_index"] = index_of.get(fb["package"])
        fb["source"] = PYPI_SIMPLE
    say(f"fallback: {listing} unreachable; taking "
        + ", ".join(f"{f['package']}{f['installed_spec']}" for f in fallbacks) + " from PyPI")  # fmt: skip
    req_file = uv.project / "requirements-fallback.txt"
    req_file.write_text(text)
    p = uv.run(["venv", str(venv), "--python", info["executable"]])
    if p.returncode != 0:
        raise _uv_failed("`uv venv`", p, venv, "check the interpreter (--python) and the cache dir")
    p = uv.run(["pip", "install", "--python", str(venv / "bin" / "python"), "-r", str(req_file)])
    if p.returncode != 0:
        raise _uv_failed("installing the fallback requirements", p, req_file,
                         "check that PyPI is reachable and has these versions")  # fmt: skip
    return fallbacks


def _sync_locked(cfg: EnvConfig, uv: _UvRunner, info: dict[str, str], stale: list[str]) -> None:
    """As the runner's `uv sync --group G`; --frozen when the lock covers pyproject (nothing to
    resolve), otherwise a re-lock of the private copy, as the runner's sync re-resolves."""
    args = ["sync", "--group", cfg.group, "--no-install-project", "--python", info["executable"]]
    if not stale:
        args.insert(1, "--frozen")
    p = uv.run(args)
    if p.returncode != 0:
        raise _uv_failed("`uv sync`", p, cfg.lock, "see uv's message; the network must reach the lock's indexes")


def _record_inputs(
    cfg: EnvConfig,
    key: str,
    pyproject_bytes: bytes,
    lock_bytes: bytes,
    info: dict[str, str],
    uv_version: str,
    venv: Path,
) -> dict[str, Any]:
    """env.json's first part: what the env was built from (the checkout's files, group, Python, uv)."""
    return {
        "vcc_env_schema": ENV_SCHEMA,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "key": key,
        "challenge_dir": str(cfg.challenge_dir.resolve()),
        "pyproject": {"path": str(cfg.pyproject.resolve()), "sha256": hashlib.sha256(pyproject_bytes).hexdigest()},
        "lock": {"path": str(cfg.lock.resolve()), "sha256": hashlib.sha256(lock_bytes).hexdigest()},
        "group": cfg.group,
        "python": info,
        "uv": uv_version,
        "env": str(venv),
    }


def _record_outcome(
    mode: str,
    fallbacks: list[dict[str, Any]],
    stale: list[str],
    installed: dict[str, str],
    pins: list[tuple[str, str]],
) -> dict[str, Any]:
    """env.json's second part: how it was installed and what differs from the lock's pins."""
    locked = {n: v for n, v in pins}
    return {
        "mode": mode,
        "fallbacks": fallbacks,
        "fallback_note": (
            "PyPI's Linux torch wheel is the CUDA build (torch.__version__ says +cu128 and it pulls the "
            "nvidia-* libraries, several GB): the same release as the locked wheel, not the same build"
            if fallbacks
            else None
        ),
        "stale_lock": stale,
        "installed": dict(sorted(installed.items())),
        "not_as_locked": {n: {"locked": v, "installed": installed.get(n)}
                          for n, v in sorted(locked.items()) if installed.get(n) != v},  # fmt: skip
    }


# --- scoring inside the env (`vcc score --env official`) ---------------------------------------

# What the scorer imports (the official evaluate.py's imports and vcc's): the env must provide all.
SCORER_MODULES = ("torch", "timm", "segmentation_models_pytorch", "av", "numpy", "safetensors", "tqdm")
# vcc's own pure-Python code: pyproject's packages (the checkout's folders under one namespace).
VCC_CODE_PACKAGES = ("vcc", "vcc.base", "vcc.scorer", "vcc.runner", "vcc.submission", "vcc.demo")
_VCC_CODE_REQUIRED = ("vcc", "vcc.base", "vcc.scorer")
_CODE_KEEP_S = 24 * 3600  # a copy unused this long (another vcc version's) is removed

_IMPORT_CHECK = """\
import importlib, json, sys
failed = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except BaseException as e:  # a broken install raises more than ImportError
        failed[name] = (type(e).__name__ + ": " + str(e))[:300]
print(json.dumps(failed))
"""


def missing_modules(
    python: Path | str, modules: tuple[str, ...] | list[str] | None = None, *, timeout_s: float = 600.0
) -> dict[str, str]:
    """The modules (default SCORER_MODULES) `python` cannot import (name -> why), in one isolated
    interpreter: -I, no PYTHONPATH and no user site, so only the environment's own packages count.
    """
    modules = SCORER_MODULES if modules is None else modules
    try:
        p = subprocess.run([str(python), "-I", "-c", _IMPORT_CHECK, *modules], capture_output=True, text=True,
                           timeout=timeout_s, env=_uv_env(), stdin=subprocess.DEVNULL)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as e:
        raise HarnessError(f"cannot run the environment's Python: {e}", path=python,
                       fix="rebuild it: vcc env sync --challenge-dir CH --rebuild") from e  # fmt: skip
    try:
        failed = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = "\n".join("    " + line for line in p.stderr.strip().splitlines()[-_UV_TAIL_LINES:])
        raise HarnessError(f"the environment's Python failed while importing {', '.join(modules)} "
                       f"(exit {p.returncode}):\n{tail}", path=python,
                       fix="rebuild it: vcc env sync --challenge-dir CH --rebuild") from None  # fmt: skip
    return {str(k): str(v) for k, v in failed.items()}


def vcc_code_sources(names: tuple[str, ...] | list[str] | None = None) -> dict[str, Path]:
    """Where this vcc's code lives (dotted package name -> its dir), found without importing the
    packages themselves (vcc.scorer imports torch). names: default VCC_CODE_PACKAGES; one not
    installed is left out, as vcc's parser leaves out its commands, except vcc, vcc.base and vcc.scorer.
    """
    import importlib.util

    out: dict[str, Path] = {}
    for name in dict.fromkeys(VCC_CODE_PACKAGES if names is None else names):
        module = sys.modules.get(name)
        origin = getattr(module, "__file__", None) if module is not None else None
        if origin is None:
            try:
                spec = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                spec = None
            origin = spec.origin if spec is not None else None
        if origin is None and name not in _VCC_CODE_REQUIRED:
            continue
        if not origin or not origin.endswith("__init__.py"):
            raise HarnessError(f"cannot find vcc's package {name!r} to copy into the environment",
                           fix="reinstall vcc (pip install -e . or pip install vcc)")  # fmt: skip
        out[name] = Path(origin).resolve().parent
    return out


def _code_files(sources: dict[str, Path]) -> list[tuple[str, Path]]:
    """(path in the copy, file) for every source file; `vcc.scorer` lands in vcc/scorer/ whether
    it sits in the checkout's scorer/ or inside an installed vcc/ (listed once either way)."""
    files: dict[str, Path] = {}
    for name, src in sorted(sources.items()):
        prefix = name.replace(".", "/")
        for f in sorted(src.rglob("*")):
            rel = f.relative_to(src)
            if f.is_file() and "__pycache__" not in rel.parts and f.suffix not in (".pyc", ".pyo"):
                files.setdefault(f"{prefix}/{rel.as_posix()}", f)
    return sorted(files.items())


def install_vcc_code(root: Path, sources: dict[str, Path] | None = None) -> Path:
    """A private copy of vcc's pure-Python code under root/vcc-code/<digest>/, for PYTHONPATH.

    <digest> hashes every file's path and bytes, so a changed vcc gets a fresh copy and an
    unchanged one reuses its copy. Never vcc's site-packages: that holds vcc's torch.
    """
    files = _code_files(sources or vcc_code_sources())
    contents = [(rel, f.read_bytes()) for rel, f in files]
    h = hashlib.sha256()
    for rel, data in contents:
        h.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    digest = h.hexdigest()[:16]
    base = Path(root) / "vcc-code"
    dest = base / digest
    marker = dest / ".complete"
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if marker.is_file():
            os.utime(marker)  # last used: keeps it from pruning
        else:
            tmp = base / f".{digest}.{os.getpid()}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(dest, ignore_errors=True)
            for rel, data in contents:
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            (tmp / ".complete").write_text(json.dumps({"files": len(contents), "sha256": h.hexdigest()}) + "\n")
            os.replace(tmp, dest)
        now = time.time()
        for other in base.iterdir():
            if other == dest or not other.is_dir():
                continue
            stamp = other / ".complete"
            try:
                age = now - (stamp if stamp.exists() else other).stat().st_mtime
            except OSError:
                continue
            if age > _CODE_KEEP_S:
                shutil.rmtree(other, ignore_errors=True)
    return dest


def scoring_environ(record: EnvRecord, code_dir: Path) -> dict[str, str]:
    """os.environ for a vcc process on record's Python: only code_dir on PYTHONPATH, no user site,
    no current directory on sys.path (a vcc checkout there would shadow the copy), and
    VCC_SCORING_ENV naming the env (the score report records it)."""
    drop = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "CONDA_PREFIX", "__PYVENV_LAUNCHER__")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        PYTHONPATH=str(code_dir),
        PYTHONNOUSERSITE="1",
        PYTHONSAFEPATH="1",
        VIRTUAL_ENV=str(record.path),
        VCC_SCORING_ENV=str(record.path),
        PATH=str(record.bin_dir) + os.pathsep + os.environ.get("PATH", os.defpath),
    )
    return env


# --- `vcc score --env official` ---------------------------------------------------------------


class _PreParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ValueError(message)  # the real parser reports it


def _score_env_request(argv: list[str]) -> tuple[Path, str] | None:
    """(challenge dir, device) when argv is `score ... --env official`, else None.

    Reads only --env, --challenge-dir and --device (abbreviations as argparse takes them); a
    command line this cannot read is left to the real parser.
    """
    if not argv or argv[0] != "score" or "-h" in argv or "--help" in argv:
        return None
    pre = _PreParser(add_help=False)
    pre.add_argument("--env")
    pre.add_argument("--challenge-dir", type=Path)
    pre.add_argument("--device", default="cpu")
    try:
        ns, _ = pre.parse_known_args(argv[1:])
    except (ValueError, argparse.ArgumentError):
        return None
    if ns.env != "official" or ns.challenge_dir is None:
        return None
    return ns.challenge_dir, str(ns.device)


def _child_argv(argv: list[str]) -> list[str]:
    """argv with --env official replaced by --env vcc (the child is already in the env)."""
    out, replaced = [], False
    for i, arg in enumerate(argv):
        if i > 0 and argv[i - 1] == "--env":
            out.append("vcc")
            replaced = True
        elif arg.startswith("--env="):
            out.append("--env=vcc")
            replaced = True
        else:
            out.append(arg)
    return out if replaced else [*out, "--env", "vcc"]


def official_env_command(argv: list[str]) -> tuple[list[str], dict[str, str]] | None:
    """`vcc score --env official`: the command and environment that score inside the checkout's
    synced env (group cpu for a CPU device, cu128 for cuda), or None to carry on here.

    No synced env: exit 2 naming `vcc env sync` (it is never built here: the lock's torch is
    gigabytes). The env lacks what the scorer imports: exit 4 naming the modules. Otherwise the
    child is [env python, -m, vcc, ...] with PYTHONPATH on a private copy of vcc's code (the
    packages of VCC_CODE_PACKAGES).
    """
    request = _score_env_request(argv)
    if request is None:
        return None
    challenge_dir, device = request
    group = public_runner_for(cuda=device.startswith("cuda")).uv_group
    record = require_env(challenge_dir, group)
    if Path(sys.prefix).resolve() == record.path.resolve():  # already in it
        os.environ.setdefault("VCC_SCORING_ENV", str(record.path))
        return None
    missing = missing_modules(record.python)
    if missing:
        why = "; ".join(f"{name} ({reason})" for name, reason in missing.items())
        raise HarnessError(
            f"--env official: the synced environment cannot import what the scorer needs: "
            f"{', '.join(missing)} [{why}]",
            path=record.path,
            fix="sync a lock that provides them (the official checkout's uv.lock does: "
            f"`vcc env sync --challenge-dir {challenge_dir} --group {group}`), or score with --env vcc",
        )
    code = install_vcc_code(record.path.parent, vcc_code_sources())
    return [str(record.python), "-m", "vcc", *_child_argv(argv)], scoring_environ(record, code)


def official_env_rerun(argv: list[str]) -> int | None:
    """Run `vcc score --env official` in the synced environment; its exit code, or None to carry on."""
    planned = official_env_command(argv)
    if planned is None:
        return None
    cmd, env = planned
    if "--quiet" not in argv:
        print(f"vcc score: scoring in the synced environment {env['VCC_SCORING_ENV']}", file=sys.stderr, flush=True)
    return subprocess.run(cmd, env=env).returncode
