"""`vcc lint`: each registered check fires on a small crafted submission, naming file and line,
and stays quiet on a clean one (the bundled demo example submission)."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import demo
from submission import CHECKS, ERROR, WARNING, LintConfig, PackConfig, lint_submission, pack_archive
from submission.cli import main

DEMO = Path(demo.__file__).resolve().parent / "example_submission"


@pytest.fixture
def clean(tmp_path) -> Path:
    """The demo's example submission with a small packed archive (lint never decodes it)."""
    sub = tmp_path / "sub"
    shutil.copytree(DEMO, sub)
    payload = tmp_path / "0"
    payload.write_bytes(bytes(range(256)) * 64)
    pack_archive(PackConfig([payload], sub / "archive.zip"))
    return sub


def findings(sub: Path, **kw) -> list:
    return lint_submission(LintConfig(sub, **kw)).findings


def test_demo_submission_lints_clean(clean, capsys):
    result = lint_submission(LintConfig(clean))
    assert result.findings == []
    assert [d["path"] for d in result.inflate_time] == ["inflate.sh", "inflate.py"]
    assert result.checks == list(CHECKS)
    assert main(["lint", str(clean)]) == 0
    assert "0 error(s), 0 warning(s)" in capsys.readouterr().out


def write(rel: str, text: str) -> Callable[[Path], None]:
    def mutate(sub: Path) -> None:
        p = sub / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    return mutate


def inflate_py(body: str) -> Callable[[Path], None]:
    """An inflate.py whose body is `body`, after the imports the demo uses."""
    return write("inflate.py", "import os\nimport sys\n\nimport torch\n\n" + body)


SH = "#!/usr/bin/env bash\nset -euo pipefail\n"


def remove(rel: str) -> Callable[[Path], None]:
    return lambda sub: (sub / rel).unlink()


def zip_with(*members: tuple[str, bytes], external_attr: int | None = None) -> Callable[[Path], None]:
    def mutate(sub: Path) -> None:
        with zipfile.ZipFile(sub / "archive.zip", "w") as zf:
            for name, data in members:
                info = zipfile.ZipInfo(name)
                if external_attr is not None:
                    info.create_system = 3
                    info.external_attr = external_attr
                zf.writestr(info, data)

    return mutate


def corrupt_member_data(sub: Path) -> None:
    raw = bytearray((sub / "archive.zip").read_bytes())
    raw[30 + 1 + 100] ^= 0xFF  # a byte of member "0"'s data (stored, after its 31-byte local header)
    (sub / "archive.zip").write_bytes(bytes(raw))


def zip_with_extras(sub: Path) -> None:
    with zipfile.ZipFile(sub / "archive.zip", "w") as zf:
        zf.writestr("d/", b"")  # a directory entry the file below already implies
        info = zipfile.ZipInfo("d/0")
        info.extra = b"UT\x05\x00\x03\x00\x00\x00\x00"  # what Info-ZIP zip adds without -X
        zf.writestr(info, b"x" * 100)


def large_file(sub: Path) -> None:
    (sub / "weights.safetensors").write_bytes(b"\0" * 1_200_000)


