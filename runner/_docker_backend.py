"""`vcc run --backend docker`: inflate and scoring inside the runner's image.

Staging, unzip and the raw checks stay on the host (same code as the local
backend); the workspace is bind-mounted at its own path so the repository
root's symlinks resolve the same inside. Inflate gets the runner's limits
(--cpus, --cpuset-cpus, --memory = --memory-swap, --pids-limit, --network none
when asked), the challenge read-only with videos/ replaced by an empty dir, and
a private /tmp inside the workspace. Scoring runs `vcc score` in a second
container of the same image, with the same CPU and memory limits.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

from vcc.base import BadInput, HarnessError, SubmissionFailed
from vcc.scorer import DECODE_TARGETS, Challenge, runner_target

from ._config import RunConfig
from ._docker import DockerProcResult, docker_run, docker_unavailable_reason, ensure_image, image_labels
from ._inflate_env import inflate_environment
from ._sandbox import LEFTOVER_WRAPPER, Isolation, ProcResult, read_leftovers
from ._workspace import Workspace

__all__ = ["DockerBackend"]


def _cpuset(n: int) -> tuple[str, int]:
    cpus = sorted(os.sched_getaffinity(0))[:n]
    return ",".join(str(c) for c in cpus), len(cpus)


def _outermost(paths: list[Path]) -> list[Path]:
    """Drop paths that sit inside another one in the list (one mount covers them)."""
    out: list[Path] = []
    for p in sorted(set(paths), key=lambda q: len(q.parts)):
        if not any(p.is_relative_to(q) for q in out):
            out.append(p)
    return out


class DockerBackend:
    def __init__(self, cfg: RunConfig, challenge: Challenge) -> None:
        reason = docker_unavailable_reason()
        if reason is not None:
            raise HarnessError(
                f"--backend docker needs a Docker engine: {reason}",
                fix="start the Docker engine, or use --backend local",
            )
        self.cfg, self.challenge = cfg, challenge
        self.image = ensure_image(cfg.runner, cfg.docker_image)
        try:
            self.labels = image_labels(self.image)
        except HarnessError:
            self.labels = {}
        self.gpu = cfg.shape.gpu and _host_has_gpu()

    # --- what runs where ---------------------------------------------------------------------

    def score_target(self) -> tuple[str, str, str]:
        torch = self.labels.get("vcc.torch", "?")
        where = f"in image {self.image} (torch {torch}, profile {self.labels.get('vcc.profile', '?')})"
        shape, target = self.cfg.shape, DECODE_TARGETS[self.cfg.shape.decode]
        if not target.needs_cuda:
            return "cpu", target.name, f"{shape.kind} runner {where}: {target.label}"
        if self.gpu:
            return "cuda", target.name, f"{shape.kind} runner {where}: {target.label}, nets on the GPU"
        stand_in = DECODE_TARGETS[runner_target(target.name, cuda=False)]
        return (
            "cpu",
            stand_in.name,
            f"{shape.kind} runner EMULATED {where}: no GPU here, {stand_in.label}; the real runner's float "
            "results differ slightly",
        )

    def _challenge_mounts(self, *, hide_videos: bool) -> list[tuple[str, str, bool]]:
        ch = self.challenge
        root = ch.root.resolve()
        paths = [root]
        for entry in root.iterdir():
            if entry.is_symlink() and not (hide_videos and entry.name == "videos"):
                paths.append(entry.resolve())
        if not hide_videos:
            for f in ch.video_dir_files() + [v.path for v in ch.videos]:
                paths.append(f.resolve().parent)
        for net in ("segnet", "posenet"):
            paths.append(ch.model_path(net).resolve().parent)
        return [(str(p), str(p), True) for p in _outermost(paths)]

    def _limits(self) -> dict[str, Any]:
        cpus = self.cfg.cpus or self.cfg.shape.cpus
        cpuset, n = _cpuset(cpus)
        return {
            "cpus": float(min(cpus, n)),
            "cpuset": cpuset,
            "memory_bytes": self.cfg.memory_bytes or self.cfg.shape.memory_bytes,
            "pids_limit": 8192,
            "gpus": self.gpu,
        }

    # --- inflate -----------------------------------------------------------------------------

    def inflate(self, ws: Workspace, index: int, budget_s: float, logs: Path) -> ProcResult:
        cfg = self.cfg
        mounts = self._inflate_mounts(ws)
        leftover = ws.meta / f"leftover-{index}"
        leftover.unlink(missing_ok=True)
        # The same allow-list as the local backend; the image brings its own PATH and locale.
        env = inflate_environment(
            home=str(ws.home_dir), gpu=cfg.shape.inflate_sees_cuda, group=cfg.shape.uv_group, from_host=False
        )
        env["TMPDIR"] = "/tmp"
        limits = self._limits()
        argv = ws.inflate_argv()
        res = docker_run(
            self.image,
            ["bash", "-c", LEFTOVER_WRAPPER, "vcc-wrap", str(leftover), *argv],
            mounts=mounts,
            workdir=str(ws.root),
            env=env,
            network=cfg.network,
            timeout_s=budget_s,
            **limits,
        )
        out_log, err_log = self._write_inflate_logs(res, index, logs)
        return ProcResult(
            argv=argv,
            returncode=None if res.timed_out else res.returncode,
            elapsed_s=res.elapsed_s,
            timed_out=res.timed_out,
            oom_killed=res.oom_killed and not res.timed_out,
            peak_memory_bytes=res.peak_memory_bytes,
            peak_rss_bytes=None,
            leftover_processes=_take_leftovers(leftover),
            stdout_path=out_log,
            stderr_path=err_log,
            isolation=self._inflate_isolation(limits),
        )

    def _inflate_mounts(self, ws: Workspace) -> list[tuple[str, str, bool]]:
        """The challenge read-only with videos/ replaced by an empty dir, the workspace at its own
        path, and the workspace's tmp dir as /tmp."""
        empty = ws.meta / "empty"
        empty.mkdir(parents=True, exist_ok=True)
        mounts = self._challenge_mounts(hide_videos=True)
        if self.challenge.videos_dir.is_dir():
            mounts.append((str(empty), str(self.challenge.videos_dir.resolve()), True))
        mounts += [(str(ws.root), str(ws.root), False), (str(ws.tmp_dir), "/tmp", False)]
        return mounts

    def _write_inflate_logs(self, res: DockerProcResult, index: int, logs: Path) -> tuple[Path, Path]:
        """inflate's output tails as logs/inflate[.N].{stdout,stderr}.log (.N with --repeat)."""
        logs.mkdir(parents=True, exist_ok=True)
        suffix = "" if self.cfg.repeat == 1 else f".{index + 1}"
        out_log, err_log = logs / f"inflate{suffix}.stdout.log", logs / f"inflate{suffix}.stderr.log"
        out_log.write_text(res.stdout_tail)
        err_log.write_text(res.stderr_tail)
        return out_log, err_log

    def _inflate_isolation(self, limits: dict[str, Any]) -> Isolation:
        gib = limits["memory_bytes"] / (1 << 30)
        return Isolation(
            sandbox=f"docker ({self.image})",
            originals_hidden=True,
            filesystem_confined=True,
            network="shared" if self.cfg.network else "isolated",
            memory_cap=f"{gib:.2f} GiB for the container (--memory, --memory-swap: no swap)",
            cpus=f"--cpus {limits['cpus']:g} --cpuset-cpus {limits['cpuset']}",
            kill="container (pid namespace)",
            notes=["logs hold the last 64 KiB of inflate's output (the Docker backend keeps tails)"],
        )

    # --- scoring -----------------------------------------------------------------------------

    def score(self, ws: Workspace, out: Path, device: str, decode: str) -> tuple[dict[str, Any], float]:
        cfg = self.cfg
        out = out.resolve()
        json_path, report = out / "score.json", out / "report.txt"
        # Resolved here as the local backend's (threads and workers for the runner's CPUs on this
        # host, which the container's cpuset gets); the container scores without a cache.
        options = dataclasses.replace(cfg.scoring_options(device, decode), use_cache=False, cache_dir=None)
        argv = [
            "vcc", "score", str(ws.submission),
            "--challenge-dir", str(self.challenge.root.resolve()),
            "--names-file", str(ws.names_file),
            "--inflated-dir", str(ws.inflated_dir),
            "--json", str(json_path), "--report", str(report),
            *options.to_argv(), "--quiet", "--job-paths", ws.name,
        ]  # fmt: skip
        mounts = self._challenge_mounts(hide_videos=False)
        mounts += [(str(ws.root), str(ws.root), True), (str(out), str(out), False)]
        env = {"HOME": "/tmp"}
        if device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
        res = docker_run(
            self.image,
            argv,
            mounts=mounts,
            workdir="/tmp",
            env=env,
            network=False,
            timeout_s=cfg.clock_s,
            **self._limits(),
        )
        (out / "logs").mkdir(parents=True, exist_ok=True)
        (out / "logs" / "score.stderr.log").write_text(res.stderr_tail)
        if res.timed_out or res.returncode != 0 or not json_path.is_file():
            tail = "\n".join(res.stderr_tail.strip().splitlines()[-12:])
            what = "timed out" if res.timed_out else f"exited {res.returncode}"
            if res.oom_killed:
                what += " (out of memory)"
            cls = {2: BadInput, 3: SubmissionFailed}.get(res.returncode, HarnessError)
            raise cls(
                f"scoring in the Docker image {what}:\n{tail}",
                path=out / "logs" / "score.stderr.log",
                fix="see the log; `vcc score` on the host gives the same checks",
            )
        return json.loads(json_path.read_text()), res.elapsed_s


def _take_leftovers(leftover: Path) -> list[str]:
    """The processes LEFTOVER_WRAPPER found still running after inflate (one per line); removes the file."""
    leftovers = read_leftovers(leftover)
    if leftover.is_file():
        leftover.unlink()
    return leftovers


def _host_has_gpu() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False
