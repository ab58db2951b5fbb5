"""The exec wrapper that starts inflate: joins the cgroup, sets limits, drops root, then execs.

It replaces a `preexec_fn` (unsafe in a process that has threads: torch and CUDA start some)
with a fresh, single-threaded interpreter (`python -I -S -c LAUNCHER SPEC ARGV...`) that does
the same work with plain system calls and then becomes the command. `launch_argv` builds it.

Dropping root: the bounding set is emptied, supplementary groups cleared, the real, effective
and saved ids set to the sandbox's uid/gid, no_new_privs set (a setuid binary gains nothing),
then the parent-death signal set again (a credential change clears it).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field

__all__ = ["LaunchSpec", "launch_argv", "LAUNCHER"]


@dataclass(frozen=True)
class LaunchSpec:
    """What the wrapper applies before exec; every field optional."""

    procs_files: list[str] = field(default_factory=list)  # cgroup.procs to join (as root, first)
    cpus: list[int] | None = None  # CPU affinity
    rlimit_as: int | None = None  # RLIMIT_AS (only without a cgroup)
    rlimit_fsize: int | None = None  # RLIMIT_FSIZE: no single file past the disk cap
    rlimit_nproc: int | None = None  # RLIMIT_NPROC: per uid, so tree-wide for a dedicated uid
    uid: int | None = None  # drop to this uid/gid (vcc runs as root)
    gid: int | None = None
    parent_pid: int | None = None  # exit at once if this process is already gone
    death_signal: bool = True  # SIGKILL when the parent dies
    # The runner's umask; also what bubblewrap creates the mount points' parents with (a 077
    # umask would make e.g. /root/.pyenv untraversable for inflate's uid).
    umask: int | None = 0o022
    # Mount work, done first, as root, in a mount namespace of its own (`unshare --mount`): inflate
    # without bubblewrap still gets a private /tmp, /var/tmp and /dev/shm, read-only cgroup files and
    # read-only `read_only` paths; `keep` (path, writable) are re-exposed inside the private /tmp.
    private_tmp: str | None = None
    host_mount_ns: str | None = None  # vcc's mount namespace: the mount work is refused inside it
    keep: list[tuple[str, bool]] = field(default_factory=list)
    read_only: list[str] = field(default_factory=list)
    chdir: str | None = None
    drop_caps: bool = False  # stay uid 0 but with no capability at all (when no uid can be used)


# Runs as `python -I -S -c LAUNCHER SPEC_JSON ARGV...`: no site, no user paths, stdlib only.
LAUNCHER = r"""
import ctypes, json, os, resource, signal, sys
spec = json.loads(sys.argv[1]); argv = sys.argv[2:]
libc = ctypes.CDLL(None, use_errno=True)
def deathsig():
    if spec["death_signal"]:
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if spec["parent_pid"] and os.getppid() != spec["parent_pid"]:
            os._exit(137)
deathsig()
pid = str(os.getpid()).encode()
for f in spec["procs_files"]:
    fd = os.open(f, os.O_WRONLY)
    try:
        os.write(fd, pid)
    finally:
        os.close(fd)
if spec["cpus"]:
    os.sched_setaffinity(0, spec["cpus"])
if spec["umask"] is not None:
    os.umask(spec["umask"])
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
for name, key in (("RLIMIT_AS", "rlimit_as"), ("RLIMIT_FSIZE", "rlimit_fsize"), ("RLIMIT_NPROC", "rlimit_nproc")):
    if spec[key]:
        resource.setrlimit(getattr(resource, name), (spec[key], spec[key]))
def mount(src, dst, fstype, flags, data=None):
    enc = lambda x: None if x is None else x.encode()
    if libc.mount(enc(src), enc(dst), enc(fstype), flags, enc(data)) != 0:
        e = ctypes.get_errno()
        sys.exit(f"vcc launcher: mount {src} on {dst}: {os.strerror(e)}")
BIND, REC, RO, REMOUNT, PRIVATE, NOSUID, NODEV = 4096, 16384, 1, 32, 1 << 18, 2, 4
def read_only(p):
    mount(None, p, None, REMOUNT | BIND | RO)
if spec["private_tmp"]:
    if os.readlink("/proc/self/ns/mnt") == spec["host_mount_ns"]:
        sys.exit("vcc launcher: refusing to mount: not in a mount namespace of its own")
    mount(None, "/", None, REC | PRIVATE)
    fds = [(p, w, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p, w in spec["keep"] if os.path.isdir(p)]
    tmp_fd = os.open(spec["private_tmp"], os.O_PATH | os.O_DIRECTORY)  # it may sit under /tmp itself
    for t in ("/tmp", "/var/tmp"):
        if os.path.isdir(t) and not os.path.islink(t):
            mount(f"/proc/self/fd/{tmp_fd}", t, None, BIND)
    os.close(tmp_fd)
    for p, writable, fd in sorted(fds, key=lambda x: x[0].count("/")):
        os.makedirs(p, exist_ok=True)
        mount(f"/proc/self/fd/{fd}", p, None, BIND | REC)
        if not writable:
            read_only(p)
        os.close(fd)
    # the other dirs anyone may write: private and gone with the namespace (tmpfs pages are charged to
    # inflate's memory cgroup)
    for t in ("/dev/shm", "/run/lock", "/var/lock", "/dev/mqueue"):
        if os.path.isdir(t) and not os.path.islink(t):
            mount("tmpfs", t, "tmpfs", NOSUID | NODEV, "mode=1777")
    for p in spec["read_only"]:
        if os.path.exists(p):
            mount(p, p, None, BIND | REC)
            read_only(p)
    for line in open("/proc/self/mounts").read().splitlines():
        f = line.split()
        if f[2] in ("cgroup", "cgroup2"):
            read_only(f[1].replace("\\040", " "))
if spec["chdir"]:
    os.chdir(spec["chdir"])
if spec["drop_caps"]:
    for cap in range(64):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]
    if libc.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()) != 0:
        sys.exit("vcc launcher: could not drop capabilities")
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        sys.exit("vcc launcher: could not set no_new_privs")
if spec["uid"] is not None:
    for cap in range(64):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP; fails past the last cap, harmless
    os.setgroups([])
    os.setresgid(spec["gid"], spec["gid"], spec["gid"])
    os.setresuid(spec["uid"], spec["uid"], spec["uid"])
    if os.getuid() != spec["uid"] or os.geteuid() != spec["uid"]:
        sys.exit("vcc launcher: could not drop to the sandbox uid")
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        sys.exit("vcc launcher: could not set no_new_privs")
    deathsig()
# Python ignores these at start-up; inflate gets the defaults, as from a shell (`a | head` ends a).
for sig in (signal.SIGPIPE, signal.SIGXFSZ):
    signal.signal(sig, signal.SIG_DFL)
try:
    os.execvp(argv[0], argv)
except OSError as e:
    sys.stderr.write(f"vcc launcher: cannot run {argv[0]}: {e.strerror}\n")
    os._exit(127)
"""


def launch_argv(spec: LaunchSpec, argv: list[str], python: str | None = None) -> list[str]:
    """argv that applies `spec` and then execs `argv`."""
    return [python or sys.executable, "-I", "-S", "-c", LAUNCHER, json.dumps(asdict(spec)), *argv]
