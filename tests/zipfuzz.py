"""Differential fuzzing of vcc's archive vetting and extraction against Info-ZIP unzip 6.0.

A case is an archive made from a seed: a valid zip with features drawn at random (stored and
deflated members, zip64 extra fields and end records, data descriptors with and without their
signature, extra fields, Info-ZIP Unicode Path fields in one or both headers (valid, of another
version or CRC, empty, two in a row), file and archive comments, directories, empty members, long
names, names with control bytes and NULs, non-ASCII names with and without the UTF-8 flag and raw
high bytes, Unix and DOS attributes of nine hosts and their "version made by" values, a prepended stub),
then, for most cases, one or two structural mutations (a size, an offset, a CRC, a name or extra
length, a count changed; the file truncated; a central record duplicated or pointed at another
member's local header; a byte flipped in a header or in the data).

Each case runs `unzip -o` and vcc's `extract_archive` side by side in a scratch dir. The outcome
must be one of:
- refused: vcc raised BadInput naming archive.zip (counted; an over-refusal when unzip exited 0);
- equal: vcc extracted, unzip exited 0, and both trees hold the same names, bytes and permission bits.
Anything else (vcc accepts and unzip fails or writes another tree, an exception other than BadInput,
a case over its time, a write outside the scratch dir) is a failure, reported with its seed.

Used by tests/test_zip_fuzz.py (and `make fuzz`); this module holds no test itself.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import stat
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vcc.base import BadInput
from vcc.runner import extract_archive

UNZIP = "/usr/bin/unzip"
REPORTS: list[str] = []  # each run's report line(s), for the test session's summary
# The runner's locale (GitHub's ubuntu images): unzip converts names by it.
_UNZIP_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
CASE_SECONDS = 20  # one case's budget (both extractors); past it the case is a hang

# --------------------------------------------------------------------------- a writer that can lie


@dataclass
class Member:
    name: bytes
    data: bytes
    method: int = 0  # 0 stored, 8 deflated
    flags: int = 0
    create_system: int = 3
    made_version: int = 30  # "version made by", low byte: unzip reads 2.5/2.6/4.0 (FAT) and 5.0 (NTFS) apart
    external_attr: int = 0
    extra_local: bytes = b""
    extra_central: bytes = b""
    comment: bytes = b""
    descriptor: str = ""  # "", "sig" (with its signature) or "nosig"
    zip64: bool = False
    internal_attr: int = 0  # bit 2: PKWARE's verification checksum, which makes unzip drop the Unix bits
    version_needed: int | None = None  # the central record's two bytes; None: 2.0 (4.5 for zip64)


@dataclass
class Field:
    """Where one header field sits in the archive's bytes, for the mutations."""

    offset: int
    size: int  # 2 or 4 bytes
    kind: str  # e.g. "local.csize", "central.offset", "end.count"


@dataclass
class Built:
    data: bytearray
    fields: list[Field] = field(default_factory=list)
    central_records: list[tuple[int, int]] = field(default_factory=list)  # (start, end) of each
    end_offset: int = 0  # where the end record starts
    data_spans: list[tuple[int, int]] = field(default_factory=list)


_DOS_TIME, _DOS_DATE = (12 << 11) | (30 << 5), ((2020 - 1980) << 9) | (6 << 5) | 15


def _zip64_extra(size: int, csize: int, offset: int | None) -> bytes:
    body = struct.pack("<QQ", size, csize) + (struct.pack("<Q", offset) if offset is not None else b"")
    return struct.pack("<HH", 1, len(body)) + body


