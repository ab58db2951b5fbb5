"""The built-in lint checks. Each names the file and line, and says how to fix it.

Patterns run on inflate-time code with comments and docstrings blanked (see
_source). They are heuristics: a false positive is silenced on its line with
`# vcc-lint: ignore[ID]`.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath

from vcc.base import (
    CENTRAL_HEADER,
    DATA_DESCRIPTOR_SIZE,
    FLAG_DATA_DESCRIPTOR,
    LOCAL_HEADER,
    RUNNERS,
    BadInput,
    VettedArchive,
    display_name,
    inspect_archive,
    read_local_header,
)

from ._files import ARCHIVE_NAME
from ._lint import ERROR, WARNING, Hit, Submission, register_check
from ._lock import checkout_modules, distribution_hint, is_stdlib, modules_of
from ._names import check_submission_name
from ._pack import OFFICIAL_ORIGINAL_BYTES, rate_contribution
from ._source import SourceFile, module_candidates, python_search_dirs

__all__: list[str] = []  # checks are reached through the registry (_lint.CHECKS)


def _inert(src: SourceFile, line: int) -> bool:
    """The line does not run at inflate time (see SourceFile.inert)."""
    return line in src.inert


def _grep(src: SourceFile, pattern: re.Pattern[str]) -> Iterator[tuple[int, re.Match[str]]]:
    """Matches on code lines, minus the lines only a compress/train path of the file runs."""
    for i, line in enumerate(src.code, 1):
        m = pattern.search(line)
        if m and not _inert(src, i):
            yield i, m


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


# --------------------------------------------------------------------------- inflate.sh


@register_check("inflate-sh-present", ERROR, "inflate.sh exists: the runner calls `bash inflate.sh` and fails without")
def _inflate_sh_present(sub: Submission) -> Iterable[Hit]:
    p = sub.root / "inflate.sh"
    if not p.is_file():
        yield Hit(
            "inflate.sh not found: evaluate.sh exits before anything runs",
            "add inflate.sh: `bash inflate.sh ARCHIVE_DIR INFLATED_DIR NAMES_FILE` must write INFLATED_DIR/<name>.raw",
            "inflate.sh",
        )
    elif p.stat().st_size == 0:
        yield Hit("inflate.sh is empty", "make it write INFLATED_DIR/<name>.raw for each name", "inflate.sh")


@register_check("inflate-sh-syntax", ERROR, "inflate.sh parses with `bash -n` and has Unix line endings")
def _inflate_sh_syntax(sub: Submission) -> Iterable[Hit]:
    src = sub.inflate_sh
    if src is None:
        return
    if "\r" in src.text:
        line = next(i for i, text in enumerate(src.text.split("\n"), 1) if "\r" in text)
        yield Hit(
            "inflate.sh has Windows (CRLF) line endings: bash reads the \\r as part of each command",
            "convert it (`sed -i 's/\\r$//' inflate.sh`, or set your editor/git to LF)",
            src.rel,
            line,
        )
    bash = shutil.which("bash")
    if bash is None:
        return
    proc = subprocess.run([bash, "-n", str(src.path)], capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()
        m = re.search(r"line (\d+):", proc.stderr)
        text = "; ".join(e.split(": ", 1)[-1] for e in err[:3]) or f"bash -n exited {proc.returncode}"
        yield Hit(
            f"inflate.sh does not parse: {text}",
            "fix the syntax (check with `bash -n inflate.sh`)",
            src.rel,
            int(m.group(1)) if m else None,
        )


_ALL_ARGS = re.compile(r"\$\{?[@*]")


@register_check("inflate-sh-args", WARNING, "inflate.sh uses its three arguments ($1 $2 $3)")
def _inflate_sh_args(sub: Submission) -> Iterable[Hit]:
    src = sub.inflate_sh
    if src is None:
        return
    code = "\n".join(src.code)
    if _ALL_ARGS.search(code):
        return
    roles = {1: "ARCHIVE_DIR", 2: "INFLATED_DIR", 3: "VIDEO_NAMES_FILE"}
    missing = [n for n in roles if not re.search(rf"\$\{{?{n}(?!\d)", code)]
    if missing:
        names = ", ".join(f"${n} ({roles[n]})" for n in missing)
        yield Hit(
            f"inflate.sh never uses {names}: the runner passes the paths there, so reading or writing "
            "anywhere else only works by accident",
            'read the archive from "$1", write raws to "$2", take the names from "$3" (or pass "$@" on)',
            src.rel,
        )


@register_check("inflate-sh-errexit", WARNING, "inflate.sh stops at the first failing command (set -e)")
def _inflate_sh_errexit(sub: Submission) -> Iterable[Hit]:
    src = sub.inflate_sh
    if src is None:
        return
    code = [line.strip() for line in src.code if line.strip()]
    if any(re.match(r"set\s+(-\w*e|-o\s+errexit)", line) for line in code):
        return
    # The last command's status is the script's; plain assignments rarely fail.
    body = [line for line in code[:-1] if not re.fullmatch(r"[A-Za-z_]\w*=\S*", line)]
    if body:
        yield Hit(
            "inflate.sh runs several commands without `set -e`: a failing step is ignored and the "
            "runner only checks that the raws exist",
            "add `set -euo pipefail` after the shebang",
            src.rel,
            1,
        )


# --------------------------------------------------------------------------- archive.zip


@register_check(
    "archive-present", WARNING, "archive.zip exists: the only metered file (without it only the code is linted)"
)
def _archive_present(sub: Submission) -> Iterable[Hit]:
    if not sub.archive.is_file():
        # A repository's submission dir holds the code only (archives are hosted elsewhere):
        # the code is still worth checking, so this is not an error of lint's.
        yield Hit(
            f"{ARCHIVE_NAME} not found: the archive checks were skipped and only the code was linted; "
            "the runner needs it (evaluate.sh exits before anything runs without it)",
            "pack the compressed data (`vcc pack DATA... -o archive.zip`) and lint again",
            ARCHIVE_NAME,
        )


def _vetted(sub: Submission) -> VettedArchive | BadInput:
    def vet() -> VettedArchive | BadInput:
        try:
            return inspect_archive(sub.archive)
        except BadInput as e:
            return e

    return sub.cached("vetted", vet)


@register_check(
    "archive-valid",
    ERROR,
    "archive.zip is a zip the runner's unzip extracts safely: no absolute/`..` names, links, "
    "encryption, odd methods, bombs or bad CRCs",
)
def _archive_valid(sub: Submission) -> Iterable[Hit]:
    if not sub.archive.is_file():
        return
    vetted = _vetted(sub)
    if isinstance(vetted, BadInput):
        yield Hit(str(vetted), vetted.fix or "re-create the zip with `vcc pack`", ARCHIVE_NAME)
        return
    try:
        with zipfile.ZipFile(sub.archive) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, EOFError) as e:
        bad = f"({e})"
    if bad is not None:
        yield Hit(
            f"{ARCHIVE_NAME}: member {bad!r} fails its CRC check (corrupt)",
            "re-create the zip; `unzip -t archive.zip` shows the damage",
            ARCHIVE_NAME,
        )


@register_check("archive-overhead", WARNING, "archive.zip carries no bytes the rate pays for needlessly")
def _archive_overhead(sub: Submission) -> Iterable[Hit]:
    if not sub.archive.is_file() or isinstance(_vetted(sub), BadInput):
        return
    waste: list[str] = []
    total = 0
    with zipfile.ZipFile(sub.archive) as zf, open(sub.archive, "rb") as fh:
        infos = zf.infolist()
        files = [i.filename for i in infos if not i.is_dir()]
        extra = 0
        for info in infos:
            head = read_local_header(fh, info.header_offset)
            extra += (head.extra_len if head is not None else 0) + len(info.extra)
        if extra:
            waste.append(f"{extra:,} bytes of extra fields (timestamps, uid/gid: `zip` adds them unless -X)")
            total += extra
        dirs = [i for i in infos if i.is_dir() and any(f.startswith(i.filename) for f in files)]
        if dirs:
            # a local and a central header, each with the name
            n = sum(LOCAL_HEADER.size + CENTRAL_HEADER.size + 2 * len(i.filename.encode()) for i in dirs)
            waste.append(f"{len(dirs)} directory entries the file paths already imply ({n:,} bytes; zip -D drops them)")
            total += n
        descriptors = sum(DATA_DESCRIPTOR_SIZE for i in infos if i.flag_bits & FLAG_DATA_DESCRIPTOR)
        if descriptors:
            waste.append(f"{descriptors:,} bytes of data descriptors (streamed zip)")
            total += descriptors
        grown = [i for i in infos if i.compress_type != zipfile.ZIP_STORED and i.compress_size > i.file_size]
        if grown:
            n = sum(i.compress_size - i.file_size for i in grown)
            names = ", ".join(i.filename for i in grown[:5])
            waste.append(f"{n:,} bytes where compression made members bigger ({names}; store them)")
            total += n
        earlier = _overwritten_copies(infos)
        if earlier:
            n = sum(LOCAL_HEADER.size + CENTRAL_HEADER.size + 2 * len(i.filename.encode()) + i.compress_size
                    for i in earlier)  # fmt: skip
            names = ", ".join(sorted({i.filename for i in earlier})[:5])
            waste.append(f"{len(earlier)} earlier copies of names stored twice, which `unzip -o` overwrites "
                         f"({names}; {n:,} bytes)")  # fmt: skip
            total += n
        if zf.comment:
            waste.append(f"a {len(zf.comment):,}-byte archive comment")
            total += len(zf.comment)
    if waste:
        yield Hit(
            f"{ARCHIVE_NAME} spends about {total:,} bytes on zip overhead that buys nothing: "
            + "; ".join(waste)
            + f" (25 * {total:,} / {OFFICIAL_ORIGINAL_BYTES:,} = {rate_contribution(total):.6f} points)",
            "pack it with `vcc pack DATA... -o archive.zip` (no extras, no directory entries, no comment)",
            ARCHIVE_NAME,
        )


@register_check(
    "archive-names",
    WARNING,
    "archive.zip's members are written under the names its listing shows (the runner's unzip converts some, "
    "skips volume labels)",
)
def _archive_names(sub: Submission) -> Iterable[Hit]:
    if not sub.archive.is_file():
        return
    vetted = _vetted(sub)
    if isinstance(vetted, BadInput):
        return
    renamed = [(info, name) for info, name in vetted.members
               if name != "/".join(p for p in info.filename.split("/") if p not in ("", "."))]  # fmt: skip
    if renamed:
        shown = ", ".join(f"'{display_name(i.filename)}' as '{display_name(n)}'" for i, n in renamed[:5])
        yield Hit(
            f"{ARCHIVE_NAME}: the runner's unzip writes {len(renamed)} member(s) under another name than Python's "
            f"zipfile and most listings show ({shown}): a DOS/Windows tool's name converted from the OEM code "
            "page, an Info-ZIP Unicode Path extra field, control characters dropped, or bytes that are not UTF-8; "
            "inflate must open the names as written",
            "rename the members to ASCII, or pack with a tool that writes UTF-8 names with the flag (`vcc pack`)",
            ARCHIVE_NAME,
        )
    if vetted.skipped:
        names = ", ".join(f"'{display_name(i.filename)}'" for i in vetted.skipped[:5])
        yield Hit(
            f"{ARCHIVE_NAME}: {len(vetted.skipped)} member(s) carry the DOS volume-label attribute ({names}); the "
            "runner's unzip skips them, so inflate never sees them, yet the rate pays for their bytes",
            "re-create the zip without the volume label (`vcc pack`)",
            ARCHIVE_NAME,
        )


def _overwritten_copies(infos: list[zipfile.ZipInfo]) -> list[zipfile.ZipInfo]:
    """The file members a later member of the same name replaces when unzip extracts."""
    last = {i.filename: n for n, i in enumerate(infos) if not i.is_dir()}
    return [i for n, i in enumerate(infos) if not i.is_dir() and last[i.filename] != n]


# --------------------------------------------------------------------------- files


_ARTIFACT_EXT = (
    ".pt", ".pth", ".safetensors", ".onnx", ".bin", ".npy", ".npz",
    ".ckpt", ".h5", ".pkl", ".pickle", ".tflite", ".engine", ".trt",
)  # fmt: skip


@register_check(
    "large-file-outside-archive",
    ERROR,
    "no large files or model artifacts that inflate uses outside archive.zip: only the archive is metered",
)
def _large_files(sub: Submission) -> Iterable[Hit]:
    limit = sub.config.max_file_bytes
    fix = (
        "put it inside archive.zip (vcc pack) and load it from the archive dir ($1) at inflate time; "
        "if inflate does not need it, remove it from the submission"
    )
    # Which code names a file decides whose it is: inflate's (an unmetered artifact: against the
    # rules), compress's only (the encoder's inputs and tools: fine), or nobody's that lint can see.
    inflate_refs = dict(sub.inflate_data) | {s.rel: s.reached_from for s in sub.inflate_time}
    compress = sub.compress_time
    compress_refs = set() if compress is None else set(compress.data) | {s.rel for s in compress.sources}
    for rel in sub.files:
        p = sub.root / rel
        if p.is_symlink() or not p.is_file():
            continue
        size = p.stat().st_size
        large, artifact = size > limit, rel.lower().endswith(_ARTIFACT_EXT)
        if not (large or artifact):
            continue
        if rel in inflate_refs:
            by = inflate_refs[rel]
            by = by if by.startswith(("reached", "entry")) else f"named by {by}"
            what = f"{rel} is {_mb(size)}" if large else f"{rel} ({_mb(size)}) looks like a model or data artifact"
            yield Hit(
                f"{what} outside {ARCHIVE_NAME} and inflate uses it ({by}): the rules require large artifacts "
                "(networks, data) to be inside the archive, the only file the rate meters",
                fix,
                rel,
                severity=None if large else WARNING,
            )
        elif rel in compress_refs:
            continue  # only compress.sh's side uses it: not needed at inflate time
        else:
            yield Hit(
                f"{rel} ({_mb(size)}) is outside {ARCHIVE_NAME} and no inflate or compress code names it by path: "
                "if inflate loads it (through a computed path), it is an unmetered artifact",
                fix,
                rel,
                severity=WARNING,
            )


# --------------------------------------------------------------------------- inflate-time code


@register_check("python-syntax", ERROR, "inflate-time Python files compile")
def _python_syntax(sub: Submission) -> Iterable[Hit]:
    for src in sub.sources("py"):
        if src.syntax_error is not None:
            e = src.syntax_error
            yield Hit(f"{src.rel} does not compile: {e.msg}", "fix the syntax error", src.rel, e.lineno)


_FETCH = re.compile(
    r"\b(curl|wget|aria2c|gdown)\b"
    r"|\bgit\s+(clone|fetch|pull|lfs\s+pull)\b|[\"']git[\"']\s*,\s*[\"'](clone|fetch|pull)[\"']"
    r"|\bhuggingface(_hub|-cli)\b|\bhf_hub_download\b|\bsnapshot_download\b|\bhf\s+download\b"
    r"|\burllib\.request\b|\burlopen\s*\(|\burlretrieve\s*\("
    r"|\brequests\.(get|post|request|Session)\b|\bhttpx\.\w+\s*\("
    r"|\btorch\.hub\.\w+\s*\(|\bload_state_dict_from_url\b|\bdownload_url_to_file\b"
    r"|\bpretrained\s*=\s*True\b|\bencoder_weights\s*=\s*[\"']"
)


@register_check("inflate-fetches", ERROR, "inflate downloads nothing: no network guaranteed, data goes in the archive")
def _inflate_fetches(sub: Submission) -> Iterable[Hit]:
    for src in sub.sources():
        for line, m in _grep(src, _FETCH):
            what = m.group(0).strip()
            yield Hit(
                f"{src.rel} fetches from the network at inflate time (`{what}`): the runner guarantees no "
                "network, the clock is tight, and anything inflate needs beyond the libraries is an "
                "artifact that must be inside archive.zip (weights included: pretrained=True downloads them)",
                "put the data or weights in archive.zip and read them from the archive dir ($1)",
                src.rel,
                line,
            )


_INSTALL = re.compile(
    r"\bpip3?\s+install\b|-m\s+pip\s+install\b|[\"']pip[\"']\s*,\s*[\"']install[\"']|\bpip\.main\s*\("
    r"|\buv\s+(pip|add|sync|tool\s+install)\b|\buv\s+run\b.*\s--with\b"
    r"|\b(conda|mamba|micromamba)\s+install\b|\bapt(-get)?\s+(-\S+\s+)*install\b|\bbrew\s+install\b"
)


@register_check("inflate-installs", ERROR, "inflate installs nothing: the job's environment is set before it")
def _inflate_installs(sub: Submission) -> Iterable[Hit]:
    for src in sub.sources():
        for line, m in _grep(src, _INSTALL):
            what = m.group(0).strip()
            targets = _install_targets(src.code[line - 1][m.end() :])
            fallback = _import_fallback(src, line)
            provided = [t for t in targets if all(sub.lock.provides(mod, sub.config.runner) for mod in modules_of(t))]
            if fallback and targets and provided == targets:
                yield Hit(
                    f"{src.rel} installs {', '.join(targets)} (`{what}`) only when importing it fails: on the runner "
                    f"it would not trigger, because the challenge's lock provides {', '.join(targets)} "
                    f"({sub.lock.source}); elsewhere it needs the network and eats the clock",
                    f"drop the fallback (the runner's `uv sync` installs {', '.join(targets)})",
                    src.rel,
                    line,
                    severity=WARNING,
                )
                continue
            missing = [t for t in targets if t not in provided]
            why = (
                f"; the challenge's lock does not provide {', '.join(missing)}, so this fallback does run there"
                if fallback and missing
                else ""
            )
            yield Hit(
                f"{src.rel} installs packages at inflate time (`{what}`): it needs the network, "
                f"eats the 30-minute clock and can resolve other versions than yours{why}",
                "rely on the libraries the runner's `uv sync` installs, or vendor the code into the submission",
                src.rel,
                line,
            )


def _install_targets(after: str) -> list[str]:
    """Package names an install command names (`pip install -q brotli==1.1` -> brotli)."""
    after = re.split(r"&&|\|\||;|>|\)|\]|\bthen\b|\bfi\b", after)[0]
    tokens = re.findall(r"[\"']([^\"']+)[\"']", after) or after.split()
    out = []
    for tok in tokens:
        tok = tok.strip()
        m = re.match(r"[A-Za-z0-9][A-Za-z0-9._\-]*", tok)
        if m and not tok.startswith(("-", "$")):
            out.append(m.group(0).lower())
    return out


_SH_IMPORT_GUARD = re.compile(r"\bimport\s+\w")


def _import_fallback(src: SourceFile, line: int) -> bool:
    """The install runs only when an import failed: an `except ImportError:` handler, or in shell
    `python -c "import x" || pip install x` / `if ! python -c "import x"; then ... fi`."""
    if src.scan is not None:
        return src.scan.in_import_fallback(line)
    if src.lang != "sh":
        return False
    text = src.code[line - 1]
    if "||" in text and _SH_IMPORT_GUARD.search(text.split("||")[0]):
        return True
    before = src.code[max(0, line - 4) : line - 1]
    return any(re.search(r"\bif\s+!", b) and _SH_IMPORT_GUARD.search(b) for b in before)


_ORIGINAL = re.compile(r"(?<![\w.\-])videos/|[\"']videos[\"']|(?<![\w.\-])(\w+\.mkv)\b")
_ORIGINAL_LITERAL = re.compile(r"(?<![\w.\-])videos(/|$)|(?<![\w.\-])(\w+\.mkv)\b")
_SH_MESSAGE = re.compile(r"^\s*(echo|printf)\b|\busage\b", re.I)
_SH_ARG1 = re.compile(r"^\s*(?:export\s+|local\s+|readonly\s+)?([A-Za-z_]\w*)=[\"']?\$\{?1(?![\d\w])")


_PATH_CHARS = re.compile(r"[^\s\"'`=,;()<>|&]*")


def _elsewhere(text: str, m: re.Match[str]) -> bool:
    """The match names a path part under a directory of its own (`debug_plots/videos`, `out/0.mkv`), which
    resolves, from inflate's working directory (the checkout's root) or from any base it is joined to,
    to another place than the checkout's videos/ or a names-file entry in it.

    Read on the literal path around the match: the part just before it decides. Nothing before it (a bare
    `videos/` or `0.mkv`), `.`/`..` (climbing towards the root), a variable or a placeholder (`$ROOT/`,
    `{root}/`) may all reach the challenge's videos, so they still count.
    """
    start = m.start()
    while start > 0 and _PATH_CHARS.fullmatch(text[start - 1]):
        start -= 1
    before = text[start : m.start()]
    parts = [p for p in before.split("/")[:-1] if p not in ("", ".")]
    if not parts:
        return False
    parent = parts[-1]
    if parent == ".." or any(c in parent for c in "${}*%"):
        return False
    return parent != "videos"


def _sh_compared(text: str, m: re.Match[str]) -> bool:
    before, after = text[: m.start()].rstrip("\"'"), text[m.end() :].lstrip("\"'")
    return bool(re.search(r"\s(!?=|==|-eq|-ne)\s*$", before) or re.match(r"\s*(!?=|==)\s", after))


def _sh_archive_refs(src: SourceFile) -> re.Pattern[str]:
    """`$1` and the variables assigned from it (`DATA_DIR="$1"`): paths under the archive dir."""
    names = sorted({m.group(1) for line in src.code if (m := _SH_ARG1.match(line))})
    alts = [r"\$\{?1(?!\d)"] + [rf"\$\{{?{re.escape(n)}(?!\w)" for n in names]
    return re.compile("|".join(alts))


@register_check("reads-original-video", ERROR, "inflate never reads the original video (forbidden by the rules)")
def _reads_original(sub: Submission) -> Iterable[Hit]:
    vetted = _vetted(sub) if sub.archive.is_file() else None
    members = set() if not isinstance(vetted, VettedArchive) else {PurePosixPath(n).name for _, n in vetted.members}
    fix = "inflate must rebuild the frames from archive.zip alone; read only $1 and the names in $3"
    for src in sub.sources():
        for line, what, note in _original_refs(src):
            mkv = _ORIGINAL_LITERAL.search(what)
            if mkv and mkv.group(2) and mkv.group(2) in members:
                continue  # a file of the same name inside the archive: the submission's own data
            yield Hit(
                f"{src.rel} refers to the original video (`{what}`) at inflate time{note}: the rules forbid "
                "reading it, and the runner's checkout keeps it under videos/",
                fix,
                src.rel,
                line,
            )


def _original_refs(src: SourceFile) -> Iterator[tuple[int, str, str]]:
    """(line, the reference, a note) for each mention of the original video that inflate may act on.
    Python is read from its tree: messages (a usage line, help=, print, sys.exit) are prose, and an
    argparse default counts only if the inflate path reads that argument."""
    scan = src.scan
    if scan is None:
        archive_refs = _sh_archive_refs(src) if src.lang == "sh" else None
        for line, m in _grep(src, _ORIGINAL):
            text = src.code[line - 1]
            if _elsewhere(text, m):
                continue  # a path under a dir of its own (`debug_plots/videos`): not the challenge's
            if archive_refs is not None and (
                _SH_MESSAGE.search(text)
                or (m.group(1) and archive_refs.search(text[: m.start()]))
                or (m.group(1) and _sh_compared(text, m))
            ):
                # a message; an .mkv under the archive dir ($1): the submission's own stream; or a
                # test of a name from the names file (`[ "$name" != "0.mkv" ]`), which reads nothing
                continue
            yield line, m.group(0), ""
        return
    for line, text, node in scan.strings():
        m = _ORIGINAL_LITERAL.search(text)
        if m is None or line in src.inert or scan.is_prose(node) or (m.group(2) and scan.compared(node)):
            continue  # prose, or a name compared (`names != ["0.mkv"]`): nothing is read
        if m.group(2) and scan.under_archive_dir(node):
            continue  # an .mkv joined onto the archive dir: the submission's own stream
        if _elsewhere(text, m):
            continue  # a path under a dir of its own (`out_dir="debug_plots/videos"`): not the challenge's
        note = ""
        default = scan.argparse_default(node)
        if default is not None:
            call, dest = default
            if scan.parser_is_compress_only(call):
                continue
            uses = [u for u in scan.attribute_uses(dest)] if dest else []
            if dest and not [u for u in uses if u not in src.inert]:
                continue  # only a compress/train path reads the argument
            note = f" (the default of argument {dest!r}, which the inflate path reads)"
        yield line, m.group(2) or m.group(0), note


_AUTO_DEVICE = re.compile(r"\bcuda\.is_available\s*\(|\bcuda\.device_count\s*\(")
_CUDA = re.compile(r"\.cuda\s*\(\s*\)|[\"']cuda(:\d+)?[\"']")
_CPU = re.compile(r"[\"']cpu[\"']")


@register_check("gpu-device", WARNING, "inflate chooses its device explicitly: the CPU and T4 runners differ")
def _gpu_device(sub: Submission) -> Iterable[Hit]:
    runner = sub.config.runner
    # The target's inflate sees CUDA (the T4 runner); None: both runners, so one without CUDA too.
    cuda_target = runner is not None and RUNNERS[runner].inflate_sees_cuda
    py = sub.sources("py")
    # An inflate that stops outright without CUDA fails on the CPU runner: an error unless lint is
    # told the target is the T4 runner.
    stop = next(
        ((src, line, stmt) for src in py if src.scan for line, stmt in src.scan.cuda_required_exits()
         if line not in src.inert),
        None,
    )  # fmt: skip
    if stop is not None:
        if not cuda_target:
            src, line, stmt = stop
            yield Hit(
                f"{src.rel} exits when CUDA is not available (`{stmt}`): on the CPU runner, which has no GPU, "
                "inflate fails and the submission scores nothing",
                "submit it to the T4 runner (GPU) and check it there with `vcc run --runner t4` "
                "(`vcc lint --runner t4` holds lint to that target), or add a CPU path",
                src.rel,
                line,
                severity=ERROR,
            )
        return
    # Inflate's own device choice: the first one on its path (entry points first), not compress code's.
    auto = [(src, line) for src in py for line, _ in _grep(src, _AUTO_DEVICE)]
    if auto:
        src, line = auto[0]
        others = sorted({s.rel for s, _ in auto} - {src.rel})
        also = f" (also in {', '.join(others)})" if others else ""
        yield Hit(
            f"{src.rel} picks the GPU whenever one is visible{also}: on the T4 runner inflate runs on the GPU, on "
            "the CPU runner on the CPU, and their float results differ (so do the raws and the score)",
            "choose the device explicitly (e.g. an argument or env var), and check both targets with "
            "`vcc run --runner cpu` and `--runner t4`",
            src.rel,
            line,
        )
        return
    if cuda_target:
        return
    has_cpu = any(_CPU.search(line) for src in py for i, line in enumerate(src.code, 1) if not _inert(src, i))
    hard = [(src, line, m) for src in py for line, m in _grep(src, _CUDA)]
    if hard and not has_cpu:
        src, line, m = hard[0]
        yield Hit(
            f"{src.rel} uses CUDA (`{m.group(0)}`) with no CPU path: inflate fails on the CPU runner, which has no GPU",
            "add a CPU path, or submit to the T4 runner only and check it with `vcc run --runner t4`",
            src.rel,
            line,
        )


_TORCH_RANDOM = re.compile(
    r"\btorch\.(rand|randn|randint|randperm|rand_like|randn_like|randint_like|normal|bernoulli|multinomial|poisson)"
    r"\s*\(|\.(normal_|uniform_|bernoulli_|random_|exponential_|geometric_|cauchy_|log_normal_)\s*\("
)
_TORCH_SEED = re.compile(r"\bmanual_seed\s*\(")
_NP_RANDOM = re.compile(r"\b(np|numpy)\.random\.(?!seed\b|default_rng\b|Generator\b|SeedSequence\b)\w+\s*\(")
_NP_SEED = re.compile(r"\b(np|numpy)\.random\.seed\s*\(|\bRandomState\s*\(\s*\w")
_NP_UNSEEDED_RNG = re.compile(r"\bdefault_rng\s*\(\s*\)")
_PY_RANDOM = re.compile(
    r"(?<![\w.])random\.(random|randint|randrange|choice|choices|shuffle|uniform|gauss|sample)\s*\("
)
_PY_SEED = re.compile(r"(?<![\w.])random\.seed\s*\(")
_BENCHMARK = re.compile(r"cudnn\.benchmark\s*=\s*True")
_UNSORTED_LISTING = re.compile(r"\bos\.listdir\s*\(|\bos\.scandir\s*\(|\bglob\.i?glob\s*\(|\.(iterdir|r?glob)\s*\(")


@register_check("nondeterminism", WARNING, "inflate is deterministic: seeded randomness, sorted listings")
def _nondeterminism(sub: Submission) -> Iterable[Hit]:
    code = [line for src in sub.sources("py") for line in src.code]
    seeded_torch = any(_TORCH_SEED.search(line) for line in code)
    seeded_np = any(_NP_SEED.search(line) for line in code)
    seeded_py = any(_PY_SEED.search(line) for line in code)
    fix_seed = "seed it once at start-up (torch.manual_seed / np.random.default_rng(SEED) / random.seed)"
    for src in sub.sources("py"):
        for pattern, seeded, what in (
            (_TORCH_RANDOM, seeded_torch, "torch random numbers without torch.manual_seed"),
            (_NP_RANDOM, seeded_np, "numpy's global random numbers without np.random.seed"),
            (_PY_RANDOM, seeded_py, "Python random numbers without random.seed"),
        ):
            first = next(_grep(src, pattern), None)
            if first and not seeded:
                yield Hit(
                    f"{src.rel} draws {what} (`{first[1].group(0).strip()}`): each inflate writes different raws",
                    fix_seed,
                    src.rel,
                    first[0],
                )
        for line, m in _grep(src, _NP_UNSEEDED_RNG):
            yield Hit(f"{src.rel}: `{m.group(0)}` is seeded from the OS: not reproducible", fix_seed, src.rel, line)
        for line, _ in _grep(src, _BENCHMARK):
            yield Hit(
                f"{src.rel} enables cudnn.benchmark, which picks convolution algorithms by timing: results can "
                "change from run to run",
                "leave it off (and consider torch.use_deterministic_algorithms(True))",
                src.rel,
                line,
            )
        for line, what in _unsorted_listings(src):
            yield Hit(
                f"{src.rel} lists a directory (`{what}`) without sorting: the order depends on the "
                "filesystem, so frames or members can come out in another order on the runner",
                "wrap it in sorted(...), or iterate the names file ($3) instead",
                src.rel,
                line,
            )


def _unsorted_listings(src: SourceFile) -> Iterator[tuple[int, str]]:
    """Directory listings whose order can reach the output. From the tree when the file parses: a
    listing inside sorted(...)/len/sum/set (however many lines up), or bound to a list that is
    .sort()ed, or in compress-only code, is fine."""
    if src.scan is None:
        for line, m in _grep(src, _UNSORTED_LISTING):
            if "sorted(" not in src.code[line - 1][: m.start()]:
                yield line, m.group(0).strip()
        return
    for call in src.scan.listings():
        if call.lineno in src.inert or src.scan.listing_is_ordered(call):
            continue
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "listdir")
        yield call.lineno, f"{name}("


_MISSING_FIX = (
    "use a package the runner's environment has (the challenge's uv.lock: numpy, torch, av, brotli, ...), "
    "vendor the code into the submission, or drop the import from inflate's path"
)


@register_check(
    "missing-module",
    ERROR,
    "inflate imports only the standard library, the challenge's locked packages and its own modules",
)
def _missing_module(sub: Submission) -> Iterable[Hit]:
    lock, runner = sub.lock, sub.config.runner
    root_modules = checkout_modules(sub.config.challenge_dir)
    for src in sub.sources("py"):
        if src.scan is None:
            continue
        dirs = python_search_dirs(src, sub.root)
        reported: set[str] = set()
        for node, mod, level in src.scan.imports():
            top = mod.split(".")[0]
            line = node.lineno  # type: ignore[attr-defined]
            if level or not top or top in reported or line in src.inert:
                continue
            if is_stdlib(top) or top in root_modules or lock.provides(top, runner):
                continue
            if module_candidates(sub.root, dirs, mod) or any((d / top).is_dir() for d in dirs):
                continue  # the submission's own module or package
            reported.add(top)
            dist = distribution_hint(top)
            on = lock.runners_with(top)
            if on:
                yield Hit(
                    f"{src.rel} imports {top}, which only the {on[0]} runner's environment provides "
                    f"({lock.source}): ModuleNotFoundError on the other runner",
                    f"submit to the {on[0]} runner only (`vcc lint --runner {on[0]}`), or import it only on "
                    "the path that runs there",
                    src.rel,
                    line,
                    severity=WARNING,
                )
            elif src.scan.guarded(node):
                yield Hit(
                    f"{src.rel} tries to import {top} ({dist}), which the challenge's lock does not provide "
                    f"({lock.source}): on the runner the ImportError fallback always runs",
                    "make sure the fallback is what you tested, or drop the import",
                    src.rel,
                    line,
                    severity=WARNING,
                )
            else:
                yield Hit(
                    f"{src.rel} imports {top} ({dist}), which the challenge's lock does not provide "
                    f"({lock.source}): ModuleNotFoundError on the runner",
                    _MISSING_FIX,
                    src.rel,
                    line,
                )


_VENV_PYTHON = re.compile(r"\.venv/bin/python[\d.]*")
_VENV_GUARD = re.compile(r"(\[\[?\s+-[xfe]\s|\btest\s+-[xfe]\s|exists\s*\(|is_file\s*\().*\.venv\b")


@register_check(
    "repo-venv-python",
    WARNING,
    "inflate does not depend on the repository root's .venv interpreter (it exists only after `uv sync`)",
)
def _repo_venv_python(sub: Submission) -> Iterable[Hit]:
    for src in sub.sources():
        hits = list(_grep(src, _VENV_PYTHON))
        if not hits or any(_VENV_GUARD.search(line) for line in src.code):
            continue
        line, m = hits[0]
        yield Hit(
            f"{src.rel} runs the repository root's `{m.group(0)}`: it works on the official runner, whose "
            "`uv sync` creates ROOT/.venv, and fails wherever that venv does not exist (a checkout without "
            "`uv sync`, an environment set up another way)",
            "call `python3` (or `sys.executable` from Python), or fall back to it when .venv/bin/python is missing",
            src.rel,
            line,
        )


_ABS_PATH = re.compile(r"(?<![\w.$}])(/home/|/Users/|/root/|/mnt/|/content/|/workspace/|/scratch/|~/|[A-Za-z]:\\)")
_SH_LOCAL_PATH = re.compile(r"(?<![\w.$}/-])(archive|inflated)/|(?<![\w.$}/-])public_test_video_names\.txt")


@register_check("hardcoded-paths", WARNING, "inflate uses no machine-specific or hard-coded paths")
def _hardcoded_paths(sub: Submission) -> Iterable[Hit]:
    for src in sub.sources():
        for line, m in _grep(src, _ABS_PATH):
            yield Hit(
                f"{src.rel} hard-codes the path `{m.group(0)}...`, which does not exist on the runner",
                "derive paths from the arguments ($1 $2 $3) or the script's own location",
                src.rel,
                line,
            )
    sh = sub.inflate_sh
    if sh is not None:
        for line, m in _grep(sh, _SH_LOCAL_PATH):
            yield Hit(
                f"inflate.sh hard-codes `{m.group(0)}` instead of using its argument: the runner decides "
                "where the archive dir, the inflated dir and the names file are",
                'use "$1" (archive dir), "$2" (inflated dir) and "$3" (names file)',
                sh.rel,
                line,
            )


# --------------------------------------------------------------------------- the name


@register_check(
    "submission-name",
    ERROR,
    "the name works as submissions/<name>: a module name, the dir's own, not taken on the checkout's master",
)
def _submission_name(sub: Submission) -> Iterable[Hit]:
    dir_name = sub.root.resolve().name
    for f in check_submission_name(sub.config.name or dir_name, dir_name, sub.config.challenge_dir):
        yield Hit(f.message, f.fix, severity=f.severity)
