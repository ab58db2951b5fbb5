"""`vcc pack`: a deterministic archive.zip from files and directories.

Same inputs, same bytes, on any machine: members sorted by name, timestamps fixed
at 1980-01-01 00:00:00, permissions 0644 (0755 when the source is executable), no
extra fields, directory entries only for empty directories. Each member's encoding
is chosen from its bytes alone: by default ("best") the smallest of stored,
deflate-9 (zlib) and zopfli-deflate (when the optional zopfli package is installed),
all of them zip methods 0 and 8 that the runner's unzip 6.0 reads as they are;
`--store` and `--deflate` force one. For the same encoder versions (reported) the
output is byte-identical, and never larger than `--store`'s. The archive is checked
with the runner's own vetting before it replaces the output, atomically; inputs are
only read.
"""

from __future__ import annotations

import os
import stat
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from vcc.base import (
    FIXED_DATE_TIME,
    METHOD_DEFLATED,
    OFFICIAL_ORIGINAL_BYTES,
    PACK_METHODS,
    BadInput,
    Encoded,
    ZipEntry,
    encode_member,
    file_sha256,
    rate_term,
    vet_archive,
    write_central_directory,
    write_directory,
    write_encoded,
    zopfli_version,
)

from ._files import LITTER

__all__ = [
    "OFFICIAL_ORIGINAL_BYTES",
    "DEFAULT_EXCLUDES",
    "PACK_METHODS",
    "PackConfig",
    "PackedMember",
    "PackResult",
    "rate_contribution",
    "collect_members",
    "pack_archive",
    "parse_name_map",
]

# OFFICIAL_ORIGINAL_BYTES, the rate's denominator on the leaderboard, is base's; still importable from
# here and from submission. The official evaluator divides the archive's size by the sum of the sizes of
# every file under videos/; in the official checkout that is videos/0.mkv alone, 37,545,489 bytes.
# Build litter that would make the archive depend on whether the code was ever run.
DEFAULT_EXCLUDES = LITTER


def rate_contribution(archive_bytes: int, original_bytes: int = OFFICIAL_ORIGINAL_BYTES) -> float:
    """The archive's term in the score: 25 * (size / original size)."""
    return rate_term(archive_bytes, original_bytes)


@dataclass
class PackConfig:
    sources: list[Path]
    output: Path
    method: str = "best"  # one of PACK_METHODS: best (smallest unzip-readable encoding), store, deflate
    # default member name -> name in the archive (e.g. {"0.hevc": "0"}: one-letter names save bytes)
    name_map: dict[str, str] = field(default_factory=dict)
    excludes: tuple[str, ...] = DEFAULT_EXCLUDES

    def __post_init__(self) -> None:
        self.sources = [Path(s) for s in self.sources]
        self.output = Path(self.output)
        if self.method not in PACK_METHODS:
            raise BadInput(f"unknown pack method {self.method!r}", fix=f"use one of {', '.join(PACK_METHODS)}")


