"""Run one command the way the runner would, under a clock, and contained.

Containment, strongest available first, each reported in `Isolation`:
- bubblewrap: the filesystem read-only except the workspace, /tmp private
  (inside the workspace), the original videos hidden, its own pid namespace
  (so every descendant dies with it), optionally no network;
- a scratch cgroup: a memory cap on the whole process tree, a CPU set, a pids
  cap, peak memory, OOM kills counted, kill-all at the deadline;
- always: its own session and process group, CPU affinity, no core dumps,
  SIGKILL if vcc dies. Without a cgroup the memory cap is RLIMIT_AS, which
  is per process and counts address space, not memory: weaker, and said so.
"""

from __future__ import annotations

import ctypes
import functools
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from base import HarnessError

from ._cgroup import Cgroup, create_cgroup

__all__ = [
    "ResourceLimits",
    "SandboxSpec",
    "Isolation",
    "ProcResult",
    "bwrap_unavailable_reason",
    "run_contained",
    "tail_text",
]

TAIL_BYTES = 4000
_POLL_S = 0.05
_PR_SET_PDEATHSIG = 1

# Runs inside the sandbox's own pid namespace: after the command exits, lists
# any process still alive there (children that outlived inflate), which the
# namespace's teardown then kills. $1 is the file to list them in.
LEFTOVER_WRAPPER = r"""
out=$1; shift
"$@" </dev/null
rc=$?
for d in /proc/[0-9]*; do
  p=${d#/proc/}
  if [ "$p" = 1 ] || [ "$p" = "$$" ]; then continue; fi
  c=$(tr '\0' ' ' < "$d/cmdline" 2>/dev/null) || continue
  [ -n "$c" ] || c="(zombie)"
  printf '%s\n' "$c" >> "$out"
done
exit $rc
"""


@dataclass(frozen=True)
class ResourceLimits:
    cpus: int | None = 4
    memory_bytes: int | None = 16 << 30
    pids_max: int | None = 8192
    use_cgroup: bool = True  # False: rlimits only (also how the fallback is tested)


@dataclass(frozen=True)
class SandboxSpec:
    """What the contained command may see and touch."""

    workdir: Path  # cwd, and the one writable tree
    tmp_dir: Path  # mounted at /tmp; inside workdir
    readable: tuple[Path, ...] = ()  # must stay visible even if under /tmp
    hidden_dirs: tuple[Path, ...] = ()  # replaced by an empty dir
    hidden_files: tuple[Path, ...] = ()  # replaced by an empty file
    network: bool = True
    gpu: bool = False
    use_bwrap: bool | None = None  # None: where it works


@dataclass
class Isolation:
    sandbox: str  # "bubblewrap" | "none"
    originals_hidden: bool
    filesystem_confined: bool
    network: str  # "shared" | "isolated" | "NOT isolated (...)"
    memory_cap: str
    cpus: str
    kill: str
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class ProcResult:
    argv: list[str]
    returncode: int | None  # None when killed at the deadline
    elapsed_s: float
    timed_out: bool
    oom_killed: bool
    peak_memory_bytes: int | None  # cgroup's high-water charge: the tree's RSS + page cache
    # Highest sampled (every 50 ms) resident memory of the whole tree that reclaim cannot
    # free: the cgroup's anon + shmem, or the sum of VmRSS over inflate's session.
    peak_rss_bytes: int | None
    leftover_processes: list[str]
    stdout_path: Path
    stderr_path: Path
    isolation: Isolation

    @property
    def stdout_tail(self) -> str:
        return tail_text(self.stdout_path)

    @property
    def stderr_tail(self) -> str:
        return tail_text(self.stderr_path)

    def as_json(self) -> dict[str, object]:
        return {
            "argv": self.argv,
            "returncode": self.returncode,
            "elapsed_s": round(self.elapsed_s, 3),
            "timed_out": self.timed_out,
            "oom_killed": self.oom_killed,
            "peak_memory_bytes": self.peak_memory_bytes,
            "peak_rss_bytes": self.peak_rss_bytes,
            "leftover_processes": self.leftover_processes,
            "stdout_tail": self.stdout_tail,
            "stderr_tail": self.stderr_tail,
            "stdout_log": str(self.stdout_path),
            "stderr_log": str(self.stderr_path),
        }


