"""Run one command the way the runner would, under a clock, and contained.

Containment, strongest available first, each reported in `Isolation`:
- bubblewrap: a new root holding only the system dirs (/usr, /lib*, /bin, a few
  files of /etc, /sys read-only), the Python environment, the checkout read-only
  without videos/ and .git/lfs, the workspace writable, /tmp and /var/tmp private
  (inside the workspace); every capability dropped, its own pid namespace (inflate
  cannot see or signal vcc, and every descendant dies with it), optionally no network;
- vcc as root: inflate runs as a dedicated unprivileged uid (the trees it must write are
  handed to that uid for the run), so cgroup files, the checkout and the user's dirs
  stay out of its reach even where a mount could be undone; without bubblewrap, root
  still gives it its own pid namespace (`unshare`);
- a scratch cgroup: a memory cap on the whole process tree, a CPU set, a pids
  cap, peak memory, OOM kills counted, kill-all at the deadline;
- always: its own session and process group, CPU affinity, no core dumps, a disk cap
  on the workspace (sampled, plus RLIMIT_FSIZE per file), SIGKILL if vcc dies. Without
  a cgroup the memory cap is RLIMIT_AS per process plus the tree's sampled resident
  memory: weaker, and said so.

Limits and the uid drop are applied by a small exec wrapper (runner._launch), never in
a `preexec_fn`.
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from vcc.base import HarnessError, escape_control, walk_tree

from ._cgroup import Cgroup, create_cgroup
from ._launch import LaunchSpec, launch_argv

__all__ = [
    "ResourceLimits",
    "SandboxSpec",
    "Isolation",
    "ProcResult",
    "bwrap_unavailable_reason",
    "run_contained",
    "tail_text",
    "DEFAULT_DISK_BYTES",
    "sandbox_missing_error",
    "sandbox_uid",
]

TAIL_BYTES = 4000
_POLL_S = 0.05
_DISK_POLL_S = 0.5
# The GitHub-hosted ubuntu-latest runner's documented SSD: what inflate can fill there.
DEFAULT_DISK_BYTES = 14 << 30
# Dedicated uids for inflate when vcc runs as root: one per vcc process, in a range no
# distribution allocates, so every file and process it leaves is found by owner.
_SANDBOX_UID_BASE = 2_100_000_000

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
    disk_bytes: int | None = DEFAULT_DISK_BYTES  # what the workspace may grow to


@dataclass(frozen=True)
class SandboxSpec:
    """What the contained command may see and touch."""

    workdir: Path  # cwd, and the one writable tree
    tmp_dir: Path  # mounted at /tmp; inside workdir
    readable: tuple[Path, ...] = ()  # visible read-only (the checkout, the Python environment)
    owned: tuple[Path, ...] = ()  # trees inflate must write: handed to its uid for the run
    protected: tuple[Path, ...] = ()  # never bound in; made read-only when there is no bubblewrap (the user's dir)
    hidden_dirs: tuple[Path, ...] = ()  # replaced by an empty dir
    hidden_files: tuple[Path, ...] = ()  # replaced by an empty file
    network: bool = True
    gpu: bool = False
    use_bwrap: bool | None = None  # None: where it works
    allow_root: bool = False  # without bubblewrap, as root: run inflate as root where no uid can be dropped to


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
    user: str = "vcc's own"  # who inflate runs as
    disk_cap: str = "none"

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
    disk_exceeded: bool = False  # the workspace grew past the disk cap: killed
    disk_peak_bytes: int | None = None  # highest sampled size of the workspace

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
            "disk_exceeded": self.disk_exceeded,
            "disk_peak_bytes": self.disk_peak_bytes,
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
    text = escape_control(data.decode("utf-8", errors="replace"), keep_newlines=True)
    return ("..." if size > limit else "") + text


# System dirs inflate needs to run programs: read-only, at their own paths (links as links).
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/sys")
# Of /etc, only what programs read to start, resolve names and find certificates.
_ETC_ENTRIES = (
    "alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf",
    "hosts", "host.conf", "resolv.conf", "gai.conf", "ssl", "ca-certificates", "pki", "localtime",
    "timezone", "mime.types", "protocols", "services", "os-release", "debian_version", "fonts",
    "bash.bashrc", "profile", "inputrc", "magic", "magic.mime", "environment", "locale.alias",
)  # fmt: skip
# Root needs these inside bubblewrap only to drop to the sandbox uid (the launcher then empties
# the bounding set and sets no_new_privs): every other capability is dropped.
_ROOT_KEEPS = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")


def _probe_argv(exe: str, network_off: bool) -> list[str]:
    """A sandbox with every feature _bwrap_argv uses (--perms needs bubblewrap 0.5 or later)."""
    argv = [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid", "--die-with-parent"]
    argv += ["--unshare-cgroup-try", "--tmpfs", "/tmp", "--perms", "0755", "--dir", "/tmp/vcc-probe"]
    argv += ["--symlink", "/tmp", "/tmp/vcc-probe/link", "--remount-ro", "/tmp", "--cap-drop", "ALL"]
    if os.geteuid() == 0:
        for cap in _ROOT_KEEPS:
            argv += ["--cap-add", cap]
    if network_off:
        argv.append("--unshare-net")
    return argv


@functools.cache
def _bwrap_probe(network_off: bool) -> str | None:
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        argv = [*_probe_argv(exe, network_off), "true"]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap does not start here ({e})"
    if p.returncode != 0:
        return f"bubblewrap does not work here: {p.stderr.strip() or p.returncode}"
    return None


def bwrap_unavailable_reason(network_off: bool = False) -> str | None:
    """None where bubblewrap can build the sandbox, else why not."""
    return _bwrap_probe(network_off)


def sandbox_uid() -> int | None:
    """The unprivileged uid (and gid) inflate runs as when vcc is root; None otherwise."""
    if os.geteuid() != 0:
        return None
    return _SANDBOX_UID_BASE + os.getpid() % 1_000_000


def _system_binds() -> list[str]:
    argv: list[str] = []
    for d in _SYSTEM_DIRS:
        if os.path.islink(d):
            argv += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            argv += ["--ro-bind", d, d]
    for name in _ETC_ENTRIES:
        p = Path("/etc", name)
        if p.exists():  # a link is followed: its target is bound at /etc/NAME
            argv += ["--ro-bind", str(p), str(p)]
    return argv


def _under_any(p: Path, roots: tuple[Path, ...] | list[Path]) -> bool:
    return any(p == r or p.is_relative_to(r) for r in roots)


def _bwrap_argv(spec: SandboxSpec, drop_to_uid: bool = False) -> list[str]:
    """A new root with only what inflate needs (see the module doc); every capability dropped
    (but, with drop_to_uid, those the launcher needs to switch to the sandbox uid and then drops)."""
    argv = [shutil.which("bwrap") or "bwrap", "--die-with-parent", "--cap-drop", "ALL"]
    if drop_to_uid:
        for cap in _ROOT_KEEPS:
            argv += ["--cap-add", cap]
    argv += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if not spec.network:
        argv.append("--unshare-net")
    argv += _system_binds()
    argv += ["--dev-bind", "/dev", "/dev"] if spec.gpu else ["--dev", "/dev"]
    argv += ["--proc", "/proc"]
    # /tmp first: the workspace (and anything else needed) may live under it.
    argv += ["--bind", str(spec.tmp_dir), "/tmp", "--perms", "0755", "--dir", "/var", "--symlink", "/tmp", "/var/tmp"]
    readable = [p for p in spec.readable if p.exists()]
    made: set[Path] = {Path("/"), Path("/tmp"), Path("/var")}
    for p in [*readable, spec.workdir]:
        argv += _parent_dirs(p, made)
        argv += ["--ro-bind" if p != spec.workdir else "--bind", str(p), str(p)]
    for d in spec.hidden_dirs:
        if _under_any(d, readable) or _under_any(d, [spec.workdir]):
            argv += ["--tmpfs", str(d), "--remount-ro", str(d)]
    for f in spec.hidden_files:  # only where a bind made it visible; elsewhere it is absent already
        if _under_any(f, readable) or _under_any(f, [spec.workdir]):
            argv += ["--ro-bind", "/dev/null", str(f)]
    argv += ["--remount-ro", "/", "--chdir", str(spec.workdir)]
    return argv


def _parent_dirs(p: Path, made: set[Path]) -> list[str]:
    """--dir for p's parents, traversable by anyone (bubblewrap would create them 0700): inflate's
    uid must reach e.g. /root/.pyenv/... where only that subtree is bound."""
    argv: list[str] = []
    for d in reversed(p.parents):
        if d not in made:
            made.add(d)
            argv += ["--perms", "0755", "--dir", str(d)]
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
    try:
        _hand_over(spec, plan)
        run = _supervise(plan, spec.workdir, timeout_s, stdout_path, stderr_path)
    finally:
        _take_back(spec, plan)
    return _proc_result(argv, plan, limits, run, stdout_path, stderr_path)


# --- containment policy: what wraps the command, which limits hold, how the tree is killed -----


@dataclass
class _Containment:
    """How one command is contained; `_supervise` runs it so."""

    argv: list[str]  # what is executed: launcher -> [bubblewrap | unshare] -> [launcher] -> command
    env: dict[str, str]
    use_bwrap: bool
    pid_namespace: bool  # bubblewrap or `unshare --pid`: the leftover wrapper lists what outlived it
    uid: int | None  # the unprivileged uid inflate runs as (vcc is root), else None
    cg: Cgroup | None
    memory_bytes: int | None  # the cap the supervisor enforces by sampling (no cgroup)
    disk_bytes: int | None
    reaper: bool  # vcc is the subreaper of the command's orphans (no cgroup, no pid namespace)
    ours: set[int]  # vcc's own children before the command starts: never touched
    leftover_file: Path  # where the wrapper lists processes that outlived the command
    isolation: Isolation


def _contain(argv: list[str], spec: SandboxSpec, limits: ResourceLimits, env: dict[str, str]) -> _Containment:
    """Decide the containment (and set up its cgroup and subreaper); the report's `Isolation`."""
    notes: list[str] = []
    why_not = _bwrap_unused_reason(spec)
    use_bwrap = why_not is None
    spec.tmp_dir.mkdir(parents=True, exist_ok=True)
    leftover_file = spec.tmp_dir.parent / f".leftover-{uuid.uuid4().hex[:8]}"
    uid = sandbox_uid()
    if uid is not None:
        # bubblewrap recreates the bound paths' parents traversable, so only the bound dirs
        # themselves count there; without it the whole way down must be open to others.
        paths = [spec.workdir, *spec.readable] if use_bwrap else [spec.workdir, Path(sys.executable), *spec.readable]
        blocked = _unreachable_for_others([p for p in paths if p.exists()], whole_path=not use_bwrap)
        if blocked is not None and not use_bwrap and not spec.allow_root:
            raise _root_refusal(blocked)
        if blocked is not None:
            notes.append(
                f"inflate runs as root{' without capabilities' if use_bwrap else ''}: {blocked} is not open to "
                "other users (mode o-rx), so an unprivileged uid could not read it"
            )
            uid = None
    cpus, cpu_text = _cpu_choice(limits.cpus)
    cg, cg_why = _cgroup_for(limits, cpus)
    if use_bwrap:
        prefix, pid_ns = _bwrap_argv(spec, drop_to_uid=uid is not None), True
        network = "isolated" if not spec.network else "shared"
    else:
        notes.append(f"no sandbox: {why_not}")
        prefix, network, pid_ns = _unsandboxed_prefix(spec)
    inner = ["bash", "-c", LEFTOVER_WRAPPER, "vcc-wrap", str(leftover_file), *argv] if pid_ns else list(argv)
    if pid_ns and not use_bwrap:  # root, in unshare's namespaces: the launcher builds the mounts
        inner = launch_argv(_unshared_mounts(spec, uid), inner)
        notes.append(
            "without bubblewrap, as root: its own pid and mount namespaces, a private /tmp, /var/tmp and "
            "/dev/shm, read-only cgroup files, checkout, Python environment and submission dir, "
            + ("an unprivileged uid" if uid is not None else "no capabilities")
            + "; the rest of the host's filesystem, the originals and the network stay in reach"
        )
    elif uid is not None:
        inner = launch_argv(LaunchSpec(uid=uid, gid=uid, death_signal=False), inner)
    # Without a cgroup or a pid namespace, orphans that leave the process group
    # are found by making vcc their subreaper while inflate runs.
    reaper = cg is None and not pid_ns and _set_subreaper(True)
    ours = set(_orphans(0)) if reaper else set()  # vcc's own children: never touched
    memory_cap, rlimit_as = _memory_policy(limits, cg, cg_why, notes)
    outer = LaunchSpec(
        procs_files=cg.procs_files if cg else [],
        cpus=cpus,
        rlimit_as=rlimit_as,
        rlimit_fsize=limits.disk_bytes,
        rlimit_nproc=limits.pids_max if uid is not None else None,
        parent_pid=os.getpid(),
    )
    full = launch_argv(outer, [*prefix, *inner])
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
        kill=_kill_policy(reaper, cg, use_bwrap, pid_ns, uid),
        notes=notes,
        user=_user_text(uid, use_bwrap),
        disk_cap=_disk_text(limits.disk_bytes),
    )
    memory_sampled = limits.memory_bytes if cg is None else None
    return _Containment(
        full, env, use_bwrap, pid_ns, uid, cg, memory_sampled, limits.disk_bytes, reaper, ours, leftover_file, isolation
    )


