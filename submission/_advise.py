"""`vcc advise` (and `vcc pack --advise`): where an archive's bytes go and which coders would save some.

Per member: its bytes now, what each coder gives (stored, deflate-9, zopfli-deflate, brotli at
quality 11 with a 16 MiB window, lzma preset 9 extreme, zstd level 22 with long-distance matching),
the saving in bytes and in score, and an order-0 entropy estimate with an incompressible flag.
Stored, deflate-9 and zopfli are zip methods the runner's unzip reads as they are; brotli, lzma and
zstd streams would be stored as members and decoded by the submission's own inflate.

The container: every byte that is not member data (local headers, names, extra fields, data
descriptors, central directory, end record, comments, anything else), against the minimal
container for the same members and names (what `vcc pack` writes).
"""

from __future__ import annotations

import lzma
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcc.base import (
    CENTRAL_HEADER,
    END_RECORD,
    FLAG_DATA_DESCRIPTOR,
    LOCAL_HEADER,
    OFFICIAL_ORIGINAL_BYTES,
    ZOPFLI_MAX_BYTES,
    BadInput,
    deflate_raw,
    rate_term,
    read_local_header,
    vet_archive,
    zopfli_raw,
    zopfli_version,
)

from ._files import ARCHIVE_NAME
from ._pack import PackConfig, collect_members, read_source

__all__ = [
    "CODERS",
    "UNZIP_CODERS",
    "AdviseConfig",
    "MemberAdvice",
    "ContainerAdvice",
    "Advice",
    "advise",
    "entropy_bits_per_byte",
    "minimal_container_bytes",
]

# Coders in table order; the first three are zip methods 0 and 8, which unzip 6.0 reads as is.
CODERS = ("stored", "deflate-9", "zopfli", "brotli", "lzma", "zstd")
UNZIP_CODERS = ("stored", "deflate-9", "zopfli")
BROTLI_QUALITY, BROTLI_LGWIN = 11, 24
LZMA_PRESET = 9 | lzma.PRESET_EXTREME
ZSTD_LEVEL, ZSTD_WINDOW_LOG = 22, 27  # 2^27 is the largest window zstd decoders accept by default
# A member counts as incompressible when no coder saves this share of its bytes.
INCOMPRESSIBLE_SHARE = 0.01
_DATA_DESCRIPTOR_SIGNATURE = b"PK\x07\x08"


def entropy_bits_per_byte(data: bytes) -> float:
    """Order-0 Shannon entropy of the bytes (8.0: no byte-wise coder can shrink them)."""
    if not data:
        return 0.0
    import numpy as np  # only here: the rest of the advisor needs no numpy

    counts = np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256)
    p = counts[counts > 0] / len(data)
    return float(-(p * np.log2(p)).sum())


def _brotli(data: bytes) -> int:
    import brotli

    return len(brotli.compress(data, quality=BROTLI_QUALITY, lgwin=BROTLI_LGWIN))


def _lzma(data: bytes) -> int:
    # .lzma ("alone") framing: 13 header bytes, the smallest of the formats Python's lzma writes.
    return len(lzma.compress(data, format=lzma.FORMAT_ALONE, preset=LZMA_PRESET))


def _zstd(data: bytes) -> int:
    import zstandard

    params = zstandard.ZstdCompressionParameters.from_level(
        ZSTD_LEVEL, source_size=len(data), window_log=ZSTD_WINDOW_LOG, enable_ldm=True
    )
    return len(zstandard.ZstdCompressor(compression_params=params).compress(data))


@dataclass(frozen=True)
class AdviseConfig:
    path: Path  # an archive, a submission dir holding archive.zip, or a dir of files to pack
    zopfli: bool = True  # try zopfli where it is installed (it is the slow one)