def build(members: list[Member], *, stub: bytes = b"", comment: bytes = b"", zip64_end: bool = False) -> Built:
    out = Built(bytearray(stub))
    buf = out.data
    offsets = []
    payloads = []
    for m in members:
        payload = m.data if m.method == 0 else _deflate(m.data)
        payloads.append(payload)
        crc = zlib.crc32(m.data)
        flags = m.flags | (0x8 if m.descriptor else 0)
        lcrc, lc, lu = (0, 0, 0) if m.descriptor else (crc, len(payload), len(m.data))
        extra = m.extra_local
        if m.zip64:
            lc, lu = 0xFFFFFFFF, 0xFFFFFFFF
            extra = _zip64_extra(0 if m.descriptor else len(m.data), 0 if m.descriptor else len(payload), None) + extra
        offsets.append(len(buf))
        h = len(buf)
        buf += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if m.zip64 else 20, flags, m.method, _DOS_TIME, _DOS_DATE,
                           lcrc, lc, lu, len(m.name), len(extra))  # fmt: skip
        for off, size, kind in ((14, 4, "local.crc"), (18, 4, "local.csize"), (22, 4, "local.size"),
                                (26, 2, "local.namelen"), (28, 2, "local.extralen"), (6, 2, "local.flags"),
                                (8, 2, "local.method")):  # fmt: skip
            out.fields.append(Field(h + off, size, kind))
        buf += m.name + extra
        out.data_spans.append((len(buf), len(buf) + len(payload)))
        buf += payload
        if m.descriptor:
            d = len(buf)
            if m.descriptor == "sig":
                buf += struct.pack("<I", 0x08074B50)
            if m.zip64:
                buf += struct.pack("<IQQ", crc, len(payload), len(m.data))
            else:
                buf += struct.pack("<III", crc, len(payload), len(m.data))
                out.fields.append(Field(len(buf) - 8, 4, "descriptor.csize"))
            out.fields.append(Field(d, 4, "descriptor.first"))
    cd_start = len(buf)
    for m, off, payload in zip(members, offsets, payloads, strict=True):
        crc = zlib.crc32(m.data)
        flags = m.flags | (0x8 if m.descriptor else 0)
        cc, cu, coff, extra = len(payload), len(m.data), off, m.extra_central
        if m.zip64:
            cc, cu, coff = 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF
            extra = _zip64_extra(len(m.data), len(payload), off) + extra
        h = len(buf)
        needed = m.version_needed if m.version_needed is not None else (45 if m.zip64 else 20)
        buf += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, (m.create_system << 8) | m.made_version, needed,
                           flags, m.method, _DOS_TIME, _DOS_DATE, crc, cc, cu, len(m.name), len(extra),
                           len(m.comment), 0, m.internal_attr, m.external_attr, coff)  # fmt: skip
        for o, size, kind in ((16, 4, "central.crc"), (20, 4, "central.csize"), (24, 4, "central.size"),
                              (28, 2, "central.namelen"), (30, 2, "central.extralen"), (32, 2, "central.commentlen"),
                              (42, 4, "central.offset"), (38, 4, "central.attr"), (8, 2, "central.flags"),
                              (10, 2, "central.method"), (4, 2, "central.made_by"), (6, 2, "central.needed"),
                              (36, 2, "central.internal_attr")):  # fmt: skip
            out.fields.append(Field(h + o, size, kind))
        buf += m.name + extra + m.comment
        out.central_records.append((h, len(buf)))
    cd_size = len(buf) - cd_start
    n = len(members)
    if zip64_end:
        z = len(buf)
        buf += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, cd_size, cd_start)
        out.fields += [Field(z + 24, 4, "zip64end.count"), Field(z + 48, 4, "zip64end.cdoffset")]
        buf += struct.pack("<IIQI", 0x07064B50, 0, z, 1)
    out.end_offset = len(buf)
    e = len(buf)
    buf += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, cd_size, cd_start, len(comment)) + comment
    out.fields += [Field(e + 8, 2, "end.count_disk"), Field(e + 10, 2, "end.count"), Field(e + 12, 4, "end.cdsize"),
                   Field(e + 16, 4, "end.cdoffset"), Field(e + 20, 2, "end.commentlen")]  # fmt: skip
    return out


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


# --------------------------------------------------------------------------- the generator

_WORDS = ["a", "b", "0", "raw", "model.bin", "data", "x.txt", "sub", "deep", "LICENSE", "café", "日本", "naïve",
          "space name", "UPPER.TXT", "dot.", "-dash", "e\u0301"]  # fmt: skip
_EXTRA_IDS = (0x5455, 0x7875, 0xCAFE, 0x000A, 0x6375, 0x9901)