_SHARED_TMP_ROOTS = (Path("/tmp"), Path("/var/tmp"))


def _root_refusal(blocked: Path) -> HarnessError:
    """Unsandboxed as root with no uid to drop to: inflate would run as root on the host (exit 4)."""
    return HarnessError(
        f"vcc refuses to run inflate unsandboxed as root: {blocked} is not open to other users (mode o-rx), "
        "so inflate cannot run as vcc's unprivileged uid and would run as uid 0, able to write /etc, /root, "
        "/proc/sys and every other file of this machine (accepted only with --allow-root-inflate)",
        path=blocked,
        fix=f"let other users reach it (`chmod o+rx {blocked}`, or install vcc's Python somewhere open such as "
        "/opt or /usr/local), run with the bubblewrap sandbox (--sandbox on), or accept root explicitly "
        "with --allow-root-inflate",
    )


def _unshared_mounts(spec: SandboxSpec, uid: int | None) -> LaunchSpec:
    """The inner launcher's work without bubblewrap: private temp dirs, read-only paths, then the uid or no caps."""

    def in_tmp(p: Path) -> bool:
        return _under_any(p, _SHARED_TMP_ROOTS)

    readable = [p for p in spec.readable if p.exists()]
    return LaunchSpec(
        uid=uid,
        gid=uid,
        private_tmp=str(spec.tmp_dir),
        host_mount_ns=os.readlink("/proc/self/ns/mnt"),
        keep=[(str(p), False) for p in readable if in_tmp(p)] + [(str(spec.workdir), True)],
        read_only=[str(p) for p in (*readable, *spec.protected) if not in_tmp(p)],
        chdir=str(spec.workdir),
        drop_caps=uid is None,
    )


