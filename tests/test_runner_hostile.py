"""Hostile submissions against `vcc run`: one row per attack, the same invariants after every one.

Each row is a submission (a generated inflate.sh, sometimes a crafted archive.zip), the exit code
expected, and words its verdict (and warnings) must hold. Escape rows are written so that the
escape pays off: an inflate that got through writes the raws and would end "ok" (exit 0), one that
was stopped exits 1 (exit 3). Each case runs the real CLI in its own process (`python -m vcc run`),
so an inflate that kills vcc shows as a missing report instead of killing the test.

After every case: vcc exited with the expected code and wrote run.json; no process of the case is
left (by its token, and by the sandbox uid when vcc is root); the challenge dir and the submission
dir are unchanged byte for byte (content, mode, links); nothing of the case's (by token, or owned
by the sandbox uid) is in the host's /tmp, /var/tmp or /dev/shm.

The table of exit codes, verdicts and wall times is printed and written to $VCC_HOSTILE_TABLE
(default: hostile-table.md in pytest's base temp dir).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from vcc import runner
from vcc.base import remove_tree, walk_tree
from vcc.runner import bwrap_unavailable_reason

from helpers import RAW_BYTES, SANDBOX_OFF_ARGS, SH_HEADER, make_sub, run_vcc, zip_of

REPO = Path(__file__).resolve().parents[1]
HAVE_BWRAP = bwrap_unavailable_reason() is None
IS_ROOT = os.geteuid() == 0
SHARED_TMP = tuple(p for p in (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), Path("/run/lock")) if p.is_dir())

# Writes a raw of the right size for every name in $3: what an inflate that got through does.
RAWS = f"""mkdir -p "$2"
while read -r n; do [ -n "$n" ] && truncate -s {RAW_BYTES} "$2/${{n%.*}}.raw"; done < "$3"
exit 0
"""


def _member(name: str, mode: int, kind: int = stat.S_IFREG) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (kind | mode) << 16
    return info


def _ratio_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf, zf.open("zeros", "w") as f:
        for _ in range(64):
            f.write(bytes(1 << 20))
    return buf.getvalue()


@dataclass(frozen=True)
class Case:
    """One hostile submission. In `body`, @T@ is the case's token, @CH@ the challenge dir, @SUB@ the
    user's submission dir, @OUT@ vcc's --out dir, @DECOY@ a file of this checkout (outside every path
    inflate is given), @RAWS@ the raws-writing tail."""

    id: str
    body: str
    code: int
    words: tuple[str, ...] = ()  # in "verdict: message"
    args: tuple[str, ...] = ()
    warns: tuple[str, ...] = ()  # in one of the warnings
    archive: bytes | None = None  # default: one harmless member
    sandbox: bool = True  # False: the row runs with --sandbox off
    setup: Callable[[Path], None] | None = None  # changes the submission dir after it is written
    closed: bool = False  # the case's base dir (and so the workspace) closed to other users (mode 0700)
    crlf: bool = False  # inflate.sh written with CRLF line endings
    no_stdout: tuple[str, ...] = ()  # must not reach vcc's stdout/stderr raw


ESCAPE_FAILED = "exit 1\n"  # the escape was stopped: inflate gives up

# Raises the memory limit of its own scratch group only (a `vcc-*` group that lists this shell):
# never another group of the machine, even where the sandbox failed. (v1: memsw first, the limit
# may not exceed it.)
RAISE_OWN_LIMIT = (
    'raised=\n'
    'for d in $(find /sys/fs/cgroup -type d -name "vcc-*" 2>/dev/null); do\n'
    '  grep -qx "$$" "$d/cgroup.procs" 2>/dev/null || continue\n'
    '  for f in "$d/memory.memsw.limit_in_bytes" "$d/memory.limit_in_bytes" "$d/memory.max"; do\n'
    '    [ -e "$f" ] && echo 8589934592 > "$f" 2>/dev/null && raised=1\n'
    '  done\n'
    'done\n'
    'if [ -n "$raised" ]; then\n@RAWS@fi\n' + ESCAPE_FAILED
)

CASES = [
    # --- root escapes from the sandbox ------------------------------------------------------------
    Case("capabilities-and-uid",
         'if [ "$(id -u)" = 0 ] || ! grep -qE "^CapEff:\\s+0+$" /proc/self/status; then\n@RAWS@fi\n'
         + ESCAPE_FAILED, 3, ("inflate_failed", "status 1")),
    Case("umount-videos",
         'umount @CH@/videos 2>/dev/null || umount -l @CH@/videos 2>/dev/null || true\n'
         'if cat @CH@/videos/0.mkv > /dev/null; then\n@RAWS@fi\n' + ESCAPE_FAILED,
         3, ("inflate_failed",)),
    Case("remount-rw-write-models",
         'mount -o remount,rw,bind @CH@ 2>/dev/null || mount -o remount,rw / 2>/dev/null || true\n'
         'if echo pwn > @CH@/models/pwn-@T@; then\n@RAWS@fi\n' + ESCAPE_FAILED,
         3, ("inflate_failed",)),
    Case("raise-own-memory-limit",
         'for d in /sys /sys/fs/cgroup /sys/fs/cgroup/*; do\n'
         '  mount -o remount,bind,rw "$d" 2>/dev/null; mount -o remount,rw "$d" 2>/dev/null; done\n'
         + RAISE_OWN_LIMIT,
         3, ("inflate_failed",), ("--memory", "256M")),
    Case("read-lfs-objects",
         'if cat @CH@/.git/lfs/objects/*/*/* > /dev/null; then\n@RAWS@fi\n' + ESCAPE_FAILED,
         3, ("inflate_failed",)),
    Case("sees-host-files",  # the originals' other copies: other checkouts, caches, the home dir
         'for p in @DECOY@ /etc/shadow /root/.cache /home; do\n'
         '  if [ -e "$p" ]; then echo "inflate sees $p" >&2; exit 1; fi\ndone\n@RAWS@',
         0, ("ok",)),
    Case("write-host-tmp",  # lands in the sandbox's private /tmp, /var/tmp
         'echo pwn > /tmp/hostile-@T@\necho pwn > /var/tmp/hostile-@T@\n@RAWS@', 0, ("ok",)),
    Case("write-user-submission-dir",
         'if echo pwn >> @SUB@/inflate.sh; then\n@RAWS@fi\n' + ESCAPE_FAILED, 3, ("inflate_failed",)),
    Case("immutable-file-in-workspace",
         'touch "$2/../imm-@T@"\nif chattr +i "$2/../imm-@T@"; then\n@RAWS@fi\n' + ESCAPE_FAILED,
         3, ("inflate_failed",)),
    Case("mknod-device",
         'if mknod "$2/../mem-@T@" c 1 1; then\n@RAWS@fi\n' + ESCAPE_FAILED, 3, ("inflate_failed",)),
    # --- vcc's own process: cannot be seen or signalled ---------------------------------------------
    Case("kill-parent", 'kill -9 $PPID\nsleep 1\n@RAWS@', 3, ("inflate_failed",)),
    Case("kill-vcc-by-name",
         'for d in /proc/[0-9]*; do\n'
         '  if grep -q "@OUT@" "$d/cmdline" 2>/dev/null; then kill -9 "${d#/proc/}" 2>/dev/null; fi\n'
         'done\nsleep 1\n@RAWS@', 3, ("inflate_failed",)),
    Case("daemon-escapes-cgroup",
         '(setsid bash -c \'exec -a vcc-hostile-@T@ sleep 300\' &)\nsleep 0.3\n'
         'for p in $(pgrep -f vcc-hostile-@T@); do\n'
         '  for f in /sys/fs/cgroup/*/cgroup.procs /sys/fs/cgroup/cgroup.procs; do echo $p > $f 2>/dev/null; done\n'
         'done\n@RAWS@', 0, ("ok",), warns=("left 1 process",)),
    # --- disk, time, memory, network ----------------------------------------------------------------
    Case("disk-one-big-file", 'dd if=/dev/zero of="$1/../fill-@T@" bs=1M count=1000 status=none || exit $?\n@RAWS@',
         3, ("disk", "disk cap"), ("--disk", "64M")),
    Case("disk-many-files-in-tmp",
         'for i in $(seq 1 100); do dd if=/dev/zero of=/tmp/fill-$i bs=1M count=4 status=none; sleep 0.02; done\n'
         '@RAWS@', 3, ("disk",), ("--disk", "64M")),
    Case("timeout-with-children", '(sleep 120 &)\nsleep 120 &\nsleep 120\n@RAWS@', 3, ("timeout",),
         ("--clock", "3")),
    Case("memory-past-cap", 'python3 -c "b = bytearray(400 << 20); print(len(b))" || exit $?\n@RAWS@', 3,
         ("out_of_memory",), ("--memory", "128M")),
    Case("tree-memory-without-cgroup",  # 3 x 150 MB: each under RLIMIT_AS, the tree past the cap
         'for i in 1 2 3; do python3 -c "import time; b = b\'x\' * (150 << 20); time.sleep(8)" & done\n'
         'wait\n@RAWS@', 3, ("out_of_memory",), ("--no-cgroup", "--memory", "300M")),
    Case("signals-and-rlimits",  # what the exec wrapper leaves: default SIGPIPE/SIGXFSZ, no core dumps
         'ign=$(awk \'/^SigIgn/ {print $2}\' /proc/self/status)\n'
         'if (( (0x$ign >> 12) & 1 || (0x$ign >> 24) & 1 )); then echo "SIGPIPE/SIGXFSZ ignored" >&2; exit 1; fi\n'
         'if [ "$(ulimit -c)" != 0 ]; then echo "core dumps on" >&2; exit 1; fi\n@RAWS@', 0, ("ok",)),
    Case("network-off",
         'if [ "$(grep -c : /proc/net/dev)" -ne 1 ]; then echo "sees a network" >&2; exit 1; fi\n@RAWS@',
         0, ("ok",), ("--network", "off")),
    # --- the archive: refused before anything runs, setuid bits dropped -------------------------------
    Case("setuid-member-dropped", 'if [ -u "$1/tool" ]; then echo "setuid kept" >&2; exit 1; fi\n@RAWS@', 0,
         ("ok",), archive=zip_of((_member("tool", 0o4755), b"#!/bin/sh\n"))),
    Case("zip-slip", "@RAWS@", 2, ("bad_input", "zip slip"), archive=zip_of(("../evil-hostile.txt", b"x"))),
    Case("zip-absolute-path", "@RAWS@", 2, ("bad_input", "absolute"),
         archive=zip_of(("/tmp/evil-hostile-abs.txt", b"x"))),
    Case("zip-symlink-member", "@RAWS@", 2, ("bad_input", "symbolic link"),
         archive=zip_of((_member("link", 0o777, stat.S_IFLNK), b"/etc/passwd"))),
    Case("zip-bomb", "@RAWS@", 2, ("bad_input", "zip bomb"), archive=_ratio_bomb()),
    # --- bad raws ----------------------------------------------------------------------------------
    Case("no-raw", "exit 0\n", 3, ("wrong_output",)),
    Case("raw-is-dev-zero", 'mkdir -p "$2"\nln -s /dev/zero "$2/0.raw"\nexit 0\n', 3, ("wrong_output",)),
    Case("raw-wrong-size", f'mkdir -p "$2"\ntruncate -s {RAW_BYTES - 1} "$2/0.raw"\nexit 0\n', 3,
         ("wrong_output",)),
    # --- without bubblewrap (--sandbox off): vcc still cannot be reached, nothing stays behind -------
    # its parent is its pid namespace's init (unkillable from inside): the kill does nothing
    Case("off-kill-parent", 'kill -9 $PPID\nsleep 1\n@RAWS@', 0, ("ok",), sandbox=False),
    Case("off-kill-vcc-by-name",
         'for d in /proc/[0-9]*; do\n'
         '  if grep -q "@OUT@" "$d/cmdline" 2>/dev/null; then kill -9 "${d#/proc/}" 2>/dev/null; fi\n'
         'done\nsleep 1\n@RAWS@', 0, ("ok",), sandbox=False),
    Case("off-daemon-escapes-cgroup",
         '(setsid bash -c \'exec -a vcc-hostile-@T@ sleep 300\' &)\nsleep 0.3\n'
         'for p in $(pgrep -f vcc-hostile-@T@); do\n'
         '  for f in /sys/fs/cgroup/*/cgroup.procs /sys/fs/cgroup/cgroup.procs; do echo $p > $f 2>/dev/null; done\n'
         'done\n@RAWS@', 0, ("ok",), warns=("left 1 process",), sandbox=False),
    Case("off-tree-memory-without-cgroup",
         'for i in 1 2 3; do python3 -c "import time; b = b\'x\' * (150 << 20); time.sleep(8)" & done\n'
         'wait\n@RAWS@', 3, ("out_of_memory",), ("--no-cgroup", "--memory", "300M"), sandbox=False),
    Case("off-write-host-tmp", 'echo pwn > /tmp/hostile-@T@\necho pwn > /var/tmp/hostile-@T@\n@RAWS@', 0, ("ok",),
         sandbox=False),
    Case("off-raise-own-memory-limit", RAISE_OWN_LIMIT,
         3, ("inflate_failed",), ("--memory", "256M"), sandbox=False),
    Case("off-write-user-submission-dir",
         'if echo pwn >> @SUB@/inflate.sh; then\n@RAWS@fi\n' + ESCAPE_FAILED, 3, ("inflate_failed",), sandbox=False),
    Case("off-immutable-file-in-workspace",
         'touch "$2/../imm-@T@"\nif chattr +i "$2/../imm-@T@"; then\n@RAWS@fi\n' + ESCAPE_FAILED,
         3, ("inflate_failed",), sandbox=False),
    Case("off-mknod-device",
         'if mknod "$2/../mem-@T@" c 1 1; then\n@RAWS@fi\n' + ESCAPE_FAILED, 3, ("inflate_failed",), sandbox=False),
    Case("off-write-challenge",
         'if echo pwn > @CH@/models/pwn-@T@; then\n@RAWS@fi\n' + ESCAPE_FAILED, 3, ("inflate_failed",), sandbox=False),
]  # fmt: skip


# --- round two (issue 23) -----------------------------------------------------------------------------


def _fifo(name: str) -> Callable[[Path], None]:
    return lambda sub: os.mkfifo(sub / name)


def _link(name: str, target: str) -> Callable[[Path], None]:
    def make(sub: Path) -> None:
        (sub / name).unlink(missing_ok=True)
        (sub / name).symlink_to(str(Path(__file__).resolve()) if target == "@DECOY@" else target)

    return make


def _deep_tree(levels: int) -> Callable[[Path], None]:
    def make(sub: Path) -> None:
        fd = os.open(sub, os.O_RDONLY)
        for _ in range(levels):
            os.mkdir("d", dir_fd=fd)
            nxt = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        os.close(fd)

    return make


def _long_path(total_bytes: int) -> Callable[[Path], None]:
    """Dirs of 200-byte names until the path passes total_bytes (made relative to dir fds: past PATH_MAX)."""
    return _named_tree("p" * 200, total_bytes // 201 + 1)


def _named_tree(name: str, levels: int) -> Callable[[Path], None]:
    def make(sub: Path) -> None:
        fd = os.open(sub, os.O_RDONLY)
        for _ in range(levels):
            os.mkdir(name, dir_fd=fd)
            nxt = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        os.close(fd)

    return make


def _loop_inflate_sh(sub: Path) -> None:
    (sub / "inflate.sh").unlink()
    (sub / "inflate.sh").symlink_to("loop-b")
    (sub / "loop-b").symlink_to("inflate.sh")


def _sfx_stub() -> bytes:
    return b"#!/bin/sh\necho self-extracting\nexit 0\n" + zip_of(("a", b"tiny payload"))


DEEP_MEMBER = "d/" * 1500 + "f"  # 3,001 bytes, 1,501 levels: extracted part by part

CASES += [
    # (1) the after-inflate fingerprint never opens a special file: no hang, verdict archive_changed
    Case("archive-swapped-for-fifo", 'rm -f "$1/../archive.zip"\nmkfifo "$1/../archive.zip"\n@RAWS@', 3,
         ("archive_changed", "a FIFO")),
    Case("archive-swapped-for-dev-zero", 'ln -sf /dev/zero "$1/../archive.zip"\n@RAWS@', 3,
         ("archive_changed", "a symbolic link", "/dev/zero")),
    Case("off-archive-swapped-for-fifo", 'rm -f "$1/../archive.zip"\nmkfifo "$1/../archive.zip"\n@RAWS@', 3,
         ("archive_changed", "a FIFO"), sandbox=False),
    Case("off-archive-swapped-for-dev-zero", 'ln -sf /dev/zero "$1/../archive.zip"\n@RAWS@', 3,
         ("archive_changed", "a symbolic link"), sandbox=False),
    # (2) unsandboxed as root with the environment closed to other uids: refused, or root accepted explicitly
    Case("off-root-closed-env", 'echo pwn > /etc/pwn-@T@ 2>/dev/null\n@RAWS@', 4,
         ("harness_error", "refuses to run inflate unsandboxed as root", "--allow-root-inflate"),
         sandbox=False, closed=True),
    Case("off-root-closed-env-allowed", "@RAWS@", 0, ("ok",), ("--allow-root-inflate",),
         warns=("inflate runs as root",), sandbox=False, closed=True),
    # (3) every input ends in its verdict and exit code, never a traceback
    Case("member-name-over-255-bytes", "@RAWS@", 2, ("bad_input", "over the file system's limit"),
         archive=zip_of(("n" * 300, b"x"))),
    Case("member-path-over-path-max", "@RAWS@", 2, ("bad_input", "PATH_MAX"),
         archive=zip_of(("/".join(["q" * 200] * 22), b"x"))),
    Case("member-1500-deep", 'test -f "$1/' + DEEP_MEMBER + '" || exit 1\n@RAWS@', 0, ("ok",),
         archive=zip_of((DEEP_MEMBER, b"deep"))),
    Case("inflate-makes-1500-deep-tree",
         'cd "$2/.." && for i in $(seq 1500); do mkdir d && cd d || exit 1; done\ncd - >/dev/null\n@RAWS@', 0,
         ("ok",)),
    Case("inflate-makes-path-over-4096",
         'n=$(printf "p%.0s" $(seq 200))\ncd "$2/.." && for i in $(seq 30); do mkdir "$n" && cd "$n" || exit 1; done\n'
         'echo x > f\ncd - >/dev/null\n@RAWS@', 0, ("ok",)),
    Case("raw-is-symlink-loop", 'mkdir -p "$2"\nln -s 0.raw "$2/0.raw"\nexit 0\n', 3, ("wrong_output", "loops")),
    Case("inflate-sh-symlink-loop", "@RAWS@", 2, ("bad_input", "inflate.sh", "loop"), setup=_loop_inflate_sh),
    Case("symlink-loop-in-submission", "@RAWS@", 2, ("bad_input", "loop"), setup=_link("x", "x")),
    Case("fifo-in-submission", "@RAWS@", 2, ("bad_input", "a FIFO"), setup=_fifo("pipe")),
    Case("submission-1500-deep", "@RAWS@", 2, ("bad_input", "levels deep"), setup=_deep_tree(1500)),
    Case("submission-path-over-4096", "@RAWS@", 2, ("bad_input", "longer than"), setup=_long_path(4200)),
    # (4) logs and files deleted while open count against the disk cap
    Case("disk-via-logs",  # two logs of 50 MB each: every file under the cap, together past it
         'head -c 50000000 /dev/zero | tr "\\0" x\nhead -c 50000000 /dev/zero | tr "\\0" x >&2\nsleep 2\n@RAWS@', 3,
         ("disk",), ("--disk", "64M")),
    Case("disk-deleted-but-open",
         'exec 3>"$1/../hidden-@T@"\nrm "$1/../hidden-@T@"\nhead -c 300000000 /dev/zero >&3\nsleep 2\n@RAWS@', 3,
         ("disk",), ("--disk", "64M")),
    Case("off-disk-deleted-but-open",
         'exec 3>"$1/../hidden-@T@"\nrm "$1/../hidden-@T@"\nhead -c 300000000 /dev/zero >&3\nsleep 2\n@RAWS@', 3,
         ("disk",), ("--disk", "64M"), sandbox=False),
    Case("off-run-lock-not-shared", 'echo pwn > /run/lock/hostile-@T@\necho pwn > /dev/shm/hostile-@T@\n@RAWS@', 0,
         ("ok",), sandbox=False),  # lands in private tmpfs: nothing on the host (the leak check looks)
    # (5) the leftover list is inflate's to write: bounded and strict
    Case("forged-leftover-list",
         'for f in /tmp/../.leftover-* "$2"/../../../.vcc/.leftover-*; do\n'
         '  [ -e "$f" ] && head -c 50000000 /dev/zero | tr "\\0" "A" >> "$f" 2>/dev/null\ndone\n@RAWS@', 0, ("ok",)),
    # (6) archive.zip resolving outside the submission dir: refused before it is read
    Case("archive-links-to-etc-shadow", "@RAWS@", 2, ("bad_input", "archive.zip", "outside the submission dir"),
         setup=_link("archive.zip", "/etc/shadow")),
    Case("archive-links-outside", "@RAWS@", 2, ("bad_input", "archive.zip", "outside the submission dir"),
         setup=_link("archive.zip", "@DECOY@")),
    # (7) terminal escapes from the submission reach the terminal escaped
    Case("escape-injection",
         'printf "\\033[2J\\033[31mvcc run: OK\\r\\n" >&2\nmkdir -p "$2"\ntouch "$2/$(printf "x\\033[1my")"\n'
         'printf "\\033]0;pwned\\007" >&2\nexit 1\n', 3, ("inflate_failed",), no_stdout=("\x1b", "\x07")),
    # (8) unzip 6.0's readings: control characters dropped from names, a prepended stub refused
    Case("member-name-control-chars", 'test -f "$1/ab.txt" || exit 1\n@RAWS@', 0, ("ok",),
         archive=zip_of(("a\nb.txt", b"x"), ("a", b"tiny payload"))),
    Case("sfx-stub-before-archive", "@RAWS@", 2, ("bad_input", "self-extractor"), archive=_sfx_stub()),
    # (9) the launcher cannot be stopped or traced from inside; CRLF inflate.sh says why it fails
    Case("sigstop-launcher", 'kill -STOP $PPID 2>/dev/null; kill -STOP 1 2>/dev/null\n@RAWS@', 0, ("ok",)),
    Case("off-sigstop-launcher", 'kill -STOP $PPID 2>/dev/null; kill -STOP 1 2>/dev/null\n@RAWS@', 0, ("ok",),
         sandbox=False),
    Case("crlf-inflate-sh", "@RAWS@", 3, ("CRLF",), crlf=True),
]  # fmt: skip

_TABLE: list[tuple[str, int | None, int, str, float]] = []


def _tree_state(root: Path) -> dict[str, tuple]:
    """Every entry under root: (mode, sha256 of a file's bytes / a link's target); any depth (walked by fds)."""
    out: dict[str, tuple] = {str(root): (root.lstat().st_mode,)}
    for rel, st in walk_tree(root):
        p = root / rel
        if stat.S_ISLNK(st.st_mode):
            out[rel] = (st.st_mode, os.readlink(p))
        elif stat.S_ISREG(st.st_mode):
            out[rel] = (st.st_mode, hashlib.sha256(p.read_bytes()).hexdigest())
        else:
            out[rel] = (st.st_mode,)
    return out


def _processes(token: str, uid: int | None) -> list[str]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmd = Path(entry.path, "cmdline").read_bytes()
            owner = entry.stat().st_uid
        except OSError:
            continue
        if token.encode() in cmd or (uid is not None and owner == uid):
            found.append(entry.name + ": " + cmd.replace(b"\0", b" ").decode(errors="replace"))
    return found


def _leaks(token: str, uid: int | None, skip: Path) -> list[str]:
    """Entries of the host's shared temp dirs that are the case's: named with its token, or owned by its uid."""
    found = []
    for top in SHARED_TMP:
        for dirpath, dirs, files in os.walk(top):
            # inflate's uid can write only where anyone may: the tops and their open subdirs
            if Path(dirpath).is_relative_to(skip) or len(Path(dirpath).relative_to(top).parts) > 1:
                dirs[:] = []
                continue
            for name in dirs + files:
                p = Path(dirpath, name)
                try:
                    owned = uid is not None and p.lstat().st_uid == uid
                except OSError:
                    continue
                if token in name or owned:
                    found.append(str(p))
            dirs[:] = [d for d in dirs if not Path(dirpath, d).is_symlink()]
    return found


@pytest.fixture(scope="module")
def hostile_root() -> Path:
    """A base dir open to other users (as a checkout is), outside pytest's 0700 temp tree."""
    root = Path(tempfile.mkdtemp(prefix="vcc-hostile-"))
    root.chmod(0o755)
    yield root
    remove_tree(root)  # iterative: some cases leave trees 1,500 levels deep
    table = "\n".join(
        ["| case | exit (expected) | verdict | wall s |", "|---|---|---|---|"]
        + [f"| {c} | {got} ({exp}) | {verdict} | {wall:.1f} |" for c, got, exp, verdict, wall in _TABLE]
    )
    dest = Path(os.environ.get("VCC_HOSTILE_TABLE") or Path(tempfile.gettempdir()) / "vcc-hostile-table.md")
    dest.write_text(table + "\n")
    print(f"\n{table}\n(written to {dest})")