@dataclass
class MemberAdvice:
    name: str
    size: int  # uncompressed
    now: int  # its data's bytes in the archive now
    now_method: str
    coders: dict[str, int | None]  # coder -> bytes; None where not tried
    notes: dict[str, str] = field(default_factory=dict)  # coder -> why it was not tried
    entropy: float = 0.0

    @property
    def incompressible(self) -> bool:
        best = min(v for v in self.coders.values() if v is not None)
        return best > self.size * (1 - INCOMPRESSIBLE_SHARE)

    def best(self, unzip_only: bool) -> tuple[str, int]:
        """The smallest coder (ties go to the earlier in CODERS)."""
        names = UNZIP_CODERS if unzip_only else CODERS
        return min(((c, self.coders[c]) for c in names if self.coders.get(c) is not None), key=lambda t: t[1])

    def as_json(self) -> dict[str, Any]:
        unzip_best, any_best = self.best(True), self.best(False)
        return {
            "name": self.name,
            "bytes": self.size,
            "now_bytes": self.now,
            "now_method": self.now_method,
            "coders": self.coders,
            "not_tried": self.notes,
            "entropy_bits_per_byte": round(self.entropy, 4),
            "entropy_bound_bytes": math.ceil(self.entropy * self.size / 8),
            "incompressible": self.incompressible,
            "best_unzip": {"coder": unzip_best[0], "bytes": unzip_best[1], "saving_bytes": self.now - unzip_best[1]},
            "best_any": {"coder": any_best[0], "bytes": any_best[1], "saving_bytes": self.now - any_best[1],
                         "inflate_decodes": any_best[0] not in UNZIP_CODERS},
        }  # fmt: skip


@dataclass
class ContainerAdvice:
    """Every byte of the archive that is not member data, by kind, and the minimal container."""

    members: int
    local_headers: int = 0
    local_names: int = 0
    local_extra: int = 0
    data_descriptors: int = 0
    central_headers: int = 0
    central_names: int = 0
    central_extra: int = 0
    comments: int = 0  # file comments in the central directory and the archive comment
    end_record: int = 0
    other: int = 0  # zip64 records, bytes before the first member or between members
    minimal: int = 0  # the same members and names as `vcc pack` writes them
    redundant_dirs: list[str] = field(default_factory=list)  # directory entries of directories holding files

    @property
    def total(self) -> int:
        return sum(
            (self.local_headers, self.local_names, self.local_extra, self.data_descriptors, self.central_headers,
             self.central_names, self.central_extra, self.comments, self.end_record, self.other)
        )  # fmt: skip

    def as_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items()}
        out["total"] = self.total
        out["saving_bytes"] = self.total - self.minimal
        return out


def minimal_container_bytes(names: list[str]) -> int:
    """Headers of a zip holding these members and no more: 30 + 46 bytes and the name twice each, a 22-byte end."""
    return sum(LOCAL_HEADER.size + CENTRAL_HEADER.size + 2 * len(n.encode("utf-8")) for n in names) + END_RECORD.size