def _user_text(uid: int | None, use_bwrap: bool) -> str:
    caps = "no capabilities" if use_bwrap else "no capabilities, no_new_privs"
    if uid is not None:
        return f"uid {uid} (unprivileged, {caps})"
    if os.geteuid() == 0:
        return "root without capabilities (the paths inflate needs are not open to another uid)"
    return f"uid {os.geteuid()} (vcc's own)" + (", no capabilities" if use_bwrap else "")


def _disk_text(disk_bytes: int | None) -> str:
    if not disk_bytes:
        return "none"
    gib = disk_bytes / (1 << 30)
    return f"{gib:.2f} GiB for the workspace (sampled every {_DISK_POLL_S:g} s; RLIMIT_FSIZE per file)"


def _unreachable_for_others(paths: list[Path], whole_path: bool) -> Path | None:
    """The first of `paths` (or, whole_path, of the dirs on the way) a stranger cannot enter, else None."""
    for p in paths:
        p = Path(os.path.abspath(p))
        for d in [*reversed(p.parents), p] if whole_path else [p]:
            try:
                st = os.stat(d)
            except OSError:
                return d
            need = 0o005 if d == p and p.is_dir() else 0o001 if d != p else 0o004
            if st.st_mode & need != need:
                return d
    return None


def _bwrap_unused_reason(spec: SandboxSpec) -> str | None:
    """None when bubblewrap contains the command, else why not (only with --sandbox off).

    Without it inflate would run with the network, the originals and the user's files in
    reach, so a missing or broken bubblewrap is refused unless the sandbox is off explicitly.
    """
    if spec.use_bwrap is False:
        return "disabled (--sandbox off)"
    why_not = bwrap_unavailable_reason(network_off=not spec.network)
    if why_not is not None:
        raise sandbox_missing_error(why_not)
    return None