def tail_text(path: Path, limit: int = TAIL_BYTES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return ("..." if size > limit else "") + text


_BWRAP_BASE = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid"]


@functools.cache
def _bwrap_probe(network_off: bool) -> str | None:
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    argv = [exe, *_BWRAP_BASE, "--die-with-parent"]
    if network_off:
        argv.append("--unshare-net")
    try:
        p = subprocess.run([*argv, "true"], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap does not start here ({e})"
    if p.returncode != 0:
        return f"bubblewrap does not work here: {p.stderr.strip() or p.returncode}"
    return None


def bwrap_unavailable_reason(network_off: bool = False) -> str | None:
    """None where bubblewrap can build the sandbox, else why not."""
    return _bwrap_probe(network_off)


def _bwrap_argv(spec: SandboxSpec) -> list[str]:
    argv = [shutil.which("bwrap") or "bwrap", "--die-with-parent", "--ro-bind", "/", "/"]
    argv += ["--dev-bind", "/dev", "/dev"] if spec.gpu else ["--dev", "/dev"]
    argv += ["--proc", "/proc", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    if not spec.network:
        argv.append("--unshare-net")
    # /tmp first: the workspace (and anything else needed) may live under it.
    argv += ["--bind", str(spec.tmp_dir), "/tmp"]
    for p in spec.readable:
        if p.exists():
            argv += ["--ro-bind", str(p), str(p)]
    argv += ["--bind", str(spec.workdir), str(spec.workdir)]
    for d in spec.hidden_dirs:
        argv += ["--tmpfs", str(d), "--remount-ro", str(d)]
    for f in spec.hidden_files:
        argv += ["--ro-bind", "/dev/null", str(f)]
    argv += ["--chdir", str(spec.workdir)]
    return argv


def _cpu_choice(n: int | None) -> tuple[list[int] | None, str]:
    have = sorted(os.sched_getaffinity(0))
    if n is None:
        return None, f"all {len(have)} of this machine's CPUs"
    chosen = have[:n]
    text = f"{len(chosen)} CPU(s) {chosen}"
    if len(chosen) < n:
        text += f" (the runner has {n}; this machine offers {len(have)}, so times here run slow)"
    return chosen, text


def _preexec(procs_files: list[str], cpus: list[int] | None, rlimit_as: int | None) -> Callable[[], None]:
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl

    def fn() -> None:
        # Only async-signal-safe-ish work here: raw os calls, no imports, no locks.
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        pid = str(os.getpid()).encode()
        for f in procs_files:
            fd = os.open(f, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)
        if cpus:
            os.sched_setaffinity(0, cpus)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if rlimit_as:
            resource.setrlimit(resource.RLIMIT_AS, (rlimit_as, rlimit_as))

    return fn


_MEMORY_ERRORS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")


def run_contained(
    argv: list[str],
    spec: SandboxSpec,
    limits: ResourceLimits,
    *,
    env: dict[str, str],
    timeout_s: float,
    stdout_path: Path,
    stderr_path: Path,
) -> ProcResult:
    """Run argv in spec.workdir under the limits; kill everything at the deadline."""
    plan = _contain(argv, spec, limits, env)
    stdout_path.parent.mkdir(parents=True, exist_ok=True)
    stderr_path.parent.mkdir(parents=True, exist_ok=True)
    run = _supervise(plan, spec.workdir, timeout_s, stdout_path, stderr_path)
    return _proc_result(argv, plan, limits, run, stdout_path, stderr_path)


# --- containment policy: what wraps the command, which limits hold, how the tree is killed -----


@dataclass
class _Containment:
    """How one command is contained; `_supervise` runs it so."""

    argv: list[str]  # what is executed: the command, wrapped by bubblewrap or `unshare --net` where used
    env: dict[str, str]
    use_bwrap: bool
    cg: Cgroup | None
    cpus: list[int] | None  # CPU affinity set before exec
    rlimit_as: int | None  # RLIMIT_AS, only without a cgroup
    reaper: bool  # vcc is the subreaper of the command's orphans (no cgroup, no pid namespace)
    ours: set[int]  # vcc's own children before the command starts: never touched
    leftover_file: Path  # where the bubblewrap wrapper lists processes that outlived the command
    isolation: Isolation


def _contain(argv: list[str], spec: SandboxSpec, limits: ResourceLimits, env: dict[str, str]) -> _Containment:
    """Decide the containment (and set up its cgroup and subreaper); the report's `Isolation`."""
    notes: list[str] = []
    why_not = _bwrap_unused_reason(spec)
    use_bwrap = why_not is None
    spec.tmp_dir.mkdir(parents=True, exist_ok=True)
    leftover_file = spec.tmp_dir.parent / f".leftover-{uuid.uuid4().hex[:8]}"
    if use_bwrap:
        full = [*_bwrap_argv(spec), "bash", "-c", LEFTOVER_WRAPPER, "vcc-wrap", str(leftover_file), *argv]
        network = "isolated" if not spec.network else "shared"
    else:
        notes.append(f"no sandbox: {why_not}")
        full, network = _unsandboxed_argv(argv, spec)
    cpus, cpu_text = _cpu_choice(limits.cpus)
    cg, cg_why = _cgroup_for(limits, cpus)
    # Without a cgroup or a pid namespace, orphans that leave the process group
    # are found by making vcc their subreaper while inflate runs.
    reaper = cg is None and not use_bwrap and _set_subreaper(True)
    ours = set(_orphans(0)) if reaper else set()  # vcc's own children: never touched
    memory_cap, rlimit_as = _memory_policy(limits, cg, cg_why, notes)
    if cg is not None and cg.cpus:
        cpu_text += " (cpuset)"
    env = {**env, "TMPDIR": "/tmp" if use_bwrap else str(spec.tmp_dir)}
    isolation = Isolation(
        sandbox="bubblewrap" if use_bwrap else "none",
        originals_hidden=use_bwrap,
        filesystem_confined=use_bwrap,
        network=network,
        memory_cap=memory_cap,
        cpus=cpu_text,
        kill=_kill_policy(reaper, cg, use_bwrap),
        notes=notes,
    )
    return _Containment(full, env, use_bwrap, cg, cpus, rlimit_as, reaper, ours, leftover_file, isolation)


def _bwrap_unused_reason(spec: SandboxSpec) -> str | None:
    """None when bubblewrap contains the command, else why not; HarnessError when it was required."""
    why_not = None if spec.use_bwrap is not False else "disabled (--sandbox off)"
    if why_not is None:
        why_not = bwrap_unavailable_reason(network_off=not spec.network)
    if why_not is not None and spec.use_bwrap:
        raise HarnessError(
            f"the sandbox was required but {why_not}",
            fix="install bubblewrap, or drop --sandbox to fall back to plain processes",
        )
    return why_not


def _unsandboxed_argv(argv: list[str], spec: SandboxSpec) -> tuple[list[str], str]:
    """The command without bubblewrap, and its network: `unshare --net` (root only) when it is off."""
    if spec.network:
        return list(argv), "shared"
    unshare = shutil.which("unshare")
    if unshare and os.geteuid() == 0:
        return [unshare, "--net", "--", *argv], "isolated"
    return list(argv), "NOT isolated (needs bubblewrap, or root for `unshare --net`)"


def _cgroup_for(limits: ResourceLimits, cpus: list[int] | None) -> tuple[Cgroup | None, str]:
    if not limits.use_cgroup:
        return None, "disabled (--no-cgroup)"
    return create_cgroup(
        f"vcc-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        memory_bytes=limits.memory_bytes,
        cpus=cpus,
        pids_max=limits.pids_max,
    )


def _memory_policy(limits: ResourceLimits, cg: Cgroup | None, cg_why: str, notes: list[str]) -> tuple[str, int | None]:
    """The memory cap's description and the RLIMIT_AS to set (without a cgroup); adds the cgroup's notes."""
    if cg is not None:
        notes += cg.notes
        if not limits.memory_bytes:
            return "none", None
        swap = "" if cg.memory_swap_capped else ", swap not capped"
        gib = limits.memory_bytes / (1 << 30)
        return f"{gib:.2f} GiB for the whole process tree (cgroup v{cg.version}{swap})", None
    notes.append(f"no cgroup: {cg_why}")
    memory_cap = (
        f"RLIMIT_AS {limits.memory_bytes / (1 << 30):.2f} GiB per process "
        "(weaker: address space, not memory, and not summed over processes)"
        if limits.memory_bytes
        else "none"
    )
    return memory_cap, limits.memory_bytes


def _kill_policy(reaper: bool, cg: Cgroup | None, use_bwrap: bool) -> str:
    kill_parts = ["process group"]
    if reaper:
        kill_parts.append("orphans via subreaper")
    if cg is not None:
        kill_parts.append(f"cgroup v{cg.version}")
    if use_bwrap:
        kill_parts.append("pid namespace")
    kill = " + ".join(kill_parts)
    if len(kill_parts) == 1:
        kill += " (descendants that start their own session and daemonize may escape)"
    return kill


# --- process supervision: start, wait with the deadline, sample memory, kill the tree --------


@dataclass
class _Supervised:
    """What supervising the command measured."""

    returncode: int | None = None  # None when killed at the deadline
    elapsed_s: float = 0.0
    timed_out: bool = False
    peak_rss_bytes: int | None = None
    peak_memory_bytes: int | None = None
    oom_kills: int = 0
    leftovers: list[str] = field(default_factory=list)


def _supervise(
    plan: _Containment, workdir: Path, timeout_s: float, stdout_path: Path, stderr_path: Path
) -> _Supervised:
    """Start the command, wait for it until the deadline, then kill its whole tree and clean up."""
    t0 = time.monotonic()
    run = _Supervised()
    proc: subprocess.Popen[bytes] | None = None
    try:
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            proc = _start(plan, workdir, out, err)
            status, run.timed_out, run.peak_rss_bytes = _wait(proc, t0 + timeout_s, plan.cg)
            run.elapsed_s = time.monotonic() - t0
            if not run.timed_out:
                run.leftovers = _leftovers(plan, proc.pid, status)
            _kill_tree(proc.pid, plan.cg)
            if plan.reaper:
                _kill_orphans(proc.pid if status is None else 0, plan.ours)
            if status is None:
                _, status, _ = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        _release(plan, proc, run)
    run.returncode = None if run.timed_out else proc.returncode
    return run


def _start(plan: _Containment, workdir: Path, out: IO[bytes], err: IO[bytes]) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(
            plan.argv,
            cwd=workdir,
            env=plan.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=_preexec(plan.cg.procs_files if plan.cg else [], plan.cpus, plan.rlimit_as),
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise HarnessError(f"could not start {plan.argv[0]}: {e}") from e


def _wait(proc: subprocess.Popen[bytes], deadline: float, cg: Cgroup | None) -> tuple[int | None, bool, int | None]:
    """(wait status or None, timed out, peak resident bytes sampled every _POLL_S)."""
    peak_rss: int | None = None
    while True:
        pid, st, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            return st, False, peak_rss
        if time.monotonic() >= deadline:
            return None, True, peak_rss
        now = _tree_resident(cg, proc.pid)
        if now is not None:
            peak_rss = max(peak_rss or 0, now)
        time.sleep(_POLL_S)


def _leftovers(plan: _Containment, pid: int, status: int | None) -> list[str]:
    """Command lines of the processes still alive after the command exited."""
    if plan.use_bwrap:
        return _read_lines(plan.leftover_file)
    if plan.cg is not None:
        return [_cmdline(p) for p in sorted(plan.cg.pids())]
    keep = pid if status is None else 0
    leftovers = [_cmdline(p) for p in _orphans(keep, plan.ours)]
    if _group_alive(pid):
        leftovers += [_cmdline(p) for p in _group_members(pid)]
    return list(dict.fromkeys(leftovers))


def _release(plan: _Containment, proc: subprocess.Popen[bytes] | None, run: _Supervised) -> None:
    """Whatever happened: kill and reap the tree, read the cgroup's peak and OOM kills, remove it."""
    if proc is not None and proc.returncode is None:
        _kill_tree(proc.pid, plan.cg)
        try:
            _, status, _ = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            pass
    if plan.reaper:
        _kill_orphans(0, plan.ours)
        _set_subreaper(False)
    if plan.cg is not None:
        run.peak_memory_bytes = plan.cg.peak_memory()
        run.oom_kills = plan.cg.oom_kills()
        plan.cg.remove()
    plan.leftover_file.unlink(missing_ok=True)


def _proc_result(
    argv: list[str],
    plan: _Containment,
    limits: ResourceLimits,
    run: _Supervised,
    stdout_path: Path,
    stderr_path: Path,
) -> ProcResult:
    returncode = run.returncode
    oom = run.oom_kills > 0 and returncode not in (0, None)
    if run.oom_kills and returncode == 0:
        plan.isolation.notes.append(
            f"the kernel killed {run.oom_kills} process(es) of inflate for memory, "
            "yet inflate exited 0: it may be retrying or ignoring a failed step"
        )
    if not oom and plan.cg is None and returncode not in (0, None) and limits.memory_bytes:
        tail = tail_text(stderr_path)
        oom = any(s in tail for s in _MEMORY_ERRORS)
    return ProcResult(
        argv=list(argv),
        returncode=returncode,
        elapsed_s=run.elapsed_s,
        timed_out=run.timed_out,
        oom_killed=oom,
        peak_memory_bytes=run.peak_memory_bytes,
        peak_rss_bytes=run.peak_rss_bytes,
        leftover_processes=run.leftovers,
        stdout_path=stdout_path,
        stderr_path=stderr_path,
        isolation=plan.isolation,
    )


def _read_lines(path: Path) -> list[str]:
    try:
        return [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return []


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"pid {pid} (exited)"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip() or f"pid {pid} (zombie)"


def _session_rss(sid: int) -> int:
    """Sum of VmRSS over the processes in session `sid` (inflate's tree, without a cgroup)."""
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat_line = Path(entry.path, "stat").read_text()
            fields = stat_line[stat_line.rindex(")") + 2 :].split()
            if int(fields[3]) != sid:  # field 6 of /proc/pid/stat: session id
                continue
            total += int(Path(entry.path, "statm").read_text().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    return total


def _tree_resident(cg: Cgroup | None, sid: int) -> int | None:
    if cg is not None:
        now = cg.resident_bytes()
        if now is not None:
            return now
    return _session_rss(sid)


_PR_SET_CHILD_SUBREAPER = 36


def _set_subreaper(on: bool) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _proc_stat(pid: str) -> list[str] | None:
    try:
        text = Path("/proc", pid, "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on


def _orphans(keep: int, ours: frozenset[int] | set[int] = frozenset()) -> list[int]:
    """vcc's children other than `keep` and `ours`: orphans reparented to the subreaper."""
    me = str(os.getpid())
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != keep and int(entry.name) not in ours:
            fields = _proc_stat(entry.name)
            if fields and fields[1] == me:  # field 4: ppid
                found.append(int(entry.name))
    return sorted(found)


def _group_members(pgid: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _proc_stat(entry.name)
            if fields and fields[2] == str(pgid) and fields[0] != "Z":  # field 5: pgrp
                found.append(int(entry.name))
    return sorted(found)


def _kill_orphans(keep: int, ours: set[int]) -> None:
    """SIGKILL and reap reparented orphans until none is left.

    Killing a process reparents its children to us a moment later, so the scan
    must come up empty twice, 50 ms apart, before we stop.
    """
    quiet = False
    for _ in range(200):
        orphans = _orphans(keep, ours)
        if not orphans:
            if quiet:
                return
            quiet = True
            time.sleep(0.05)
            continue
        quiet = False
        for pid in orphans:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in orphans:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _kill_tree(pid: int, cg: Cgroup | None) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if cg is not None:
        cg.kill_all()


def python_bin_dir() -> str:
    """The dir holding the interpreter vcc runs on: inflate.sh's `python` is this one."""
    return str(Path(sys.executable).parent)