def _name(rng: random.Random, is_dir: bool) -> str:
    depth = rng.choice([1, 1, 1, 2, 3])
    parts = [rng.choice(_WORDS) for _ in range(depth)]
    r = rng.random()
    if r < 0.04:
        parts[-1] = "n" * rng.choice([100, 200, 254, 255, 256, 300])
    elif r < 0.07:
        parts[-1] = parts[-1] + chr(rng.choice([0, 1, 9, 10, 13, 27, 127]))
    elif r < 0.09:
        parts[-1] = parts[-1].replace("a", "\\") or "\\"
    name = "/".join(parts)
    return name + "/" if is_dir else name


def _unicode_path(rng: random.Random, name: bytes) -> bytes:
    """One or two Info-ZIP Unicode Path fields (0x7075) for a member named `name`: mostly valid (version 1, the
    CRC of the name), naming another path, the same one or nothing; sometimes of another version or CRC."""
    out = b""
    for _ in range(rng.choice([1, 1, 1, 2])):
        version = rng.choice([1, 1, 1, 1, 0, 2])
        crc = zlib.crc32(name.split(b"\0", 1)[0]) if rng.random() < 0.85 else rng.randrange(1 << 32)
        kind = rng.random()
        if kind < 0.15:
            new = name
        elif kind < 0.22:
            new = b""
        elif kind < 0.27:
            new = rng.choice([b"../up.txt", b"/abs.txt", b"d\\e.txt", b"a\x01b", b"x\xffy", b"\xfc.txt"])
        else:
            new = _name(rng, name.endswith(b"/") if rng.random() < 0.95 else not name.endswith(b"/")).encode()
        body = bytes([version]) + struct.pack("<I", crc) + new
        out += struct.pack("<HH", 0x7075, len(body)) + body
    return out


def _raw_name(rng: random.Random, is_dir: bool) -> bytes:
    """A name of bytes in no stated encoding: ASCII with bytes from 0x80 to 0xff (OEM code page, Latin-1, UTF-8)."""
    def byte() -> int:
        return rng.choice([rng.randrange(0x80, 0x100), rng.randrange(0x61, 0x7B)])

    parts = [bytes(byte() for _ in range(rng.randrange(1, 6))) for _ in range(rng.choice([1, 1, 2]))]
    return b"/".join(parts) + (b"/" if is_dir else b"")


def _extra(rng: random.Random) -> bytes:
    out = b""
    for _ in range(rng.choice([0, 0, 1, 2])):
        ident = rng.choice(_EXTRA_IDS)
        body = rng.randbytes(rng.choice([0, 4, 5, 9, 13]))
        out += struct.pack("<HH", ident, len(body)) + body
    return out