def sandbox_missing_error(why_not: str) -> HarnessError:
    """The refusal to run inflate unsandboxed: exit 4, with the two ways on."""
    fix = "install bubblewrap (" + (
        "apt-get install -y bubblewrap" if os.geteuid() == 0 else "sudo apt-get install -y bubblewrap"
    ) + "), or pass --sandbox off to run inflate unsandboxed (it then sees your files and the network)"
    return HarnessError(f"vcc runs inflate only inside its sandbox, but {why_not}", fix=fix)


def _unsandboxed_prefix(spec: SandboxSpec) -> tuple[list[str], str, bool]:
    """(wrapper, network, own pid namespace) without bubblewrap.

    As root, `unshare --pid --fork --kill-child --mount-proc` still gives inflate a pid
    namespace (it cannot see or signal vcc; its daemons die with it) and, with the network
    off, `--net`. Without root nothing can be unshared: plain processes.
    """
    unshare = shutil.which("unshare")
    if unshare and os.geteuid() == 0:
        argv = [unshare, "--pid", "--fork", "--kill-child", "--mount-proc"]
        if not spec.network:
            argv.append("--net")
        return [*argv, "--"], "shared" if spec.network else "isolated", True
    if spec.network:
        return [], "shared", False
    return [], "NOT isolated (needs bubblewrap, or root for `unshare --net`)", False


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
        f"{limits.memory_bytes / (1 << 30):.2f} GiB: RLIMIT_AS per process, and the tree's resident memory "
        f"sampled every {_POLL_S * 1000:.0f} ms (weaker than a cgroup: a burst between samples is not seen)"
        if limits.memory_bytes
        else "none"
    )
    return memory_cap, limits.memory_bytes


