"""`vcc gate`: lint, the runner's replay, bounds. The bound logic runs on stand-in run results
(fast); real runs use the mini challenge without scoring, and one golden run scores (slow)."""

from __future__ import annotations

import json
import math
import shutil
import zipfile
from pathlib import Path

import pytest

from vcc import submission
from vcc.base import BadInput, SubmissionFailed
from vcc.runner import RunConfig, RunResult
from vcc.scorer import ScoreOptions
from vcc.submission import GateBounds, GateConfig, PackConfig, evaluate_bounds, gate_submission, pack_archive
from vcc.submission.cli import main

from conftest import GOLDEN_THREADS

HERE = Path(__file__).resolve().parent
FRAMES = 4
RAW_BYTES = FRAMES * 874 * 1164 * 3
GOOD_INFLATE = f"""#!/usr/bin/env bash
set -euo pipefail
mkdir -p "$2"
while read -r n; do [ -n "$n" ] && truncate -s {RAW_BYTES} "$2/${{n%.*}}.raw"; done < "$3"
"""


def make_sub(root: Path, inflate: str = GOOD_INFLATE) -> Path:
    root.mkdir(parents=True)
    payload = root.parent / f"{root.name}-payload"
    payload.write_bytes(b"tiny payload")
    pack_archive(PackConfig([payload], root / "archive.zip"))
    (root / "inflate.sh").write_text(inflate)
    return root


def run_report(score: float | None = 2.5, headroom: float = 900.0, inflate_s: float = 120.0, **extra) -> dict:
    return {
        "score": None if score is None else {"score": score},
        "clock": {
            "clock_s": 1800.0,
            "setup_overhead_s": 150.0,
            "inflate_s": inflate_s,
            "score_s": 60.0,
            "headroom_s": headroom,
        },
        "phases": {"inflate_s": inflate_s},
        **extra,
    }


class FakeRun:
    """Stands in for runner.run_submission: records the RunConfig, returns a real RunResult."""

    def __init__(self, error: Exception | None = None, verdict: str = "ok", **report) -> None:
        self.error, self.verdict, self.report = error, verdict, run_report(**report)
        self.configs: list[RunConfig] = []

    def __call__(self, cfg: RunConfig) -> RunResult:
        self.configs.append(cfg)
        out = Path(cfg.out_dir)
        out.mkdir(parents=True)
        result = RunResult(cfg, out, out / "run.json", verdict=self.verdict, message=self.verdict)
        result.error = self.error
        result.score_report = self.report["score"]
        result.clock, result.phases = self.report["clock"], self.report["phases"]
        return result


# --------------------------------------------------------------------------- bounds alone


def test_bounds_hold_and_fail_at_the_edges():
    run = run_report(score=2.5, headroom=900.0, inflate_s=120.0)
    exact = evaluate_bounds(GateBounds(max_score=2.5, min_headroom_s=900.0, max_inflate_s=120.0), run)
    assert [b.ok for b in exact] == [True, True, True]
    over = evaluate_bounds(GateBounds(max_score=2.4999, min_headroom_s=900.5, max_inflate_s=119.9), run)
    assert [(b.name, b.ok) for b in over] == [
        ("max_score", False),
        ("min_headroom_s", False),
        ("max_inflate_s", False),
    ]
    assert "2.5 > 2.4999" in over[0].message
    assert over[1].actual == 900.0 and over[2].actual == 120.0
    assert evaluate_bounds(GateBounds(), run) == []  # no bound asked, none checked


def test_missing_measurements_fail_their_bound():
    run = {"score": None, "clock": {}, "phases": {}}
    checks = evaluate_bounds(GateBounds(max_score=3.0, min_headroom_s=0.0, max_inflate_s=10.0), run)
    assert [b.ok for b in checks] == [False, False, False]
    det = evaluate_bounds(GateBounds(deterministic=True), {"repeat": {"deterministic": None}})
    assert not det[0].ok and "needs --repeat" in det[0].message
    det = evaluate_bounds(
        GateBounds(deterministic=True), {"repeat": {"deterministic": False, "mismatches": ["0.raw"]}}
    )
    assert not det[0].ok and "0.raw" in det[0].message