def _data(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.15:
        return b""
    n = rng.choice([1, 7, 100, 1000, 5000, 70000])
    if kind < 0.5:
        return rng.randbytes(min(n, 2000))
    return (rng.choice([b"abc", b"\0", b"hello world\n"]) * n)[:n]


def _attrs(rng: random.Random, is_dir: bool) -> tuple[int, int]:
    """(create_system, external_attr)."""
    # Unix, FAT, NTFS, OS X; rarely VMS, Atari, Mac, BeOS, AtheOS (hosts unzip maps in their own ways)
    host = rng.choice([3, 3, 3, 0, 0, 11, 19, rng.choice([2, 5, 7, 16, 30])])
    dos = 0x10 if is_dir else rng.choice([0, 0x20, 0x01, 0x21])
    if rng.random() < 0.03:
        dos |= rng.choice([0x08, 0x10, 0x02 | 0x04])  # volume label, a dir flag on a file, hidden + system
    link = stat.S_IFLNK if not is_dir and rng.random() < 0.03 else 0
    if host in (3, 2, 5, 16, 30) and rng.random() < 0.9:
        perm = rng.choice([0o644, 0o755, 0o600, 0o444, 0o700, 0o4755, 0o2755, 0o1777, 0o000, 0o640])
        kind = stat.S_IFDIR if is_dir else link or rng.choice([stat.S_IFREG] * 8 + [0])
        return host, ((kind | perm) << 16) | dos
    if host == 0 and rng.random() < 0.3:
        perm = rng.choice([0o644, 0o444, 0o755, 0o600, 0o1777, 0o4700])
        return host, (((link or stat.S_IFREG) | perm) << 16) | dos
    return host, dos


def generate_members(rng: random.Random) -> tuple[list[Member], dict]:
    members: list[Member] = []
    for _ in range(rng.choice([1, 1, 2, 3, 4, 6])):
        is_dir = rng.random() < 0.15
        name = _name(rng, is_dir)
        utf8 = rng.random() < 0.8
        raw = name.encode("utf-8") if utf8 or name.isascii() else name.encode("latin-1", "replace")
        if rng.random() < 0.06:
            raw, utf8 = _raw_name(rng, is_dir), False
        host, attr = _attrs(rng, is_dir)
        data = b"" if is_dir else _data(rng)
        m = Member(raw, data, method=0 if is_dir or rng.random() < 0.4 else 8,
                   flags=0x800 if utf8 and not raw.isascii() else (0x800 if rng.random() < 0.1 else 0),
                   create_system=host, external_attr=attr)  # fmt: skip
        if rng.random() < 0.2:
            m.extra_local = _extra(rng)
        if rng.random() < 0.2:
            m.extra_central = _extra(rng)
        if rng.random() < 0.08:  # as Info-ZIP zip 3.0 writes them: the same field in both headers, mostly
            up = _unicode_path(rng, raw)
            where = rng.choice(["both", "both", "both", "central", "local"])
            m.extra_central += up if where != "local" else b""
            m.extra_local += up if where != "central" else (_unicode_path(rng, raw) if rng.random() < 0.3 else b"")
        if rng.random() < 0.3:
            m.made_version = rng.choice([20, 25, 26, 40, 50, 63])
        if rng.random() < 0.1:
            m.comment = b"member comment"
        if not is_dir and rng.random() < 0.2:
            m.descriptor = rng.choice(["sig", "nosig"])
        if rng.random() < 0.1:
            m.zip64 = True
        if rng.random() < 0.04:
            m.internal_attr = rng.choice([1, 4, 5])
        if rng.random() < 0.04:  # 4.6 is unzip 6.0's most; byte 1 is the host the version means (2: VMS)
            m.version_needed = rng.choice([10, 46, 47, 51, 63]) | (rng.choice([0, 0, 2]) << 8)
        members.append(m)
    if rng.random() < 0.05 and members:  # the same name twice
        members.append(Member(members[0].name, b"again", create_system=3, external_attr=(0o100644 << 16)))
    opts = {
        "stub": (b"#!/bin/sh\necho self-extractor\nexit 0\n" * rng.choice([1, 3])) if rng.random() < 0.08 else b"",
        "comment": b"archive comment" if rng.random() < 0.1 else b"",
        "zip64_end": rng.random() < 0.08,
        "prepend": b"MZ self-extractor\0" * 4 if rng.random() < 0.04 else b"",
    }
    return members, opts


def _mutate(rng: random.Random, built: Built) -> str:
    """One structural mutation of the archive in place; what it did."""
    buf = built.data
    n = len(buf)  # an earlier truncation leaves records past the end: only what is still there is mutated
    built.fields = [f for f in built.fields if f.offset + f.size <= n]
    built.central_records = [r for r in built.central_records if r[1] <= n]
    built.data_spans = [r for r in built.data_spans if r[1] <= n]
    if built.end_offset + 22 > n:
        built.central_records = []
    kind = rng.random()
    if kind < 0.45 and built.fields:
        f = rng.choice(built.fields)
        old = int.from_bytes(buf[f.offset : f.offset + f.size], "little")
        top = (1 << (8 * f.size)) - 1
        new = rng.choice([old + 1, old - 1, 0, top, old + rng.randrange(1, 64), rng.randrange(top + 1), old ^ 0x800])
        new &= top
        buf[f.offset : f.offset + f.size] = new.to_bytes(f.size, "little")
        return f"{f.kind} {old} -> {new}"
    if kind < 0.55:
        cut = rng.randrange(len(buf))
        del buf[cut:]
        return f"truncated at {cut}"
    if kind < 0.65 and built.central_records:
        a, b = rng.choice(built.central_records)
        rec = bytes(buf[a:b])
        buf[b:b] = rec
        e = built.end_offset + (b - a)
        n = (int.from_bytes(buf[e + 10 : e + 12], "little") + 1) & 0xFFFF  # an earlier mutation may have left 0xFFFF
        buf[e + 8 : e + 12] = struct.pack("<HH", n, n)
        size = (int.from_bytes(buf[e + 12 : e + 16], "little") + (b - a)) & 0xFFFFFFFF
        buf[e + 12 : e + 16] = struct.pack("<I", size)
        return f"central record at {a} duplicated"
    if kind < 0.72 and len(built.central_records) > 1:
        (a, _), (b, _) = rng.sample(built.central_records, 2)
        buf[b + 42 : b + 46] = buf[a + 42 : a + 46]
        return f"central record at {b} points at the local header of {a}"
    if kind < 0.86 and built.data_spans:
        s, e = rng.choice(built.data_spans)
        if e > s:
            i = rng.randrange(s, e)
            buf[i] ^= 1 << rng.randrange(8)
            return f"data byte {i} flipped"
    i = rng.randrange(len(buf))
    buf[i] ^= 1 << rng.randrange(8)
    return f"byte {i} flipped"


def make_case(seed: int, index: int) -> tuple[bytes, str]:
    """The archive of case `index` under `seed`, and a line saying how it was made."""
    rng = random.Random(f"{seed}:{index}")
    members, opts = generate_members(rng)
    prepend = opts.pop("prepend")
    built = build(members, **opts)
    if prepend:  # a stub in front of a finished zip: the offsets no longer fit (`cat stub archive.zip`)
        built.data[0:0] = prepend
        for f in built.fields:
            f.offset += len(prepend)
        built.central_records = [(a + len(prepend), b + len(prepend)) for a, b in built.central_records]
        built.data_spans = [(a + len(prepend), b + len(prepend)) for a, b in built.data_spans]
        built.end_offset += len(prepend)
        opts["prepend"] = prepend
    how = [f"{len(members)} member(s)"] + [k for k, v in opts.items() if v]
    mutations = 0 if rng.random() < 0.35 else rng.choice([1, 1, 1, 2])
    for _ in range(mutations):
        if len(built.data) > 0:
            how.append(_mutate(rng, built))
    return bytes(built.data), "; ".join(how)


# --------------------------------------------------------------------------- the oracle


def tree(root: Path) -> dict[str, tuple]:
    """Every entry under root: (kind, permission bits, bytes for a file / link target)."""
    out: dict[str, tuple] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath, name)
            st = p.lstat()
            rel = str(p.relative_to(root))
            if stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ("file", stat.S_IMODE(st.st_mode), p.read_bytes())
            else:
                out[rel] = ("other", st.st_mode, os.readlink(p) if stat.S_ISLNK(st.st_mode) else None)
    return out


