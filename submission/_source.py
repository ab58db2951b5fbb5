"""Reading a submission's code for lint: comment-free lines, and which files run at inflate time.

Checks look at code, not prose: comments and docstrings are blanked (line numbers
kept), string literals are kept (paths and commands live in them). Inflate time
is inflate.sh, inflate.py, whatever inflate.sh names, the local modules those
import (transitively, through the dirs they put on sys.path too), and the scripts
and files their literals name; code in a compress/train-only path of a file is
not followed. Compress-time code may read the original video or download freely,
so it is not held to inflate's rules; files only it uses are not inflate's artifacts.
"""

from __future__ import annotations

import ast
import fnmatch
import io
import os
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from vcc.base import BadInput

from ._pyscan import PyScan, scan_python

__all__ = [
    "SourceFile",
    "Reach",
    "INFLATE_ENTRIES",
    "COMPRESS_ENTRIES",
    "mask_python",
    "mask_shell",
    "load_source",
    "follow",
    "python_search_dirs",
    "module_candidates",
    "inflate_time_files",
]

_MAX_SOURCE_BYTES = 2 << 20  # bigger "code" is data; not scanned


@dataclass
class SourceFile:
    rel: str  # path relative to the submission dir
    path: Path
    lang: str  # "sh" | "py"
    text: str
    code: list[str]  # lines with comments and docstrings blanked
    tree: ast.Module | None = None
    syntax_error: SyntaxError | None = None
    reached_from: str = ""
    notes: list[str] = field(default_factory=list)
    scan: PyScan | None = None  # the syntax tree's reading (Python that parses)
    imported: bool = False  # reached only by import: its `if __name__ == "__main__":` block does not run

    @property
    def inert(self) -> set[int]:
        """Lines that do not run at inflate time: compress/train-only paths, and the main block of
        a module that inflate only imports."""
        if self.scan is None:
            return set()
        return self.scan.compress_only | (self.scan.main_block if self.imported else set())

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


def mask_python(text: str) -> tuple[list[str], ast.Module | None, SyntaxError | None]:
    """Lines with comments and docstrings (any bare string statement) blanked; the parsed tree."""
    lines = text.splitlines()
    out = [list(line) for line in lines]
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        # Still scan it, minus what looks like a comment.
        return [re.sub(r"(^|\s)#.*$", "", line) for line in lines], None, e
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                row, col = tok.start
                out[row - 1][col:] = []
    except (tokenize.TokenError, IndentationError):
        pass
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for row in range(node.lineno, (node.end_lineno or node.lineno) + 1):
                out[row - 1] = []
    return ["".join(chars) for chars in out], tree, None


def _strip_shell_comment(line: str) -> str:
    quote = ""
    prev = " "
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 2
                prev = "x"
                continue
            if c == quote:
                quote = ""
        elif c == "\\":
            i += 2
            prev = "x"
            continue
        elif c in "'\"":
            quote = c
        elif c == "#" and (prev.isspace() or prev in ";&|("):
            return line[:i]
        prev = c
        i += 1
    return line


def mask_shell(text: str) -> list[str]:
    """Lines without their comments (quote-aware; `$#` and `${#x}` are not comments)."""
    return [_strip_shell_comment(line) for line in text.splitlines()]


def load_source(root: Path, rel: str, reached_from: str = "") -> SourceFile | None:
    """The file's text and its readings; None for a dangling link or "code" too big to be code.
    A file inflate runs that cannot be read is bad input: lint would otherwise pass it unseen."""
    path = root / rel
    if path.is_symlink() and not path.exists():
        return None  # lint reports nothing it cannot see; the runner fails on it, visibly
    if not path.is_file():
        raise BadInput(
            f"{rel} is not a regular file (a FIFO, a device, a dir?), and inflate runs it ({reached_from})",
            path=path,
            fix="replace it with the script itself",
        )
    try:
        if path.stat().st_size > _MAX_SOURCE_BYTES:
            return None
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError as e:
        raise BadInput(
            f"cannot read {rel}, which inflate runs ({reached_from}): {e.strerror or e}",
            path=path,
            fix="make it readable (chmod u+r) or remove it from the submission",
        ) from e
    if rel.endswith(".py"):
        code, tree, err = mask_python(text)
        scan = scan_python(tree) if tree is not None else None
        return SourceFile(rel, path, "py", text, code, tree, err, reached_from, scan=scan)
    return SourceFile(rel, path, "sh", text, mask_shell(text), reached_from=reached_from)


_CODE_SUFFIXES = (".py", ".sh")


def _rel(root: Path, cand: Path) -> str | None:
    try:
        return cand.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return None


def module_candidates(root: Path, starts: list[Path], module: str) -> list[str]:
    """Files under `root` that `import module` may load, tried from each start dir (the submission
    root, the importing file's dir, dirs it puts on sys.path), each with every suffix of the dotted
    name (`submissions.<name>.util` is the submission's own util.py)."""
    parts = [p for p in module.split(".") if p]
    found = []
    for start in starts:
        for k in range(len(parts)):
            tail = Path(*parts[k:])
            for cand in (start / tail.with_suffix(".py"), start / tail / "__init__.py"):
                # not only regular files: a FIFO named like the module must reach load_source's refusal
                if os.path.lexists(cand) and not cand.is_dir() and (rel := _rel(root, cand)) is not None:
                    found.append(rel)
    return found


