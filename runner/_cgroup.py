"""A scratch control group for one inflate: memory cap, CPU set, pids cap, kill-all.

cgroup v2 is used where the machine has it (unified hierarchy with the memory
controller); otherwise the v1 memory, cpuset and pids hierarchies. Groups are
created under the cgroup vcc itself runs in (or beside it on v2, where a
non-root group that holds processes cannot delegate controllers), so other
people's groups are never touched. Without write access there is no group and
the caller falls back to rlimits.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Cgroup", "create_cgroup"]

_V1_CONTROLLERS = ("memory", "pids", "cpuset")


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fs type, options) for every cgroup mount."""
    out = []
    try:
        text = Path("/proc/self/mounts").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] in ("cgroup", "cgroup2"):
            out.append((parts[1], parts[2], set(parts[3].split(","))))
    return out


def _own_paths() -> dict[str, str]:
    """Controller name (or "" for v2) -> this process's cgroup path."""
    out: dict[str, str] = {}
    try:
        text = Path("/proc/self/cgroup").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        _, ctrls, path = line.split(":", 2)
        for c in ctrls.split(",") if ctrls else [""]:
            out[c] = path
    return out


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _cpu_list(cpus: list[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


@dataclass
class Cgroup:
    """One scratch group (v2) or one group per v1 controller."""

    version: int
    dirs: dict[str, Path]  # v1: controller -> dir; v2: {"": dir}
    memory_bytes: int | None = None
    memory_swap_capped: bool = False
    cpus: list[int] | None = None
    pids_max: int | None = None
    notes: list[str] = field(default_factory=list)

    def _dir(self, controller: str) -> Path | None:
        return self.dirs.get("" if self.version == 2 else controller)

    @property
    def procs_files(self) -> list[str]:
        """cgroup.procs of every group: a child writes its pid to each before exec."""
        return [str(d / "cgroup.procs") for d in dict.fromkeys(self.dirs.values())]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for f in self.procs_files:
            text = _read(Path(f))
            if text:
                found.update(int(x) for x in text.split())
        return found

    def kill_all(self, timeout_s: float = 5.0) -> bool:
        """SIGKILL every process in the group; True once it is empty."""
        d = self._dir("")
        if self.version == 2 and d is not None and (d / "cgroup.kill").exists():
            try:
                _write(d / "cgroup.kill", "1")
            except OSError:
                pass
        deadline = time.monotonic() + timeout_s
        while True:
            pids = self.pids()
            if not pids:
                return True
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    def peak_memory(self) -> int | None:
        """Highest memory charge of the group (RSS plus page cache), in bytes."""
        d = self._dir("memory")
        if d is None:
            return None
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        text = _read(d / name)
        return int(text) if text and text.strip().isdigit() else None

    def resident_bytes(self) -> int | None:
        """Memory the group holds now that page-cache reclaim cannot free: anon + shmem."""
        d = self._dir("memory")
        if d is None:
            return None
        keys = ("anon", "shmem") if self.version == 2 else ("total_rss", "total_shmem")
        total, found = 0, False
        for line in (_read(d / "memory.stat") or "").splitlines():
            key, _, value = line.partition(" ")
            if key in keys and value.strip().isdigit():
                total += int(value)
                found = True
        return total if found else None

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer took from this group."""
        d = self._dir("memory")
        if d is None:
            return 0
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        for line in (_read(d / name) or "").splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
        if self.version == 1:  # kernels before 4.13 have no counter: the limit was hit
            fail = _read(d / "memory.failcnt")
            return 1 if fail and fail.strip().isdigit() and int(fail) > 0 else 0
        return 0

    def remove(self) -> None:
        self.kill_all(timeout_s=2.0)
        for d in dict.fromkeys(self.dirs.values()):
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY:
                        break
                    time.sleep(0.02)


def _remove_stale(parent: Path) -> None:
    """rmdir groups a vcc left behind when it was killed: `vcc-PID-*` of a dead PID, now empty."""
    try:
        entries = list(parent.glob("vcc-*-*"))
    except OSError:
        return
    for d in entries:
        pid = d.name.split("-")[1]
        if not pid.isdigit() or Path("/proc", pid).exists():
            continue
        if (_read(d / "cgroup.procs") or "").strip():
            continue
        try:
            d.rmdir()
        except OSError:
            pass


def _v2_root() -> Path | None:
    for mnt, fstype, _ in _mounts():
        if fstype == "cgroup2" and Path(mnt, "cgroup.controllers").exists():
            ctrls = (_read(Path(mnt, "cgroup.controllers")) or "").split()
            if "memory" in ctrls:
                return Path(mnt)
    return None


def _v1_roots() -> dict[str, Path]:
    roots: dict[str, Path] = {}
    for mnt, fstype, opts in _mounts():
        if fstype == "cgroup":
            for c in _V1_CONTROLLERS:
                if c in opts and c not in roots:
                    roots[c] = Path(mnt)
    return roots


def _create_v2(
    root: Path, tag: str, memory_bytes: int | None, cpus: list[int] | None, pids_max: int | None
) -> Cgroup | None:
    own = _own_paths().get("", "/")
    here = root / own.lstrip("/")
    wanted = ["memory", "pids"] + (["cpuset"] if cpus else [])
    # A child of our own group first (works where our group is a delegated leaf
    # with no processes of its own), then a sibling under our parent.
    for parent in (here, here.parent):
        _remove_stale(parent)
        try:
            avail = (_read(parent / "cgroup.controllers") or "").split()
            enabled = (_read(parent / "cgroup.subtree_control") or "").split()
            todo = [c for c in wanted if c in avail and c not in enabled]
            if todo:
                _write(parent / "cgroup.subtree_control", " ".join("+" + c for c in todo))
            d = parent / tag
            d.mkdir()
        except OSError:
            continue
        cg = Cgroup(2, {"": d})
        ctrls = (_read(d / "cgroup.controllers") or "").split()
        if memory_bytes and "memory" in ctrls:
            try:  # not writable (a read-only delegation): no cap, and the group goes below
                _write(d / "memory.max", str(memory_bytes))
                cg.memory_bytes = memory_bytes
                _write(d / "memory.swap.max", "0")
                cg.memory_swap_capped = True
            except OSError:
                if cg.memory_bytes is not None:
                    cg.notes.append("swap is not capped (memory.swap.max not writable)")
        if pids_max and "pids" in ctrls:
            try:
                _write(d / "pids.max", str(pids_max))
                cg.pids_max = pids_max
            except OSError as e:
                cg.notes.append(f"process count not capped (pids.max not writable: {e.strerror})")
        if cpus and "cpuset" in ctrls:
            try:
                _write(d / "cpuset.cpus", _cpu_list(cpus))
                cg.cpus = cpus
            except OSError as e:
                cg.notes.append(f"cpuset not applied ({e.strerror})")
        if memory_bytes and cg.memory_bytes is None:
            cg.remove()
            continue
        return cg
    return None


def _create_v1(
    roots: dict[str, Path],
    tag: str,
    memory_bytes: int | None,
    cpus: list[int] | None,
    pids_max: int | None,
) -> Cgroup | None:
    own = _own_paths()

    def make(controller: str) -> tuple[Path, Path]:
        parent = roots[controller] / own.get(controller, "/").lstrip("/")
        _remove_stale(parent)
        d = parent / tag
        d.mkdir()
        cg.dirs[controller] = d
        return parent, d

    cg = Cgroup(1, {})
    try:
        if memory_bytes and "memory" in roots:
            _, d = make("memory")
            _write(d / "memory.limit_in_bytes", str(memory_bytes))
            cg.memory_bytes = memory_bytes
            try:
                _write(d / "memory.memsw.limit_in_bytes", str(memory_bytes))
                cg.memory_swap_capped = True
            except OSError:
                cg.notes.append("swap is not capped (no memory.memsw accounting)")
        if pids_max and "pids" in roots:
            _, d = make("pids")
            _write(d / "pids.max", str(pids_max))
            cg.pids_max = pids_max
    except OSError:
        cg.remove()
        return None
    if cpus and "cpuset" in roots:
        try:
            parent, d = make("cpuset")
            # A v1 cpuset group takes no task until both of these are set.
            _write(d / "cpuset.mems", (_read(parent / "cpuset.mems") or "0").strip())
            _write(d / "cpuset.cpus", _cpu_list(cpus))
            cg.cpus = cpus
        except OSError as e:
            d = cg.dirs.pop("cpuset", None)
            if d is not None:
                try:
                    d.rmdir()
                except OSError:
                    pass
            cg.notes.append(f"cpuset group not created ({e.strerror}); CPU affinity only")
    return cg if cg.dirs else None


def create_cgroup(
    tag: str,
    *,
    memory_bytes: int | None,
    cpus: list[int] | None,
    pids_max: int | None,
) -> tuple[Cgroup | None, str]:
    """A fresh group named `tag`, or (None, why not)."""
    v2 = _v2_root()
    if v2 is not None:
        cg = _create_v2(v2, tag, memory_bytes, cpus, pids_max)
        if cg is not None:
            return cg, ""
        return None, f"cgroup v2 at {v2} is not writable here (no delegated subtree)"
    roots = _v1_roots()
    if not roots:
        return None, "no cgroup hierarchy is mounted"
    cg = _create_v1(roots, tag, memory_bytes, cpus, pids_max)
    if cg is None:
        return None, "cgroup v1 hierarchies are not writable here (not root?)"
    return cg, ""
