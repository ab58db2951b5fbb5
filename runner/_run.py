"""`vcc run`: replay the official job (SPEC sections 2 and 8) on this machine.

stage the repository root -> unzip (vetted) -> inflate.sh under the clock and the
runner's limits (x repeat) -> check the raws -> score -> one JSON report.

Every outcome writes the report; a submission fault is a verdict with its exit
code (2 bad input, 3 failed while running), never a traceback.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from base import apply_profile, get_profile, numerics_identity
from scorer import (
    BadInput,
    Challenge,
    HarnessError,
    ScoreConfig,
    SubmissionFailed,
    VccError,
    check_raws,
    count_video_frames,
    score_submission,
    write_json_atomic,
)

from ._archive import ExtractLimits, ExtractResult, extract_archive
from ._env import RUNNER_GROUPS, EnvConfig, EnvRecord, find_env, sync_env
from ._sandbox import ProcResult, ResourceLimits, SandboxSpec, python_bin_dir, run_contained
from ._workspace import Workspace, stage_workspace

__all__ = [
    "RUNNERS",
    "RunnerShape",
    "RunConfig",
    "RunResult",
    "InflateRun",
    "run_submission",
    "default_out_dir",
    "Backend",
    "LocalBackend",
    "make_backend",
]

GiB = 1 << 30
REPORT_SCHEMA = 1


@dataclass(frozen=True)
class RunnerShape:
    """One of the two public runners (SPEC section 8)."""

    kind: str
    cpus: int
    memory_bytes: int
    gpu: bool
    setup_overhead_s: float
    setup_basis: str
    # Scoring time estimate: nets load + per pair. Used before inflate to set its
    # deadline; the measured scoring time replaces it in the headroom.
    score_fixed_s: float
    score_per_pair_s: float
    score_basis: str


RUNNERS: dict[str, RunnerShape] = {
    "cpu": RunnerShape(
        kind="cpu",
        cpus=4,
        memory_bytes=16 * GiB,
        gpu=False,
        setup_overhead_s=150.0,
        setup_basis=(
            "estimate of the job's steps before evaluate.sh on ubuntu-latest: checkout and archive "
            "download ~10 s, apt-get update + git-lfs ~20 s, git lfs pull (131 MB) ~10 s, "
            "setup-uv + `uv sync --group cpu` (torch 2.10 cpu wheels) ~40 s, apt-get ffmpeg ~60 s, "
            "plus margin"
        ),
        score_fixed_s=15.0,
        score_per_pair_s=0.6,
        score_basis=(
            "15 s (load nets, open videos) + 0.6 s per frame pair: `vcc score --no-cache` "
            "used 1.66 CPU-seconds per pair on an AMD EPYC (golden data, 35 pairs), spread "
            "over the runner's 4 cores at ~70% parallel efficiency"
        ),
    ),
    "t4": RunnerShape(
        kind="t4",
        cpus=4,
        memory_bytes=26 * GiB,
        gpu=True,
        setup_overhead_s=300.0,
        setup_basis=(
            "estimate for linux-nvidia-t4: as the CPU runner, but `uv sync --group cu128` fetches "
            "~3 GB (torch cu128, CUDA libraries, DALI) instead of ~0.3 GB"
        ),
        score_fixed_s=30.0,
        score_per_pair_s=0.05,
        score_basis="30 s (CUDA init, load nets) + 0.05 s per frame pair on a T4 (estimate)",
    ),
}

BACKENDS = ("local", "docker")
# Which Python environment runs inflate with the local backend: the checkout's synced
# `uv sync --group` env (official), vcc's own (vcc), or official where synced (auto).
ENV_CHOICES = ("auto", "official", "vcc")

@dataclass
class RunConfig:
    submission_dir: Path
    challenge_dir: Path
    names_file: Path | None = None
    runner: str = "cpu"  # cpu | t4
    backend: str = "local"  # local | docker
    clock_s: float = 1800.0  # the job's timeout-minutes: 30
    setup_overhead_s: float | None = None  # default: the runner's estimate
    score_estimate_s: float | None = None  # default: the runner's per-pair estimate
    network: bool = True
    repeat: int = 1
    out_dir: Path | None = None  # default: ./vcc-run-<name>-<timestamp>
    json_path: Path | None = None  # default: <out>/run.json
    name: str | None = None  # default: SUBMISSION_DIR's name
    scoring: bool = True  # False (--no-score): stop after checking the raws
    keep_workspace: bool = False
    memory_bytes: int | None = None  # default: the runner's
    cpus: int | None = None  # default: the runner's
    sandbox: bool | None = None  # None: bubblewrap where it works; True: require; False: never
    cgroup: bool = True  # False (--no-cgroup): rlimits and the process group only (weaker)
    extract_limits: ExtractLimits = field(default_factory=ExtractLimits)
    batch_size: int = 16
    progress: bool = True
    # Off by default: a ground-truth cache hit halves scoring time, which the
    # runner (decoding the originals afresh) never gets, flattering the headroom.
    use_cache: bool = False
    cache_dir: Path | None = None
    docker_image: str | None = None
    # torch threads for scoring; default: the runner's CPU count, capped at this machine's.
    # CPU results depend on it in the last bits: the official CPU runner has 4.
    threads: int | None = None
    # CPU kernel caps for scoring (and inflate, which inherits the environment): see base._numerics.
    numerics: str = "native"
    env: str = "auto"  # auto | official | vcc: inflate's Python environment (local backend)
    envs_dir: Path | None = None  # default: $XDG_CACHE_HOME/vcc/envs

    def __post_init__(self) -> None:
        self.submission_dir = Path(self.submission_dir)
        self.challenge_dir = Path(self.challenge_dir)
        get_profile(self.numerics)  # an unknown name is bad input
        if self.env not in ENV_CHOICES:
            raise BadInput(f"unknown --env {self.env!r}", fix=f"use one of {', '.join(ENV_CHOICES)}")
        if self.runner not in RUNNERS:
            raise BadInput(f"unknown --runner {self.runner!r}", fix=f"use one of {', '.join(RUNNERS)}")
        if self.backend not in BACKENDS:
            raise BadInput(f"unknown --backend {self.backend!r}", fix=f"use one of {', '.join(BACKENDS)}")
        if self.repeat < 1:
            raise BadInput(f"--repeat must be at least 1, got {self.repeat}", fix="use --repeat 2")
        if self.clock_s <= 0:
            raise BadInput(f"--clock must be positive, got {self.clock_s}", fix="use 1800 (official)")
        for what, v in (
            ("--setup-overhead", self.setup_overhead_s),
            ("--score-estimate", self.score_estimate_s),
        ):
            if v is not None and v < 0:
                raise BadInput(f"{what} cannot be negative, got {v}", fix="use 0 or more seconds")

    @property
    def shape(self) -> RunnerShape:
        return RUNNERS[self.runner]

    @property
    def submission_name(self) -> str:
        return self.name or self.submission_dir.resolve().name

    @property
    def setup_overhead(self) -> float:
        return self.shape.setup_overhead_s if self.setup_overhead_s is None else self.setup_overhead_s


@dataclass
class InflateRun:
    """One unzip + inflate from scratch."""

    index: int
    extract: ExtractResult | None = None
    proc: ProcResult | None = None
    raws: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra_files: list[str] = field(default_factory=list)
    writes_outside: list[str] = field(default_factory=list)
    hash_s: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "extract": self.extract.as_json() if self.extract else None,
            "inflate": self.proc.as_json() if self.proc else None,
            "raws": self.raws,
            "extra_files": self.extra_files,
            "writes_outside_inflated": self.writes_outside,
            "hash_s": round(self.hash_s, 3),
        }


@dataclass
class RunResult:
    config: RunConfig
    out_dir: Path
    json_path: Path
    verdict: str = "harness_error"
    message: str = ""
    error: VccError | None = None
    runs: list[InflateRun] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    clock: dict[str, Any] = field(default_factory=dict)
    runner: dict[str, Any] = field(default_factory=dict)
    isolation: dict[str, Any] | None = None
    score_report: dict[str, Any] | None = None  # the scorer's JSON (run.json's "score")
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    workspace: str | None = None
    workspace_kept: bool = False
    numerics: dict[str, Any] = field(default_factory=dict)  # the scorer's, else this process's
    environment: dict[str, Any] = field(default_factory=dict)  # which Python ran inflate, which scored

    @property
    def exit_code(self) -> int:
        return 0 if self.error is None else self.error.exit_code

    @property
    def deterministic(self) -> bool | None:
        hashes = [{k: v.get("sha256") for k, v in r.raws.items()} for r in self.runs if r.raws]
        if len(hashes) < 2 or len(hashes) < self.config.repeat:
            return None
        return all(h == hashes[0] for h in hashes[1:])

    @property
    def score(self) -> dict[str, Any] | None:
        """Read-only alias of `score_report`, kept for callers not yet renamed (scorer/_demo.py)."""
        return self.score_report

    def raise_for_verdict(self) -> None:
        if self.error is not None:
            raise self.error

    def as_json(self) -> dict[str, Any]:
        cfg = self.config
        last = self.runs[-1] if self.runs else None
        repeat: dict[str, Any] = {
            "n": cfg.repeat,
            "completed": len(self.runs),
            "deterministic": None,
        }
        det = self.deterministic
        if det is not None:
            repeat["deterministic"] = det
            if not det:
                first = self.runs[0].raws
                repeat["mismatches"] = sorted(
                    {
                        name
                        for r in self.runs[1:]
                        for name, info in r.raws.items()
                        if info.get("sha256") != first.get(name, {}).get("sha256")
                    }
                )
        return {
            "vcc_run_schema": REPORT_SCHEMA,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "message": self.message,
            "error": None if self.error is None else self.error.render(),
            "submission": {
                "dir": str(cfg.submission_dir),
                "name": cfg.submission_name,
                "archive_bytes": _size(cfg.submission_dir / "archive.zip"),
            },
            "challenge_dir": str(cfg.challenge_dir),
            "runner": self.runner,
            "environment": self.environment,
            "clock": self.clock,
            "phases": {k: round(v, 3) for k, v in self.phases.items()},
            "isolation": self.isolation,
            "inflate": last.proc.as_json() if last and last.proc else None,
            "peak_memory_bytes": max((r.proc.peak_memory_bytes or 0 for r in self.runs if r.proc), default=None),
            "peak_rss_bytes": max((r.proc.peak_rss_bytes or 0 for r in self.runs if r.proc), default=None),
            "raws": last.raws if last else {},
            "repeat": repeat,
            "runs": [r.as_json() for r in self.runs],
            "score": self.score_report,
            "warnings": self.warnings,
            "notes": self.notes,
            "out_dir": str(self.out_dir),
            "workspace": self.workspace,
            "workspace_kept": self.workspace_kept,
            "numerics": (self.score_report or {}).get("numerics") or self.numerics,
        }


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def default_out_dir(name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path.cwd() / f"vcc-run-{name}-{stamp}"
    out, i = base, 1
    while out.exists():
        i += 1
        out = base.with_name(f"{base.name}-{i}")
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _snapshot(ws: Workspace) -> dict[str, tuple[int, int]]:
    """Files in the workspace that inflate is not expected to write, with (size, mtime)."""
    skip_dirs = {ws.meta, ws.archive_dir, ws.inflated_dir}
    out: dict[str, tuple[int, int]] = {}
    for root, dirs, files in os.walk(ws.root):
        r = Path(root)
        dirs[:] = [d for d in dirs if r / d not in skip_dirs and d != "__pycache__"]
        for f in files:
            p = r / f
            try:
                st = p.lstat()
            except OSError:
                continue
            out[str(p.relative_to(ws.root))] = (st.st_size, st.st_mtime_ns)
    return out


def _inflate_env(cfg: RunConfig, ws: Workspace, official: EnvRecord | None = None) -> dict[str, str]:
    drop = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "CONDA_PREFIX")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    if official is not None:  # the checkout's `uv sync --group` env, as on the runner
        env["PATH"] = str(official.bin_dir) + os.pathsep + env.get("PATH", "/usr/bin:/bin")
        env["VIRTUAL_ENV"] = str(official.path)
    else:
        env["PATH"] = python_bin_dir() + os.pathsep + env.get("PATH", "/usr/bin:/bin")
        if sys.prefix != sys.base_prefix:
            env["VIRTUAL_ENV"] = sys.prefix
    env["HOME"] = str(ws.home_dir)
    env.pop("XDG_CACHE_HOME", None)  # a fresh runner has no warm caches
    if not cfg.shape.gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""  # the CPU runner has no GPU
    return env


def _hidden_paths(challenge: Challenge) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    dirs: list[Path] = []
    if challenge.videos_dir.is_dir():
        dirs += [challenge.videos_dir.absolute(), challenge.videos_dir.resolve()]
    dirs = list(dict.fromkeys(dirs))
    files = []
    for p in challenge.video_dir_files() + [v.path for v in challenge.videos]:
        real = p.resolve()
        if not any(real.is_relative_to(d) for d in dirs):
            files.append(real)
    return tuple(dirs), tuple(dict.fromkeys(files))


def _readable_paths(challenge: Challenge, official: EnvRecord | None = None) -> tuple[Path, ...]:
    paths = [challenge.root.resolve(), Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]
    if official is not None:  # the env, and the interpreter its python links to
        paths += [official.path.resolve(), official.base_prefix()]
    for entry in challenge.root.iterdir():  # links in the checkout that point elsewhere
        if entry.is_symlink():
            paths.append(entry.resolve())
    return tuple(dict.fromkeys(paths))


_ORIGINALS_HINT = re.compile(r"videos/|\.mkv|\.hevc", re.IGNORECASE)


_NO_MODULE = re.compile(r"ModuleNotFoundError: No module named '([^']+)'")


def _failure_hint(proc: ProcResult, challenge: Challenge, env_kind: str = "vcc", group: str = "cpu") -> str:
    tail = proc.stderr_tail + proc.stdout_tail
    hints = []
    missing = _NO_MODULE.search(tail)
    if missing and env_kind == "vcc":
        hints.append(
            f"inflate ran in vcc's own Python environment, which lacks {missing.group(1)!r}; the runner "
            f"runs inflate in `uv sync --group {group}` of the checkout (brotli, einops, pillow, ...). "
            f"Run `vcc env sync --challenge-dir {challenge.root}` and rerun (or pass --env official)"
        )
    elif missing and env_kind == "official":
        hints.append(
            f"{missing.group(1)!r} is not in the checkout's environment (uv.lock, group {group}), so the "
            "runner's inflate would fail the same way; the runner installs nothing else"
        )
    names = [v.name for v in challenge.videos]
    if _ORIGINALS_HINT.search(tail) and ("No such file" in tail or "not found" in tail.lower()):
        if any(n in tail for n in names) or "videos/" in tail:
            hints.append(
                "inflate seems to read the original videos, which the rules forbid at inflate "
                "time; vcc hides them from inflate to catch exactly this"
            )
    if "Read-only file system" in tail:
        hints.append(
            "inflate tried to write outside the repository checkout; vcc allows writes only "
            "under the checkout, /tmp and $HOME"
        )
    if "Temporary failure in name resolution" in tail or "Network is unreachable" in tail:
        hints.append("inflate needs the network (ran with --network off)")
    return (" Hint: " + " ".join(hints)) if hints else ""


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
        network=cfg.network,
        gpu=cfg.shape.gpu,
        use_bwrap=cfg.sandbox,
    )
    limits = ResourceLimits(
        cpus=cfg.cpus or cfg.shape.cpus,
        memory_bytes=cfg.memory_bytes or cfg.shape.memory_bytes,
        use_cgroup=cfg.cgroup,
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


def _check_outputs(run: InflateRun, ws: Workspace, challenge: Challenge, cfg: RunConfig) -> None:
    """Raws exist with the exact size (SubmissionFailed otherwise), then their sha256."""
    try:
        checks = check_raws(challenge, ws.inflated_dir, cfg.batch_size)
    except BadInput as e:
        # A wrong or missing raw here is inflate's output, not the user's input.
        raise _failure(
            "wrong_output",
            f"inflate wrote the wrong output: {e}",
            path=e.path,
            fix=e.fix or "fix inflate",
        ) from e
    expected = {c.path.name for c in checks}
    run.extra_files = sorted(
        str(p.relative_to(ws.inflated_dir))
        for p in ws.inflated_dir.rglob("*")
        if p.is_file() and p.name not in expected
    )
    t0 = time.perf_counter()
    for c in checks:
        run.raws[c.path.name] = {
            "video": c.name,
            "bytes": c.bytes,
            "frames": c.frames,
            "sha256": _sha256(c.path),
        }
    run.hash_s = time.perf_counter() - t0


def _score_target(cfg: RunConfig) -> tuple[str, str, str]:
    """(device, decode, label) of the runner's scoring path on this machine."""
    if not cfg.shape.gpu:
        return "cpu", "pyav", "cpu runner: PyAV decode on the CPU, as the official CPU job"
    import torch

    if torch.cuda.is_available():
        return "cuda", "dali", "t4 runner: DALI decode and nets on this machine's GPU"
    return (
        "cpu",
        "dali-emulated",
        "t4 runner EMULATED: no CUDA here, so DALI's colour conversion is emulated on the CPU and "
        "the nets run on the CPU; a T4's float results differ slightly",
    )


