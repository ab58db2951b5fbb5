"""The local backend: inflate as a contained process (runner._sandbox), scoring in this process.

Also what inflate may see (the checkout readable, the original videos hidden) and its
environment (the checkout's synced `uv sync --group` env, else vcc's own).
"""

from __future__ import annotations

import os
import platform
import site
import sys
import time
from pathlib import Path
from typing import Any

from vcc.scorer import DECODE_TARGETS, Challenge, runner_target

from ._config import RunConfig
from ._env import EnvConfig, EnvRecord, find_env, sync_env
from ._inflate_env import inflate_environment
from ._sandbox import (
    DEFAULT_DISK_BYTES,
    ProcResult,
    ResourceLimits,
    SandboxSpec,
    bwrap_unavailable_reason,
    python_bin_dir,
    run_contained,
    sandbox_missing_error,
)
from ._workspace import Workspace

__all__ = ["LocalBackend", "score_target"]


def _inflate_env(cfg: RunConfig, ws: Workspace, official: EnvRecord | None = None) -> dict[str, str]:
    """The allow-list's environment (runner._inflate_env), with inflate's Python first on PATH."""
    env = inflate_environment(home=str(ws.home_dir), gpu=cfg.shape.inflate_sees_cuda, group=cfg.shape.uv_group)
    path = env.get("PATH", "/usr/bin:/bin")
    if official is not None:  # the checkout's `uv sync --group` env, as on the runner
        env["PATH"] = str(official.bin_dir) + os.pathsep + path
        env["VIRTUAL_ENV"] = str(official.path)
    else:
        env["PATH"] = python_bin_dir() + os.pathsep + path
        if sys.prefix != sys.base_prefix:
            env["VIRTUAL_ENV"] = sys.prefix
    return env


def _hidden_paths(challenge: Challenge) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """The originals, wherever the checkout keeps them: videos/ and git-lfs's object store."""
    dirs: list[Path] = []
    if challenge.videos_dir.is_dir():
        dirs += [challenge.videos_dir.absolute(), challenge.videos_dir.resolve()]
    lfs = challenge.root / ".git" / "lfs"
    if lfs.is_dir():
        dirs += [lfs.absolute(), lfs.resolve()]
    dirs = list(dict.fromkeys(dirs))
    files = []
    for p in challenge.video_dir_files() + [v.path for v in challenge.videos]:
        real = p.resolve()
        if not any(real.is_relative_to(d) for d in dirs):
            files.append(real)
    return tuple(dirs), tuple(dict.fromkeys(files))


def _import_paths() -> list[Path]:
    """The directories `.pth` files in vcc's site directories add to its sys.path (a dependency
    tree shared by a .pth line, a user site): inflate runs on the same Python when no official env
    is synced and must import what vcc imports. Only these, read as `site` reads them: never
    PYTHONPATH, the current directory or a test runner's insertions, which may hold anything."""
    sites = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        sites.append(site.getusersitepackages())
    out: list[Path] = []
    for entry in sites:
        root = Path(entry)
        if not root.is_dir():
            continue
        out.append(root.resolve())
        for pth in sorted(root.glob("*.pth")):
            try:
                lines = pth.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                line = line.strip()
                if line and not line.startswith(("#", "import ", "import\t")) and (root / line).is_dir():
                    out.append((root / line).resolve())
    return out


def _readable_paths(challenge: Challenge, official: EnvRecord | None = None) -> tuple[Path, ...]:
    paths = [challenge.root.resolve(), Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]
    paths += _import_paths()
    if official is not None:  # the env, and the interpreter its python links to
        paths += [official.path.resolve(), official.base_prefix()]
    for entry in challenge.root.iterdir():  # links in the checkout that point elsewhere
        if entry.is_symlink():
            paths.append(entry.resolve())
    return tuple(dict.fromkeys(paths))


def _run_inflate(
    cfg: RunConfig,
    ws: Workspace,
    challenge: Challenge,
    index: int,
    budget_s: float,
    logs: Path,
    official: EnvRecord | None = None,
) -> ProcResult:
    hidden_dirs, hidden_files = _hidden_paths(challenge)
    spec = SandboxSpec(
        workdir=ws.root,
        tmp_dir=ws.tmp_dir,
        readable=_readable_paths(challenge, official),
        hidden_dirs=hidden_dirs,
        hidden_files=hidden_files,
        owned=ws.inflate_owned,
        protected=(cfg.submission_dir.resolve(),),
        network=cfg.network,
        gpu=cfg.shape.inflate_sees_cuda,
        use_bwrap=cfg.sandbox,
        allow_root=cfg.allow_root_inflate,
    )
    limits = ResourceLimits(
        cpus=cfg.cpus or cfg.shape.cpus,
        memory_bytes=cfg.memory_bytes or cfg.shape.memory_bytes,
        use_cgroup=cfg.cgroup,
        disk_bytes=cfg.disk_bytes or DEFAULT_DISK_BYTES,
    )
    suffix = "" if cfg.repeat == 1 else f".{index + 1}"
    return run_contained(
        ws.inflate_argv(),
        spec,
        limits,
        env=_inflate_env(cfg, ws, official),
        timeout_s=budget_s,
        stdout_path=logs / f"inflate{suffix}.stdout.log",
        stderr_path=logs / f"inflate{suffix}.stderr.log",
    )