@dataclass(frozen=True)
class PackedMember:
    name: str
    source: str
    bytes: int
    compressed_bytes: int
    method: str
    mode: str
    crc32: str
    encoder: str = "stored"  # stored, deflate-9 or zopfli
    tried: dict[str, int] = field(default_factory=dict)  # encoder -> bytes, for every candidate

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class PackResult:
    output: Path
    bytes: int
    sha256: str
    members: list[PackedMember]
    skipped: list[str]
    method: str
    warnings: list[str] = field(default_factory=list)

    @property
    def overhead_bytes(self) -> int:
        """Bytes of zip structure (headers, names, central directory) beyond the members' data."""
        return self.bytes - sum(m.compressed_bytes for m in self.members)

    @property
    def rate_contribution(self) -> float:
        return rate_contribution(self.bytes)

    def as_json(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "bytes": self.bytes,
            "sha256": self.sha256,
            "overhead_bytes": self.overhead_bytes,
            "original_bytes": OFFICIAL_ORIGINAL_BYTES,
            "rate_contribution": self.rate_contribution,
            "method": self.method,
            "encoders": self.encoders(),
            "date_time": "{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}".format(*FIXED_DATE_TIME),
            "members": [m.as_json() for m in self.members],
            "skipped": self.skipped,
            "warnings": self.warnings,
        }

    def encoders(self) -> dict[str, str | None]:
        """The versions the bytes depend on: zlib's for deflate-9, zopfli's where it was used or tried."""
        return {
            "zlib": zlib.ZLIB_RUNTIME_VERSION if self.method != "store" else None,
            "zopfli": zopfli_version() if self.method == "best" else None,
        }

    def summary(self) -> str:
        lines = []
        for m in self.members:
            tried = ", ".join(f"{k} {v:,}" for k, v in m.tried.items()) if len(m.tried) > 1 else ""
            lines.append(
                f"{m.name}  {m.bytes:,} -> {m.compressed_bytes:,} bytes ({m.encoder}, {m.mode})"
                + (f"  [tried: {tried}]" if tried else "")
            )
        lines.append(f"{self.output}: {self.bytes:,} bytes, sha256 {self.sha256}")
        n = len(self.members)
        lines.append(
            f"container overhead: {self.overhead_bytes:,} bytes (local headers, central directory and names "
            f"of {n} member(s), end record)"
        )
        if self.method == "best" and zopfli_version() is None:
            lines.append("note: zopfli is not installed (`pip install 'vcc[zopfli]'`): deflate is zlib's level 9 only")
        lines.append(
            f"rate contribution: 25 * {self.bytes:,} / {OFFICIAL_ORIGINAL_BYTES:,} = {self.rate_contribution:.8f} "
            f"(each 1,000 bytes cost {rate_contribution(1000):.6f} points)"
        )
        if self.skipped:
            lines.append(f"skipped: {', '.join(self.skipped)}")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def parse_name_map(pairs: list[str]) -> dict[str, str]:
    """['0.hevc=0', ...] -> {'0.hevc': '0'}."""
    out: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise BadInput(f"--name-map {pair!r} is not OLD=NEW", fix="e.g. --name-map 0.hevc=0")
        if old in out:
            raise BadInput(f"--name-map gives {old!r} twice", fix="map each member once")
        out[old] = new
    return out


def _check_name(name: str, what: str, path: Path | None = None) -> str:
    """A member name the runner's unzip extracts where intended, on any system, or BadInput naming `path`."""
    fix = "rename it to a plain relative name (letters, digits, '.', '_', '-', '/'), or map it with --name-map"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as e:
        raise BadInput(f"{what} {name!r} is not valid UTF-8", path=path, fix=fix) from e
    if "\\" in name or "\x00" in name:
        raise BadInput(f"{what} {name!r} contains a backslash or NUL (unzip splits on backslashes)", path=path,
                       fix=fix)  # fmt: skip
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise BadInput(f"{what} {name!r} contains a control character (newline, tab, ...)", path=path, fix=fix)
    posix = PurePosixPath(name)
    if posix.is_absolute() or ".." in posix.parts or not posix.parts or name != posix.as_posix():
        raise BadInput(f"{what} {name!r} is not a clean relative path", path=path, fix=fix)
    if any(c in _NON_PORTABLE for c in name) or any(part != part.rstrip(" .") for part in name.split("/")):
        raise BadInput(
            f"{what} {name!r} is not portable: unzip on Windows or macOS file systems refuses or renames "
            "names with ':*?\"<>|' or ending in a space or dot",
            path=path,
            fix=fix,
        )
    return name


_NON_PORTABLE = set(':*?"<>|')


def _excluded(name: str, patterns: tuple[str, ...]) -> bool:
    return any(PurePosixPath(name).match(p) for p in patterns)


def _mode(st: os.stat_result, is_dir: bool = False) -> int:
    if is_dir:
        return stat.S_IFDIR | 0o755
    return stat.S_IFREG | (0o755 if st.st_mode & 0o111 else 0o644)


# member name -> (source file, or None for an empty directory; st_mode)
_Members = dict[str, tuple[Path | None, int]]


@dataclass
class _Collected:
    """The members found so far, where each came from, and the names the excludes skipped."""

    members: _Members = field(default_factory=dict)
    origin: dict[str, Path] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def add(self, name: str, src: Path | None, mode: int) -> None:
        if name in self.members:
            raise BadInput(
                f"two inputs give the member name {name!r}: {self.origin[name]} and {src}",
                path=src,
                fix="pass only one of them, or rename one with --name-map",
            )
        self.members[name] = (src, mode)
        self.origin[name] = src if src is not None else Path(name)