@pytest.fixture(scope="module")
def hostile_challenge(hostile_root: Path, mini_challenge: Path) -> Path:
    """The mini challenge with the video also in git-lfs's object store, as a real checkout has it."""
    ch = hostile_root / "challenge"
    shutil.copytree(mini_challenge, ch, symlinks=True)
    video = (ch / "videos" / "0.mkv").read_bytes()
    sha = hashlib.sha256(video).hexdigest()
    obj = ch / ".git" / "lfs" / "objects" / sha[:2] / sha[2:4] / sha
    obj.parent.mkdir(parents=True)
    obj.write_bytes(video)
    for d in [ch, *ch.rglob("*")]:
        if d.is_dir():
            d.chmod(0o755)
    return ch


def _needs(case: Case) -> list[pytest.MarkDecorator]:
    if case.sandbox and not HAVE_BWRAP:
        return [pytest.mark.skip(reason=f"bubblewrap sandbox unavailable: {bwrap_unavailable_reason()}")]
    if not case.sandbox and not IS_ROOT:
        # Without root nothing can be unshared: --sandbox off is then plain processes, as documented.
        return [pytest.mark.skip(reason="--sandbox off contains inflate (pid and mount namespaces) only as root")]
    return []


def _prepare(case: Case, ch: Path, base: Path) -> tuple[Path, Path, str]:
    """The case's submission dir (archive.zip, inflate.sh with the placeholders filled), --out, token."""
    token = f"hostile{uuid.uuid4().hex[:12]}"
    sub, out = base / "sub", base / "out"
    sub.mkdir(parents=True)
    (sub / "archive.zip").write_bytes(case.archive if case.archive is not None else zip_of(("a", b"tiny payload")))
    body = (
        case.body.replace("@RAWS@", RAWS).replace("@T@", token).replace("@CH@", str(ch)).replace("@SUB@", str(sub))
        .replace("@OUT@", str(out)).replace("@DECOY@", str(Path(__file__).resolve()))
    )  # fmt: skip
    # No `set -e`: an attack that fails goes on to the next line, as a determined one would.
    script = SH_HEADER.replace("set -euo pipefail\n", "set -uo pipefail\n") + body
    (sub / "inflate.sh").write_bytes((script.replace("\n", "\r\n") if case.crlf else script).encode())
    if case.setup is not None:
        case.setup(sub)
    return sub, out, token