def score_target(cfg: RunConfig) -> tuple[str, str, str]:
    """(device, decode, label) of the runner's scoring path on this machine: the shape's decode
    target, or its CPU stand-in where it needs CUDA and torch sees none."""
    shape, target = cfg.shape, DECODE_TARGETS[cfg.shape.decode]
    if not target.needs_cuda:
        return "cpu", target.name, f"{shape.kind} runner: {target.label}, as the official job"
    import torch

    if torch.cuda.is_available():
        return "cuda", target.name, f"{shape.kind} runner: {target.label}, nets on this machine's GPU"
    stand_in = DECODE_TARGETS[runner_target(target.name, cuda=False)]
    return (
        "cpu",
        stand_in.name,
        f"{shape.kind} runner EMULATED: no CUDA here, so {stand_in.label} and the nets run on the CPU; "
        "the real runner's float results differ slightly",
    )


def _score(cfg: RunConfig, ws: Workspace, out: Path, device: str, decode: str) -> dict[str, Any]:
    from vcc.scorer import request_huge_pages

    request_huge_pages()  # before torch loads (in this process; scoring workers inherit it)
    # loads torch: only when scoring
    from vcc.scorer import ScoreConfig, job_report_paths, score_submission

    score_cfg = ScoreConfig(
        submission_dir=ws.submission,
        challenge_dir=cfg.challenge_dir,
        names_file=cfg.names_file,
        inflated_dir=ws.inflated_dir,
        archive_path=ws.archive_zip,
        options=cfg.scoring_options(device, decode),  # resolved as the Docker backend's
        report_path=out / "report.txt",
        json_path=out / "score.json",
        progress=cfg.progress,
        report_paths=job_report_paths(ws.name),  # report.txt names the paths as the runner's does
    )
    return score_submission(score_cfg).as_json()


class LocalBackend:
    def __init__(self, cfg: RunConfig, challenge: Challenge) -> None:
        self.cfg, self.challenge = cfg, challenge
        self.official: EnvRecord | None = None  # set by resolve_env

    def score_target(self) -> tuple[str, str, str]:
        return score_target(self.cfg)

    def resolve_env(self, warnings: list[str]) -> dict[str, Any]:
        """Pick inflate's Python environment (see ENV_CHOICES); its description for the report."""
        cfg = self.cfg
        group = cfg.shape.uv_group
        if cfg.env != "vcc":
            self.official = find_env(cfg.challenge_dir, group, envs_dir=cfg.envs_dir)
            if self.official is None and cfg.env == "official":
                env_cfg = EnvConfig(cfg.challenge_dir, group=group, envs_dir=cfg.envs_dir, progress=cfg.progress)
                self.official = sync_env(
                    env_cfg, echo=lambda m: print(f"vcc env: {m}", file=sys.stderr) if cfg.progress else None
                )
        if self.official is not None:
            for fb in self.official.fallbacks:
                warnings.append(
                    f"inflate's environment takes {fb['package']} {fb.get('installed')} from PyPI instead of the "
                    f"lock's {fb['locked']} ({fb.get('unreachable_index')} was unreachable when it was synced)"
                )
            return self.official.as_json()
        if cfg.env == "auto":
            warnings.append(
                "inflate ran in vcc's own Python environment: no `vcc env sync` environment exists for this "
                f"checkout's uv.lock (group {group}), so packages the runner has (brotli, einops, pillow, ...) "
                f"may be missing; run `vcc env sync --challenge-dir {cfg.challenge_dir} --group {group}`"
            )
        return {
            "kind": "vcc",
            "path": sys.prefix,
            "python": platform.python_version(),
            "reason": "--env vcc" if cfg.env == "vcc" else "no synced official environment (--env auto)",
        }

    def inflate(self, ws: Workspace, index: int, budget_s: float, logs: Path) -> ProcResult:
        # Refused here, after the input checks (a bad archive is still exit 2), before inflate runs.
        if self.cfg.sandbox is not False:
            why_not = bwrap_unavailable_reason(network_off=not self.cfg.network)
            if why_not is not None:
                raise sandbox_missing_error(why_not)
        return _run_inflate(self.cfg, ws, self.challenge, index, budget_s, logs, self.official)

    def score(self, ws: Workspace, out: Path, device: str, decode: str) -> tuple[dict[str, Any], float]:
        t0 = time.perf_counter()
        result = _score(self.cfg, ws, out, device, decode)
        return result, time.perf_counter() - t0