def collect_members(cfg: PackConfig) -> tuple[dict[str, tuple[Path | None, int]], list[str]]:
    """{member name: (source file, or None for an empty dir; st_mode)}, and the skipped names.

    A file source becomes a member named by its base name; a directory source adds
    its contents (not the directory itself), like `cd DIR && zip -r OUT .`.
    """
    out_real = cfg.output.resolve()
    found = _Collected()
    if not cfg.sources:
        raise BadInput("nothing to pack", fix="pass the files or directories that go into archive.zip")
    for src in cfg.sources:
        _add_source(found, src, cfg.excludes, out_real)
    renamed = _apply_name_map(found.members, cfg.name_map)
    _check_extractable(renamed)
    return renamed, sorted(found.skipped)


def _add_source(found: _Collected, src: Path, excludes: tuple[str, ...], out_real: Path) -> None:
    """One input: a file becomes a member, a directory adds what it holds."""
    if not src.exists():
        raise BadInput("input not found", path=src, fix="check the path")
    if src.resolve() == out_real:
        raise BadInput("the output archive is also an input", path=src, fix="write the archive elsewhere (-o)")
    if src.is_file():
        found.add(_check_name(src.name, "file name", src), src, _mode(src.stat()))
        return
    if not src.is_dir():
        raise BadInput("input is neither a file nor a directory", path=src, fix="pass regular files")
    for root, dirs, files in os.walk(src, followlinks=False):
        _add_walked_dir(found, src, Path(root), dirs, files, excludes, out_real)


def _add_walked_dir(
    found: _Collected,
    src: Path,
    r: Path,
    dirs: list[str],
    files: list[str],
    excludes: tuple[str, ...],
    out_real: Path,
) -> None:
    """One step of os.walk under the input dir `src`: prunes `dirs` in place, adds the files.

    A directory that ends up holding nothing gets an entry of its own (name ending in "/").
    """
    rel_root = r.relative_to(src).as_posix()
    _prune_dirs(found, r, rel_root, dirs, excludes)
    kept = _kept_files(found, r, rel_root, files, excludes, out_real)
    for rel, p in kept:
        found.add(_check_name(rel, "file name", p), p, _mode(p.stat()))
    if not kept and not dirs and rel_root != ".":
        found.add(_check_name(rel_root, "directory name", r) + "/", None, _mode(r.stat(), is_dir=True))


def _rel(rel_root: str, name: str) -> str:
    return name if rel_root == "." else f"{rel_root}/{name}"


def _prune_dirs(found: _Collected, r: Path, rel_root: str, dirs: list[str], excludes: tuple[str, ...]) -> None:
    """Drop excluded subdirectories from `dirs` (so os.walk skips them); refuse symlinked ones."""
    for d in list(dirs):
        p = r / d
        rel = _rel(rel_root, d)
        if _excluded(rel, excludes):
            dirs.remove(d)
            found.skipped.append(rel + "/")
        elif p.is_symlink():
            raise BadInput(
                "a symlinked directory inside an input",
                path=p,
                fix="pass its target as an input of its own, or copy it in",
            )


def _kept_files(
    found: _Collected, r: Path, rel_root: str, files: list[str], excludes: tuple[str, ...], out_real: Path
) -> list[tuple[str, Path]]:
    """(relative name, path) of the files in `r` that go in: not excluded, not the output, regular."""
    kept = []
    for f in files:
        p = r / f
        rel = _rel(rel_root, f)
        if _excluded(rel, excludes):
            found.skipped.append(rel)
            continue
        if _is_output(p, f, out_real):
            continue  # the output itself, or its temporary file, inside an input dir
        if not p.is_file():
            raise BadInput("not a regular file (broken link, fifo, socket?)", path=p, fix="remove it from the input")
        kept.append((rel, p))
    return kept


def _is_output(p: Path, f: str, out_real: Path) -> bool:
    """Whether `p` (file name `f`) is the output archive or pack_archive's temporary file next to it."""
    real = p.resolve()
    return real == out_real or (
        real.parent == out_real.parent and f.startswith(f".{out_real.name}.") and f.endswith(".tmp")
    )