def test_bounds_must_be_sane():
    with pytest.raises(BadInput):
        GateBounds(max_score=float("nan"))
    with pytest.raises(BadInput):
        GateBounds(max_inflate_s=0)


# --------------------------------------------------------------------------- gate with a stand-in run


@pytest.fixture
def gate(monkeypatch):
    """gate(tmp_path, fake, sub=None, **bounds): the gate with `fake` standing in for runner.run_submission."""

    def run_gate(tmp_path: Path, fake: FakeRun, sub: Path | None = None, **bounds) -> submission.GateResult:
        monkeypatch.setattr(submission._gate, "run_submission", fake)
        sub = sub or make_sub(tmp_path / "sub")
        cfg = GateConfig(RunConfig(sub, tmp_path / "challenge"), bounds=GateBounds(**bounds), out_dir=tmp_path / "out")
        return gate_submission(cfg)

    return run_gate


def test_all_bounds_hold_exit_0(tmp_path, gate):
    fake = FakeRun(score=2.5, headroom=900.0, inflate_s=120.0)
    r = gate(tmp_path, fake, max_score=3.0, min_headroom_s=300.0, max_inflate_s=600.0)
    assert r.exit_code == 0 and r.verdict == "pass"
    (cfg,) = fake.configs
    assert cfg.submission_dir == tmp_path / "sub" and cfg.runner == "cpu" and cfg.out_dir == tmp_path / "out" / "run"
    report = json.loads((tmp_path / "out" / "gate.json").read_text())
    assert report["verdict"] == "pass" and report["exit_code"] == 0
    assert [b["ok"] for b in report["bounds"]] == [True, True, True]
    assert report["lint"]["ok"] is True


def test_each_unmet_bound_is_listed_exit_1(tmp_path, gate):
    r = gate(tmp_path, FakeRun(score=4.2, headroom=100.0, inflate_s=700.0), max_score=3.0, min_headroom_s=300.0,
             max_inflate_s=600.0)  # fmt: skip
    assert r.exit_code == 1 and r.verdict == "fail"
    text = str(r.error)
    assert "3 gate bound(s) not met" in text
    for name in ("max_score", "min_headroom_s", "max_inflate_s"):
        assert f"- {name}:" in text
    r = gate(tmp_path / "2", FakeRun(score=2.0, headroom=100.0), max_score=3.0, min_headroom_s=300.0)
    assert r.exit_code == 1 and [b.name for b in r.failed_bounds] == ["min_headroom_s"]


@pytest.mark.parametrize(
    "error, verdict, code",
    [
        (SubmissionFailed("inflate exited with status 7"), "inflate_failed", 3),
        (SubmissionFailed("inflate timed out"), "timeout", 3),
        (BadInput("archive.zip: member '../x' climbs out"), "bad_input", 2),
    ],
)
def test_run_failures_keep_their_exit_codes(tmp_path, gate, error, verdict, code):
    r = gate(tmp_path, FakeRun(error=error, verdict=verdict), max_score=100.0)
    assert r.exit_code == code and r.verdict == verdict
    assert r.bounds == []  # a failed run is not held to bounds
    report = json.loads((tmp_path / "out" / "gate.json").read_text())
    assert report["exit_code"] == code and report["run"]["verdict"] == verdict


def test_lint_errors_stop_the_gate_before_the_run(tmp_path, gate):
    sub = make_sub(tmp_path / "sub", GOOD_INFLATE + "curl -sL https://example.com/w.bin -o w.bin\n")
    fake = FakeRun()
    r = gate(tmp_path, fake, sub=sub, max_score=3.0)
    assert r.exit_code == 2 and r.verdict == "lint_failed"
    assert fake.configs == []
    assert "inflate.sh:5: [inflate-fetches]" in str(r.error)
    cfg = GateConfig(RunConfig(sub, tmp_path / "ch"), out_dir=tmp_path / "out2", lint_ignore=("inflate-fetches",))
    assert gate_submission(cfg).exit_code == 0 and len(fake.configs) == 1  # `gate` left `fake` in place


