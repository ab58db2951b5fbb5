"""`vcc sweep`: a 6-point x265 CRF x scale sweep over the demo challenge, with the local pool (killed
midway and resumed) and with `--ray local`; the SPEC's bad input; failed points; --top.

The two demo sweeps are session fixtures (each point compresses, inflates and scores: ~10 s on 2
cores), every other test reads their results. Sweeps run as real `vcc sweep` subprocesses.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from vcc.runner import load_spec
from vcc.runner._sweep_table import TIMING_COLUMNS
from vcc.runner.sweep_cli import main as sweep_main

from helpers import WRITE_RAWS, make_sub

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 8  # the demo challenge's video, kept short: each point's scoring decodes it
CRFS, SCALES = [35, 45], [0.2, 0.3, 0.4]

DEMO_SPEC = """\
challenge_dir = "{challenge}"
submission_dir = "submission"
compress = '''bash {{submission_dir}}/compress.sh {{videos_dir}} {{out_dir}} {{names_file}}
              --crf {{crf}} --scale {{scale}} --preset ultrafast'''
[grid]
crf = {crfs}
scale = {scales}
[run]
threads = 1          # the same torch threads whichever engine: the tables must agree to the last bit
setup_overhead_s = 0
cache_dir = "gt-cache"
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _sweep_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "vcc", "sweep", *args]


def _records(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in (out / "points").glob("*/point.json")}


@pytest.fixture(scope="session")
def sweep_root(tmp_path_factory) -> Path:
    """The demo challenge (8 frames), the example submission's code and a SPEC over them."""
    from vcc.demo import cached_challenge, example_submission_files

    root = tmp_path_factory.mktemp("sweep")
    challenge = cached_challenge(FRAMES, seed=0, cache_dir=root / "demo-cache")
    sub = root / "submission"
    sub.mkdir()
    folder = resources.files("demo") / "example_submission"
    for name in example_submission_files():
        (sub / name).write_bytes((folder / name).read_bytes())
    (root / "spec.toml").write_text(DEMO_SPEC.format(challenge=challenge, crfs=CRFS, scales=SCALES))
    return root