def _score(cfg: RunConfig, ws: Workspace, out: Path, device: str, decode: str) -> dict[str, Any]:
    import torch

    score_cfg = ScoreConfig(
        submission_dir=ws.submission,
        challenge_dir=cfg.challenge_dir,
        names_file=cfg.names_file,
        inflated_dir=ws.inflated_dir,
        archive_path=ws.archive_zip,
        device=device,
        batch_size=cfg.batch_size,
        decode=decode,
        report_path=out / "report.txt",
        json_path=out / "score.json",
        cache_dir=cfg.cache_dir,
        use_cache=cfg.use_cache,
        progress=cfg.progress,
        # The runner has `cpus` cores: scoring with more would flatter the headroom. A profile's
        # thread count (runner: 4) is kept on any machine: the bits depend on it.
        threads=cfg.threads or get_profile(cfg.numerics).threads
        or max(1, min(torch.get_num_threads(), cfg.cpus or cfg.shape.cpus)),
        numerics=cfg.numerics,
    )
    return score_submission(score_cfg).as_json()


class Backend(Protocol):
    """Where inflate and scoring run: local processes or the runner's Docker image."""

    def score_target(self) -> tuple[str, str, str]:
        """(device, decode, label) of the runner's scoring path here."""
        ...

    def inflate(self, ws: Workspace, index: int, budget_s: float, logs: Path) -> ProcResult: ...

    def score(self, ws: Workspace, out: Path, device: str, decode: str) -> tuple[dict[str, Any], float]:
        """The scorer's JSON and the seconds scoring took (without container start-up)."""
        ...


