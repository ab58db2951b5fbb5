"""What lint reads from a Python file's syntax tree: where compress-only code is, which imports are
guarded, which string literals are prose, which directory listings are order-free.

Line regexes cannot tell `usage: inflate.py <input.mkv>` from an open() of the video, nor a
`.glob()` wrapped in a `sorted(` three lines up from a bare one; the tree can.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "COMPRESS_NAME",
    "PyScan",
    "scan_python",
]

# A function or mode named like this belongs to the encoder: compress.sh runs it, inflate does
# not (`decompress`/`uncompress` are not matched: the `(^|_)` boundary keeps the prefix out).
COMPRESS_NAME = re.compile(r"(^|_)(compress|train|training|encode|fit|calibrate|calibration|finetune)(_|$)", re.I)
_COMPRESS_MODE = re.compile(r"^(compress|train|training|encode|fit|calibrate|finetune)$", re.I)

_PROSE_CALLS = {"print", "exit", "quit", "error", "warning", "warn", "info", "debug", "write", "format_usage"}
_PROSE_KWARGS = {"help", "usage", "description", "epilog", "metavar", "prog"}
_ORDER_FREE = {"sorted", "len", "sum", "set", "frozenset", "any", "all", "max", "min", "Counter"}
_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}
_EXITS = {"exit", "quit", "abort", "_exit"}
_ARCHIVE_EXPR = re.compile(r"\bargv\[1\]|archive|\bdata_dir\b|\bDATA_DIR\b", re.I)


def _name(node: ast.AST) -> str:
    """`f` for f(...), `error` for parser.error(...), "" otherwise."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _lines(node: ast.AST) -> range:
    return range(node.lineno, (getattr(node, "end_lineno", None) or node.lineno) + 1)  # type: ignore[attr-defined]


def _mentions_compress_mode(test: ast.AST) -> bool:
    """`args.mode == "compress"`, `cmd in ("train", ...)`, `args.compress`, `args.train`."""
    for n in ast.walk(test):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and _COMPRESS_MODE.match(n.value):
            return True
        if isinstance(n, ast.Attribute) and _COMPRESS_MODE.match(n.attr):
            return True
    return False


