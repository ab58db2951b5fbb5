"""`vcc run --repeat N`: N whole jobs from fresh workspaces, each scored (demo challenge, real nets).

A deterministic inflate (the demo's example submission) gives equal scores and a zero spread; a
deliberately nondeterministic one (frame 5 of each raw filled from os.urandom) gives differing
per-run scores and names the frame that differs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vcc.demo import build_example_submission, cached_challenge
from vcc.runner.cli import main as run_main

from helpers import SANDBOX_ARGS

FRAMES = 8
pytestmark = pytest.mark.slow

# Writes every raw as the original's frame count of grey frames; frame 5 random: a run's raws never
# match another's there.
NONDET_INFLATE_PY = """
import os, sys
from pathlib import Path
FRAME = 874 * 1164 * 3
out = Path(sys.argv[2]); out.mkdir(parents=True, exist_ok=True)
for name in Path(sys.argv[3]).read_text().split():
    with open(out / (name.rsplit(".", 1)[0] + ".raw"), "wb") as f:
        for i in range(FRAMES_N):
            f.write(os.urandom(FRAME) if i == 5 else bytes([90 + i]) * FRAME)
""".replace("FRAMES_N", str(FRAMES))


@pytest.fixture(scope="module")
def challenge(tmp_path_factory) -> Path:
    return cached_challenge(FRAMES, seed=0, cache_dir=tmp_path_factory.mktemp("demo-cache"))


def _run(sub: Path, challenge: Path, out: Path, *args: str) -> tuple[int, dict]:
    sandbox = () if "--sandbox" in args else SANDBOX_ARGS
    code = run_main([str(sub), "--challenge-dir", str(challenge), "--out", str(out), "--quiet",
                     "--setup-overhead", "0", *sandbox, *args])
    return code, json.loads((out / "run.json").read_text())


def test_repeat_two_scores_each_run_and_quotes_the_mean(tmp_path, challenge, capsys):
    sub = build_example_submission(challenge, tmp_path / "example")
    code, report = _run(sub, challenge, tmp_path / "out", "--repeat", "2")
    printed = capsys.readouterr().out
    assert code == 0, report["message"]
    rep = report["repeat"]
    assert rep["deterministic"] is True and "differing_frames" not in rep
    assert [s["run"] for s in rep["scores"]] == [1, 2]
    scores = [s["score"] for s in rep["scores"]]
    assert scores[0] == report["score"]["score"]  # run 1's report is the job's report
    assert rep["terms"]["score"]["mean"] == sum(scores) / 2
    assert rep["terms"]["score"]["spread"] == max(scores) - min(scores)
    assert rep["worst_score"] == max(scores)
    assert len(rep["inflate_s"]) == 2 and rep["slowest_inflate_s"] == max(rep["inflate_s"])
    # each run scored into its own dir: run 2's report.txt under OUT/runs/2
    assert (tmp_path / "out" / "report.txt").is_file()
    assert (tmp_path / "out" / "runs" / "2" / "report.txt").is_file()
    assert f"score {rep['terms']['score']['mean']:.8f} (mean of 2 runs, spread " in printed
    assert f"run 1:    score {scores[0]!r}" in printed and f"run 2:    score {scores[1]!r}" in printed


def test_nondeterministic_inflate_shows_per_run_scores_and_differing_frames(tmp_path, challenge, capsys):
    sub = tmp_path / "nondet"
    sub.mkdir()
    import zipfile

    with zipfile.ZipFile(sub / "archive.zip", "w") as zf:
        zf.writestr("x", b"payload")
    (sub / "inflate.sh").write_text('#!/usr/bin/env bash\nset -e\nexec "${PYTHON:-python3}" '
                                    '"$(dirname "$0")/inflate.py" "$@"\n')
    (sub / "inflate.py").write_text(NONDET_INFLATE_PY)
    code, report = _run(sub, challenge, tmp_path / "out", "--repeat", "2")
    printed = capsys.readouterr().out
    assert code == 0, report["message"]
    rep = report["repeat"]
    assert rep["deterministic"] is False
    assert rep["mismatches"] == ["0.raw"]
    assert rep["differing_frames"] == {"2": {"0.raw": {"frames": [5], "of": FRAMES}}}
    scores = [s["score"] for s in rep["scores"]]
    assert scores[0] != scores[1]  # random frames score differently
    assert rep["score_moved"] == abs(scores[0] - scores[1]) > 0
    assert "differ:   run 2 vs run 1, 0.raw: frames [5] of 8" in printed
    assert any("not deterministic" in w for w in report["warnings"])


def test_repeat_below_one_is_bad_input(tmp_path, challenge, capsys):
    sub = tmp_path / "s"
    sub.mkdir()
    code = run_main([str(sub), "--challenge-dir", str(challenge), "--out", str(tmp_path / "o"), "--repeat", "0"])
    assert code == 2
    assert "--repeat" in capsys.readouterr().err


def test_gate_bounds_hold_the_worst_run():
    from vcc.submission import GateBounds, evaluate_bounds

    run = {"score": {"score": 1.0}, "clock": {"inflate_s": 1.0},
           "repeat": {"n": 2, "deterministic": True, "worst_score": 1.5}}
    (bound,) = evaluate_bounds(GateBounds(max_score=1.2), run)
    assert bound.actual == 1.5 and not bound.ok


def test_sweep_run_table_takes_repeat(tmp_path):
    from vcc.base import BadInput
    from vcc.runner import load_spec

    (tmp_path / "ch").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inflate.sh").write_text("#!/bin/bash\n")
    text = ('challenge_dir = "ch"\nsubmission_dir = "sub"\ncompress = "echo {crf} {out_dir}"\n'
            "[grid]\ncrf = [30]\n[run]\nrepeat = N\n")
    (tmp_path / "s.toml").write_text(text.replace("N", "2"))
    spec = load_spec(tmp_path / "s.toml")
    assert spec.run_config(tmp_path / "sub", tmp_path / "o", threads=1, cache_dir=None).repeat == 2
    (tmp_path / "s.toml").write_text(text.replace("N", "0"))
    with pytest.raises(BadInput, match="repeat"):
        load_spec(tmp_path / "s.toml")
