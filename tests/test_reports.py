"""Reading score reports back: decomposition and marginal costs, the per-pair table, compare, the
HTML report in a real browser, progress, and bad input. Fast: the reports here are written by
the scorer's own result classes from seeded per-pair values (helpers.synthetic_score_report);
the golden and demo checks that run the nets are in test_reports_golden.py.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import vcc
from vcc.base import Progress
from vcc.scorer import pair_rows, pairs_table, read_pairs, terminal_summary, write_pairs
from vcc.scorer._html import SECTION_IDS
from vcc.scorer._pairs import have_parquet

from helpers import synthetic_score_report


@pytest.fixture
def report(tmp_path: Path) -> tuple[Path, dict]:
    path = tmp_path / "a.json"
    return path, synthetic_score_report(path, pairs={"0.mkv": 35, "1.mkv": 20})


def test_decomposition_and_marginal_costs(report: tuple[Path, dict]) -> None:
    _, r = report
    d = r["decomposition"]
    n = r["samples"]
    assert d["marginal"]["score_per_byte"] == 25 / r["original_bytes"]
    assert d["marginal"]["score_per_segnet_pixel"] == 100 / (n * 384 * 512)
    assert d["marginal"]["score_per_posenet"] == math.sqrt(10) / (2 * math.sqrt(r["posenet_distortion"]))
    # the derivative, checked numerically on the score formula
    h = r["posenet_distortion"] * 1e-6
    numeric = (math.sqrt(10 * (r["posenet_distortion"] + h)) - math.sqrt(10 * (r["posenet_distortion"] - h))) / (2 * h)
    assert d["marginal"]["score_per_posenet"] == pytest.approx(numeric, rel=1e-6)
    terms = d["terms"]
    assert [terms[t]["contribution"] for t in ("segnet", "posenet", "rate")] == [
        r["terms"]["segnet"], r["terms"]["posenet"], r["terms"]["rate"]]
    assert terms["segnet"]["contribution"] + terms["posenet"]["contribution"] + terms["rate"]["contribution"] == \
        r["score"]
    assert sum(t["share"] for t in terms.values()) == pytest.approx(1.0, abs=1e-12)
    # the existing keys stay as they were
    assert {"decode", "samples", "posenet_distortion", "segnet_distortion", "rate", "score", "terms", "cache",
            "per_pair", "official_report", "archive_bytes", "original_bytes", "assets", "raws"} <= set(r)
    text = terminal_summary(r)
    assert "share" in text and "marginal costs" in text and repr(d["marginal"]["score_per_byte"]) in text


def test_pairs_table_rows_shares_and_batches(report: tuple[Path, dict]) -> None:
    _, r = report
    table = pairs_table(r)
    assert len(table) == r["samples"] == 55
    assert list(table["frame_first"]) == [2 * p for p in table["pair"]]
    assert list(table["frame_second"]) == [2 * p + 1 for p in table["pair"]]
    assert list(table["posenet"]) == [p["posenet"] for p in r["per_pair"]]
    # official batches: 16 pairs, a video's last partial, a new video starts a new batch
    assert table.groupby("batch").size().tolist() == [16, 16, 3, 16, 4]
    assert table.groupby("batch")["video"].nunique().max() == 1
    for term in ("segnet", "posenet", "rate"):
        assert table[f"{term}_share"].sum() == pytest.approx(1.0, abs=1e-12)
        # the reported averages are float32: the float64 sum of the parts agrees to float32 precision
        assert table[f"{term}_contribution"].sum() == pytest.approx(r["terms"][term], rel=1e-6)
    assert table["score_contribution"].sum() == pytest.approx(r["score"], rel=1e-6)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_pairs_file_round_trips_bit_for_bit(report: tuple[Path, dict], tmp_path: Path, suffix: str) -> None:
    _, r = report
    if suffix == ".parquet" and not have_parquet():
        pytest.skip("pyarrow is not installed: no Parquet")
    written = write_pairs(r, tmp_path / f"pairs{suffix}")
    assert tmp_path / "pairs.csv" in written and ((tmp_path / "pairs.parquet") in written) == have_parquet()
    back = read_pairs(tmp_path / f"pairs{suffix}", r)
    expected = pairs_table(r)
    for column in ("posenet", "segnet", "posenet_share", "segnet_contribution", "batch", "frame_first"):
        assert back[column].tolist() == expected[column].tolist(), column


def test_compare_with_itself_is_all_zeros(report: tuple[Path, dict], tmp_path: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    path, _ = report
    out = tmp_path / "cmp.json"
    assert vcc.main(["compare", str(path), str(path), "--json", str(out)]) == 0
    [c] = json.loads(out.read_text())["comparisons"]
    assert all(v == 0.0 for v in c["deltas"].values()), c["deltas"]
    assert c["most_worse"] == [] and c["most_better"] == [] and c["differs_in"] == {}
    assert all(p["score_delta"] == 0.0 for p in c["per_pair"]) and len(c["per_pair"]) == 55
    assert "score +0.0" in capsys.readouterr().out


def test_compare_ranks_pairs_and_keeps_full_precision(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a = synthetic_score_report(tmp_path / "a.json", seed=1)
    b = synthetic_score_report(tmp_path / "b.json", seed=2, decode="dali-emulated")
    out = tmp_path / "cmp.json"
    assert vcc.main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "-k", "3",
                     "--json", str(out)]) == 0
    [c] = json.loads(out.read_text())["comparisons"]
    assert c["deltas"]["score"] == b["score"] - a["score"]
    assert c["deltas"]["segnet"] == b["terms"]["segnet"] - a["terms"]["segnet"]
    assert c["differs_in"]["decode"] == ["pyav", "dali-emulated"]
    deltas = sorted(p["score_delta"] for p in c["per_pair"])
    assert [m["score_delta"] for m in c["most_worse"]] == [d for d in deltas[::-1][:3] if d > 0]
    assert [m["score_delta"] for m in c["most_better"]] == [d for d in deltas[:3] if d < 0]
    assert f"{c['deltas']['score']:+}" in capsys.readouterr().out


@pytest.mark.parametrize("change", ["challenge", "pairs"])
def test_compare_refuses_other_challenges_and_pair_counts(tmp_path: Path, change: str,
                                                          capsys: pytest.CaptureFixture) -> None:
    synthetic_score_report(tmp_path / "a.json")
    other = {"video_sha256": "b" * 64} if change == "challenge" else {"pairs": {"0.mkv": 30}}
    synthetic_score_report(tmp_path / "b.json", seed=3, **other)
    argv = ["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]
    assert vcc.main(argv) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "b.json") in err and "--force" in err
    assert ("different challenge" in err) == (change == "challenge")
    assert vcc.main([*argv, "--force"]) == 0
    assert "forced past" in capsys.readouterr().out


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", ["truncated", "other-schema", "run-without-score", "missing", "directory"])
@pytest.mark.parametrize("command", ["compare", "plot", "report", "pairs"])
def test_bad_report_json_is_exit_2_naming_the_file(tmp_path: Path, case: str, command: str,
                                                   capsys: pytest.CaptureFixture) -> None:
    good = tmp_path / "good.json"
    synthetic_score_report(good)
    bad = {
        "truncated": lambda: _write(tmp_path / "bad.json", good.read_text()[:-200]),
        "other-schema": lambda: _write(tmp_path / "bad.json", json.dumps({"checks": [], "errors": 0})),
        "run-without-score": lambda: _write(tmp_path / "bad.json", json.dumps({"vcc_run_schema": 1, "score": None})),
        "missing": lambda: tmp_path / "nope.json",
        "directory": lambda: tmp_path,
    }[case]()
    argv = {
        "compare": ["compare", str(good), str(bad)],
        "plot": ["plot", str(bad), "-o", str(tmp_path / "plots"), "--no-frames"],
        "report": ["report", str(bad), "-o", str(tmp_path / "r.html")],
        "pairs": ["pairs", str(bad), "-o", str(tmp_path / "p.csv")],
    }[command]
    assert vcc.main(argv) == 2
    err = capsys.readouterr().err
    assert f"file: {bad}" in err and "fix:" in err
    assert {"truncated": "truncated", "other-schema": "not a vcc score report", "run-without-score": "no score",
            "missing": "not found", "directory": "directory"}[case] in err


def test_output_paths_that_are_directories_are_exit_2(report: tuple[Path, dict], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    path, _ = report
    outdir = tmp_path / "out"
    outdir.mkdir()
    for argv in (["report", str(path), "-o", str(outdir)], ["pairs", str(path), "-o", str(outdir)],
                 ["compare", str(path), str(path), "--json", str(outdir)],
                 ["plot", str(path), "-o", str(path), "--no-frames"],
                 # refused before the submission is even looked at, so before any scoring
                 ["score", str(tmp_path / "no-sub"), "--challenge-dir", str(tmp_path / "no-ch"), "--pairs",
                  str(outdir)]):
        assert vcc.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "fix:" in err and (str(outdir) in err or str(path) in err)
    assert list(outdir.iterdir()) == []


def test_pairs_file_of_another_report_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a = synthetic_score_report(tmp_path / "a.json", seed=1)
    b = synthetic_score_report(tmp_path / "b.json", seed=2)
    write_pairs(b, tmp_path / "b-pairs.csv")
    shorter = synthetic_score_report(tmp_path / "c.json", pairs={"0.mkv": 10})
    write_pairs(shorter, tmp_path / "c-pairs.csv")
    assert read_pairs(tmp_path / "b-pairs.csv", b) is not None
    for pairs, why in (("b-pairs.csv", "differ"), ("c-pairs.csv", "10 rows")):
        rc = vcc.main(["report", str(tmp_path / "a.json"), "--pairs", str(tmp_path / pairs), "-o",
                       str(tmp_path / "r.html"), "--quiet"])
        assert rc == 2
        err = capsys.readouterr().err
        assert "does not match its report" in err and why in err and f"file: {tmp_path / pairs}" in err
        assert f"vcc pairs {tmp_path / 'a.json'}" in err
    assert not (tmp_path / "r.html").exists()
    assert pair_rows(a)[0]["decode"] == "pyav"


def test_progress_resumed_counts_only_this_runs_rate_and_can_log_every_item() -> None:
    log = io.StringIO()
    with Progress(6, "sweep", "point", stream=log, initial=2, log_lines=6) as bar:
        for i in range(4):
            bar.update(1, f"p{i}: ok")
    lines = log.getvalue().splitlines()
    assert len(lines) == 4 and lines[0].startswith("vcc sweep:  50% (3/6 points") and lines[0].endswith(" p0: ok")
    assert all("ETA" in ln for ln in lines) and lines[-1].endswith("done) p3: ok")


def test_progress_lines_per_tenth_in_logs_and_nothing_when_quiet() -> None:
    log = io.StringIO()
    with Progress(40, "scoring", "pair", stream=log) as bar:
        for _ in range(20):
            bar.update(2)
    lines = log.getvalue().splitlines()
    assert len(lines) == 10 and lines[0].startswith("vcc scoring:  10% (4/40 pairs") and "pairs/s" in lines[0]
    assert "ETA" in lines[0] and lines[-1].endswith("done)")
    quiet = io.StringIO()
    with Progress(40, "scoring", "pair", stream=quiet, enabled=False) as bar:
        bar.update(40)
    assert quiet.getvalue() == ""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Terminal()
    with Progress(40, "scoring", "pair", stream=tty) as bar:
        bar.update(40)
    assert "pair/s" in tty.getvalue() and "vcc scoring" not in tty.getvalue()  # tqdm's bar, not the log lines


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


_CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync")


def open_in_chromium(html: Path, screenshot: Path) -> str:
    """Render `html` in headless Chromium: a screenshot, and the DOM after the load event."""
    browser = chromium()
    if browser is None:
        pytest.skip("no chromium binary (Debian: apt-get install -y chromium)")
    dom = ""
    for mode in (["--window-size=1280,4000", f"--screenshot={screenshot}"],
                 ["--virtual-time-budget=10000", "--dump-dom"]):
        with tempfile.TemporaryDirectory(prefix="vcc-chromium-") as profile:
            proc = subprocess.run([browser, *_CHROMIUM_FLAGS, f"--user-data-dir={profile}", *mode, html.as_uri()],
                                  capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-2000:]
        dom = proc.stdout or dom
    return dom


def check_rendered(dom: str, screenshot: Path, *, run: bool) -> None:
    for sid in SECTION_IDS + (("run",) if run else ()):
        assert f'<section id="{sid}">' in dom, sid
    assert 'data-rendered="yes"' in dom
    total = int(dom.split('data-images-total="')[1].split('"')[0])
    loaded = int(dom.split('data-images-loaded="')[1].split('"')[0])
    assert total >= 2 and loaded == total  # every embedded PNG decoded
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000


def test_html_report_renders_in_chromium(report: tuple[Path, dict], tmp_path: Path) -> None:
    path, r = report
    run = {"vcc_run_schema": 1, "verdict": "ok", "exit_code": 0, "message": "synthetic run",
           "phases": {"extract_s": 0.5, "inflate_s": 12.0, "score_s": 40.0},
           "clock": {"clock_s": 1800.0, "setup_overhead_s": 150.0, "headroom_s": 1597.5}}
    (tmp_path / "run.json").write_text(json.dumps(run))
    write_pairs(r, tmp_path / "pairs.csv")
    html = tmp_path / "report.html"
    assert vcc.main(["report", str(path), str(tmp_path / "run.json"), "--pairs", str(tmp_path / "pairs.csv"),
                     "-o", str(html), "--quiet"]) == 0
    text = html.read_text()
    assert "http://" not in text and "https://" not in text  # nothing to fetch: self-contained
    assert repr(r["score"]) in text and "1,598 s" in text
    dom = open_in_chromium(html, tmp_path / "shot.png")
    check_rendered(dom, tmp_path / "shot.png", run=True)


def test_frame_plots_need_the_reports_paths(report: tuple[Path, dict], tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    path, r = report
    del r["paths"]
    path.write_text(json.dumps(r))  # a report written before it named its inputs
    assert vcc.main(["plot", str(path), "-o", str(tmp_path / "plots"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "does not say where the challenge" in err and f"file: {path}" in err