def _kill_policy(reaper: bool, cg: Cgroup | None, use_bwrap: bool, pid_ns: bool, uid: int | None) -> str:
    kill_parts = ["process group"]
    if reaper:
        kill_parts.append("orphans via subreaper")
    if cg is not None:
        kill_parts.append(f"cgroup v{cg.version}")
    if pid_ns:
        kill_parts.append("pid namespace")
    if uid is not None:
        kill_parts.append(f"every process of uid {uid}")
    kill = " + ".join(kill_parts)
    if len(kill_parts) == 1:
        kill += " (descendants that start their own session and daemonize may escape)"
    return kill


def _hand_over(spec: SandboxSpec, plan: _Containment) -> None:
    """Give the trees inflate writes (and the leftover list) to its uid for the run."""
    plan.leftover_file.write_bytes(b"")
    if plan.uid is None:
        return
    for tree in (*spec.owned, spec.tmp_dir, plan.leftover_file):
        _chown_tree(tree, plan.uid, plan.uid)


def _take_back(spec: SandboxSpec, plan: _Containment) -> None:
    """The trees back to vcc's own uid (what inflate left is vcc's to read, keep or remove)."""
    if plan.uid is None:
        return
    for tree in (*spec.owned, spec.tmp_dir):
        _chown_tree(tree, os.getuid(), os.getgid())


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    """lchown root and everything under it, never following a link (any depth: walked iteratively)."""
    try:
        os.lchown(root, uid, gid)
    except FileNotFoundError:
        return
    if root.is_symlink() or not root.is_dir():
        return
    for rel, _ in walk_tree(root):
        try:
            os.lchown(os.path.join(root, rel), uid, gid)
        except OSError:  # gone, or a path past PATH_MAX that inflate made: vcc removes the tree as root anyway
            pass


# --- process supervision: start, wait with the deadline, sample memory and disk, kill the tree ----