# (check, severity, mutation, path, line, words in the message)
CASES = [
    ("inflate-sh-present", ERROR, remove("inflate.sh"), "inflate.sh", None, "inflate.sh not found"),
    ("inflate-sh-syntax", ERROR, write("inflate.sh", SH + 'if [ -n "$1" ]; then\n  echo x\n'), "inflate.sh", 5,
     "does not parse"),
    ("inflate-sh-syntax", ERROR, write("inflate.sh", SH.replace("\n", "\r\n") + 'exec python3 inflate.py "$@"\r\n'),
     "inflate.sh", 1, "CRLF"),
    ("inflate-sh-args", WARNING, write("inflate.sh", SH + 'python3 inflate.py "$1" "$2" names.txt\n'), "inflate.sh",
     None, "$3 (VIDEO_NAMES_FILE)"),
    ("inflate-sh-errexit", WARNING, write("inflate.sh", '#!/bin/bash\nmkdir -p "$2"\npython3 inflate.py "$@"\n'),
     "inflate.sh", 1, "set -e"),
    ("archive-present", ERROR, remove("archive.zip"), "archive.zip", None, "archive.zip not found"),
    ("archive-valid", ERROR, write("archive.zip", "PK\x03\x04 truncated"), "archive.zip", None, "not a readable zip"),
    ("archive-valid", ERROR, zip_with(("../evil", b"x")), "archive.zip", None, "zip slip"),
    ("archive-valid", ERROR, zip_with(("link", b"/etc/passwd"), external_attr=0o120777 << 16), "archive.zip", None,
     "symbolic link"),
    ("archive-valid", ERROR, corrupt_member_data, "archive.zip", None, "fails its CRC check"),
    ("archive-overhead", WARNING, zip_with_extras, "archive.zip", None, "extra fields"),
    ("large-file-outside-archive", ERROR, large_file, "weights.safetensors", None, "1.2 MB outside archive.zip"),
    ("large-file-outside-archive", WARNING, write("tiny.pt", "x" * 100), "tiny.pt", None, "model or data artifact"),
    ("python-syntax", ERROR, inflate_py("def main(:\n    pass\n"), "inflate.py", 6, "does not compile"),
    ("inflate-fetches", ERROR, write("inflate.sh", SH + "curl -sL https://example.com/w.bin -o \"$1/w.bin\"\n"
                                     'exec python3 inflate.py "$@"\n'), "inflate.sh", 3, "`curl`"),
    ("inflate-fetches", ERROR, inflate_py("import urllib.request\n"), "inflate.py", 6, "urllib.request"),
    ("inflate-fetches", ERROR, inflate_py("from huggingface_hub import hf_hub_download\n"), "inflate.py", 6,
     "huggingface_hub"),
    ("inflate-fetches", ERROR, inflate_py("import timm\nnet = timm.create_model('x', pretrained=True)\n"),
     "inflate.py", 7, "pretrained=True"),
    ("inflate-installs", ERROR, write("inflate.sh", SH + "pip install brotli==1.1\nexec python3 inflate.py \"$@\"\n"),
     "inflate.sh", 3, "pip install"),
    ("inflate-installs", ERROR, write("inflate.sh", SH + 'uv pip install constriction\nexec python3 inflate.py "$@"\n'),
     "inflate.sh", 3, "uv pip"),
    ("inflate-installs", ERROR, inflate_py("import subprocess\nsubprocess.run(['pip', 'install', 'x'])\n"),
     "inflate.py", 7, "'pip', 'install'"),
    ("reads-original-video", ERROR, inflate_py("src = open('../../videos/0.mkv', 'rb')\n"), "inflate.py", 6,
     "videos/"),
    ("reads-original-video", ERROR, inflate_py("SRC = '0.mkv'\n"), "inflate.py", 6, "0.mkv"),
    ("gpu-device", WARNING, inflate_py("dev = 'cuda' if torch.cuda.is_available() else 'cpu'\n"), "inflate.py", 6,
     "picks the GPU whenever one is visible"),
    ("gpu-device", WARNING, inflate_py("net = torch.nn.Linear(2, 2).cuda()\n"), "inflate.py", 6, "no CPU path"),
    ("nondeterminism", WARNING, inflate_py("noise = torch.randn(4)\n"), "inflate.py", 6, "torch.manual_seed"),
    ("nondeterminism", WARNING, inflate_py("import numpy as np\nrng = np.random.default_rng()\n"), "inflate.py", 7,
     "seeded from the OS"),
    ("nondeterminism", WARNING, inflate_py("for f in os.listdir(sys.argv[1]):\n    print(f)\n"), "inflate.py", 6,
     "without sorting"),
    ("hardcoded-paths", WARNING, inflate_py("W = '/home/alice/weights.bin'\n"), "inflate.py", 6, "/home/"),
    ("hardcoded-paths", WARNING, write("inflate.sh", SH + 'python3 inflate.py archive/ "$2" "$3"\n'), "inflate.sh",
     3, "archive/"),
]  # fmt: skip


