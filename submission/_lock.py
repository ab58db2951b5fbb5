"""Which Python modules the runner's environment provides: the challenge checkout's uv.lock, synced
with `uv sync --group cpu` (CPU runner) or `--group cu128` (T4 runner), plus the standard library.

With a checkout (`--challenge-dir`) its own uv.lock is read: the root project's dependencies, the
runner's group, and everything they depend on. Without one, a built-in list of the official lock's
packages stands in (SPEC.md section 8). A module is matched to its distribution by the names the
distributions are known to install (pillow installs PIL), else by the normalised distribution name
(`segmentation-models-pytorch` -> `segmentation_models_pytorch`).
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcc.base import RUNNER_GROUPS, BadInput

__all__ = [
    "RUNNER_GROUPS",
    "LockModules",
    "lock_modules",
    "checkout_modules",
    "distribution_hint",
    "modules_of",
    "is_stdlib",
]

# RUNNER_GROUPS (public runner -> its uv group) is vcc.base's, from the runner table; re-exported.

# The official lock (commaai/comma_video_compression_challenge uv.lock; SPEC.md section 8): the
# project's dependencies and what they pull in, for both runners...
_OFFICIAL_BOTH = (
    "av", "brotli", "charset-normalizer", "constriction", "einops", "numpy", "pillow", "pyppmd", "requests",
    "safetensors", "segmentation-models-pytorch", "timm", "tqdm", "urllib3", "torch", "torchvision",
    # pulled in by the above
    "anyio", "certifi", "click", "colorama", "filelock", "fsspec", "h11", "hf-xet", "httpcore", "httpx",
    "huggingface-hub", "idna", "jinja2", "markupsafe", "mpmath", "networkx", "packaging", "pyyaml",
    "setuptools", "shellingham", "sniffio", "sympy", "typer-slim", "typing-extensions",
)  # fmt: skip
# ... and only in the T4 runner's cu128 group (DALI and the CUDA builds' extras).
_OFFICIAL_T4 = ("nvidia-dali-cuda120", "makefun", "astunparse", "gast", "dm-tree", "optree", "six", "wheel", "triton")

# Distributions whose import names differ from their normalised names.
_DIST_MODULES = {
    "pillow": ("PIL",),
    "pyyaml": ("yaml",),
    "dm-tree": ("tree",),
    "typer-slim": ("typer",),
    "setuptools": ("setuptools", "pkg_resources", "_distutils_hack"),
    "torch": ("torch", "functorch", "torchgen"),
    "attrs": ("attr", "attrs"),
    "absl-py": ("absl",),
    "nvidia-dali-cuda120": ("nvidia",),
    "opencv-python": ("cv2",),
    "opencv-python-headless": ("cv2",),
    "opencv-contrib-python": ("cv2",),
    "scikit-image": ("skimage",),
    "scikit-learn": ("sklearn",),
    "protobuf": ("google",),
    "python-dateutil": ("dateutil",),
    "pytorch-msssim": ("pytorch_msssim",),
    "brotlicffi": ("brotlicffi",),
}
# Import name -> the distribution that provides it, for the message (cv2 -> opencv-python).
_MODULE_DISTS = {
    m: d for d, ms in _DIST_MODULES.items() for m in ms if d not in ("opencv-python-headless", "opencv-contrib-python")
}
_MODULE_DISTS["nvidia"] = "nvidia-dali-cuda120"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def _installed_modules() -> dict[str, tuple[str, ...]]:
    """Distribution -> top-level modules, for what this Python has installed (their RECORDs say)."""
    out: dict[str, set[str]] = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        for d in dists:
            out.setdefault(_norm(d), set()).add(module)
    return {d: tuple(sorted(ms)) for d, ms in out.items()}


def modules_of(dist: str) -> tuple[str, ...]:
    """The import names a distribution provides: known ones, what its installed RECORD says, else
    its normalised name (`segmentation-models-pytorch` -> `segmentation_models_pytorch`)."""
    d = _norm(dist)
    if d in _DIST_MODULES:
        return _DIST_MODULES[d]
    return _installed_modules().get(d, (d.replace("-", "_"),))


def distribution_hint(module: str) -> str:
    return _MODULE_DISTS.get(module, module.replace("_", "-"))


def is_stdlib(module: str) -> bool:
    return module in sys.stdlib_module_names or module == "__future__"


@dataclass(frozen=True)
class LockModules:
    """Top-level import names per runner group, and where the list came from."""

    source: str  # the lock's path, or "the built-in list of the official uv.lock"
    groups: dict[str, frozenset[str]] = field(default_factory=dict)  # "cpu"/"cu128" -> modules

    def provides(self, module: str, runner: str | None = None) -> bool:
        """On every runner asked about (None: both)."""
        wanted = [RUNNER_GROUPS[runner]] if runner else list(self.groups)
        return all(module in self.groups.get(g, frozenset()) for g in wanted)

    def runners_with(self, module: str) -> list[str]:
        return [r for r, g in RUNNER_GROUPS.items() if module in self.groups.get(g, frozenset())]


def _builtin() -> LockModules:
    both = {m for d in _OFFICIAL_BOTH for m in modules_of(d)}
    t4 = both | {m for d in _OFFICIAL_T4 for m in modules_of(d)}
    return LockModules("the built-in list of the official uv.lock", {"cpu": frozenset(both), "cu128": frozenset(t4)})


def _closure(packages: dict[str, dict[str, Any]], roots: list[dict[str, Any]]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        dep = todo.pop()
        name = _norm(str(dep.get("name", "")))
        extras = tuple(dep.get("extra", ()))
        key = name + "[" + ",".join(extras) + "]"
        if not name or key in seen:
            continue
        seen.add(key)
        seen.add(name)
        pkg = packages.get(name, {})
        todo += list(pkg.get("dependencies", []))
        for extra in extras:
            todo += list(pkg.get("optional-dependencies", {}).get(extra, []))
    return {k for k in seen if "[" not in k}


def _read_lock(path: Path) -> LockModules:
    try:
        lock = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise BadInput(
            f"cannot read the challenge's lock: {e}",
            path=path,
            fix="pass the official checkout (its uv.lock parses with `uv lock --check`)",
        ) from e
    entries = [p for p in lock.get("package", []) if isinstance(p, dict) and "name" in p]
    packages = {_norm(p["name"]): p for p in entries}
    root = next(
        (
            p
            for p in entries
            if isinstance(p.get("source"), dict)
            and ({"virtual", "editable"} & set(p["source"]))
            and p["source"].get("virtual", p["source"].get("editable")) == "."
        ),
        None,
    )
    if root is None:
        raise BadInput(
            'the lock names no root project (a package with source = { virtual = "." })',
            path=path,
            fix="pass the official checkout's uv.lock (written by `uv lock`)",
        )
    groups = {}
    for group in RUNNER_GROUPS.values():
        deps = list(root.get("dependencies", [])) + list(root.get("dev-dependencies", {}).get(group, []))
        dists = _closure(packages, deps) - {_norm(root["name"])}
        groups[group] = frozenset(m for d in dists for m in modules_of(d))
    return LockModules(str(path), groups)


def lock_modules(challenge_dir: Path | None) -> LockModules:
    """The checkout's uv.lock when there is one, else the built-in list."""
    if challenge_dir is not None:
        lock = Path(challenge_dir) / "uv.lock"
        if lock.is_file():
            return _read_lock(lock)
    return _builtin()


# The official checkout's root modules, importable by an inflate run as `python -m
# submissions.<name>.inflate` from the root (SPEC.md section 1).
_OFFICIAL_ROOT_MODULES = frozenset({"frame_utils", "modules", "evaluate", "submissions"})


def checkout_modules(challenge_dir: Path | None) -> frozenset[str]:
    """Top-level names the checkout's root makes importable (its *.py files and packages)."""
    if challenge_dir is None or not Path(challenge_dir).is_dir():
        return _OFFICIAL_ROOT_MODULES
    root = Path(challenge_dir)
    found = {p.stem for p in root.glob("*.py")} | {p.name for p in root.iterdir() if (p / "__init__.py").is_file()}
    return frozenset(found | {"submissions"})
