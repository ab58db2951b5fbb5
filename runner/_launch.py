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
try:
    os.execvp(argv[0], argv)
except OSError as e:
    sys.stderr.write(f"vcc launcher: cannot run {argv[0]}: {e.strerror}\n")
    os._exit(127)
"""


def launch_argv(spec: LaunchSpec, argv: list[str], python: str | None = None) -> list[str]:
    """argv that applies `spec` and then execs `argv`."""
    return [python or sys.executable, "-I", "-S", "-c", LAUNCHER, json.dumps(asdict(spec)), *argv]
