"""`vcc lint`: each registered check fires on a small crafted submission, naming file and line,
and stays quiet on a clean one (the bundled demo example submission)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from vcc import demo
from vcc.base import BadInput
from vcc.submission import CHECKS, ERROR, WARNING, LintConfig, PackConfig, lint_submission, pack_archive
from vcc.submission.cli import main

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
    """An inflate.py whose body is `body`, after the imports the demo uses (line 6 is its first)."""
    return write("inflate.py", "import os\nimport sys\nfrom pathlib import Path\nimport torch\n\n" + body)


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


def zip_from_dos(*members: tuple[str, bytes, int]) -> Callable[[Path], None]:
    """An archive.zip whose members a DOS/Windows tool made (host 0): (name, data, DOS attribute byte)."""

    def mutate(sub: Path) -> None:
        with zipfile.ZipFile(sub / "archive.zip", "w") as zf:
            for name, data, dos in members:
                info = zipfile.ZipInfo(name)
                info.create_system, info.external_attr = 0, dos
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


def zip_with_a_name_twice(sub: Path) -> None:
    with warnings.catch_warnings(), zipfile.ZipFile(sub / "archive.zip", "w") as zf:
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns of the duplicate, then writes it
        zf.writestr("0", b"old" * 100)
        zf.writestr("0", b"new" * 100)  # what the runner's unzip -o keeps


def large_file(sub: Path) -> None:
    """A 1.2 MB network that inflate loads by name from its own dir."""
    (sub / "weights.safetensors").write_bytes(b"\0" * 1_200_000)
    inflate_py("W = os.path.join(os.path.dirname(__file__), 'weights.safetensors')\n")(sub)


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
    ("archive-present", WARNING, remove("archive.zip"), "archive.zip", None, "archive checks were skipped"),
    ("archive-valid", ERROR, write("archive.zip", "PK\x03\x04 truncated"), "archive.zip", None, "not a readable zip"),
    ("archive-valid", ERROR, zip_with(("../evil", b"x")), "archive.zip", None, "zip slip"),
    ("archive-valid", ERROR, zip_with(("link", b"/etc/passwd"), external_attr=0o120777 << 16), "archive.zip", None,
     "symbolic link"),
    ("archive-valid", ERROR, corrupt_member_data, "archive.zip", None, "fails its CRC check"),
    ("archive-overhead", WARNING, zip_with_extras, "archive.zip", None, "extra fields"),
    ("archive-overhead", WARNING, zip_with_a_name_twice, "archive.zip", None, "1 earlier copies of names stored twice"),
    ("archive-names", WARNING, zip_from_dos(("0", b"x", 0x20), ("caf\u00e9.bin", b"y", 0x20)), "archive.zip", None,
     "writes 1 member(s) under another name than Python's zipfile and most listings show ('caf\u00e9.bin' as "
     "'caf+\\xae.bin')"),
    ("archive-names", WARNING, zip_from_dos(("0", b"x", 0x20), ("LABEL", b"", 0x08)), "archive.zip", None,
     "1 member(s) carry the DOS volume-label attribute ('LABEL')"),
    ("large-file-outside-archive", ERROR, large_file, "weights.safetensors", None, "1.2 MB outside archive.zip"),
    ("large-file-outside-archive", WARNING, lambda sub: (write("tiny.pt", "x" * 100)(sub), inflate_py(
        "net = torch.load('tiny.pt')\n")(sub)), "tiny.pt", None, "model or data artifact"),
    ("large-file-outside-archive", WARNING, write("blob.bin", "x" * 1_200_000), "blob.bin", None,
     "no inflate or compress code names it"),
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
    ("reads-original-video", ERROR, inflate_py("SRC = f'{ROOT}/videos/0.mkv'\n"), "inflate.py", 6, "videos/"),
    ("reads-original-video", ERROR, inflate_py("SRC = './../../videos'\n"), "inflate.py", 6, "videos"),
    ("reads-original-video", ERROR, inflate_py("print(len(open('../../videos/0.mkv', 'rb').read()))\n"), "inflate.py",
     6, "videos/"),
    ("reads-original-video", ERROR, write("inflate.sh", SH + 'A="$1"\npython3 inflate.py "$A/../../videos/0.mkv"\n'),
     "inflate.sh", 4, "videos/"),
    ("gpu-device", WARNING, inflate_py("dev = 'cuda' if torch.cuda.is_available() else 'cpu'\n"), "inflate.py", 6,
     "picks the GPU whenever one is visible"),
    ("gpu-device", WARNING, inflate_py("net = torch.nn.Linear(2, 2).cuda()\n"), "inflate.py", 6, "no CPU path"),
    ("nondeterminism", WARNING, inflate_py("noise = torch.randn(4)\n"), "inflate.py", 6, "torch.manual_seed"),
    ("nondeterminism", WARNING, inflate_py("import numpy as np\nrng = np.random.default_rng()\n"), "inflate.py", 7,
     "seeded from the OS"),
    ("nondeterminism", WARNING, inflate_py("for f in os.listdir(sys.argv[1]):\n    print(f)\n"), "inflate.py", 6,
     "without sorting"),
    ("nondeterminism", WARNING, inflate_py("for f in sys.argv[1:2]:\n    chunks = list(\n        Path(f).glob('*'),\n"
                                           "    )\n"), "inflate.py", 8, "without sorting"),
    ("reads-original-video", ERROR, inflate_py("import argparse\np = argparse.ArgumentParser()\n"
                                                "p.add_argument('--src', default='videos/0.mkv')\n"
                                                "print(open(p.parse_args().src).read())\n"), "inflate.py", 8,
     "the default of argument 'src', which the inflate path reads"),
    ("missing-module", ERROR, inflate_py("import cv2\n"), "inflate.py", 6, "imports cv2 (opencv-python)"),
    ("missing-module", WARNING, inflate_py("from nvidia.dali import pipeline_def\n"), "inflate.py", 6,
     "only the t4 runner"),
    ("repo-venv-python", WARNING, write("inflate.sh", SH + '../../.venv/bin/python "$(dirname "$0")/inflate.py" '
                                        '"$@"\n'), "inflate.sh", 3, "`.venv/bin/python`"),
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
    # submission-name fires on the dir's name and the checkout's git history: tests/test_submission_names.py
    assert {c[0] for c in CASES} == set(CHECKS) - {"submission-name"}


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
        # An .mkv under the archive dir ($1, or a variable holding it) is the submission's own stream.
        write("inflate.sh", SH + 'DATA_DIR="$1"\nfor n in $(cat "$3"); do\n'
                                 '  python3 "$(dirname "$0")/inflate.py" "${DATA_DIR}/${n%.*}/video.mkv" "$2"\ndone\n'),
        inflate_py("src = Path(sys.argv[1]) / 'seed.mkv'\nsrc2 = os.path.join(sys.argv[1], 'b.mkv')\n"),
        # Testing a name from the names file reads nothing.
        lambda sub: (
            write("inflate.sh", SH + 'first="$(head -n1 "$3")"\nif [ "$first" != "0.mkv" ]; then exit 64; fi\n'
                                     'exec python3 "$(dirname "$0")/inflate.py" "$@"\n')(sub),
            inflate_py("names = open(sys.argv[3]).read().split()\nassert names == ['0.mkv'], names\n")(sub),
        ),
        # compress-time code may read the originals and download: it never runs on the runner.
        write("compress.py", "import requests\nrequests.get('https://x')\nopen('videos/0.mkv')\n"),
        # The official repository's style: a module run from the root, all arguments passed on.
        write("inflate.sh", SH + 'name="$(basename "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)")"\n'
                                 'python -m "submissions.${name}.inflate" "$@"\n'),
        # A module inflate imports: its `if __name__ == "__main__":` smoke test never runs at inflate.
        lambda sub: (
            inflate_py("from helper import f\nprint(f())\n")(sub),
            write("helper.py", "import torch\n\n\ndef f():\n    return 1\n\n\nif __name__ == '__main__':\n"
                               "    print(torch.randn(3))\n")(sub),
        ),
        # Paths, not words: a debug plotter's own videos/ dir (merged into inflate) is not the challenge's.
        inflate_py("def plot(frames, out_dir='debug_plots/videos'):\n    os.makedirs(out_dir, exist_ok=True)\n"
                   "    open(os.path.join(out_dir, 'a.txt'), 'w')\n\n\nplot([], out_dir=\"debug_plots/videos\")\n"
                   "cache = 'work/0.mkv'\n"),
        write("inflate.sh", SH + 'mkdir -p "$2/debug/videos"\nexec python3 "$(dirname "$0")/inflate.py" "$@"\n'),
    ],
    ids=["sh-comments", "py-docstring", "good-practice", "archive-own-mkv", "archive-dir-mkv-sh", "archive-dir-mkv-py",
         "names-compared", "compress-time", "official-style",
         "imported-main-block", "path-not-videos-py", "path-not-videos-sh"],
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


# --------------------------------------------------------------------------- patterns of real submissions
# Each fixture under tests/submissions/lint/ is a submission's code (no archive.zip, as in a
# repository's submission dirs) written to show one pattern that lint once got wrong.

LINT_FIXTURES = Path(__file__).resolve().parent / "submissions" / "lint"


def fixture_sub(name: str, tmp_path: Path) -> Path:
    sub = tmp_path / name
    shutil.copytree(LINT_FIXTURES / name, sub)
    return sub


def code_findings(sub: Path, **kw) -> set[tuple[str, str, str | None, int | None]]:
    """(check, severity, path, line) of every finding but the missing archive's and the name's (these
    checkouts have no git history: the name check is skipped with a warning)."""
    skip = ("archive-present", "submission-name")
    return {(f.check, f.severity, f.path, f.line) for f in findings(sub, **kw) if f.check not in skip}


def test_usage_strings_and_compress_path_defaults_are_not_reads_of_the_video(tmp_path):
    """`usage: inflate.py <input.mkv>`, help texts, an echo in inflate.sh, an argparse default that
    only the compress branch reads, and one of a `train` subcommand: none reads the video."""
    sub = fixture_sub("usage_and_defaults", tmp_path)
    assert code_findings(sub) == set()


def test_sorted_over_several_lines_and_compress_size_sums_are_deterministic(tmp_path):
    sub = fixture_sub("sorted_listing", tmp_path)
    result = lint_submission(LintConfig(sub))
    assert "codec/stats.py" in [d["path"] for d in result.inflate_time]  # it is scanned, and clean
    assert code_findings(sub) == set()


def test_inflate_that_exits_without_cuda_fails_the_cpu_runner(tmp_path):
    sub = fixture_sub("gpu_required", tmp_path)
    (f,) = [f for f in findings(sub) if f.check == "gpu-device"]
    assert (f.severity, f.path, f.line) == (ERROR, "inflate.py", 13)  # the exit, not train_decoder's choice
    assert "inflate requires GPU" in f.message and "CPU runner" in f.message
    assert "T4 runner" in f.fix and "--runner t4" in f.fix
    assert code_findings(sub, runner="cpu") == {("gpu-device", ERROR, "inflate.py", 13)}
    assert code_findings(sub, runner="t4") == set()  # on the T4 runner it is right to need CUDA
    assert lint_submission(LintConfig(sub)).exit_code == 2
    assert main(["lint", str(sub), "--runner", "t4"]) == 0


def test_device_warning_points_at_inflates_own_choice(tmp_path):
    sub = fixture_sub("gpu_choice", tmp_path)
    assert code_findings(sub) == {("gpu-device", WARNING, "inflate.py", 10)}  # main(), not train() at line 5


def test_modules_on_an_inserted_sys_path_are_scanned_and_unlocked_imports_flagged(tmp_path):
    sub = fixture_sub("sys_path_src", tmp_path)
    result = lint_submission(LintConfig(sub))
    scanned = {d["path"]: d["why"] for d in result.inflate_time}
    assert scanned["src/decoder.py"] == "reached from inflate.py"
    assert scanned["src/bitstream.py"] == "reached from src/decoder.py"
    # cv2 is a ModuleNotFoundError on the runner; scipy is tried with a fallback; brotli, numpy, the
    # submission's own bitstream and the checkout root's frame_utils are all there.
    assert code_findings(sub) == {
        ("missing-module", ERROR, "src/decoder.py", 4),
        ("missing-module", WARNING, "src/decoder.py", 10),
    }
    (err,) = [f for f in result.findings if f.severity == ERROR]
    assert "cv2 (opencv-python)" in err.message and "ModuleNotFoundError" in err.message
    assert "built-in list" in err.message


def lock_checkout(tmp_path: Path, packages: dict[str, list[str]], *, root_deps: list[str], cpu: list[str]) -> Path:
    """A checkout whose uv.lock holds `packages` (name -> its dependencies)."""
    ch = tmp_path / "challenge"
    ch.mkdir()

    def deps(names: list[str]) -> str:
        return "[" + ", ".join(f'{{ name = "{n}" }}' for n in names) + "]"

    text = 'version = 1\nrequires-python = ">=3.11"\n\n[[package]]\nname = "challenge"\nversion = "0.1.0"\n'
    text += f'source = {{ virtual = "." }}\ndependencies = {deps(root_deps)}\n\n[package.dev-dependencies]\n'
    text += f"cpu = {deps(cpu)}\n"
    for name, requires in packages.items():
        text += f'\n[[package]]\nname = "{name}"\nversion = "1.0"\n'
        text += 'source = { registry = "https://pypi.org/simple" }\n'
        text += f"dependencies = {deps(requires)}\n"
    (ch / "uv.lock").write_text(text)
    (ch / "frame_utils.py").write_text("")
    return ch


def test_the_challenge_checkouts_lock_decides_what_inflate_may_import(tmp_path):
    sub = fixture_sub("sys_path_src", tmp_path)
    # This checkout's lock has opencv (through a dependency) and scipy, but not brotli.
    ch = lock_checkout(
        tmp_path,
        {"numpy": [], "opencv-python-headless": ["numpy"], "scipy": ["numpy"], "helper": ["opencv-python-headless"]},
        root_deps=["helper"],
        cpu=["scipy"],
    )
    found = findings(sub, challenge_dir=ch, runner="cpu")
    skip = ("archive-present", "submission-name")
    assert {(f.check, f.severity, f.path, f.line) for f in found if f.check not in skip} == {
        ("missing-module", ERROR, "src/decoder.py", 3),
    }
    assert "brotli" in found[0].message and str(ch / "uv.lock") in found[0].message
    # scipy comes with the cpu group only: for both runners, a warning naming the one that has it
    assert code_findings(sub, challenge_dir=ch) == {
        ("missing-module", ERROR, "src/decoder.py", 3),
        ("missing-module", WARNING, "src/decoder.py", 10),
    }
    assert "only the cpu runner" in next(f.message for f in findings(sub, challenge_dir=ch) if f.line == 10)
    (ch / "uv.lock").write_text("[[package]\nname = ")  # not TOML
    with pytest.raises(BadInput, match="cannot read the challenge's lock"):
        lint_submission(LintConfig(sub, challenge_dir=ch))


def test_unreadable_lock_exits_2_naming_it(tmp_path, capsys):
    sub = fixture_sub("sys_path_src", tmp_path)
    ch = tmp_path / "ch"
    ch.mkdir()
    (ch / "uv.lock").write_text("version = \n")
    assert main(["lint", str(sub), "--challenge-dir", str(ch)]) == 2
    err = capsys.readouterr().err
    assert "uv.lock" in err and "cannot read the challenge's lock" in err


def test_repository_venv_interpreter_is_a_warning(tmp_path):
    sub = fixture_sub("venv_python", tmp_path)
    (f,) = [f for f in findings(sub) if f.check == "repo-venv-python"]
    assert (f.severity, f.path, f.line) == (WARNING, "inflate.sh", 5)
    assert "uv sync" in f.message and "fails wherever" in f.message
    assert code_findings(sub) == {("repo-venv-python", WARNING, "inflate.sh", 5)}


def test_guarded_install_of_a_locked_package_would_not_trigger(tmp_path):
    sub = fixture_sub("pip_fallback", tmp_path)
    assert code_findings(sub) == {
        ("inflate-installs", WARNING, "inflate.sh", 3),  # python3 -c "import brotli" || pip install brotli
        ("inflate-installs", WARNING, "inflate.py", 8),  # except ImportError: pip install brotli
        ("inflate-installs", ERROR, "inflate.py", 14),  # zstandard is not in the lock: the fallback runs
        ("missing-module", WARNING, "inflate.py", 12),
    }
    by_line = {(f.path, f.line): f for f in findings(sub)}
    assert "would not trigger" in by_line["inflate.py", 8].message
    assert "lock does not provide zstandard" in by_line["inflate.py", 14].message


def test_binaries_only_compress_uses_are_not_inflate_artifacts(tmp_path):
    sub = fixture_sub("compress_only_binaries", tmp_path)
    (sub / "tools" / "teacher.pt").write_bytes(b"\0" * 5000)  # named by compress.sh
    (sub / "tools" / "features").mkdir()
    (sub / "tools" / "features" / "cache.npy").write_bytes(b"\0" * 1_500_000)  # opened by tools/fit.py
    (sub / "assets").mkdir()
    (sub / "assets" / "lut.bin").write_bytes(b"\0" * 1_200_000)  # opened by src/lut.py at inflate time
    (sub / "notes.bin").write_bytes(b"\0" * 1_100_000)  # nobody names it
    found = [f for f in findings(sub) if f.check == "large-file-outside-archive"]
    assert {(f.severity, f.path) for f in found} == {(ERROR, "assets/lut.bin"), (WARNING, "notes.bin")}
    lut = next(f for f in found if f.path == "assets/lut.bin")
    assert "named by src/lut.py" in lut.message


def test_a_dir_without_archive_lints_its_code(tmp_path, capsys):
    sub = fixture_sub("sorted_listing", tmp_path)
    assert main(["lint", str(sub)]) == 0
    out = capsys.readouterr().out
    assert "archive.zip: warning [archive-present]" in out and "archive checks were skipped" in out
    sub = fixture_sub("gpu_required", tmp_path)
    assert main(["lint", str(sub)]) == 2  # the code's own errors still fail it


def test_lint_of_a_torch_submission_never_imports_torch(tmp_path):
    """The fixtures import torch; lint reads them without it (and `--list` loads nothing heavy)."""
    blocked = (
        "import importlib.abc, sys\n"
        "class NoTorch(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError(name + ' imported by lint')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "import vcc\n"
        "code = vcc.main(sys.argv[1:])\n"
        "assert 'torch' not in sys.modules\n"
        "sys.exit(code)\n"
    )
    root = Path(__file__).resolve().parents[1]
    for argv in (["lint", "--list"], ["lint", str(fixture_sub("gpu_choice", tmp_path))]):
        proc = subprocess.run(
            [sys.executable, "-c", blocked, *argv], capture_output=True, text=True, cwd=root, timeout=120, check=False
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "imported by lint" not in proc.stderr


def test_an_inflate_time_file_lint_cannot_read_is_bad_input(tmp_path, capsys):
    """A FIFO named like the script (reading it would block): exit 2 naming it, nothing hangs."""
    sub = fixture_sub("sorted_listing", tmp_path)
    (sub / "codec" / "stats.py").unlink()
    os.mkfifo(sub / "codec" / "stats.py")
    assert main(["lint", str(sub)]) == 2
    err = capsys.readouterr().err
    assert "codec/stats.py is not a regular file" in err and "reached from inflate.py" in err


def test_a_lock_written_by_uv_is_read_per_runner_group(tmp_path):
    """The real format: `uv lock` of a project with einops for all and brotli in the cpu group."""
    from vcc.runner import _env

    try:
        uv = _env.find_uv()
    except Exception:  # HarnessError when uv is not installed
        pytest.skip("uv is not installed (pip install uv)")
    ch = tmp_path / "challenge"
    ch.mkdir()
    (ch / "pyproject.toml").write_text(
        '[project]\nname = "mini"\nversion = "0.1.0"\nrequires-python = ">=3.11"\ndependencies = ["einops==0.8.1"]\n'
        '\n[dependency-groups]\ncpu = ["brotli==1.2.0"]\n'
    )
    subprocess.run([uv, "lock", "--python", sys.executable], cwd=ch, check=True, capture_output=True, timeout=300)
    sub = fixture_sub("pip_fallback", tmp_path)
    (sub / "inflate.py").write_text("import brotli\nimport einops\nimport numpy\n")
    (sub / "inflate.sh").write_text('#!/bin/bash\nset -e\npython3 "$(dirname "$0")/inflate.py" "$@"\n')
    got = {(f.check, f.severity, f.line) for f in findings(sub, challenge_dir=ch) if f.check == "missing-module"}
    # numpy is in neither group of this lock; brotli only in cpu's: a warning for both runners,
    # nothing when the target is the CPU runner
    assert got == {("missing-module", ERROR, 3), ("missing-module", WARNING, 1)}
    got_cpu = {(f.check, f.line) for f in findings(sub, challenge_dir=ch, runner="cpu") if f.check == "missing-module"}
    assert got_cpu == {("missing-module", 3)}


def test_import_names_come_from_installed_records_where_they_differ(tmp_path):
    """A locked distribution whose import name is not its own (found among what this Python has
    installed, beyond lint's known list) is matched through its RECORD."""
    import importlib.metadata

    from vcc.submission import _lock

    pairs = sorted(
        (m, d)
        for m, ds in importlib.metadata.packages_distributions().items()
        for d in ds
        if m.isidentifier() and not m.startswith("_") and m != d.lower().replace("-", "_").replace(".", "_")
        and _lock._norm(d) not in _lock._DIST_MODULES and _lock._norm(d) != "vcc"
    )
    if not pairs:
        pytest.skip("no installed distribution here has an import name unlike its own")
    module, dist = pairs[0]
    ch = lock_checkout(tmp_path, {dist: []}, root_deps=[dist], cpu=[])
    sub = fixture_sub("venv_python", tmp_path)
    (sub / "inflate.py").write_text(f"import {module}\n")
    assert [f for f in findings(sub, challenge_dir=ch) if f.check == "missing-module"] == []
    (sub / "inflate.py").write_text("import surely_not_locked_anywhere\n")
    assert [f.line for f in findings(sub, challenge_dir=ch) if f.check == "missing-module"] == [1]