def test_cli_passes_arguments_to_the_runner(tmp_path, monkeypatch, capsys):
    fake = FakeRun(score=2.5, headroom=900.0, inflate_s=50.0)
    monkeypatch.setattr(submission._gate, "run_submission", fake)
    sub = make_sub(tmp_path / "sub")
    argv = ["gate", str(sub), "--challenge-dir", str(tmp_path / "ch"), "--max-score", "2.4", "--runner", "t4",
            "--backend", "docker", "--repeat", "2", "--network", "off", "--out", str(tmp_path / "out"),
            "--json", str(tmp_path / "g.json"), "--quiet",
            "--clock", "900", "--no-score", "--memory", "2G"]  # fmt: skip
    assert main(argv) == 1
    (cfg,) = fake.configs
    assert (cfg.runner, cfg.backend, cfg.repeat, cfg.network, cfg.progress) == ("t4", "docker", 2, False, False)
    # every `vcc run` option reaches the runner; --out and --json stay the gate's
    assert (cfg.clock_s, cfg.scoring, cfg.memory_bytes) == (900.0, False, 2 << 30)
    assert cfg.out_dir == tmp_path / "out" / "run" and cfg.json_path is None
    out = capsys.readouterr()
    assert "FAIL    max_score: score 2.5 > 2.4" in out.out
    assert "1 gate bound(s) not met" not in out.out and "2 gate bound(s) not met" in out.err  # + determinism
    report = json.loads((tmp_path / "g.json").read_text())
    assert [b["name"] for b in report["bounds"]] == ["max_score", "deterministic"]