@dataclass
class PyScan:
    tree: ast.Module
    parents: dict[ast.AST, ast.AST]
    compress_only: set[int]  # lines that run only in a compress/train code path
    main_block: set[int]  # lines of `if __name__ == "__main__":`, which an import does not run

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        while node in self.parents:
            node = self.parents[node]
            yield node

    # ------------------------------------------------------------------ strings

    def strings(self) -> Iterator[tuple[int, str, ast.AST]]:
        """(line, text, node) of every string literal that is code (f-string parts included)."""
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                parent = self.parents.get(node)
                if isinstance(parent, ast.Expr):
                    continue  # a docstring or a bare string: prose
                yield node.lineno, node.value, node

    def is_prose(self, node: ast.AST) -> bool:
        """A message for people: a usage line, a help text, what print/exit/logging/error are given."""
        value = getattr(node, "value", None)
        if isinstance(value, str) and re.match(r"\s*usage\b", value, re.I):
            return True
        child = node
        for anc in self.ancestors(node):
            if isinstance(anc, ast.keyword) and anc.arg in _PROSE_KWARGS:
                return True
            if isinstance(anc, ast.Call) and child is not anc.func:
                # the innermost call decides: print(open("videos/0.mkv")) still opens it
                return _name(anc.func) in _PROSE_CALLS
            if isinstance(anc, ast.Raise):
                return True
            if isinstance(anc, ast.stmt):
                return False
            child = anc
        return False

    def compared(self, node: ast.AST) -> bool:
        """The literal is an operand of a comparison (`if name == "0.mkv"`, `names != ["0.mkv"]`)."""
        for anc in self.ancestors(node):
            if isinstance(anc, ast.Compare):
                return True
            if isinstance(anc, (ast.stmt, ast.Call)):
                return False
        return False

    def under_archive_dir(self, node: ast.AST) -> bool:
        """The literal is a path part joined onto the archive dir (`os.path.join(args.archive_dir,
        "0.mkv")`, `Path(sys.argv[1]) / "v.mkv"`, `f"{archive}/x.mkv"`): the submission's own file."""
        for anc in self.ancestors(node):
            if isinstance(anc, ast.stmt):
                return False
            if isinstance(anc, (ast.JoinedStr, ast.BinOp, ast.Call)):
                text = ast.unparse(anc)
                if _ARCHIVE_EXPR.search(text):
                    return True
        return False

    def argparse_default(self, node: ast.AST) -> tuple[ast.Call, str | None] | None:
        """(the add_argument call, its dest) when `node` is inside its `default=`."""
        child = node
        for anc in self.ancestors(node):
            if isinstance(anc, ast.keyword) and anc.arg in ("default", "const"):
                call = self.parents.get(anc)
                if isinstance(call, ast.Call) and _name(call.func) == "add_argument":
                    return call, _dest(call)
                return None
            if isinstance(anc, ast.stmt):
                return None
            child = anc
        del child
        return None

    def attribute_uses(self, attr: str) -> list[int]:
        """Lines where `<something>.attr` is read."""
        return [
            n.lineno
            for n in ast.walk(self.tree)
            if isinstance(n, ast.Attribute) and n.attr == attr and isinstance(n.ctx, ast.Load)
        ]

    def parser_is_compress_only(self, call: ast.Call) -> bool:
        """`p = sub.add_parser("compress"); p.add_argument(...)`: an argument of the compress command."""
        recv = call.func.value if isinstance(call.func, ast.Attribute) else None
        if not isinstance(recv, ast.Name):
            return False
        for n in ast.walk(self.tree):
            if (
                isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == recv.id for t in n.targets)
                and isinstance(n.value, ast.Call)
                and _name(n.value.func) == "add_parser"
                and n.value.args
                and isinstance(n.value.args[0], ast.Constant)
                and isinstance(n.value.args[0].value, str)
            ):
                return bool(_COMPRESS_MODE.match(n.value.args[0].value))
        return False

    # ------------------------------------------------------------------ listings

    def listing_is_ordered(self, node: ast.Call) -> bool:
        """The listing's order cannot matter: it feeds sorted()/len()/sum()/set()..., or the list it
        is bound to is `.sort()`ed in the same scope."""
        child: ast.AST = node
        for anc in self.ancestors(node):
            if isinstance(anc, ast.Call) and child is not anc.func and _name(anc.func) in _ORDER_FREE:
                return True
            if isinstance(anc, ast.Assign) and len(anc.targets) == 1 and isinstance(anc.targets[0], ast.Name):
                return self._sorted_later(anc, anc.targets[0].id)
            if isinstance(anc, ast.stmt):
                return False
            child = anc
        return False

    def _sorted_later(self, stmt: ast.stmt, var: str) -> bool:
        scope = next(
            (a for a in self.ancestors(stmt) if isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module))),
            self.tree,
        )
        return any(
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr == "sort"
            and isinstance(n.func.value, ast.Name)
            and n.func.value.id == var
            for n in ast.walk(scope)
        )

    def listings(self) -> Iterator[ast.Call]:
        for n in ast.walk(self.tree):
            if isinstance(n, ast.Call):
                d = _dotted(n.func)
                if d in ("os.listdir", "os.scandir", "glob.glob", "glob.iglob", "listdir", "scandir") or (
                    isinstance(n.func, ast.Attribute)
                    and n.func.attr in ("iterdir", "glob", "rglob")
                    and d not in ("glob.glob",)
                ):
                    yield n

    # ------------------------------------------------------------------ imports

    def imports(self) -> Iterator[tuple[ast.AST, str, int]]:
        """(node, absolute module name, level) of every import; level > 0 for relative ones."""
        for n in ast.walk(self.tree):
            if isinstance(n, ast.Import):
                for alias in n.names:
                    yield n, alias.name, 0
            elif isinstance(n, ast.ImportFrom):
                yield n, n.module or "", n.level

    def guarded(self, node: ast.AST) -> bool:
        """Inside `try:` whose handlers catch ImportError (or broader), or inside such a handler."""
        child = node
        for anc in self.ancestors(node):
            if isinstance(anc, ast.Try) and child in anc.body:
                if any(_caught(h) & _IMPORT_ERRORS for h in anc.handlers):
                    return True
            if isinstance(anc, ast.ExceptHandler):
                return True  # the fallback of a try: runs only when what it tried failed
            child = anc
        return False

    def in_import_fallback(self, line: int) -> bool:
        """`line` is in an `except ImportError:` handler (or the else of `if importlib.util.find_spec`)."""
        for n in ast.walk(self.tree):
            if isinstance(n, ast.ExceptHandler) and line in _lines(n) and _caught(n) & _IMPORT_ERRORS:
                return True
            if (
                isinstance(n, ast.If)
                and "find_spec" in ast.unparse(n.test)
                and any(line in _lines(s) for s in n.body + n.orelse)
            ):
                return True
        return False

    # ------------------------------------------------------------------ devices

    def cuda_required_exits(self) -> Iterator[tuple[int, str]]:
        """(line, source) of `if not torch.cuda.is_available(): sys.exit(...)/raise ...` and
        `assert torch.cuda.is_available()`: inflate stops outright without a GPU."""
        for n in ast.walk(self.tree):
            if isinstance(n, ast.Assert) and _calls_is_available(n.test) and not _negated(n.test):
                yield n.lineno, ast.unparse(n).strip()
            elif isinstance(n, ast.If) and _calls_is_available(n.test):
                stops = n.body if _negated(n.test) else n.orelse
                for s in stops:
                    if isinstance(s, ast.Raise) or (
                        isinstance(s, ast.Expr) and isinstance(s.value, ast.Call) and _name(s.value.func) in _EXITS
                    ):
                        yield s.lineno, ast.unparse(s).strip()
                        break

    # ------------------------------------------------------------------ sys.path

    def sys_path_literals(self) -> list[str]:
        """String literals given to sys.path.insert/append (`HERE / "src"` -> "src")."""
        out = []
        for n in ast.walk(self.tree):
            if isinstance(n, ast.Call) and _dotted(n.func) in ("sys.path.insert", "sys.path.append"):
                args = n.args[1:] if _dotted(n.func).endswith("insert") else n.args
                for a in args:
                    lits = [c.value for c in ast.walk(a) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
                    out += lits or ["."]  # sys.path.insert(0, HERE): the file's own dir
        return out


def _caught(handler: ast.ExceptHandler) -> set[str]:
    if handler.type is None:
        return {"BaseException"}
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return {_name(t) for t in types}


def _calls_is_available(test: ast.AST) -> bool:
    return any(isinstance(c, ast.Call) and _name(c.func) in ("is_available", "device_count") for c in ast.walk(test))


def _negated(test: ast.AST) -> bool:
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return True
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        right = test.comparators[0]
        if isinstance(right, ast.Constant) and right.value in (False, 0):
            return isinstance(test.ops[0], (ast.Eq, ast.Is))
    return False


def _dest(call: ast.Call) -> str | None:
    for kw in call.keywords:
        if kw.arg == "dest" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
            return kw.value.value
    names = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    longs = [s for s in names if s.startswith("--")]
    pick = longs[0] if longs else (names[0] if names else None)
    return pick.lstrip("-").replace("-", "_") if pick else None


def _compress_only_lines(tree: ast.Module, parents: dict[ast.AST, ast.AST]) -> set[int]:
    out: set[int] = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and COMPRESS_NAME.search(n.name):
            out.update(_lines(n))
        elif isinstance(n, ast.If) and _mentions_compress_mode(n.test):
            # the branch taken for the compress mode; an `else:` (or `elif`) is the other modes'
            negated = _negated(n.test) or (
                isinstance(n.test, ast.Compare) and any(isinstance(op, (ast.NotEq, ast.NotIn)) for op in n.test.ops)
            )
            for s in n.orelse if negated else n.body:
                out.update(_lines(s))
    return out


def _main_block_lines(tree: ast.Module) -> set[int]:
    out: set[int] = set()
    for n in tree.body:
        if isinstance(n, ast.If) and "__name__" in ast.unparse(n.test) and "__main__" in ast.unparse(n.test):
            for s in n.body:
                out.update(_lines(s))
    return out


def scan_python(tree: ast.Module) -> PyScan:
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    return PyScan(tree, parents, _compress_only_lines(tree, parents), _main_block_lines(tree))
