"""Shared fixtures: the golden stand-in challenge (../shared/golden) and its candidates.

The golden figures depend on the CPU numerics class (torch's kernels differ by instruction set).
`expected` is the official figures for this machine's class (`expected-<class>.json`) where
../shared/golden has them; elsewhere it is the same schema computed here by vcc's reference loop
(the official evaluator's shape: no cache, no read-ahead), so the exactness tests then compare
the fast paths with the reference on this machine, and the pytest summary says so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parents[1].parent / "shared" / "golden"


def _pack_and_extract_with_system_unzip():
    """submission.pack_archive for the whole session: every archive a test packs is extracted by the
    system unzip (Info-ZIP 6.0, as on the runner) and compared byte for byte with its sources. Installed
    before any test module imports the name; where /usr/bin/unzip is absent the dedicated tests of
    test_submission_pack.py skip saying so."""

    from vcc import submission

    pack = submission._pack.pack_archive

    def pack_archive(cfg):
        result = pack(cfg)
        from helpers import SYSTEM_UNZIP, assert_pack_extracts

        if SYSTEM_UNZIP.is_file():
            assert_pack_extracts(result)
        return result

    pack_archive.__doc__ = pack.__doc__
    submission._pack.pack_archive = submission.pack_archive = pack_archive


_pack_and_extract_with_system_unzip()
# Every golden figure is for 2 torch threads (the thread count changes the last bits).
GOLDEN_THREADS = 2


def golden_or_skip() -> Path:
    if not (GOLDEN / "expected.json").is_file():
        pytest.skip(f"golden data not found at {GOLDEN} (it sits beside the checkout as shared/golden)")
    return GOLDEN


@dataclass
class GoldenFigures:
    """What the exactness tests compare with on this machine."""

    numerics_class: str
    source: str  # "official" (a file of ../shared/golden) or "reference" (computed here)
    path: Path | None  # the official file, when source is official
    data: dict
    matches: list[str]  # with source "reference": the golden files it reproduces exactly


_FIGURES: list[GoldenFigures] = []  # filled once per session, read by the terminal summary


@pytest.fixture(scope="session")
def golden() -> Path:
    return golden_or_skip()


@pytest.fixture(scope="session")
def golden_challenge(golden: Path) -> Path:
    return golden / "challenge"


@pytest.fixture(scope="session")
def golden_spec(golden: Path) -> dict:
    """expected.json: the candidates' arguments and the frame hashes, the same in every class's file."""
    return json.loads((golden / "expected.json").read_text())


def class_golden_file(golden: Path, numerics_class: str) -> Path | None:
    """expected-<class>.json; VCC_GOLDEN_EXPECTED names another file of ../shared/golden instead
    (for a machine known to be of a class whose file is not named by class, e.g. expected.json's)."""
    forced = os.environ.get("VCC_GOLDEN_EXPECTED")
    path = golden / (forced or f"expected-{numerics_class}.json")
    if forced and not path.is_file():
        raise pytest.UsageError(f"VCC_GOLDEN_EXPECTED={forced}: no such file in {golden}")
    return path if path.is_file() else None


def reference_figures(golden_challenge: Path, spec: dict, raws: dict[str, Path], root: Path) -> dict:
    """The golden schema, computed by vcc's reference loop on this machine."""
    from vcc.scorer import ScoreConfig, ScoreOptions, score_submission

    out: dict = {"about": "computed by vcc's reference loop on this machine",
                 "pyav_frame_sha256": spec["pyav_frame_sha256"], "candidates": {}}
    for name, cand in spec["candidates"].items():
        sub = make_submission(root / name, raws[name], cand["archive_bytes"])
        result = score_submission(ScoreConfig(
            submission_dir=sub, challenge_dir=golden_challenge, progress=False,
            options=ScoreOptions(use_cache=False, threads=GOLDEN_THREADS), reference_loop=True, write_reports=False,
            official_truncation=cand["samples"] < len(spec["pyav_frame_sha256"]) // 2,  # `short`
        )).as_json()
        out["library_versions"] = {k: result["versions"][k].split("+")[0]
                                   for k in ("torch", "timm", "segmentation-models-pytorch", "av", "numpy")}
        out["candidates"][name] = {
            **{k: result[k] for k in ("samples", "posenet_distortion", "segnet_distortion", "archive_bytes",
                                      "original_bytes", "rate", "score")},
            "per_pair_posenet": [p["posenet"] for p in result["per_pair"]],
            "per_pair_segnet": [p["segnet"] for p in result["per_pair"]],
            "make_candidates_args": cand["make_candidates_args"],
        }
    return out


def _same_figures(a: dict, b: dict) -> bool:
    keys = ("samples", "posenet_distortion", "segnet_distortion", "score", "per_pair_posenet", "per_pair_segnet")
    return all(a["candidates"][n][k] == b["candidates"][n][k] for n in a["candidates"] for k in keys)


@pytest.fixture(scope="session")
def golden_figures(golden: Path, golden_challenge: Path, golden_spec: dict, candidate_raws: dict,
                   tmp_path_factory: pytest.TempPathFactory) -> GoldenFigures:
    from vcc.base import numerics_class_id

    numerics_class = numerics_class_id()
    path = class_golden_file(golden, numerics_class)
    if path is not None:
        figures = GoldenFigures(numerics_class, "official", path, json.loads(path.read_text()), [])
    else:
        data = reference_figures(golden_challenge, golden_spec, candidate_raws, tmp_path_factory.mktemp("reference"))
        matches = [p.name for p in sorted(golden.glob("expected*.json")) if _same_figures(data, json.loads(
            p.read_text()))]
        figures = GoldenFigures(numerics_class, "reference", None, data, matches)
    _FIGURES.append(figures)
    return figures


@pytest.fixture(scope="session")
def expected(golden_figures: GoldenFigures) -> dict:
    """The golden figures for this machine: official for its class where they exist, else vcc's reference."""
    return golden_figures.data


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    fuzz = sys.modules.get("zipfuzz")  # loaded only where tests/test_zip_fuzz.py ran
    for report in getattr(fuzz, "REPORTS", []):
        terminalreporter.write_line(report)
    for figures in _FIGURES:
        if figures.source == "official":
            terminalreporter.write_line(
                f"golden: CPU numerics class {figures.numerics_class}: compared with the official figures in "
                f"{figures.path.name}")
            continue
        terminalreporter.write_line(
            f"golden: no official figures for CPU numerics class {figures.numerics_class} in {GOLDEN} "
            f"(expected-{figures.numerics_class}.json is missing): the exactness tests compared vcc's fast paths "
            "with its reference loop on this machine"
            + (f"; the reference reproduces {', '.join(figures.matches)} exactly" if figures.matches else ""))


@pytest.fixture(scope="session")
def candidate_raws(golden: Path, golden_spec: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The golden candidates' .raw files, written by the golden make_candidates.py."""
    out = tmp_path_factory.mktemp("candidates")
    raws = {}
    for name, cand in golden_spec["candidates"].items():
        raw = out / f"{name}.raw"
        subprocess.run(
            [sys.executable, str(golden / "make_candidates.py"), str(golden / "challenge/videos/0.mkv"), str(raw),
             *cand["make_candidates_args"]],
            check=True,
        )
        raws[name] = raw
    return raws


def make_submission(root: Path, raw: Path | None, archive_bytes: int, raw_name: str = "0.raw") -> Path:
    """A scored submission dir: archive.zip of the given size and inflated/<raw_name>."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "archive.zip").write_bytes(b"\0" * archive_bytes)
    if raw is not None:
        (root / "inflated").mkdir(exist_ok=True)
        target = root / "inflated" / raw_name
        try:
            target.hardlink_to(raw)
        except OSError:
            shutil.copyfile(raw, target)
    return root


@pytest.fixture(scope="session")
def gt_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ground-truth cache for the session: the first golden score fills it."""
    return tmp_path_factory.mktemp("gt-cache")


# --- `vcc run` fixtures (runner) -------------------------------------------------------------

MINI_FRAMES = 4  # frames in the mini challenge's video


@pytest.fixture(scope="session")
def mini_challenge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny challenge for runner tests that never load a model: a 4-frame video, dummy weights,
    and a root module (frame_utils.py) like the official checkout's."""
    import av
    import numpy as np

    root = tmp_path_factory.mktemp("mini-challenge")
    root.chmod(0o755)  # as a checkout is: inflate's unprivileged uid reads it (mktemp makes it 0700)
    (root / "videos").mkdir()
    (root / "models").mkdir()
    with av.open(str(root / "videos" / "0.mkv"), "w") as out:
        stream = out.add_stream("ffv1", rate=20)
        stream.width, stream.height, stream.pix_fmt = 1164, 874, "yuv420p"
        for i in range(MINI_FRAMES):
            img = np.full((874, 1164, 3), 40 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    for net in ("segnet", "posenet"):
        (root / "models" / f"{net}.safetensors").write_bytes(b"dummy weights: never loaded\n" * 8)
    (root / "public_test_video_names.txt").write_text("0.mkv\n")
    (root / "frame_utils.py").write_text("FROM_ROOT = 'the checkout root is importable'\n")
    return root


@pytest.fixture(scope="session")
def golden_checkout(golden: Path, golden_challenge: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden challenge shaped like the official checkout, with a root module: frame_utils.py
    (tests/submissions/checkout_root) doing the golden "near" conversion via make_candidates.py."""
    root = tmp_path_factory.mktemp("golden-checkout")
    (root / "videos").mkdir()
    (root / "videos" / "0.mkv").symlink_to(golden_challenge / "videos" / "0.mkv")
    (root / "models").symlink_to(golden_challenge / "models")
    shutil.copy(golden_challenge / "public_test_video_names.txt", root)
    shutil.copy(Path(__file__).parent / "submissions" / "checkout_root" / "frame_utils.py", root)
    # A copy, not a link: inflate's sandbox has a private /tmp, and shared/ may live under /tmp.
    shutil.copy(golden / "make_candidates.py", root / "make_candidates.py")
    return root


# --- tools CI installed: a skip for want of one is a failure there ---------------------------

# VCC_REQUIRE_<TOOL>=1 (set by .ci/run, which installs and starts these) turns a skip whose
# reason names the tool, or a skip of a test marked for it, into a failure: a sandbox or
# Docker test that silently skips in CI proves nothing. Skip reasons must name the tool.
REQUIRED_TOOLS = {
    "VCC_REQUIRE_DOCKER": ("docker", r"\bdocker\b"),
    "VCC_REQUIRE_BWRAP": ("bwrap", r"\bbubblewrap\b|\bbwrap\b"),
    # DALI's CPU kernels (the test extra's nvidia-dali-cuda120==1.53.0) are the emulation's oracle
    "VCC_REQUIRE_DALI_CPU": ("dali_cpu", r"\bDALI is not installed\b"),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "bwrap: needs the bubblewrap sandbox (VCC_REQUIRE_BWRAP=1: a skip fails)")


def required_tool_missing(reason: str, markers: set[str], env: dict[str, str]) -> str | None:
    """The VCC_REQUIRE_* variable a skip with this reason (of a test with these markers) breaks, or None."""
    import re

    for var, (marker, pattern) in REQUIRED_TOOLS.items():
        if env.get(var) == "1" and (marker in markers or re.search(pattern, reason, re.IGNORECASE)):
            return var
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    var = required_tool_missing(reason, {m.name for m in item.iter_markers()}, dict(os.environ))
    if var is not None:
        report.outcome = "failed"
        report.longrepr = f"{var}=1 but this test skipped: {reason}"