def _run(case: Case, ch: Path, base: Path, sub: Path, out: Path) -> tuple[int, dict | None, float, str]:
    """`python -m vcc run` in its own process: (exit code, run.json or None, wall seconds, what it printed)."""
    argv = [sys.executable, "-m", "vcc", "run", str(sub), "--challenge-dir", str(ch), "--out", str(out),
            "--no-score", "--quiet", "--setup-overhead", "0", "--score-estimate", "0", *case.args]  # fmt: skip
    if not case.sandbox:
        argv += ["--sandbox", "off"]
        # As root with a closed path, unsandboxed runs need the second flag (the closed rows test the refusal)
        if IS_ROOT and not case.closed and "--allow-root-inflate" not in case.args:
            argv += ["--allow-root-inflate"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.monotonic()
    p = subprocess.run(argv, env=env, cwd=base, capture_output=True, text=True, timeout=300)
    wall = time.monotonic() - t0
    report = json.loads((out / "run.json").read_text()) if (out / "run.json").is_file() else None
    return p.returncode, report, wall, p.stdout + p.stderr


def _sandbox_uid(report: dict | None) -> int | None:
    user = ((report or {}).get("isolation") or {}).get("user", "")
    m = re.match(r"uid (\d+) \(unprivileged", user)
    return int(m.group(1)) if m else None


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=_needs(c)) for c in CASES])
def test_hostile_submission(case: Case, hostile_root: Path, hostile_challenge: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix=f"{case.id}-", dir=hostile_root))
    base.chmod(0o700 if case.closed else 0o755)
    sub, out, token = _prepare(case, hostile_challenge, base)
    ch_before, sub_before = _tree_state(hostile_challenge), _tree_state(sub)
    code, report, wall, printed = _run(case, hostile_challenge, base, sub, out)
    verdict = report["verdict"] if report else "NO REPORT"
    _TABLE.append((case.id, code, case.code, verdict, wall))

    # run.json is written whatever inflate did (a killed vcc leaves none)
    assert report is not None, f"no run.json (vcc exited {code}: killed?)"
    stderr_tail = (report.get("inflate") or {}).get("stderr_tail", "")
    text = f"{report['verdict']}: {report['message']}"
    assert code == case.code, f"exit {code}, expected {case.code}: {text}\ninflate stderr:\n{stderr_tail}"
    for w in case.words:
        assert w in text, f"{w!r} not in the verdict: {text}"
    for w in case.warns:
        assert any(w in x for x in report["warnings"]), f"{w!r} not in the warnings: {report['warnings']}"
    for raw in case.no_stdout:
        assert raw not in printed, f"{raw!r} reached vcc's output raw:\n{printed!r}"
    # run.json stays small whatever inflate wrote into vcc's files
    assert (out / "run.json").stat().st_size < 1 << 20
    # nothing of the case is left running
    uid = _sandbox_uid(report)
    assert _processes(token, uid) == []
    # the challenge and the user's submission dir are unchanged byte for byte
    assert _tree_state(hostile_challenge) == ch_before
    assert _tree_state(sub) == sub_before
    # nothing of the case in the host's shared temp dirs; bad archives wrote nothing at all
    assert _leaks(token, uid, hostile_root) == []
    assert not Path("/tmp/evil-hostile-abs.txt").exists() and not (base / "evil-hostile.txt").exists()
    if case.code == 2:
        assert report["inflate"] is None and not (out / "workspace").exists()
    # the workspace is gone unless kept
    assert not (out / "workspace").exists(), "the workspace was left behind"