@dataclass
class _Supervised:
    """What supervising the command measured."""

    returncode: int | None = None  # None when killed at the deadline
    elapsed_s: float = 0.0
    timed_out: bool = False
    peak_rss_bytes: int | None = None
    peak_memory_bytes: int | None = None
    oom_kills: int = 0
    memory_killed: bool = False  # the sampled tree went past the cap (no cgroup): killed
    disk_exceeded: bool = False
    disk_peak_bytes: int | None = None
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
            status = _wait(proc, t0 + timeout_s, plan, workdir, run, (stdout_path, stderr_path))
            run.elapsed_s = time.monotonic() - t0
            if not run.timed_out:
                run.leftovers = _leftovers(plan, proc.pid, status)
            _kill_tree(proc.pid, plan.cg, plan.uid)
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
            start_new_session=True,  # its own session and process group; the launcher does the rest
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise HarnessError(f"could not start {plan.argv[0]}: {e}") from e


def _wait(
    proc: subprocess.Popen[bytes],
    deadline: float,
    plan: _Containment,
    workdir: Path,
    run: _Supervised,
    logs: tuple[Path, ...] = (),
) -> int | None:
    """The wait status, or None when the deadline passed or a cap was broken (recorded in `run`).

    Samples the tree's resident memory every _POLL_S (and enforces the cap without a cgroup)
    and the workspace's size every _DISK_POLL_S (the disk cap).
    """
    next_disk = 0.0
    while True:
        pid, st, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            return st
        now = time.monotonic()
        if now >= deadline:
            run.timed_out = True
            return None
        _resume_wrappers(proc.pid)
        resident = _tree_resident(plan.cg, proc.pid, plan.uid)
        if resident is not None:
            run.peak_rss_bytes = max(run.peak_rss_bytes or 0, resident)
            if plan.memory_bytes and resident > plan.memory_bytes:
                run.memory_killed = True
                return None
        if plan.disk_bytes and now >= next_disk:
            # the workspace, inflate's logs, and files it deleted but holds open
            used = _tree_bytes(workdir) + _logs_bytes(logs) + _deleted_open_bytes(_tree_pids(plan, proc.pid))
            run.disk_peak_bytes = max(run.disk_peak_bytes or 0, used)
            if used > plan.disk_bytes:
                run.disk_exceeded = True
                return None
            next_disk = now + _DISK_POLL_S
        time.sleep(_POLL_S)


def _tree_bytes(root: Path) -> int:
    """Bytes allocated on disk under root (links not followed), as `du` counts them; any depth and path length."""
    return sum(st.st_blocks * 512 for _, st in walk_tree(root))


# vcc's own processes between it and inflate: the launcher/bubblewrap, bubblewrap's init, the leftover
# wrapper (and unshare's). Inflate can SIGSTOP those it may signal (the wrapper, its parent): frozen, the
# wrapper would hold the run past the clock although inflate finished. vcc resumes them at every poll,
# so a stop changes nothing, sandboxed or not.
_WRAPPER_DEPTH = 3


def _resume_wrappers(pid: int) -> None:
    for _ in range(_WRAPPER_DEPTH):
        fields = _proc_stat(str(pid))
        if fields is None:
            return
        if fields[0] in ("T", "t"):
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return
        if len(children) != 1:
            return
        pid = int(children[0])


def _logs_bytes(logs: tuple[Path, ...]) -> int:
    total = 0
    for log in logs:
        try:
            total += os.stat(log).st_blocks * 512
        except OSError:
            pass
    return total


def _tree_pids(plan: _Containment, sid: int) -> list[int]:
    """inflate's processes: its cgroup's, else those of its session or of its uid."""
    if plan.cg is not None:
        return sorted(plan.cg.pids())
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _proc_stat(entry.name)
        if fields is None:
            continue
        try:
            mine = fields[3] == str(sid) or (plan.uid is not None and entry.stat().st_uid == plan.uid)
        except OSError:
            continue
        if mine:
            found.append(int(entry.name))
    return found