class LocalBackend:
    def __init__(self, cfg: RunConfig, challenge: Challenge) -> None:
        self.cfg, self.challenge = cfg, challenge
        self.official: EnvRecord | None = None  # set by resolve_env

    def score_target(self) -> tuple[str, str, str]:
        return _score_target(self.cfg)

    def resolve_env(self, warnings: list[str]) -> dict[str, Any]:
        """Pick inflate's Python environment (see ENV_CHOICES); its description for the report."""
        cfg = self.cfg
        group = RUNNER_GROUPS[cfg.runner]
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
        return _run_inflate(self.cfg, ws, self.challenge, index, budget_s, logs, self.official)

    def score(self, ws: Workspace, out: Path, device: str, decode: str) -> tuple[dict[str, Any], float]:
        t0 = time.perf_counter()
        result = _score(self.cfg, ws, out, device, decode)
        return result, time.perf_counter() - t0


def make_backend(cfg: RunConfig, challenge: Challenge) -> Backend:
    if cfg.backend == "docker":
        from ._docker_backend import DockerBackend

        return DockerBackend(cfg, challenge)
    return LocalBackend(cfg, challenge)


def run_submission(cfg: RunConfig) -> RunResult:
    """Replay the official job; always returns, with the verdict and error set on failure.

    Errors in the arguments (unknown runner, missing challenge) raise before
    anything is written.
    """
    apply_profile(get_profile(cfg.numerics))  # refuses before anything runs if it cannot apply
    challenge = Challenge.load(cfg.challenge_dir, cfg.names_file)
    name = cfg.submission_name
    out = Path(cfg.out_dir) if cfg.out_dir else default_out_dir(name)
    if out.exists() and any(out.iterdir()):
        raise BadInput("--out dir exists and is not empty", path=out, fix="pass a new or empty --out dir")
    if out.resolve() == cfg.submission_dir.resolve():
        raise BadInput("--out cannot be the submission dir itself", path=out, fix="pass a new dir")
    out.mkdir(parents=True, exist_ok=True)
    json_path = Path(cfg.json_path) if cfg.json_path else out / "run.json"
    result = RunResult(cfg, out.resolve(), json_path, numerics=numerics_identity(cfg.numerics))
    shape = cfg.shape
    try:
        backend = make_backend(cfg, challenge)
        device, decode, label = backend.score_target()
        if isinstance(backend, LocalBackend):
            inflate_env = backend.resolve_env(result.warnings)
        else:
            inflate_env = {"kind": "docker image", "image": cfg.docker_image, "note": "--env is for --backend local"}
        result.environment = {"inflate": inflate_env, "scorer": _scorer_env(cfg)}
    except VccError as e:
        result.error, result.verdict, result.message = e, _verdict_for(e), str(e)
        write_json_atomic(json_path, result.as_json())
        return result
    result.runner = {
        "kind": shape.kind,
        "backend": cfg.backend,
        "cpus": cfg.cpus or shape.cpus,
        "memory_bytes": cfg.memory_bytes or shape.memory_bytes,
        "gpu_visible_to_inflate": shape.gpu,
        "network": "on" if cfg.network else "off",
        "score_device": device,
        "score_decode": decode,
        "label": label,
    }
    result.warnings += challenge.warnings
    setup = cfg.setup_overhead
    pairs = sum(count_video_frames(v.path) // 2 for v in challenge.videos)
    if cfg.score_estimate_s is None:
        score_est = shape.score_fixed_s + pairs * shape.score_per_pair_s
        score_basis = shape.score_basis + f"; {pairs} pairs"
    else:
        score_est, score_basis = cfg.score_estimate_s, "given (--score-estimate)"
    result.clock = {
        "clock_s": cfg.clock_s,
        "setup_overhead_s": setup,
        "setup_overhead_basis": (shape.setup_basis if cfg.setup_overhead_s is None else "given (--setup-overhead)"),
        "score_estimate_s": round(score_est, 3),
        "score_estimate_basis": score_basis,
    }
    ws_root = out / "workspace"
    ws: Workspace | None = None
    try:
        t0 = time.perf_counter()
        ws, notes = stage_workspace(cfg.submission_dir, challenge, ws_root, name, out_dir=out)
        result.notes += notes
        result.workspace = str(ws.root)
        result.phases["stage_s"] = time.perf_counter() - t0
        logs = out / "logs"
        for i in range(cfg.repeat):
            run = InflateRun(i)
            result.runs.append(run)
            ws.reset_outputs()
            try:
                run.extract = extract_archive(ws.archive_zip, ws.archive_dir, cfg.extract_limits)
            except BadInput as e:
                e.path = cfg.submission_dir / "archive.zip"  # name the user's file, not our copy
                raise
            budget = cfg.clock_s - setup - run.extract.elapsed_s - score_est
            result.clock["inflate_budget_s"] = round(budget, 3)
            if budget <= 0:
                raise _failure(
                    "timeout",
                    f"no time is left for inflate: setup {setup:.0f} s + unzip "
                    f"{run.extract.elapsed_s:.1f} s + scoring estimate {score_est:.0f} s exceed "
                    f"the {cfg.clock_s:.0f} s clock",
                    fix="lower --setup-overhead / --score-estimate if they overstate your runner",
                )
            before = _snapshot(ws)
            run.proc = backend.inflate(ws, i, budget, logs)
            result.isolation = run.proc.isolation.as_json()
            after = _snapshot(ws)
            run.writes_outside = sorted(k for k, v in after.items() if before.get(k) != v)
            env_kind = result.environment.get("inflate", {}).get("kind", "vcc")
            _judge_inflate(run.proc, challenge, budget, env_kind, RUNNER_GROUPS[cfg.runner])
            _check_outputs(run, ws, challenge, cfg)
        _collect_findings(result)
        _fill_phases(result)
        if cfg.scoring:
            result.score_report, result.phases["score_s"] = backend.score(ws, out, device, decode)
        _fill_clock(result, score_est)
        headroom = result.clock["headroom_s"]
        if headroom < 0:
            raise _failure(
                "over_clock",
                f"the job would run past the {cfg.clock_s:.0f} s clock by {-headroom:.0f} s "
                f"(setup {setup:.0f} s + unzip + inflate + scoring); the runner would cancel it "
                "and report only 'Job timed out or was cancelled'",
                fix="make inflate faster (it runs on the runner's 4 CPUs)",
            )
        result.verdict = "ok"
        result.message = _ok_message(result)
    except VccError as e:
        result.error = e
        result.verdict = _verdict_for(e)
        result.message = str(e)
        _collect_findings(result)
        _fill_phases(result)
        _fill_clock(result, score_est)
    except Exception as e:  # a vcc bug: still leave a report behind
        result.error = HarnessError(f"vcc run failed unexpectedly: {type(e).__name__}: {e}")
        result.verdict = "harness_error"
        result.message = str(result.error)
        _fill_phases(result)
        write_json_atomic(json_path, result.as_json())
        raise
    finally:
        if ws is not None:
            keep = cfg.keep_workspace
            result.workspace_kept = keep
            if not keep:
                _remove_workspace(ws_root)
    write_json_atomic(json_path, result.as_json())
    return result


def _scorer_env(cfg: RunConfig) -> dict[str, Any]:
    """vcc's own environment, which scores (without importing torch for --no-score runs)."""
    from importlib import metadata

    def version(pkg: str) -> str | None:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    if cfg.backend == "docker":
        return {"kind": "docker image", "image": cfg.docker_image}
    return {"kind": "vcc", "prefix": sys.prefix, "python": platform.python_version(), "torch": version("torch")}


def _remove_workspace(root: Path) -> None:
    for dirpath, dirs, _ in os.walk(root):
        for d in dirs:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                try:
                    os.chmod(p, 0o700)
                except OSError:
                    pass
    shutil.rmtree(root, ignore_errors=True)


def _failure(verdict: str, message: str, **kw: Any) -> SubmissionFailed:
    """A SubmissionFailed (exit 3) that carries its verdict for the report; the caller raises it."""
    err = SubmissionFailed(message, **kw)
    err.verdict = verdict  # type: ignore[attr-defined]
    return err


def _verdict_for(e: VccError) -> str:
    verdict = getattr(e, "verdict", None)
    if isinstance(verdict, str):
        return verdict
    if isinstance(e, BadInput):
        return "bad_input"
    if isinstance(e, SubmissionFailed):
        return "inflate_failed"
    return "harness_error"


def _judge_inflate(
    proc: ProcResult, challenge: Challenge, budget: float, env_kind: str = "vcc", group: str = "cpu"
) -> None:
    logs = f"stderr tail:\n{_indent(proc.stderr_tail)}" if proc.stderr_tail.strip() else "no stderr"
    if proc.timed_out:
        raise _failure(
            "timeout",
            f"inflate did not finish within its budget of {budget:.1f} s (the clock minus setup, "
            f"unzip and the scoring estimate); killed with its whole process tree after "
            f"{proc.elapsed_s:.1f} s.\n{logs}",
            path=proc.stderr_path,
            fix="make inflate faster, or check it does not hang (it gets no stdin)",
        )
    if proc.oom_killed:
        peak = proc.peak_memory_bytes or proc.peak_rss_bytes
        peak_text = f", peak {peak / GiB:.2f} GiB" if peak else ""
        raise _failure(
            "out_of_memory",
            f"inflate ran out of memory under the runner's cap ({proc.isolation.memory_cap}{peak_text}).\n{logs}",
            path=proc.stderr_path,
            fix="stream frames to the raw file instead of holding the video in memory",
        )
    if proc.returncode != 0:
        raise _failure(
            "inflate_failed",
            f"inflate exited with status {proc.returncode} after {proc.elapsed_s:.1f} s."
            f"{_failure_hint(proc, challenge, env_kind, group)}\n{logs}",
            path=proc.stderr_path,
            fix="run the failing command from the log; the full logs are next to the report",
        )


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines()[-20:])