@dataclass
class Advice:
    source: Path
    archive_bytes: int  # now: the archive's size (for a dir: what `vcc pack --store` would write)
    members: list[MemberAdvice]
    container: ContainerAdvice
    zopfli: str | None  # the installed version, None when absent

    @property
    def tightest_unzip_bytes(self) -> int:
        """`vcc pack`'s archive: the smallest unzip-readable coding of each member, minimal container."""
        return sum(m.best(True)[1] for m in self.members) + self.container.minimal

    @property
    def tightest_any_bytes(self) -> int:
        """The same with brotli/lzma/zstd streams where smaller (inflate must decode them)."""
        return sum(m.best(False)[1] for m in self.members) + self.container.minimal

    def as_json(self) -> dict[str, Any]:
        def saving(target: int) -> dict[str, float | int]:
            saved = self.archive_bytes - target
            return {"bytes": target, "saving_bytes": saved, "saving_score": rate_term(saved, OFFICIAL_ORIGINAL_BYTES)}

        return {
            "source": str(self.source),
            "archive_bytes": self.archive_bytes,
            "rate_contribution": rate_term(self.archive_bytes, OFFICIAL_ORIGINAL_BYTES),
            "original_bytes": OFFICIAL_ORIGINAL_BYTES,
            "zopfli": self.zopfli,
            "members": [m.as_json() for m in self.members],
            "container": self.container.as_json(),
            "tightest_unzip": saving(self.tightest_unzip_bytes),
            "tightest_with_inflate_decoding": saving(self.tightest_any_bytes),
            "settings": {
                "brotli": {"quality": BROTLI_QUALITY, "lgwin": BROTLI_LGWIN},
                "lzma": {"preset": "9e", "format": "alone"},
                "zstd": {"level": ZSTD_LEVEL, "window_log": ZSTD_WINDOW_LOG, "long_distance_matching": True},
                "zopfli_max_bytes": ZOPFLI_MAX_BYTES,
            },
        }

    def table(self) -> str:
        def pts(n: int) -> str:
            return f"{rate_term(n, OFFICIAL_ORIGINAL_BYTES):.6f}"

        head = f"{'member':24} {'bytes':>11} {'now':>11} " + " ".join(f"{c:>10}" for c in CODERS)
        lines = [f"vcc advise: {self.source} ({self.archive_bytes:,} bytes, rate term {pts(self.archive_bytes)})",
                 head, "-" * len(head)]  # fmt: skip
        for m in self.members:
            cells = " ".join(f"{'-' if m.coders[c] is None else format(m.coders[c], ','):>10}" for c in CODERS)
            lines.append(f"{m.name[:24]:24} {m.size:>11,} {m.now:>11,} {cells}")
            ub, ab = m.best(True), m.best(False)
            flag = "incompressible" if m.incompressible else "compressible"
            lines.append(
                f"  entropy {m.entropy:.3f} bits/byte ({flag}); best for unzip: {ub[0]} {ub[1]:,} "
                f"(saves {m.now - ub[1]:,} bytes, {pts(m.now - ub[1])} points); best overall: {ab[0]} {ab[1]:,} "
                f"(saves {m.now - ab[1]:,} bytes, {pts(m.now - ab[1])} points"
                + (", inflate must decode it)" if ab[0] not in UNZIP_CODERS else ")")
            )
            lines += [f"  {c}: not tried ({why})" for c, why in m.notes.items()]
        c = self.container
        lines.append(
            f"container: {c.total:,} bytes = local headers {c.local_headers:,} + names {c.local_names:,} + extra "
            f"{c.local_extra:,} + data descriptors {c.data_descriptors:,} + central directory {c.central_headers:,} "
            f"+ names {c.central_names:,} + extra {c.central_extra:,} + comments {c.comments:,} + end record "
            f"{c.end_record:,} + other {c.other:,}"
        )
        lines.append(
            f"  minimal for the same {c.members} member(s) and names: {c.minimal:,} bytes "
            f"(saves {c.total - c.minimal:,} bytes, {pts(c.total - c.minimal)} points)"
            + (f"; directory entries that need not be there: {', '.join(c.redundant_dirs)}" if c.redundant_dirs else "")
        )
        targets = (
            ("tightest unzip-readable archive (vcc pack)", self.tightest_unzip_bytes),
            ("with brotli/lzma/zstd streams that inflate decodes", self.tightest_any_bytes),
        )
        for what, target in targets:
            saved = self.archive_bytes - target
            lines.append(f"{what}: {target:,} bytes, saves {saved:,} bytes = {pts(saved)} points")
        lines.append("stored, deflate-9 and zopfli: unzip reads them as they are; brotli, lzma and zstd: stored "
                     "in the zip, and the submission's inflate must decode the stream itself")  # fmt: skip
        if self.zopfli is None:
            lines.append("zopfli is not installed (`pip install 'vcc[zopfli]'`): its column was not tried")
        return "\n".join(lines)


def _member_advice(name: str, data: bytes, now: int, now_method: str, use_zopfli: bool) -> MemberAdvice:
    size = len(data)
    coders: dict[str, int | None] = dict.fromkeys(CODERS)
    notes: dict[str, str] = {}
    coders["stored"] = size
    coders["deflate-9"] = len(deflate_raw(data))
    if zopfli_version() is None:
        notes["zopfli"] = "not installed: pip install 'vcc[zopfli]'"
    elif not use_zopfli:
        notes["zopfli"] = "turned off"
    elif size > ZOPFLI_MAX_BYTES:
        notes["zopfli"] = f"over {ZOPFLI_MAX_BYTES:,} bytes: zopfli would take minutes"
    else:
        coders["zopfli"] = len(zopfli_raw(data) or b"")
    coders["brotli"], coders["lzma"], coders["zstd"] = _brotli(data), _lzma(data), _zstd(data)
    return MemberAdvice(name, size, now, now_method, coders, notes, entropy_bits_per_byte(data))