@pytest.mark.parametrize(
    "check, severity, mutate, path, line, words", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_check_fires(clean, check, severity, mutate, path, line, words):
    mutate(clean)
    found = findings(clean)
    mine = [f for f in found if f.check == check]
    assert mine, f"{check} did not fire; got {[(f.check, f.message) for f in found]}"
    f = mine[0]
    assert f.severity == severity
    assert f.path == path
    assert f.line == line
    assert words in f.message
    assert f.fix
    assert f.location() in f.render() and f"[{check}]" in f.render()
    expected_exit = 2 if any(x.severity == ERROR for x in found) else 0
    assert lint_submission(LintConfig(clean)).exit_code == expected_exit


def test_every_registered_check_has_a_firing_case():
    assert {c[0] for c in CASES} == set(CHECKS)


@pytest.mark.parametrize(
    "mutate",
    [
        # Prose is not code: comments and docstrings may say anything.
        write("inflate.sh", SH + "# we used to pip install brotli and curl the weights; reads no videos/\n"
                                 'exec python3 "$(dirname "$0")/inflate.py" "$@"\n'),
        inflate_py('"""Never reads videos/0.mkv; no pip install, no torch.randn."""\n# curl? no.\n'),
        # Seeded randomness, sorted listings, an explicit device choice with a CPU path.
        inflate_py("torch.manual_seed(0)\nnoise = torch.randn(4)\nfiles = sorted(os.listdir(sys.argv[1]))\n"
                   "dev = os.environ.get('INFLATE_DEVICE', 'cpu')\nnet = torch.nn.Linear(2, 2).to(dev)\n"
                   "if dev == 'cuda':\n    net = net.half()\n"),
        # The archive's own 0.mkv (a re-encoded stream) is the submission's data, not the original.
        lambda sub: (
            zip_with(("0.mkv", b"stream"))(sub),
            inflate_py("src = os.path.join(sys.argv[1], '0.mkv')\n")(sub),
        ),
        # compress-time code may read the originals and download: it never runs on the runner.
        write("compress.py", "import requests\nrequests.get('https://x')\nopen('videos/0.mkv')\n"),
        # The official repository's style: a module run from the root, all arguments passed on.
        write("inflate.sh", SH + 'name="$(basename "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)")"\n'
                                 'python -m "submissions.${name}.inflate" "$@"\n'),
    ],
    ids=["sh-comments", "py-docstring", "good-practice", "archive-own-mkv", "compress-time", "official-style"],
)
def test_quiet_on_good_code(clean, mutate):
    mutate(clean)
    assert findings(clean) == []


def test_imported_helpers_are_inflate_time_and_compress_is_not(clean):
    inflate_py("from codec.entropy import decode\nprint(decode)\n")(clean)
    write("codec/__init__.py", "")(clean)
    write("codec/entropy.py", "import numpy as np\n\n\ndef decode():\n    return np.random.rand(3)\n")(clean)
    result = lint_submission(LintConfig(clean))
    scanned = {d["path"]: d["why"] for d in result.inflate_time}
    assert scanned["codec/entropy.py"] == "reached from inflate.py"
    assert "compress.py" not in scanned
    (f,) = result.findings
    assert (f.check, f.path, f.line) == ("nondeterminism", "codec/entropy.py", 5)


def test_inline_ignore_and_ignore_option(clean, capsys):
    inflate_py("import requests  # noqa\nr = requests.get('https://x/w.bin')  # vcc-lint: ignore[inflate-fetches]\n")(
        clean
    )
    result = lint_submission(LintConfig(clean))
    assert result.findings == [] and result.suppressed == 1
    inflate_py("r = requests.get('https://x/w.bin')  # vcc-lint: ignore[gpu-device]\n")(clean)  # another id
    assert [f.check for f in findings(clean)] == ["inflate-fetches"]
    assert findings(clean, ignore=("inflate-fetches",)) == []
    assert main(["lint", str(clean), "--ignore", "no-such-check"]) == 2
    assert "unknown checks: no-such-check" in capsys.readouterr().err


def test_cli_json_and_exit_codes(clean, tmp_path, capsys):
    remove("inflate.sh")(clean)
    inflate_py("dev = 'cuda' if torch.cuda.is_available() else 'cpu'\n")(clean)
    out = tmp_path / "lint.json"
    assert main(["lint", str(clean), "--json", str(out)]) == 2
    text = capsys.readouterr().out
    assert "inflate.sh: error [inflate-sh-present]" in text
    assert "inflate.py:6: warning [gpu-device]" in text
    r = json.loads(out.read_text())
    assert r["ok"] is False and r["errors"] == 1 and r["warnings"] == 1
    assert r["findings"][0]["check"] == "inflate-sh-present"  # errors first
    assert {"check", "severity", "path", "line", "message", "fix"} <= set(r["findings"][1])
    remove("inflate.py")(clean)
    (clean / "inflate.sh").write_text(SH + 'exec python3 "$(dirname "$0")/decode.py" "$@"\n')
    (clean / "decode.py").write_text("import torch\nx = torch.ones(1).cuda()\n")
    assert main(["lint", str(clean)]) == 0  # warnings only
    assert "decode.py:2: warning [gpu-device]" in capsys.readouterr().out


def test_lint_never_modifies_the_submission(clean):
    before = {p: p.read_bytes() for p in clean.rglob("*") if p.is_file()}
    lint_submission(LintConfig(clean))
    assert {p: p.read_bytes() for p in clean.rglob("*") if p.is_file()} == before


def test_list_names_every_check(capsys):
    assert main(["lint", "--list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list(CHECKS)
    assert main(["lint"]) == 2