def test_out_dir_must_be_new(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old").write_text("x")
    sub = make_sub(tmp_path / "sub")
    assert main(["gate", str(sub), "--challenge-dir", str(tmp_path), "--out", str(tmp_path / "out")]) == 2


def test_ci_example_is_a_caller_of_the_reusable_workflow():
    """The example and the workflow are checked in depth (and run) in test_ci_workflow.py."""
    example = Path(submission.__file__).parent / "ci-example.yml"
    assert "uses: OWNER/vcc/.github/workflows/vcc-gate.yml@main" in example.read_text()


# --------------------------------------------------------------------------- baseline, JUnit, summary


def write_report(path: Path, report: dict) -> Path:
    path.write_text(json.dumps(report))
    return path


def test_regression_bound_against_a_baseline():
    run = run_report(score=2.5)
    (ok,) = evaluate_bounds(GateBounds(max_regression=0.0), run, baseline_score=2.5)
    assert ok.ok and ok.actual == 0.0
    (worse,) = evaluate_bounds(GateBounds(max_regression=0.01), run, baseline_score=2.4)
    assert not worse.ok and worse.actual == pytest.approx(0.1) and "vs baseline 2.4" in worse.message
    (better,) = evaluate_bounds(GateBounds(max_regression=-0.1), run, baseline_score=3.0)
    assert better.ok  # a negative allowance asks for an improvement
    (missing,) = evaluate_bounds(GateBounds(max_regression=0.0), run, baseline_score=None)
    assert not missing.ok


@pytest.mark.parametrize(
    "report, message",
    [
        ({"something": "else"}, "unknown schema"),
        ({"vcc_run_schema": 1, "verdict": "inflate_failed", "score": None}, "holds no score"),
        ({"vcc_lint_schema": 1, "findings": []}, "unknown schema"),
        (None, "not readable JSON"),
    ],
)
def test_a_baseline_of_another_schema_exits_2_naming_it_before_anything_runs(tmp_path, monkeypatch, capsys, report,
                                                                             message):
    fake = FakeRun()
    monkeypatch.setattr(submission._gate, "run_submission", fake)
    sub = make_sub(tmp_path / "sub")
    base = tmp_path / "base.json"
    base.write_text("{not json" if report is None else json.dumps(report))
    code = main(["gate", str(sub), "--challenge-dir", str(tmp_path), "--baseline", str(base), "--out",
                 str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and message in err and str(base) in err and "fix:" in err
    assert fake.configs == []


def test_max_regression_needs_a_baseline(tmp_path, capsys):
    sub = make_sub(tmp_path / "sub")
    assert main(["gate", str(sub), "--challenge-dir", str(tmp_path), "--max-regression", "0.01"]) == 2
    assert "--max-regression needs --baseline" in capsys.readouterr().err


def junit_cases(path: Path) -> dict[str, str]:
    """testcase name -> pass | failure | skipped."""
    import xml.etree.ElementTree as ET

    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        out[f"{case.get('classname')}:{case.get('name')}"] = next(
            (c.tag for c in case if c.tag in ("failure", "skipped")), "pass")
    return out


def test_junit_and_summary_for_pass_fail_and_lint_failure(tmp_path, monkeypatch):
    fake = FakeRun(score=2.5, headroom=900.0)
    assets = {"videos/0.mkv": {"sha256": "ab" * 32}}
    fake.report["score"]["assets"] = assets
    monkeypatch.setattr(submission._gate, "run_submission", fake)
    base = write_report(tmp_path / "baseline.json",
                        {"vcc_gate_schema": 1, "run": {"score": {"score": 2.4, "assets": assets}}})  # fmt: skip
    sub = make_sub(tmp_path / "sub")
    argv = ["gate", str(sub), "--challenge-dir", str(tmp_path), "--max-score", "3", "--min-headroom", "1000",
            "--baseline", str(base), "--junit", str(tmp_path / "j.xml"), "--summary", str(tmp_path / "s.md")]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 1
    cases = junit_cases(tmp_path / "j.xml")
    lint_checks = json.loads((tmp_path / "out" / "gate.json").read_text())["lint"]["checks"]
    assert {k for k in cases if k.startswith("vcc.lint:")} == {f"vcc.lint:{c}" for c in lint_checks}
    assert cases["vcc.gate:run"] == "pass"
    assert cases["vcc.gate.bound:max_score"] == "pass"
    assert cases["vcc.gate.bound:min_headroom_s"] == "failure"
    assert cases["vcc.gate.bound:max_regression"] == "failure"  # 2.5 > 2.4 + 0
    summary = (tmp_path / "s.md").read_text()
    assert summary.startswith("## vcc gate: FAIL") and "| min_headroom_s |" in summary and "Baseline: 2.4" in summary
    # lint errors: the run and every bound are skipped test cases, the lint check a failure
    bad = make_sub(tmp_path / "bad", GOOD_INFLATE + "curl -sL https://example.com/w.bin -o w.bin\n")
    argv[1] = str(bad)
    assert main([*argv, "--out", str(tmp_path / "out2")]) == 2
    cases = junit_cases(tmp_path / "j.xml")
    assert cases["vcc.lint:inflate-fetches"] == "failure"
    assert cases["vcc.gate:run"] == "skipped" and cases["vcc.gate.bound:max_score"] == "skipped"
    assert "LINT_FAILED" in (tmp_path / "s.md").read_text()


def test_a_baseline_without_asset_hashes_is_refused_after_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(submission._gate, "run_submission", FakeRun(score=2.5))
    base = write_report(tmp_path / "baseline.json", {"vcc_gate_schema": 1, "run": {"score": {"score": 2.4}}})
    sub = make_sub(tmp_path / "sub")
    assert main(["gate", str(sub), "--challenge-dir", str(tmp_path), "--baseline", str(base), "--junit",
                 str(tmp_path / "j.xml"), "--out", str(tmp_path / "out")]) == 2  # fmt: skip
    assert "another challenge" in capsys.readouterr().err
    assert junit_cases(tmp_path / "j.xml")["vcc.gate:run"] == "failure"


def test_a_failed_run_is_a_failed_run_case(tmp_path, monkeypatch):
    monkeypatch.setattr(submission._gate, "run_submission",
                        FakeRun(error=SubmissionFailed("inflate exited with status 7"), verdict="inflate_failed"))
    sub = make_sub(tmp_path / "sub")
    assert main(["gate", str(sub), "--challenge-dir", str(tmp_path), "--max-score", "3", "--junit",
                 str(tmp_path / "j.xml"), "--out", str(tmp_path / "out")]) == 3  # fmt: skip
    cases = junit_cases(tmp_path / "j.xml")
    assert cases["vcc.gate:run"] == "failure" and cases["vcc.gate.bound:max_score"] == "skipped"


# --------------------------------------------------------------------------- real runs


def quick_run(sub: Path, challenge: Path) -> RunConfig:
    """A real run with nothing to wait for: no setup overhead, no scoring, no sandbox."""
    return RunConfig(
        sub, challenge, setup_overhead_s=0.0, progress=False, scoring=False, score_estimate_s=0.0, sandbox=False,
        allow_root_inflate=True
    )


def test_real_gate_on_the_mini_challenge(tmp_path, mini_challenge):
    """The real runner, no scoring (the mini challenge's weights are dummies): bounds on time."""
    sub = make_sub(tmp_path / "sub")
    cfg = GateConfig(
        quick_run(sub, mini_challenge),
        bounds=GateBounds(min_headroom_s=0.0, max_inflate_s=120.0),
        out_dir=tmp_path / "ok",
    )
    r = gate_submission(cfg)
    assert r.exit_code == 0, r.as_json()
    assert r.as_json()["numerics"] == r.run.as_json()["numerics"] and r.as_json()["numerics"]["class"]
    assert r.run is not None and r.run.verdict == "ok"
    assert 0 < r.bounds[1].actual < 120.0
    cfg.out_dir = tmp_path / "tight"
    cfg.bounds = GateBounds(min_headroom_s=1800.0)  # no job leaves the whole clock
    r = gate_submission(cfg)
    assert r.exit_code == 1 and [b.name for b in r.failed_bounds] == ["min_headroom_s"]


def test_real_gate_keeps_the_runs_exit_code(tmp_path, mini_challenge):
    sub = make_sub(tmp_path / "sub", "#!/usr/bin/env bash\nset -euo pipefail\necho 'decoder exploded' >&2\nexit 7\n")
    cfg = GateConfig(
        quick_run(sub, mini_challenge),
        bounds=GateBounds(max_inflate_s=60.0),
        out_dir=tmp_path / "out",
    )
    r = gate_submission(cfg)
    assert r.exit_code == 3 and r.verdict == "inflate_failed"
    assert "status 7" in str(r.error)
    assert json.loads((tmp_path / "out" / "gate.json").read_text())["exit_code"] == 3


@pytest.mark.slow
def test_real_gate_scores_the_golden_challenge(tmp_path, golden_checkout, golden_challenge, expected, gt_cache_dir):
    """The official-style submission (its raws are the golden "near" candidate) through the whole gate."""
    sub = tmp_path / "official_style"
    shutil.copytree(HERE / "submissions" / "official_style", sub)
    pack_archive(PackConfig([golden_challenge / "videos" / "0.mkv"], sub / "archive.zip", name_map={"0.mkv": "v"}))
    with zipfile.ZipFile(sub / "archive.zip") as zf:
        assert zf.namelist() == ["v"]
    near = expected["candidates"]["near"]
    rate = (sub / "archive.zip").stat().st_size / near["original_bytes"]
    score = 100 * near["segnet_distortion"] + math.sqrt(near["posenet_distortion"] * 10) + 25 * rate
    out = tmp_path / "out"
    # The ground-truth cache (filled by the scorer's golden tests) keeps this under a minute.
    cfg = GateConfig(
        RunConfig(sub, golden_checkout, progress=False,
                  options=ScoreOptions(use_cache=True, cache_dir=gt_cache_dir, threads=GOLDEN_THREADS)),
        bounds=GateBounds(max_score=score, max_inflate_s=300.0),
        out_dir=out,
    )
    r = gate_submission(cfg)
    assert r.exit_code == 0, r.as_json()
    assert r.bounds[0].actual == score  # bit for bit: the gate compares the full-precision score
    (tighter,) = evaluate_bounds(GateBounds(max_score=score - 1e-9), r.run.as_json())
    assert not tighter.ok


@pytest.mark.parametrize(("runner", "runs"), [("cpu", False), ("t4", True)])
def test_gate_lints_for_its_runner(tmp_path, monkeypatch, runner, runs):
    """A GPU-only inflate fails lint when gating for the CPU runner and passes it for the T4 runner."""
    sub = tmp_path / "sub"
    shutil.copytree(HERE / "submissions" / "lint" / "gpu_required", sub)
    pack_archive(PackConfig([make_sub(tmp_path / "other") / "archive.zip"], sub / "archive.zip"))
    fake = FakeRun()
    monkeypatch.setattr(submission._gate, "run_submission", fake)
    cfg = GateConfig(RunConfig(sub, tmp_path / "challenge", runner=runner), out_dir=tmp_path / "out")
    result = gate_submission(cfg)
    assert (len(fake.configs) == 1) is runs
    assert (result.verdict == "lint_failed") is not runs