def python_search_dirs(src: SourceFile, root: Path) -> list[Path]:
    """Where this file's imports resolve: its dir, the submission root, and the dirs it adds to
    sys.path by literal (`sys.path.insert(0, str(HERE / "src"))`)."""
    base = src.path.parent
    dirs = [base, root]
    if src.scan is not None:
        for lit in src.scan.sys_path_literals():
            for start in (base, root):
                d = (start / lit.strip("/")) if lit not in (".", "") else start
                if d.is_dir() and _rel(root, d) is not None and d not in dirs:
                    dirs.append(d)
    return dirs


def _imports(src: SourceFile, root: Path, inflate: bool) -> list[str]:
    if src.scan is None:
        return []
    dirs = python_search_dirs(src, root)
    out: list[str] = []
    for node, mod, level in src.scan.imports():
        if inflate and node.lineno in src.inert:  # type: ignore[attr-defined]
            continue
        if level:
            pkg_dir = src.path.parent
            for _ in range(level - 1):
                pkg_dir = pkg_dir.parent
            starts = [pkg_dir]
        else:
            starts = dirs
        out += module_candidates(root, starts, mod) if mod else []
        if isinstance(node, ast.ImportFrom):  # `from pkg import mod` may import a module
            for alias in node.names:
                out += module_candidates(root, starts, f"{mod}.{alias.name}" if mod else alias.name)
    return out


def _literal_refs(literal: str, files: list[str], dirs: set[str]) -> list[str]:
    """Submission files a string literal names: by relative path, a path ending in it, or base name;
    a literal naming a directory of the submission names every file under it."""
    lit = literal.strip().strip("/")
    if not lit or len(lit) > 300 or "\n" in lit:
        return []
    tail = lit.rsplit("/", 1)[-1]
    if "*" in tail or "?" in tail:  # a glob pattern (`HERE.glob("*.pt")`) names what it matches
        return [f for f in files if fnmatch.fnmatchcase(f.rsplit("/", 1)[-1], tail)] if tail.strip("*?.") else []
    out = [f for f in files if f == lit or lit.endswith("/" + f) or f.rsplit("/", 1)[-1] == tail]
    for d in dirs:
        if lit == d or lit.endswith("/" + d):
            # its data, not its code: a dir put on sys.path is not a run of every module in it
            out += [f for f in files if f.startswith(d + "/") and not f.endswith(_CODE_SUFFIXES)]
    return out


def _named_in_python(src: SourceFile, files: list[str], dirs: set[str], inflate: bool) -> list[str]:
    if src.scan is None:
        return []
    out: list[str] = []
    for line, text, node in src.scan.strings():
        if inflate and line in src.inert:
            continue
        if src.scan.is_prose(node):
            continue
        out += _literal_refs(text, files, dirs)
    return out


_DASH_M = re.compile(r"-m\s+[\"']?([\w.${}\-]+)")


def _named_in_shell(src: SourceFile, candidates: list[str]) -> list[str]:
    """Submission files that a shell script names (by path or base name), and `-m module` targets."""
    code = "\n".join(src.code)
    out = []
    for rel in candidates:
        name = Path(rel).name
        if re.search(rf"(?<![\w.-]){re.escape(rel)}(?![\w.-])", code) or re.search(
            rf"(?<![\w.-]){re.escape(name)}(?![\w-])", code
        ):
            out.append(rel)
    for m in _DASH_M.finditer(code):
        last = m.group(1).split(".")[-1]
        out += [rel for rel in candidates if Path(rel).name == f"{last}.py"]
    return out


@dataclass
class Reach:
    """What a set of entry points runs and reads: code (scanned) and other files it names."""

    sources: list[SourceFile]  # in discovery order
    data: dict[str, str]  # non-code submission file -> the code file that names it


def follow(root: Path, files: list[str], entries: tuple[str, ...], *, inflate: bool) -> Reach:
    """Entry points and what they reach: scripts a shell file names, modules Python imports
    (transitively, sys.path additions included), scripts and files named by literal path.
    For inflate, code in compress/train-only paths of a file is not followed."""
    dirs = {str(PurePosixPath(f).parent) for f in files} - {"."}
    dirs |= {str(p) for f in files for p in PurePosixPath(f).parents if str(p) != "."}
    queue: list[tuple[str, str, bool]] = [(f, "entry point", False) for f in entries if f in files]
    seen: dict[str, SourceFile] = {}
    data: dict[str, str] = {}
    while queue:
        rel, why, imported = queue.pop(0)
        if rel in seen:
            continue
        # run as a script by anything that reaches it: its main block runs
        imported = imported and not any(r == rel and not i for r, _, i in queue)
        src = load_source(root, rel, why)
        if src is None:
            continue
        src.imported = imported
        seen[rel] = src
        if src.lang == "sh":
            reached = [(r, False) for r in _named_in_shell(src, files)]
        else:
            reached = [(r, True) for r in _imports(src, root, inflate)]
            reached += [(r, False) for r in _named_in_python(src, files, dirs, inflate)]
        for r, by_import in reached:
            if r in seen or r not in files or r == rel:
                continue
            if r.endswith(_CODE_SUFFIXES):
                queue.append((r, f"reached from {rel}", by_import))
            else:
                data.setdefault(r, rel)
    return Reach(list(seen.values()), data)


INFLATE_ENTRIES = ("inflate.sh", "inflate.py")
COMPRESS_ENTRIES = ("compress.sh", "compress.py")


def inflate_time_files(root: Path, files: list[str]) -> list[SourceFile]:
    """inflate.sh, inflate.py and what they reach (named scripts, local imports), in discovery order."""
    return follow(root, files, INFLATE_ENTRIES, inflate=True).sources