def _collect_findings(result: RunResult) -> None:
    seen = set(result.warnings)

    def warn(text: str) -> None:
        if text not in seen:
            seen.add(text)
            result.warnings.append(text)

    for run in result.runs:
        if run.proc and run.proc.leftover_processes:
            procs = "; ".join(run.proc.leftover_processes[:5])
            warn(
                f"inflate left {len(run.proc.leftover_processes)} process(es) running after it "
                f"exited ({procs}); vcc killed them. On the runner they would keep running into "
                "scoring, racing it for CPU and memory (or writing raws late)"
            )
        if run.extra_files:
            warn(
                f"inflated/ holds files no video asks for ({', '.join(run.extra_files[:10])}); "
                "the official evaluator ignores them"
            )
        if run.writes_outside:
            warn(
                "inflate wrote outside INFLATED_DIR, inside the repository checkout: "
                + ", ".join(run.writes_outside[:10])
            )
        if run.proc:
            for note in run.proc.isolation.notes:
                if note.startswith(("no sandbox", "no cgroup")):
                    warn(f"weaker containment: {note}")
    det = result.deterministic
    if det is False:
        warn(
            f"inflate is not deterministic: {result.config.repeat} runs from scratch wrote raws "
            "with different sha256; the score can differ between your run and the runner's"
        )