@pytest.fixture(scope="session")
def pool_sweep(sweep_root: Path) -> dict:
    """The local pool (2 workers): killed (SIGKILL, the whole process group) once 2 points are done,
    then rerun with the same --out, which must do only the rest."""
    out = sweep_root / "out-pool"
    first = subprocess.Popen(_sweep_cmd(str(sweep_root / "spec.toml"), "--workers", "2", "--out", str(out)),
                             env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    deadline = time.monotonic() + 600
    try:
        while len(_records(out)) < 2:
            assert first.poll() is None, f"the sweep ended (status {first.returncode}) before it was killed"
            assert time.monotonic() < deadline, "no 2 points done in 600 s"
            time.sleep(0.2)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    before = {pid: (out / "points" / pid / "point.json").stat().st_mtime_ns for pid in _records(out)}
    resumed = subprocess.run(_sweep_cmd(str(sweep_root / "spec.toml"), "--workers", "2", "--out", str(out)),
                             env=_env(), capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return {"out": out, "before_kill": before, "resumed": resumed}


@pytest.fixture(scope="session")
def ray_sweep(sweep_root: Path) -> dict:
    pytest.importorskip("ray")
    out = sweep_root / "out-ray"
    proc = subprocess.run(_sweep_cmd(str(sweep_root / "spec.toml"), "--ray", "local", "--out", str(out)),
                          env=_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"out": out, "proc": proc}


def _table(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "results.csv")


def test_pool_sweep_scores_every_point_and_marks_the_front(pool_sweep):
    out = pool_sweep["out"]
    table = _table(out)
    assert len(table) == len(CRFS) * len(SCALES)
    assert set(table["verdict"]) == {"ok"}, table[["point", "verdict", "message"]]
    assert sorted(zip(table["crf"], table["scale"], strict=True)) == sorted((c, s) for c in CRFS for s in SCALES)
    records = _records(out)
    for _, row in table.iterrows():
        rec = records[row["point"]]
        run = json.loads((out / "points" / row["point"] / rec["run_json"]).read_text())
        # The table says what `vcc run` reported for the point's own archive.
        assert run["verdict"] == "ok" and run["score"]["score"] == row["score"]
        archive = out / "points" / row["point"] / "submission" / "archive.zip"
        assert archive.stat().st_size == row["archive_bytes"] == run["score"]["archive_bytes"]
        assert row["rate_term"] + row["distortion_term"] == pytest.approx(row["score"], rel=1e-12)
        assert row["headroom_s"] > 0 and row["inflate_s"] > 0
    # A smaller picture at the same CRF costs fewer bytes.
    for crf in CRFS:
        sizes = table[table["crf"] == crf].sort_values("scale")["archive_bytes"].tolist()
        assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    # The front: no scored point beats a front point on both terms, and the best score is on it.
    front = table[table["pareto"]]
    assert 1 <= len(front) <= len(table)
    for _, f in front.iterrows():
        assert not ((table["rate_term"] <= f["rate_term"]) & (table["distortion_term"] <= f["distortion_term"])
                    & ((table["rate_term"] < f["rate_term"]) | (table["distortion_term"] < f["distortion_term"]))).any()
    assert table.loc[table["score"].idxmin(), "pareto"]
    parquet = pd.read_parquet(out / "results.parquet")
    pd.testing.assert_frame_equal(parquet.drop(columns=["message"]), table.drop(columns=["message"]),
                                  check_dtype=False)


def test_killed_sweep_resumes_with_only_the_missing_points(pool_sweep):
    out, before = pool_sweep["out"], pool_sweep["before_kill"]
    assert 2 <= len(before) < len(CRFS) * len(SCALES)
    after = {pid: (out / "points" / pid / "point.json").stat().st_mtime_ns for pid in _records(out)}
    assert len(after) == len(CRFS) * len(SCALES)
    assert all(after[pid] == mtime for pid, mtime in before.items()), "a point done before the kill ran again"
    sweep = json.loads((out / "sweep.json").read_text())
    assert sorted(sweep["skipped"]) == sorted(before)
    assert sorted(sweep["ran"]) == sorted(set(after) - set(before))
    assert f"skipped {len(before)} already done" in pool_sweep["resumed"].stdout
    # The non-TTY progress: one line per point run, with an ETA.
    lines = [ln for ln in pool_sweep["resumed"].stderr.splitlines()
             if ln.startswith("vcc sweep: ") and " points/s, " in ln]
    assert len(lines) == len(after) - len(before) and all("ETA" in ln for ln in lines)


def test_ray_local_gives_the_same_table_as_the_pool(pool_sweep, ray_sweep):
    pool, ray = _table(pool_sweep["out"]), _table(ray_sweep["out"])
    keep = [c for c in pool.columns if c not in (*TIMING_COLUMNS, "message")]
    pd.testing.assert_frame_equal(ray[keep], pool[keep])
    assert "ray (local instance)" in ray_sweep["proc"].stdout
    workers = {r["worker"]["pid"] for r in _records(ray_sweep["out"]).values()}
    assert os.getpid() not in workers


def test_plot_is_a_png_with_every_scored_point(pool_sweep):
    import matplotlib.image

    image = matplotlib.image.imread(pool_sweep["out"] / "rate-distortion.png")
    assert image.shape[0] >= 600 and image.shape[1] >= 800
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_top_reads_an_existing_sweep_without_running(pool_sweep, capsys):
    out = pool_sweep["out"]
    mtimes = {pid: (out / "points" / pid / "point.json").stat().st_mtime_ns for pid in _records(out)}
    assert sweep_main(["--top", "2", "--out", str(out)]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if re.match(r"\s*\d+\. ", ln)]
    table = _table(out).sort_values("score")
    assert len(lines) == 2
    for line, (_, row) in zip(lines, table.head(2).iterrows(), strict=True):
        assert f"crf={row['crf']},scale={row['scale']}" in line and f"{row['score']:.6f}" in line
    assert {pid: (out / "points" / pid / "point.json").stat().st_mtime_ns for pid in _records(out)} == mtimes


# --------------------------------------------------------------------------- bad input


GOOD = """\
challenge_dir = "{challenge}"
submission_dir = "sub"
compress = "{{python}} -c pass {{crf}}"
[grid]
crf = [1, 2]
"""


@pytest.fixture
def spec_dir(tmp_path, mini_challenge) -> Path:
    make_sub(tmp_path / "sub", WRITE_RAWS)
    (tmp_path / "good.toml").write_text(GOOD.format(challenge=mini_challenge))
    return tmp_path


@pytest.mark.parametrize("edit, named", [
    (lambda s: "colour = 'red'\n" + s, "unknown key 'colour'"),
    (lambda s: s.replace("crf = [1, 2]", "crf = [1, 2]\nscale = []"), "parameter 'scale' has no values"),
    (lambda s: s.replace("{crf}", "{crf} {preset}"), "unknown parameter {preset}"),
    (lambda s: s + "[run]\nrunnr = 'cpu'\n", "unknown key 'runnr' in [run]"),
    (lambda s: s + "[run]\nthreads = 'two'\n", "threads = 'two' has the wrong type"),
    (lambda s: s + "[run]\nnumerics = 'fastest'\n", "numerics"),
    (lambda s: s.replace("[grid]\ncrf = [1, 2]", "points = [{crf = 1}, {crf = 1}]"), "two points share"),
])
def test_bad_spec_exits_2_naming_file_and_value_and_starts_nothing(spec_dir, edit, named, capsys):
    spec = spec_dir / "bad.toml"
    spec.write_text(edit((spec_dir / "good.toml").read_text()))
    out = spec_dir / "out"
    assert sweep_main([str(spec), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert named in err and str(spec) in err
    assert not out.exists()


def test_out_dir_that_holds_no_sweep_is_refused(spec_dir, capsys):
    out = spec_dir / "not-a-sweep"
    out.mkdir()
    (out / "keep.txt").write_text("the user's")
    assert sweep_main([str(spec_dir / "good.toml"), "--out", str(out), "--quiet"]) == 2
    assert "holds no sweep" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_yaml_spec_reads_like_toml(spec_dir, mini_challenge):
    (spec_dir / "good.yaml").write_text(
        f"challenge_dir: {mini_challenge}\nsubmission_dir: sub\ncompress: '{{python}} -c pass {{crf}}'\n"
        "grid:\n  crf: [1, 2]\n")
    yaml_spec, toml_spec = load_spec(spec_dir / "good.yaml"), load_spec(spec_dir / "good.toml")
    assert yaml_spec.points == toml_spec.points and yaml_spec.compress == toml_spec.compress
    (spec_dir / "bad.yaml").write_text((spec_dir / "good.yaml").read_text() + "grid2: {a: [1]}\n")
    with pytest.raises(Exception, match="unknown key 'grid2'"):
        load_spec(spec_dir / "bad.yaml")


def test_unreachable_ray_address_exits_4_and_starts_nothing(spec_dir, capsys):
    pytest.importorskip("ray")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = spec_dir / "out"
    code = sweep_main([str(spec_dir / "good.toml"), "--ray", f"127.0.0.1:{port}", "--out", str(out), "--quiet"])
    assert code == 4
    assert f"127.0.0.1:{port}" in capsys.readouterr().err
    assert not out.exists()


# --------------------------------------------------------------------------- failed points


MAKE_ARCHIVE = """\
import sys, time, zipfile
out, mode = sys.argv[1], sys.argv[2]
if mode == "fail":
    sys.exit("no codec for this mode")
if mode == "hang":
    time.sleep(60)
with zipfile.ZipFile(out + "/archive.zip", "w") as zf:
    zf.writestr("a", mode * 100)
"""


def test_failed_points_are_recorded_and_do_not_stop_the_sweep(tmp_path, mini_challenge):
    make_sub(tmp_path / "sub", WRITE_RAWS, files={"mk.py": MAKE_ARCHIVE})
    (tmp_path / "spec.toml").write_text(
        f'challenge_dir = "{mini_challenge}"\nsubmission_dir = "sub"\n'
        'compress = "{python} {submission_dir}/mk.py {out_dir} {mode}"\ncompress_timeout_s = 3\n'
        'points = [{mode = "fail"}, {mode = "hang"}, {mode = "xy"}]\n'
        '[run]\nscore = false\nsetup_overhead_s = 0\nscore_estimate_s = 0\n')
    out = tmp_path / "out"
    proc = subprocess.run(_sweep_cmd(str(tmp_path / "spec.toml"), "--workers", "2", "--out", str(out)),
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = _table(out).set_index("mode")
    assert table.loc["fail", "verdict"] == "compress_failed"
    assert "no codec for this mode" in table.loc["fail", "message"]
    assert table.loc["hang", "verdict"] == "compress_timeout"
    assert table.loc["xy", "verdict"] == "ok"
    archive = out / "points" / "mode-xy" / "submission" / "archive.zip"
    assert table.loc["xy", "archive_bytes"] == archive.stat().st_size
    # Failed points are results: the rerun skips them, unless asked to retry them.
    again = subprocess.run(_sweep_cmd(str(tmp_path / "spec.toml"), "--out", str(out), "--retry-failed"),
                           env=_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "ran 2, skipped 1" in again.stdout, again.stdout + again.stderr[-2000:]
    # The submission's code is an input of every point: a changed inflate.sh reruns them all.
    with open(tmp_path / "sub" / "inflate.sh", "a") as f:
        f.write("# changed\n")
    third = subprocess.run(_sweep_cmd(str(tmp_path / "spec.toml"), "--out", str(out), "--quiet"),
                           env=_env(), capture_output=True, text=True, timeout=300)
    assert third.returncode == 0 and "ran 3, skipped 0" in third.stdout, third.stdout + third.stderr[-2000:]