def _apply_name_map(members: _Members, name_map: dict[str, str]) -> _Members:
    """The members renamed by --name-map; every name it gives must exist and the targets must not collide."""
    unknown = sorted(set(name_map) - set(members))
    if unknown:
        raise BadInput(
            f"--name-map names members that no input gives: {', '.join(unknown)}",
            fix=f"map one of: {', '.join(sorted(members))}",
        )
    renamed: _Members = {}
    for name, value in members.items():
        new = name_map.get(name, name)
        if value[0] is None:  # an empty directory: its entry's name ends with "/"
            new = _check_name(new.rstrip("/"), "--name-map target") + "/"
        else:
            new = _check_name(new, "--name-map target")
        if new in renamed:
            raise BadInput(f"two members would be named {new!r}", fix="map them to different names")
        renamed[new] = value
    return renamed


def _check_extractable(members: _Members) -> None:
    """At least one file, and no name used both as a file and as a directory (it cannot be extracted)."""
    if not any(src is not None for src, _ in members.values()):
        raise BadInput("the inputs hold no files (the runner's unzip fails on an empty zip)", fix="add the data")
    files = {n for n, (s, _) in members.items() if s is not None}
    for n in members:
        for parent in PurePosixPath(n.rstrip("/")).parents:
            if str(parent) in files:
                raise BadInput(f"member {n!r} sits under {str(parent)!r}, which is a file", fix="rename one")


def pack_archive(cfg: PackConfig) -> PackResult:
    """Write cfg.output atomically; return what went in."""
    members, skipped = collect_members(cfg)
    out = cfg.output
    if out.is_dir():
        raise BadInput("the output is a directory", path=out, fix="give the archive's file name, e.g. -o archive.zip")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w+b") as fh:
            entries = _write_zip(fh, members, cfg.method)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        warnings = _vet_warnings(tmp)
        sha = file_sha256(tmp)
        size = tmp.stat().st_size
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    packed = [_packed_member(e, src, enc) for e, src, enc in entries]
    return PackResult(out, size, sha, packed, skipped, cfg.method, warnings)


def read_source(src: Path) -> bytes:
    """A member's bytes, or BadInput naming the file when it cannot be read."""
    try:
        return src.read_bytes()
    except OSError as e:
        raise BadInput(
            f"cannot read an input ({e.strerror or e})",
            path=src,
            fix="make it readable (e.g. `chmod u+r FILE`) or leave it out",
        ) from e


def _write_zip(fh: BinaryIO, members: _Members, method: str) -> list[tuple[ZipEntry, str, Encoded | None]]:
    """Every member, then the central directory; (entry, source path or "" for a directory, its encoding)
    in archive order."""
    entries: list[tuple[ZipEntry, str, Encoded | None]] = []
    # Byte order of the UTF-8 names: the same on every machine and locale.
    for name in sorted(members, key=lambda n: n.encode("utf-8")):
        src, mode = members[name]
        if src is None:
            entries.append((write_directory(fh, name, mode), "", None))
            continue
        enc = encode_member(read_source(src), method)
        try:
            entry = write_encoded(fh, name, mode, enc)
        except OverflowError as e:
            raise BadInput(str(e), path=src, fix="split the data; zip64 is not produced") from e
        entries.append((entry, str(src), enc))
    try:
        write_central_directory(fh, [e for e, _, _ in entries])
    except OverflowError as e:
        raise BadInput(str(e), fix="pack fewer, smaller members") from e
    return entries


def _vet_warnings(archive: Path) -> list[str]:
    """What `vcc run` checks before unzipping, as warnings rather than errors.

    Its limits (zip-bomb ratios, sizes) are vcc's own; the official unzip has none.
    """
    try:
        vet_archive(archive)
    except BadInput as e:
        return [f"`vcc run` refuses this archive with its default limits: {e} ({e.fix})"]
    return []


def _packed_member(e: ZipEntry, src: str, enc: Encoded | None) -> PackedMember:
    return PackedMember(
        name=e.name,
        source=src,
        bytes=e.size,
        compressed_bytes=e.compressed,
        method="deflated" if e.method == METHOD_DEFLATED else "stored",
        mode=f"{stat.S_IMODE(e.mode):04o}",
        crc32=f"{e.crc:08x}",
        encoder=enc.encoder if enc else "stored",
        tried=dict(enc.tried) if enc else {},
    )