def _deleted_open_bytes(pids: list[int]) -> int:
    """Bytes of regular files that inflate's processes hold open after deleting them (each file once):
    space the workspace's size no longer shows but the disk still holds."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            path = f"{fd_dir}/{fd}"
            try:
                if not os.readlink(path).endswith(" (deleted)"):
                    continue
                st = os.stat(path)  # the open file itself, through /proc
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def _leftovers(plan: _Containment, pid: int, status: int | None) -> list[str]:
    """Command lines of the processes still alive after the command exited."""
    if plan.pid_namespace:
        return read_leftovers(plan.leftover_file)
    if plan.cg is not None:
        return [_cmdline(p) for p in sorted(plan.cg.pids())]
    keep = pid if status is None else 0
    leftovers = [_cmdline(p) for p in _orphans(keep, plan.ours)]
    if _group_alive(pid):
        leftovers += [_cmdline(p) for p in _group_members(pid)]
    if plan.uid is not None:
        leftovers += [_cmdline(p) for p in _uid_processes(plan.uid)]
    return list(dict.fromkeys(leftovers))


def _release(plan: _Containment, proc: subprocess.Popen[bytes] | None, run: _Supervised) -> None:
    """Whatever happened: kill and reap the tree, read the cgroup's peak and OOM kills, remove it,
    and (inflate ran as its own uid without bubblewrap) remove what that uid left in the shared temp dirs."""
    if proc is not None and proc.returncode is None:
        _kill_tree(proc.pid, plan.cg, plan.uid)
        try:
            _, status, _ = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            pass
    if plan.reaper:
        _kill_orphans(0, plan.ours)
        _set_subreaper(False)
    if plan.uid is not None:
        _kill_uid(plan.uid)
        if not plan.use_bwrap:
            removed = _remove_owned_by(plan.uid, _SHARED_TMP_DIRS)
            if removed:
                plan.isolation.notes.append(
                    f"removed what inflate left in the shared temp dirs: {', '.join(removed[:10])}"
                )
    if plan.cg is not None:
        run.peak_memory_bytes = plan.cg.peak_memory()
        run.oom_kills = plan.cg.oom_kills()
        plan.cg.remove()
    plan.leftover_file.unlink(missing_ok=True)


_SHARED_TMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


def _uid_processes(uid: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid and int(entry.name) != os.getpid():
                    found.append(int(entry.name))
            except OSError:
                pass
    return sorted(found)


def _kill_uid(uid: int) -> None:
    """SIGKILL every process of the sandbox uid until none is left (it is inflate's alone)."""
    for _ in range(100):
        pids = _uid_processes(uid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)


def _remove_owned_by(uid: int, dirs: tuple[str, ...]) -> list[str]:
    """Remove every entry owned by uid under dirs (links unlinked, never followed); the top ones removed."""
    from vcc.base import remove_tree

    removed: list[str] = []
    for top in dirs:
        for dirpath, dirnames, files in os.walk(top):
            # the uid writes only where anyone may: descend only into dirs open for writing to all
            dirnames[:] = [d for d in dirnames if _open_for_all(Path(dirpath, d)) or _owned_by(Path(dirpath, d), uid)]
            for name in [*dirnames, *files]:
                p = Path(dirpath, name)
                try:
                    owned = p.lstat().st_uid == uid
                except OSError:
                    continue
                if owned:
                    try:
                        remove_tree(p)
                        removed.append(str(p))
                    except OSError:
                        shutil.rmtree(p, ignore_errors=True)
                    if name in dirnames:
                        dirnames.remove(name)
    return removed


def _open_for_all(p: Path) -> bool:
    try:
        st = p.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and bool(st.st_mode & 0o002)


def _owned_by(p: Path, uid: int) -> bool:
    try:
        return p.lstat().st_uid == uid
    except OSError:
        return False


def _proc_result(
    argv: list[str],
    plan: _Containment,
    limits: ResourceLimits,
    run: _Supervised,
    stdout_path: Path,
    stderr_path: Path,
) -> ProcResult:
    returncode = run.returncode
    # A broken cap is not the deadline: report the command's kill, not a timeout.
    killed_for_cap = run.memory_killed or run.disk_exceeded
    timed_out = run.timed_out and not killed_for_cap
    if killed_for_cap and returncode is None:
        returncode = -signal.SIGKILL
    oom = run.oom_kills > 0 and returncode not in (0, None) or run.memory_killed
    if run.oom_kills and returncode == 0:
        plan.isolation.notes.append(
            f"the kernel killed {run.oom_kills} process(es) of inflate for memory, "
            "yet inflate exited 0: it may be retrying or ignoring a failed step"
        )
    if not oom and plan.cg is None and returncode not in (0, None) and limits.memory_bytes:
        tail = tail_text(stderr_path)
        oom = any(s in tail for s in _MEMORY_ERRORS)
    # Past RLIMIT_FSIZE a write is killed by SIGXFSZ (a shell reports 128 + 25), or fails with EFBIG.
    disk = run.disk_exceeded or returncode in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ)
    if not disk and returncode not in (0, None) and limits.disk_bytes:
        disk = "File too large" in tail_text(stderr_path)
    return ProcResult(
        argv=list(argv),
        returncode=returncode,
        elapsed_s=run.elapsed_s,
        timed_out=timed_out,
        oom_killed=oom,
        peak_memory_bytes=run.peak_memory_bytes,
        peak_rss_bytes=run.peak_rss_bytes,
        leftover_processes=run.leftovers,
        stdout_path=stdout_path,
        stderr_path=stderr_path,
        isolation=plan.isolation,
        disk_exceeded=bool(limits.disk_bytes) and disk,
        disk_peak_bytes=run.disk_peak_bytes,
    )