@dataclass
class Outcome:
    kind: str  # "equal", "refused", "FAIL"
    unzip_rc: int | None
    detail: str = ""


class _CaseTimeout(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _CaseTimeout()


def _writable_open(root: Path) -> None:
    for dirpath, dirs, _ in os.walk(root):
        for d in dirs:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                os.chmod(p, 0o700)


def run_case(archive: bytes, scratch: Path) -> Outcome:
    """unzip -o and vcc side by side in `scratch` (emptied first); the outcome."""
    if scratch.exists():
        _writable_open(scratch)
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    zpath = scratch / "archive.zip"
    zpath.write_bytes(archive)
    udir, vdir = scratch / "u", scratch / "v"
    udir.mkdir()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_SECONDS)  # one clock for both extractors: a hang in either ends the case
    unzip: subprocess.Popen[bytes] | None = None
    urc: int | None = None
    vcc_error: BadInput | None = None
    try:
        unzip = subprocess.Popen([UNZIP, "-o", "-qq", str(zpath), "-d", str(udir)], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_UNZIP_ENV)  # fmt: skip
        urc = unzip.wait()
        try:
            extract_archive(zpath, vdir)
        except BadInput as e:
            vcc_error = e
    except _CaseTimeout:
        who = "unzip" if urc is None else "vcc's extraction"
        return Outcome("FAIL", urc, f"{who} ran past {CASE_SECONDS} s")
    except Exception as e:  # any other exception is the failure being looked for
        return Outcome("FAIL", urc, f"vcc crashed: {type(e).__name__}: {e}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        if unzip is not None and unzip.returncode is None:
            unzip.kill()
            unzip.wait()
    outside = sorted(set(os.listdir(scratch)) - {"archive.zip", "u", "v"})
    if outside:
        return Outcome("FAIL", urc, f"something was written outside the extraction dirs: {outside}")
    if vcc_error is not None:
        text = str(vcc_error)
        if not text.startswith("archive.zip"):
            return Outcome("FAIL", urc, f"vcc's refusal does not name archive.zip: {text}")
        if vdir.exists() and any(vdir.iterdir()) and urc != 0:
            pass  # a refusal during extraction leaves a partial tree; the runner's job never scores it
        return Outcome("refused", urc, text)
    if urc != 0:
        return Outcome("FAIL", urc, f"vcc extracted but unzip exited {urc}")
    u, v = tree(udir), tree(vdir)
    if u != v:
        diff = sorted(k for k in set(u) | set(v) if u.get(k) != v.get(k))[:5]
        shown = [(k, _short(u.get(k)), _short(v.get(k))) for k in diff]
        return Outcome("FAIL", urc, f"trees differ (name, unzip, vcc): {shown}")
    return Outcome("equal", urc)


def _short(entry: tuple | None) -> tuple | None:
    if entry is None or entry[0] != "file":
        return entry
    return (entry[0], oct(entry[1]), f"{len(entry[2])} bytes", zlib.crc32(entry[2]))


@dataclass
class Tally:
    cases: int = 0
    equal: int = 0
    refused: int = 0
    over_refused: int = 0  # refused although unzip exited 0
    failures: list[tuple[int, str, str, Path]] = field(default_factory=list)  # (index, how, detail, kept archive)
    over_refusal_reasons: dict[str, int] = field(default_factory=dict)


def _reason_key(text: str) -> str:
    """A refusal's message without member names and numbers: the class of defect."""
    import re

    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", text)
    text = re.sub(r"\d[\d,]*", "N", text)
    return text[:110]


def _scratch_base() -> str | None:
    """tmpfs where there is one (creating and removing thousands of dirs on an overlay costs seconds)."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def run_cases(seed: int, indices: Iterator[int] | range, keep_dir: Path) -> Tally:
    """Run the cases `indices` of `seed` (in this process); failing archives are kept under keep_dir."""
    tally = Tally()
    scratch = Path(tempfile.mkdtemp(prefix="vcc-zipfuzz-", dir=_scratch_base()))
    try:
        for i in indices:
            archive, how = make_case(seed, i)
            out = run_case(archive, scratch / "case")
            tally.cases += 1
            if out.kind == "equal":
                tally.equal += 1
            elif out.kind == "refused":
                tally.refused += 1
                if out.unzip_rc == 0:
                    tally.over_refused += 1
                    key = _reason_key(out.detail)
                    tally.over_refusal_reasons[key] = tally.over_refusal_reasons.get(key, 0) + 1
            else:
                keep_dir.mkdir(parents=True, exist_ok=True)
                kept = keep_dir / f"seed{seed}-case{i}.zip"
                kept.write_bytes(archive)
                tally.failures.append((i, how, out.detail, kept))
    finally:
        _writable_open(scratch)
        shutil.rmtree(scratch, ignore_errors=True)
    return tally


def merge(tallies: list[Tally]) -> Tally:
    total = Tally()
    for t in tallies:
        total.cases += t.cases
        total.equal += t.equal
        total.refused += t.refused
        total.over_refused += t.over_refused
        total.failures += t.failures
        for k, v in t.over_refusal_reasons.items():
            total.over_refusal_reasons[k] = total.over_refusal_reasons.get(k, 0) + v
    return total