def _fill_phases(result: RunResult) -> None:
    runs = [r for r in result.runs if r.extract]
    if runs:
        result.phases["extract_s"] = max(r.extract.elapsed_s for r in runs)  # type: ignore[union-attr]
    procs = [r.proc for r in result.runs if r.proc]
    if procs:
        result.phases["inflate_s"] = max(p.elapsed_s for p in procs)
    hashed = [r.hash_s for r in result.runs if r.raws]
    if hashed:
        result.phases["hash_s"] = max(hashed)


def _fill_clock(result: RunResult, score_est: float) -> None:
    c = result.clock
    measured_score = result.phases.get("score_s")
    score_s = measured_score if measured_score is not None else score_est
    used = c["setup_overhead_s"] + result.phases.get("extract_s", 0.0) + result.phases.get("inflate_s", 0.0) + score_s
    c["inflate_s"] = round(result.phases.get("inflate_s", 0.0), 3)
    c["score_s"] = round(score_s, 3)
    if measured_score is None:
        c["score_s_basis"] = "estimate"
    elif result.config.use_cache:
        c["score_s_basis"] = (
            "measured on this machine with the ground-truth cache allowed (a hit understates the runner's time)"
        )
    else:
        c["score_s_basis"] = "measured on this machine"
    c["headroom_s"] = round(c["clock_s"] - used, 3)
    if len(result.runs) > 1:
        c["inflate_runs_s"] = [round(r.proc.elapsed_s, 3) for r in result.runs if r.proc]
        c["inflate_s_basis"] = "slowest of the repeated runs"


def _ok_message(result: RunResult) -> str:
    c = result.clock
    text = (
        f"inflate finished in {c['inflate_s']:.1f} s; "
        f"headroom {c['headroom_s']:.0f} s of the {c['clock_s']:.0f} s clock"
    )
    if result.score_report:
        text += f"; score {result.score_report.get('score')}"
    return text