# The leftover list is written inside the sandbox, where inflate can write it too: read at most this
# much, keep at most this many lines of this length.
_LEFTOVER_MAX_BYTES = 64 << 10
_LEFTOVER_MAX_LINES = 100
_LEFTOVER_MAX_LINE = 300


def read_leftovers(path: Path) -> list[str]:
    """The processes LEFTOVER_WRAPPER listed as outliving the command, one per line ([] if none).

    Read bounded (a regular file only, never a link or a FIFO, at most _LEFTOVER_MAX_BYTES) and
    parsed strictly: printable lines only, each cut to _LEFTOVER_MAX_LINE, at most
    _LEFTOVER_MAX_LINES of them (then one line saying how many more were listed).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ["(the leftover-process list was replaced by something not a regular file)"]
        data = os.read(fd, _LEFTOVER_MAX_BYTES + 1)
    except OSError:
        return []
    finally:
        os.close(fd)
    cut = len(data) > _LEFTOVER_MAX_BYTES
    lines = []
    for raw in data[:_LEFTOVER_MAX_BYTES].decode("utf-8", errors="replace").splitlines():
        line = escape_control(raw.strip())
        if line:
            lines.append(line[:_LEFTOVER_MAX_LINE] + ("..." if len(line) > _LEFTOVER_MAX_LINE else ""))
    more = len(lines) - _LEFTOVER_MAX_LINES
    lines = lines[:_LEFTOVER_MAX_LINES]
    if more > 0 or cut:
        lines.append(f"(and {max(more, 0)} more line(s){', the list cut at 64 KiB' if cut else ''})")
    return lines


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"pid {pid} (exited)"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip() or f"pid {pid} (zombie)"


def _session_rss(sid: int, uid: int | None = None) -> int:
    """Sum of VmRSS over the processes in session `sid`, or of `uid` (inflate's tree, without a cgroup)."""
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat_line = Path(entry.path, "stat").read_text()
            fields = stat_line[stat_line.rindex(")") + 2 :].split()
            mine = int(fields[3]) == sid  # field 6 of /proc/pid/stat: session id
            if not mine and (uid is None or entry.stat().st_uid != uid):
                continue
            total += int(Path(entry.path, "statm").read_text().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    return total


def _tree_resident(cg: Cgroup | None, sid: int, uid: int | None = None) -> int | None:
    if cg is not None:
        now = cg.resident_bytes()
        if now is not None:
            return now
    return _session_rss(sid, uid)


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


def _kill_tree(pid: int, cg: Cgroup | None, uid: int | None = None) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if cg is not None:
        cg.kill_all()
    if uid is not None:
        _kill_uid(uid)


def python_bin_dir() -> str:
    """The dir holding the interpreter vcc runs on: inflate.sh's `python` is this one."""
    return str(Path(sys.executable).parent)
