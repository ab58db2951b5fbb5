"""The layers: base <- scorer <- runner <- submission <- demo <- vcc (the CLI), and torch only where needed.

Imports are read from the source (every `import`, at module level or inside a function), so a
dependency against the layering fails here whichever code path would have taken it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["base", "scorer", "runner", "submission", "demo"]  # each may import only those before it

# Run a vcc command in a fresh interpreter where importing torch raises.
_BLOCKED = """
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"{name} imported by a command that must not need it")
sys.meta_path.insert(0, NoTorch())
import vcc
code = vcc.main(sys.argv[1:])
assert "torch" not in sys.modules
sys.exit(code)
"""


def _part(module: str) -> str | None:
    """The part of vcc a dotted name is in (`vcc.scorer._x` -> scorer); None for other packages.
    A bare generic name (`import runner`) is flagged by test_no_generic_top_level_imports."""
    parts = module.split(".")
    return parts[1] if parts[0] == "vcc" and len(parts) > 1 else None


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {_part(a.name) for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(_part(node.module))
            if node.module == "vcc":  # from vcc import scorer
                names |= {a.name for a in node.names}
    return names & set(LAYERS)


def test_no_generic_top_level_imports():
    """Every import of vcc's own code goes through the `vcc` namespace: `import runner` would find a
    user's module of that name (or nothing, from an installed wheel)."""
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        if ".venv" in path.parts or "build" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                    else [])  # fmt: skip
            wrong += [f"{path.relative_to(ROOT)}: {m}" for m in mods if m.split(".")[0] in LAYERS]
    assert not wrong, "; ".join(wrong)


def test_the_layering_check_sees_namespaced_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import vcc.runner._x\nfrom vcc.scorer import y\nfrom vcc import demo\nimport torch\n")
    assert _imported_packages(probe) == {"runner", "scorer", "demo"}


def test_packages_import_only_lower_layers() -> None:
    wrong = []
    for rank, package in enumerate(LAYERS):
        for path in sorted((ROOT / package).rglob("*.py")):
            for other in _imported_packages(path):
                if LAYERS.index(other) > rank:
                    wrong.append(f"{path.relative_to(ROOT)} imports {other}")
    assert not wrong, "imports against the layering: " + "; ".join(wrong)


def test_base_imports_no_other_package_of_vcc() -> None:
    for path in (ROOT / "base").rglob("*.py"):
        assert _imported_packages(path) <= {"base"}, path


def _run_blocked(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _BLOCKED, *argv], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


@pytest.fixture
def small_submission(tmp_path: Path) -> Path:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "inflate.sh").write_text('#!/bin/bash\nset -e\npython3 "$(dirname "$0")/inflate.py" "$1" "$2" "$3"\n')
    (sub / "inflate.py").write_text("import sys\nprint(sys.argv)\n")
    with zipfile.ZipFile(sub / "archive.zip", "w") as zf:
        zf.writestr("a", b"\x00" * 100)
    # a run report as `vcc run` writes it, reduced to what `vcc pr-body` reads
    score = {"score": 1.5, "posenet_distortion": 0.1, "segnet_distortion": 0.01, "rate": 0.001, "samples": 2,
             "decode": "pyav", "device": "cpu", "original_bytes": 1000, "official_report": "report\n"}
    run = {"vcc_run_schema": 1, "verdict": "ok", "score": score, "runner": {"kind": "cpu"},
           "submission": {"archive_bytes": (sub / "archive.zip").stat().st_size}, "clock": {"headroom_s": 100.0},
           "numerics": {"class": "X", "profile": "native"}}
    (tmp_path / "run.json").write_text(json.dumps(run))
    return sub


@pytest.mark.parametrize("argv", [
    ["--help"],
    ["score", "--help"],
    ["run", "--help"],
    ["gate", "--help"],
    ["cache", "list", "--cache-dir", "{tmp}/cache"],
    ["pack", "{sub}/inflate.py", "-o", "{tmp}/out.zip"],
    ["pack", "{sub}/inflate.py", "-o", "{tmp}/out.zip", "--advise", "--json", "{tmp}/pack.json"],
    ["advise", "{sub}", "--json", "{tmp}/advise.json"],
    ["pr-body", "{sub}", "--run", "{tmp}/run.json", "-o", "{tmp}/pr.md"],
    ["cache", "key", "--challenge-dir", "{tmp}/no-challenge"],
    ["manifest", "{sub}", "--json", "{tmp}/manifest.json"],
    ["lint", "{sub}", "--json", "{tmp}/lint.json"],
    ["lint", "--list"],
    ["sweep", "--help"],
    ["sweep", "{tmp}/no-such-spec.toml", "--out", "{tmp}/sweep-out"],
    ["compare", "{rep}", "{rep}", "--json", "{tmp}/compare.json"],
    ["pairs", "{rep}", "-o", "{tmp}/pairs.csv"],
    ["plot", "{rep}", "-o", "{tmp}/plots", "--no-frames", "--quiet"],
    ["report", "{rep}", "-o", "{tmp}/report.html", "--quiet"],
    ["compare", "--help"],
    ["plot", "--help"],
    ["report", "--help"],
])
def test_light_commands_never_import_torch(argv: list[str], tmp_path: Path, small_submission: Path) -> None:
    from helpers import synthetic_score_report  # builds the report with scorer's result classes: torch-free too

    rep = tmp_path / "score.json"
    synthetic_score_report(rep)
    args = [a.format(tmp=tmp_path, sub=small_submission, rep=rep) for a in argv]
    proc = _run_blocked(*args, cwd=tmp_path)
    assert "must not need it" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode in (0, 2), proc.stderr[-2000:]  # lint may find errors (2); nothing crashed
    if "--json" in args:
        json.loads(Path(args[args.index("--json") + 1]).read_text())


def test_bad_submission_is_refused_before_torch_loads(tmp_path: Path, mini_challenge: Path) -> None:
    """A short raw: exit 2 naming the file, and torch never imported (the refusal is fast)."""
    sub = tmp_path / "short"
    (sub / "inflated").mkdir(parents=True)
    (sub / "archive.zip").write_bytes(b"\0" * 1000)
    (sub / "inflated" / "0.raw").write_bytes(b"\0" * (874 * 1164 * 3 * 2))  # 2 of the 4 frames
    proc = _run_blocked("score", str(sub), "--challenge-dir", str(mini_challenge), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "raw frame count differs" in proc.stderr and "0.raw" in proc.stderr



@pytest.mark.parametrize("package", ["scorer", "demo", "submission", "runner"])
def test_every_exported_name_resolves(package: str) -> None:
    module = __import__(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{package} exports names it cannot load: {missing}"
