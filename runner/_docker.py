"""Docker backend, low level: build or reuse the vcc image, run one command in a capped container.

`ensure_image(kind)` builds the runner shape's Dockerfile (vcc.base.RUNNER_SHAPES) from a copy of the vcc source and
tags it `vcc-<kind>:<profile>-<hash>`, the hash covering the Dockerfile, the source, the build
arguments and (for a base image not pinned by digest) the base image's id; a present tag is
reused. `docker_run` runs one command in a fresh container with the runner's limits and
reports exit status, wall time, timeout, OOM kill, peak memory and output tails, leaving no
container behind.

Environment:
  VCC_DOCKER_PROFILE     "official" (default: the Dockerfile's pins) or a profile name P whose
                         build arguments are in docker/<kind>-P.args ("local": no registry and
                         no PyTorch index, see docker/README.md)
  VCC_DOCKER_BUILD_ARGS  extra "KEY=VALUE KEY=VALUE" build arguments, applied last
  VCC_DOCKER_CA_BUNDLE   CA bundle that pip inside the build must trust (default: $PIP_CERT)
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from vcc.base import RUNNER_SHAPES, BadInput, HarnessError, file_sha256

__all__ = [
    "RUNNER_KINDS",
    "DockerProcResult",
    "ImageSpec",
    "docker_unavailable_reason",
    "docker_run",
    "ensure_image",
    "image_spec",
    "image_labels",
]

# The runners an image replays: those with a Dockerfile in the runner table.
RUNNER_KINDS = tuple(k for k, s in RUNNER_SHAPES.items() if s.dockerfile)

# What the image is built from, relative to the project root. .dockerignore allowlists the same
# set for a manual `docker build`; here the context is a copy of exactly these files, so the tag
# hash and the image content cannot drift apart.
_CONTEXT_ITEMS = ("pyproject.toml", "README.md", "vcc", "base", "scorer", "runner", "submission", "demo", "docker")
_EXTRA_CA_NAME = "docker/.extra-ca.pem"
_ANSWER_TIMEOUT_S = 5.0
_TAIL_BYTES = 64 * 1024


@dataclass
class DockerProcResult:
    """What one `docker_run` did. `elapsed_s` is the container's own run time (start to exit)."""

    returncode: int
    elapsed_s: float
    timed_out: bool
    oom_killed: bool
    peak_memory_bytes: int | None
    stdout_tail: str
    stderr_tail: str


@dataclass(frozen=True)
class ImageSpec:
    """How ensure_image would build an image: its tag and the `docker build` inputs."""

    kind: str
    profile: str
    tag: str
    source_hash: str
    dockerfile: Path
    build_args: dict[str, str]
    files: tuple[Path, ...]  # relative to root
    root: Path


# --- the docker CLI -------------------------------------------------------------------------


def _docker_bin() -> str | None:
    return shutil.which("docker")


def _docker(*args: str, timeout: float | None = 60.0, check: bool = False) -> subprocess.CompletedProcess[str]:
    exe = _docker_bin()
    if exe is None:
        raise HarnessError("the docker CLI is not on PATH", fix="install Docker (e.g. docker.io)")
    try:
        proc = subprocess.run(
            [exe, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"`docker {args[0]}` did not answer within {timeout:.0f} s") from exc
    if check and proc.returncode != 0:
        raise HarnessError(
            f"`docker {' '.join(args[:2])}` failed (exit {proc.returncode}): {_last_lines(proc.stderr, 5)}"
        )
    return proc


def _last_lines(text: str, n: int) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines[-n:])