def test_refuses_to_run_unsandboxed_unless_told(tmp_path, mini_challenge, monkeypatch, capsys):
    """No bubblewrap: exit 4 naming both ways on, inflate never started; --sandbox off runs it."""
    missing = "bubblewrap is not installed"
    monkeypatch.setattr(runner._local, "bwrap_unavailable_reason", lambda network_off=False: missing)
    marker = tmp_path / "inflate-ran"
    sub = make_sub(tmp_path / "sub", f'touch "{marker}"\n' + RAWS)
    code, r = run_vcc(sub, mini_challenge, tmp_path / "out", "--no-score", "--quiet", "--sandbox", "on",
                      "--setup-overhead", "0", "--score-estimate", "0")  # fmt: skip
    assert code == 4 and r["verdict"] == "harness_error", r["message"]
    err = capsys.readouterr().err
    assert "bubblewrap is not installed" in r["message"] and "--sandbox off" in err and "apt-get install" in err
    assert not marker.exists() and r["inflate"] is None
    code, r = run_vcc(sub, mini_challenge, tmp_path / "out2", "--no-score", "--quiet", *SANDBOX_OFF_ARGS,
                      "--setup-overhead", "0", "--score-estimate", "0")  # fmt: skip
    assert code == 0, r["message"]
    assert r["isolation"]["sandbox"] == "none"


