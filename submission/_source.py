"""Reading a submission's code for lint: comment-free lines, and which files run at inflate time.

Checks look at code, not prose: comments and docstrings are blanked (line numbers
kept), string literals are kept (paths and commands live in them). Inflate time
is inflate.sh, inflate.py, whatever inflate.sh names, and the local modules those
import, transitively; compress-time code may read the original video or download
freely, so it is not held to inflate's rules.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SourceFile", "mask_python", "mask_shell", "load_source", "inflate_time_files"]

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
    path = root / rel
    try:
        if path.stat().st_size > _MAX_SOURCE_BYTES:
            return None
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return None
    if rel.endswith(".py"):
        code, tree, err = mask_python(text)
        return SourceFile(rel, path, "py", text, code, tree, err, reached_from)
    return SourceFile(rel, path, "sh", text, mask_shell(text), reached_from=reached_from)


def _module_candidates(root: Path, base: Path, module: str) -> list[str]:
    """Files under `root` that `import module` may load, tried from the submission root and
    from `base` (the importing file's dir), each with every suffix of the dotted name
    (`submissions.<name>.util` is the submission's own util.py)."""
    parts = [p for p in module.split(".") if p]
    found = []
    for start in (root, base):
        for k in range(len(parts)):
            tail = Path(*parts[k:])
            for cand in (start / tail.with_suffix(".py"), start / tail / "__init__.py"):
                if cand.is_file():
                    try:
                        found.append(cand.resolve().relative_to(root.resolve()).as_posix())
                    except ValueError:
                        continue
    return found


def _imports(src: SourceFile, root: Path) -> list[str]:
    if src.tree is None:
        return []
    base = src.path.parent
    out: list[str] = []
    for node in ast.walk(src.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out += _module_candidates(root, base, alias.name)
        elif isinstance(node, ast.ImportFrom):
            pkg_dir = base
            for _ in range(max(node.level - 1, 0)):
                pkg_dir = pkg_dir.parent
            start = pkg_dir if node.level else root
            mod = node.module or ""
            out += _module_candidates(root, start, mod) if mod else []
            for alias in node.names:  # `from pkg import mod` may import a module
                out += _module_candidates(root, start, f"{mod}.{alias.name}" if mod else alias.name)
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


def inflate_time_files(root: Path, files: list[str]) -> list[SourceFile]:
    """inflate.sh, inflate.py and what they reach (named scripts, local imports), in discovery order."""
    scripts = [f for f in files if f.endswith((".py", ".sh"))]
    queue: list[tuple[str, str]] = [(f, "entry point") for f in ("inflate.sh", "inflate.py") if f in files]
    seen: dict[str, SourceFile] = {}
    while queue:
        rel, why = queue.pop(0)
        if rel in seen:
            continue
        src = load_source(root, rel, why)
        if src is None:
            continue
        seen[rel] = src
        reached = _named_in_shell(src, scripts) if src.lang == "sh" else _imports(src, root)
        for r in reached:
            if r not in seen and r in files:
                queue.append((r, f"reached from {rel}"))
    return list(seen.values())