def docker_unavailable_reason() -> str | None:
    """None when a Docker engine answers `docker version` within a few seconds, else why not."""
    exe = _docker_bin()
    if exe is None:
        return "the docker CLI is not on PATH"
    try:
        proc = subprocess.run(
            [exe, "version", "--format", "{{.Server.Version}}"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_ANSWER_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return f"the Docker engine did not answer within {_ANSWER_TIMEOUT_S:.0f} s"
    except OSError as exc:
        return f"cannot run {exe}: {exc}"
    if proc.returncode != 0 or not proc.stdout.strip():
        detail = _last_lines(proc.stderr, 1) or f"`docker version` exited {proc.returncode}"
        return f"no Docker engine answers: {detail}"
    return None


def _image_exists(ref: str) -> bool:
    return _docker("image", "inspect", "--format", "{{.Id}}", ref).returncode == 0


def image_labels(ref: str) -> dict[str, str]:
    """The labels of a local image (vcc.torch, vcc.profile, ... say what will run)."""
    import json

    proc = _docker("image", "inspect", "--format", "{{json .Config.Labels}}", ref, check=True)
    return json.loads(proc.stdout.strip() or "null") or {}


# --- the image ------------------------------------------------------------------------------


def _project_root() -> Path:
    return Path(__file__).resolve().parents[1]


def _context_files(root: Path) -> list[Path]:
    """The files that go into the build context, relative to root, sorted."""
    out: list[Path] = []
    for item in _CONTEXT_ITEMS:
        path = root / item
        if path.is_file():
            out.append(Path(item))
        elif path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                # Caches, editor files and build leftovers are not part of the source.
                dirnames[:] = sorted(
                    d for d in dirnames if not d.startswith(".") and d != "__pycache__" and not d.endswith(".egg-info")
                )
                for name in sorted(filenames):
                    if name.startswith(".") or name.endswith((".pyc", ".pyo")):
                        continue
                    out.append((Path(dirpath) / name).relative_to(root))
    return sorted(out)


def _parse_args_text(text: str, origin: str) -> dict[str, str]:
    args: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        for item in line.split():
            key, sep, value = item.partition("=")
            if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise BadInput(
                    f"bad build argument {item!r} in {origin}",
                    fix="write build arguments as KEY=VALUE",
                )
            args[key] = value
    return args


def _build_args(root: Path, kind: str) -> tuple[str, dict[str, str]]:
    profile = os.environ.get("VCC_DOCKER_PROFILE", "").strip() or "official"
    args: dict[str, str] = {}
    if profile != "official":
        path = root / "docker" / f"{kind}-{profile}.args"
        if not path.is_file():
            raise BadInput(
                f"VCC_DOCKER_PROFILE={profile} but there is no {path.name} for the {kind} image",
                path=path,
                fix="use VCC_DOCKER_PROFILE=official or local, or write that file",
            )
        args.update(_parse_args_text(path.read_text(), str(path)))
    extra = os.environ.get("VCC_DOCKER_BUILD_ARGS", "")
    if extra.strip():
        args.update(_parse_args_text(extra, "VCC_DOCKER_BUILD_ARGS"))
    return profile, args


def _default_base_image(dockerfile: Path) -> str | None:
    m = re.search(r"^ARG BASE_IMAGE=(\S+)", dockerfile.read_text(), re.MULTILINE)
    return m.group(1) if m else None


def image_spec(runner_kind: str, root: Path | None = None) -> ImageSpec:
    """The tag and build inputs ensure_image uses for this kind (builds nothing).

    root: the tree to hash (default: vcc's own source tree); profile and build arguments
    always come from the environment and vcc's docker/ directory.
    """
    if runner_kind not in RUNNER_KINDS:
        raise BadInput(f"unknown runner kind {runner_kind!r}", fix=f"use one of {', '.join(RUNNER_KINDS)}")
    project = _project_root()
    root = root or project
    dockerfile = root / str(RUNNER_SHAPES[runner_kind].dockerfile)
    if not dockerfile.is_file():
        raise HarnessError(
            f"no {dockerfile.name}: building the image needs vcc's source tree",
            path=dockerfile,
            fix="run vcc from a source checkout, or pass a prebuilt image with --image",
        )
    profile, args = _build_args(project, runner_kind)
    files = _context_files(root)
    h = hashlib.sha256()
    h.update(f"vcc-image-v1\0{runner_kind}\0".encode())
    for rel in files:
        h.update(str(rel).encode() + b"\0")
        h.update(bytes.fromhex(file_sha256(root / rel)))
    for key in sorted(args):
        h.update(f"arg\0{key}\0{args[key]}\0".encode())
    # A base named by tag (vcc-base:bookworm) can be rebuilt under the same name: its id counts.
    base = args.get("BASE_IMAGE") or _default_base_image(dockerfile)
    if base and "@sha256:" not in base:
        proc = _docker("image", "inspect", "--format", "{{.Id}}", base)
        h.update(f"base\0{proc.stdout.strip() if proc.returncode == 0 else base}\0".encode())
    digest = h.hexdigest()
    tag = f"vcc-{runner_kind}:{_tag_safe(profile)}-{digest[:16]}"
    return ImageSpec(runner_kind, profile, tag, digest, dockerfile, args, tuple(files), root)


def _tag_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:64] or "x"


@dataclass
class _Lock:
    path: Path

    def __enter__(self) -> _Lock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "w")  # held open for the with block
        fcntl.flock(self._fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()


def _ca_bundle() -> Path | None:
    for var in ("VCC_DOCKER_CA_BUNDLE", "PIP_CERT"):
        value = os.environ.get(var, "").strip()
        if value:
            path = Path(value)
            if not path.is_file():
                raise BadInput(f"{var} names no file", path=path, fix=f"unset {var} or fix it")
            return path
    return None


def ensure_image(runner_kind: str, image: str | None = None) -> str:
    """Return a local image reference for this runner kind, building it if needed.

    With `image`, that image is used as is (pulled if absent). Otherwise the tag from
    image_spec() is reused when present, else built. HarnessError (exit 4) when it can't.
    """
    reason = docker_unavailable_reason()
    if reason is not None:
        raise HarnessError(
            f"the Docker backend needs a Docker engine: {reason}",
            fix="start the Docker engine (dockerd), or use the local backend",
        )
    if image:
        if _image_exists(image):
            return image
        proc = _docker("pull", image, timeout=3600)
        if proc.returncode != 0 or not _image_exists(image):
            raise HarnessError(
                f"image {image} is not here and could not be pulled: {_last_lines(proc.stderr, 2)}",
                fix="build it first, or leave out --image to let vcc build its own",
            )
        return image
    spec = image_spec(runner_kind)
    lock = Path(tempfile.gettempdir()) / f"vcc-docker-build-{runner_kind}.lock"
    with _Lock(lock):
        if _image_exists(spec.tag):
            return spec.tag
        with tempfile.TemporaryDirectory(prefix="vcc-docker-context-") as tmp:
            # Build from a snapshot and name the image after the snapshot, so a source file
            # edited meanwhile cannot end up in an image whose tag claims otherwise.
            ctx = Path(tmp)
            _copy_context(spec, ctx)
            built = image_spec(runner_kind, root=ctx)
            if not _image_exists(built.tag):
                _build(built, ctx)
                _remove_stale_images(built)
    return built.tag


def _copy_context(spec: ImageSpec, ctx: Path) -> None:
    for item in _CONTEXT_ITEMS:  # a package directory may still be empty
        if (spec.root / item).is_dir():
            (ctx / item).mkdir(parents=True, exist_ok=True)
    for rel in spec.files:
        dest = ctx / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(spec.root / rel, dest)
        except FileNotFoundError:  # deleted since it was listed: the snapshot goes without it
            continue


def _build(spec: ImageSpec, ctx: Path) -> None:
    """docker build of the snapshot in ctx (which image_spec(root=ctx) described)."""
    log_path = Path(tempfile.gettempdir()) / f"vcc-docker-build-{spec.tag.replace(':', '-')}.log"
    print(
        f"vcc: building Docker image {spec.tag} (once per vcc source; minutes). Log: {log_path}",
        file=sys.stderr,
    )
    started = time.monotonic()
    cmd = _build_command(spec, ctx)
    rc, tail = _stream_build(cmd, log_path, started)
    if rc != 0:
        text = "\n".join(tail)
        raise HarnessError(
            f"building Docker image {spec.tag} failed (exit {rc}):\n{_last_lines(text, 12)}",
            path=log_path,
            fix=_build_fix_hint(text, spec),
        )
    print(
        f"vcc: built {spec.tag} in {time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )


def _build_command(spec: ImageSpec, ctx: Path) -> list[str]:
    """The `docker build` argv for the snapshot in ctx; copies the CA bundle (if any) into ctx."""
    args = dict(spec.build_args)
    ca = _ca_bundle()
    if ca is not None:
        shutil.copyfile(ca, ctx / _EXTRA_CA_NAME)  # after hashing: the CA is not the image's
        args["EXTRA_CA"] = _EXTRA_CA_NAME
    cmd = [
        _docker_bin() or "docker",
        "build",
        "--force-rm",
        # Builds download packages; host networking also works where the engine has no
        # bridge network (rootless or iptables-less engines).
        "--network",
        "host",
        "-f",
        str(ctx / "docker" / spec.dockerfile.name),
        "-t",
        spec.tag,
        # No --label here: the classic builder would add it as a last instruction, and on
        # vfs every instruction after the large layer copies all of it (minutes, GBs). The
        # tag carries the source hash; the Dockerfile's own LABELs come before that layer.
    ]
    for key, value in sorted(args.items()):
        cmd += ["--build-arg", f"{key}={value}"]
    cmd.append(str(ctx))
    return cmd


def _stream_build(cmd: list[str], log_path: Path, started: float) -> tuple[int, list[str]]:
    """Run the build, every line to log_path (time-stamped from `started`), step headers to stderr;
    its exit code and last 40 lines."""
    tail: list[str] = []
    with open(log_path, "w", encoding="utf-8") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(f"[{time.monotonic() - started:7.1f}s] {line}")
            tail = (tail + [line.rstrip()])[-40:]
            # Step headers only: classic builder "Step 3/9 : ...", BuildKit "#7 [3/9] ...".
            if line.startswith("Step ") or re.match(r"#\d+ \[", line):
                print(f"vcc: docker build: {line.rstrip()[:160]}", file=sys.stderr)
        rc = proc.wait()
    return rc, tail


def _build_fix_hint(log_tail: str, spec: ImageSpec) -> str:
    low = log_tail.lower()
    if "certificate verify failed" in low or "certificate_verify_failed" in low:
        return "point VCC_DOCKER_CA_BUNDLE at the CA bundle your network needs"
    if any(s in low for s in ("pull access denied", "manifest unknown", "failed to resolve", "no such host")) or (
        "error response from daemon" in low and "registry" in low
    ):
        return (
            "no image registry reachable? build a local base with `sudo docker/build-base.sh` "
            "and set VCC_DOCKER_PROFILE=local (docker/README.md)"
        )
    if "no matching distribution" in low or "could not find a version" in low:
        return (
            "a pinned package could not be downloaded: check the package index is reachable "
            f"(profile {spec.profile}; VCC_DOCKER_PROFILE=local uses PyPI only)"
        )
    return "read the build log; docker/README.md explains the profiles and build arguments"


def _remove_stale_images(spec: ImageSpec) -> None:
    """Drop older builds of the same kind and profile: each is GBs (vfs stores every layer)."""
    proc = _docker(
        "image",
        "ls",
        "--filter",
        f"label=vcc.kind={spec.kind}",
        "--filter",
        f"label=vcc.profile={spec.profile}",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    )
    for ref in proc.stdout.split():
        if ref != spec.tag and ref.startswith(f"vcc-{spec.kind}:") and "<none>" not in ref:
            _docker("image", "rm", ref, timeout=600)  # refused while a container uses it: fine
    # Untagged leftovers of failed builds of this kind (the new image's layers are in use).
    _docker("image", "prune", "--force", "--filter", f"label=vcc.kind={spec.kind}", timeout=600)


# --- running a container --------------------------------------------------------------------


class _Tail:
    """Keeps the last bytes of a stream read on a thread."""

    def __init__(self, stream: io.BufferedReader) -> None:
        self._buf = bytearray()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: io.BufferedReader) -> None:
        for chunk in iter(lambda: stream.read1(65536), b""):
            self._buf += chunk
            if len(self._buf) > 2 * _TAIL_BYTES:
                del self._buf[: len(self._buf) - _TAIL_BYTES]
        stream.close()

    def text(self) -> str:
        self._thread.join(timeout=10)
        return bytes(self._buf[-_TAIL_BYTES:]).decode("utf-8", errors="replace")


class _PeakMemory:
    """Polls the container's memory cgroup high-water mark while it runs.

    Docker removes the cgroup when the container stops, so the value is sampled: growth in
    the last interval before exit is missed, and a container that exits before the first
    sample reports None. The figure includes page cache, as the memory limit does.
    """

    def __init__(self, name: str, interval_s: float = 0.1) -> None:
        self.peak: int | None = None
        self._name = name
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> int | None:
        self._stop.set()
        self._thread.join(timeout=10)
        return self.peak

    def _run(self) -> None:
        files: list[Path] = []
        while not self._stop.is_set() and not files:
            proc = _docker("inspect", "--format", "{{.State.Pid}} {{.Id}}", self._name)
            pid, _, cid = proc.stdout.strip().partition(" ")
            if proc.returncode == 0 and pid not in ("", "0"):
                files = _memory_peak_files(int(pid), cid)
                if not files:
                    return
            else:
                self._stop.wait(0.05)
        while True:
            for path in files:
                try:
                    value = int(path.read_text().strip())
                except (OSError, ValueError):
                    continue
                self.peak = value if self.peak is None else max(self.peak, value)
                break
            if self._stop.wait(self._interval):
                return


def _memory_peak_files(pid: int, container_id: str) -> list[Path]:
    """Candidate high-water-mark files of a process's memory cgroup (v1, then v2)."""
    out: list[Path] = []
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, ctrls, path = line.split(":", 2)
        if "memory" in ctrls.split(","):
            out.append(Path("/sys/fs/cgroup/memory") / path.lstrip("/") / "memory.max_usage_in_bytes")
        elif ctrls == "":
            out.append(Path("/sys/fs/cgroup") / path.lstrip("/") / "memory.peak")
    # Seen from another cgroup namespace the paths above may be relative; try docker's defaults.
    out.append(Path("/sys/fs/cgroup/memory/docker") / container_id / "memory.max_usage_in_bytes")
    out.append(Path(f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/memory.peak"))
    return [p for p in out if p.is_file()]


def _mount_arg(host: str, ctr: str, read_only: bool) -> str:
    src = Path(host).resolve()
    if not src.exists():
        raise HarnessError(f"mount source does not exist: {src}", path=src)
    if not ctr.startswith("/"):
        raise HarnessError(f"container path must be absolute: {ctr!r}")
    fields = ["type=bind", f"source={src}", f"target={ctr}"]
    if read_only:
        fields.append("readonly")
    # docker parses --mount as one CSV record: quote fields holding commas or quotes.
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()


def _parse_time(text: str) -> datetime | None:
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text.strip())
    if not m or m.group(1).startswith("0001"):
        return None
    frac = (m.group(2) or ".0")[:7]  # datetime keeps microseconds
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(m.group(1) + frac + tz)


def _engine_cpus() -> float | None:
    proc = _docker("info", "--format", "{{.NCPU}}")
    try:
        return float(proc.stdout.strip())
    except ValueError:
        return None


def docker_run(
    image: str,
    argv: list[str],
    *,
    mounts: list[tuple[str, str, bool]],
    workdir: str,
    env: dict[str, str],
    cpus: float | None,
    cpuset: str | None,
    memory_bytes: int | None,
    pids_limit: int | None,
    network: bool,
    gpus: bool,
    timeout_s: float,
    user: str | None = None,
) -> DockerProcResult:
    """Run argv in a new container of `image` under the given limits; remove it afterwards.

    mounts: (host path, container path, read_only). memory_bytes also caps swap (none).
    network False -> `--network none`, True -> the host's network. `cpus` above what the
    engine has is lowered to that (docker refuses more). user defaults to the caller's
    uid:gid so files written to mounts belong to the caller. The container is created first
    and then started, so `elapsed_s` and the timeout cover the run, not the (on vfs, slow)
    copy of the image's file system. On timeout the container is killed (SIGKILL).
    """
    if not argv:
        raise HarnessError("docker_run needs a command")
    name = f"vcc-run-{uuid.uuid4().hex[:16]}"
    # --pull never: an image that vanished (rebuilt meanwhile) fails here, not at a registry.
    create = ["create", "--pull", "never", "--name", name, "--network", "host" if network else "none"]
    create += ["--workdir", workdir, "--user", user or f"{os.getuid()}:{os.getgid()}"]
    # Output is captured through the attach stream; the engine keeps no second copy.
    create += ["--log-driver", "none", "--security-opt", "no-new-privileges"]
    create += _limit_args(cpus, cpuset, memory_bytes, pids_limit, gpus)
    create += _mount_and_env_args(mounts, env)
    create += [image, *argv]
    try:
        proc = _docker(*create, timeout=1800)
        if proc.returncode != 0:
            raise HarnessError(
                f"docker could not create the container: {_last_lines(proc.stderr, 3)}",
                fix="check the image exists (ensure_image) and the mount paths",
            )
        return _start_and_wait(name, timeout_s)
    finally:
        _remove_container(name)


def _limit_args(
    cpus: float | None, cpuset: str | None, memory_bytes: int | None, pids_limit: int | None, gpus: bool
) -> list[str]:
    """`docker create` options for the CPU, memory, process and GPU limits (None: no limit)."""
    args: list[str] = []
    if cpus is not None:
        engine = _engine_cpus()
        args += ["--cpus", f"{min(cpus, engine) if engine else cpus:g}"]
    if cpuset:
        args += ["--cpuset-cpus", cpuset]
    if memory_bytes is not None:
        # No swap, as on the runners; /dev/shm (docker's default is 64 MB) sized like a
        # Linux tmpfs, half of memory; what it holds is charged to the same limit.
        args += ["--memory", str(memory_bytes), "--memory-swap", str(memory_bytes)]
        args += ["--shm-size", str(max(memory_bytes // 2, 64 << 20))]
    if pids_limit is not None:
        args += ["--pids-limit", str(pids_limit)]
    if gpus:
        args += ["--gpus", "all"]
    return args


def _mount_and_env_args(mounts: list[tuple[str, str, bool]], env: dict[str, str]) -> list[str]:
    """`docker create` options for the bind mounts and the environment (HOME=/tmp unless env sets it)."""
    args: list[str] = []
    for host, ctr, ro in mounts:
        args += ["--mount", _mount_arg(host, ctr, ro)]
    full_env = {"HOME": "/tmp", **env}
    for key, value in full_env.items():
        args += ["--env", f"{key}={value}"]
    return args


def _start_and_wait(name: str, timeout_s: float) -> DockerProcResult:
    exe = _docker_bin() or "docker"
    peak = _PeakMemory(name)
    wall_start = time.monotonic()
    proc = subprocess.Popen(
        [exe, "start", "--attach", name],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out, err = _Tail(proc.stdout), _Tail(proc.stderr)  # type: ignore[arg-type]
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _docker("kill", name, timeout=60)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    wall = time.monotonic() - wall_start
    peak_bytes = peak.stop()
    state = _container_state(name)
    if state is None or state.get("status") == "created":
        raise HarnessError(
            f"the container did not start: {_last_lines(err.text(), 3) or 'no message'}",
        )
    started, finished = _parse_time(state["started"]), _parse_time(state["finished"])
    # The engine's own start/finish stamps leave out the client round trips; they can be off
    # by a few ms for very short runs, so they are held within [0, wall].
    elapsed = (finished - started).total_seconds() if started and finished else wall
    elapsed = max(0.0, min(elapsed, wall))
    return DockerProcResult(
        returncode=int(state["exit_code"]),
        elapsed_s=elapsed,
        timed_out=timed_out,
        oom_killed=state["oom_killed"] == "true",
        peak_memory_bytes=peak_bytes,
        stdout_tail=out.text(),
        stderr_tail=err.text(),
    )


def _container_state(name: str) -> dict[str, str] | None:
    fmt = "{{.State.Status}}|{{.State.ExitCode}}|{{.State.OOMKilled}}|{{.State.StartedAt}}|{{.State.FinishedAt}}"
    proc = _docker("inspect", "--format", fmt, name)
    if proc.returncode != 0:
        return None
    status, code, oom, started, finished = proc.stdout.strip().split("|")
    return {
        "status": status,
        "exit_code": code,
        "oom_killed": oom,
        "started": started,
        "finished": finished,
    }


def _remove_container(name: str) -> None:
    """Remove the container and check by name that nothing is left, running or not."""
    for _ in range(3):
        _docker("rm", "--force", "--volumes", name, timeout=300)
        if not _containers_named(name):
            return
        time.sleep(1)
    raise HarnessError(
        f"container {name} could not be removed",
        fix=f"remove it by hand: docker rm -f {name}",
    )


def _containers_named(name: str) -> list[str]:
    proc = _docker("ps", "--all", "--quiet", "--filter", f"name=^/{name}$")
    return proc.stdout.split()