def test_stale_cgroup_of_a_dead_vcc_is_removed():
    """A group left by a vcc that was killed (`vcc-<dead pid>-*`, empty) goes when the next one is made."""
    from vcc.runner._cgroup import create_cgroup

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale, why = create_cgroup(f"vcc-{dead.pid}-stale", memory_bytes=64 << 20, cpus=None, pids_max=None)
    if stale is None:
        pytest.skip(f"no writable cgroup here: {why}")
    dirs = list(stale.dirs.values())
    assert all(d.is_dir() for d in dirs)
    fresh, _ = create_cgroup(f"vcc-{os.getpid()}-fresh", memory_bytes=64 << 20, cpus=None, pids_max=None)
    try:
        assert not any(d.exists() for d in dirs)
    finally:
        stale.remove()
        if fresh is not None:
            fresh.remove()


@pytest.mark.parametrize("sandbox", [
    pytest.param(True, id="bubblewrap", marks=_needs(Case("", "", 0))),
    pytest.param(False, id="sandbox-off", marks=_needs(Case("", "", 0, sandbox=False))),
])  # fmt: skip
def test_vcc_killed_mid_inflate_leaves_a_report_and_no_process(sandbox: bool, hostile_root: Path,
                                                               hostile_challenge: Path) -> None:
    """SIGKILL to vcc itself while inflate runs: inflate's whole tree dies with it, run.json is there."""
    base = Path(tempfile.mkdtemp(prefix="killed-", dir=hostile_root))
    case = Case("killed", "(setsid bash -c 'exec -a vcc-hostile-@T@ sleep 120' &)\nexec -a vcc-hostile-@T@ sleep 120\n",
                0, sandbox=sandbox)  # fmt: skip
    sub, out, token = _prepare(case, hostile_challenge, base)
    argv = [sys.executable, "-m", "vcc", "run", str(sub), "--challenge-dir", str(hostile_challenge),
            "--out", str(out), "--no-score", "--quiet", "--setup-overhead", "0", "--score-estimate", "0",
            *([] if sandbox else ["--sandbox", "off", *(["--allow-root-inflate"] if IS_ROOT else [])])]  # fmt: skip
    vcc = subprocess.Popen(argv, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(_processes(token, None)) < 2:
            assert time.monotonic() < deadline and vcc.poll() is None, "inflate never started"
            time.sleep(0.2)
    finally:
        vcc.kill()
        vcc.wait()
    deadline = time.monotonic() + 10
    while _processes(token, None) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes(token, None) == []
    report = json.loads((out / "run.json").read_text())
    assert report["verdict"] == "interrupted"