def _container_of(archive: Path, infos: list[zipfile.ZipInfo]) -> ContainerAdvice:
    """The archive's non-data bytes, read from its records."""
    raw_size = archive.stat().st_size
    c = ContainerAdvice(members=sum(1 for i in infos if not i.is_dir()))
    data = 0
    with open(archive, "rb") as fh:
        for info in infos:
            head = read_local_header(fh, info.header_offset)
            assert head is not None  # vet_archive read every local header
            c.local_headers += LOCAL_HEADER.size
            c.local_names += head.name_len
            c.local_extra += head.extra_len
            data += info.compress_size
            if info.flag_bits & FLAG_DATA_DESCRIPTOR:
                fh.seek(info.header_offset + LOCAL_HEADER.size + head.name_len + head.extra_len + info.compress_size)
                c.data_descriptors += 16 if fh.read(4) == _DATA_DESCRIPTOR_SIGNATURE else 12
            c.central_headers += CENTRAL_HEADER.size
            c.central_names += len(info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437",
                                                              errors="replace"))  # fmt: skip
            c.central_extra += len(info.extra)
            c.comments += len(info.comment)
    with zipfile.ZipFile(archive) as zf:
        c.comments += len(zf.comment)
    c.end_record = END_RECORD.size
    c.other = raw_size - data - c.total
    files = [i.filename for i in infos if not i.is_dir()]
    c.redundant_dirs = [i.filename for i in infos if i.is_dir() and any(f.startswith(i.filename) for f in files)]
    kept = [i.filename for i in infos if i.filename not in c.redundant_dirs]
    c.minimal = minimal_container_bytes(kept)
    return c


def _advise_archive(archive: Path, use_zopfli: bool) -> Advice:
    vetted = vet_archive(archive)  # BadInput (exit 2) for what the runner's unzip would refuse
    infos = [info for info, _ in vetted]
    members = []
    with zipfile.ZipFile(archive) as zf:
        for info in infos:
            if info.is_dir():
                continue
            method = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}.get(
                info.compress_type, f"method {info.compress_type}"
            )
            try:
                data = zf.read(info)
            except (zipfile.BadZipFile, OSError, NotImplementedError) as e:
                raise BadInput(f"{ARCHIVE_NAME}: member {info.filename!r} cannot be read ({e})", path=archive,
                               fix="re-create the archive, e.g. with `vcc pack`") from e  # fmt: skip
            members.append(_member_advice(info.filename, data, info.compress_size, method, use_zopfli))
    return Advice(archive, archive.stat().st_size, members, _container_of(archive, infos), zopfli_version())


def _advise_dir(src: Path, use_zopfli: bool) -> Advice:
    """Files not yet packed: "now" is what `vcc pack --store` would write."""
    found, _ = collect_members(PackConfig([src], src / ARCHIVE_NAME, method="store"))
    names = sorted(found, key=lambda n: n.encode("utf-8"))
    members = []
    for name in names:
        path, _mode = found[name]
        if path is None:
            continue
        data = read_source(path)
        members.append(_member_advice(name, data, len(data), "stored (not packed yet)", use_zopfli))
    container = ContainerAdvice(members=len(members), minimal=minimal_container_bytes(names))
    n = len(names)
    container.local_headers, container.central_headers = n * LOCAL_HEADER.size, n * CENTRAL_HEADER.size
    container.local_names = container.central_names = sum(len(x.encode("utf-8")) for x in names)
    container.end_record = END_RECORD.size
    return Advice(src, container.total + sum(m.size for m in members), members, container, zopfli_version())


def advise(cfg: AdviseConfig) -> Advice:
    """The advice for an archive, a submission dir (its archive.zip) or a dir of files to pack."""
    path = Path(cfg.path)
    if not path.exists():
        raise BadInput("not found", path=path, fix="pass an archive.zip, a submission dir or a dir of files")
    if path.is_dir() and (path / ARCHIVE_NAME).is_file():
        return _advise_archive(path / ARCHIVE_NAME, cfg.zopfli)
    if path.is_dir():
        return _advise_dir(path, cfg.zopfli)
    return _advise_archive(path, cfg.zopfli)
