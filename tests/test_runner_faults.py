"""`vcc run` on submissions that fail while running: each a clear verdict, exit 3, nothing left.

No model is loaded here (--no-score); the mini challenge's video has 4 frames.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from vcc.runner import bwrap_unavailable_reason
from vcc.runner.cli import main as run_main

from helpers import FRAME_BYTES, RAW_BYTES, SANDBOX_ARGS, SANDBOX_OFF_ARGS, WRITE_RAWS, make_sub, run

needs_bwrap = pytest.mark.skipif(
    bwrap_unavailable_reason() is not None,
    reason=f"bubblewrap sandbox unavailable: {bwrap_unavailable_reason()}",
)

def processes_with(token: str) -> list[int]:
    """Host pids whose command line holds `token` (works across pid namespaces)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if token.encode() in Path(entry.path, "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def snapshot(path: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in path.rglob("*")}


# Containment modes: bubblewrap + cgroup, cgroup only, and bare processes with rlimits.
MODES = {
    "sandbox": pytest.param([], marks=needs_bwrap, id="sandbox"),
    "cgroup": pytest.param([*SANDBOX_OFF_ARGS], id="cgroup-only"),
    "bare": pytest.param([*SANDBOX_OFF_ARGS, "--no-cgroup"], id="bare"),
}


@pytest.fixture
def token() -> str:
    return f"vcc-test-{uuid.uuid4().hex}"


def test_good_inflate_passes_and_user_dir_untouched(tmp_path, mini_challenge):
    sub = make_sub(tmp_path / "sub", WRITE_RAWS)
    before = snapshot(sub)
    code, r = run(sub, mini_challenge, tmp_path / "out")
    assert code == 0, r["message"]
    assert r["verdict"] == "ok"
    assert r["numerics"]["profile"] == "native" and r["numerics"]["class"].endswith(r["numerics"]["cpu"]["vendor"])
    assert r["raws"]["0.raw"]["bytes"] == RAW_BYTES
    assert len(r["raws"]["0.raw"]["sha256"]) == 64
    assert r["inflate"]["argv"][:2] == ["bash", "./submissions/sub/inflate.sh"]
    for key in ("extract_s", "inflate_s", "hash_s"):
        assert key in r["phases"]
    assert r["clock"]["headroom_s"] == pytest.approx(
        r["clock"]["clock_s"] - r["phases"]["extract_s"] - r["phases"]["inflate_s"], abs=0.01
    )
    assert snapshot(sub) == before
    assert not (sub / "archive").exists() and not (sub / "inflated").exists()
    assert not (tmp_path / "out" / "workspace").exists()  # removed unless --keep-workspace


def test_inflate_exit_nonzero(tmp_path, mini_challenge, capsys):
    sub = make_sub(tmp_path / "sub", 'echo "decoder exploded" >&2\nexit 7\n')
    code, r = run(sub, mini_challenge, tmp_path / "out")
    assert code == 3
    assert r["verdict"] == "inflate_failed"
    assert r["inflate"]["returncode"] == 7
    assert "decoder exploded" in r["inflate"]["stderr_tail"]
    assert "decoder exploded" in capsys.readouterr().err  # the tail is in the message


@pytest.mark.parametrize("mode", MODES.values())
def test_inflate_hangs_past_the_clock(tmp_path, mini_challenge, token, mode):
    body = (
        f"(exec -a {token} sleep 300) &\n"
        f"(setsid bash -c 'exec -a {token}-detached sleep 300' &)\n"
        f"exec -a {token}-main sleep 300\n"
    )
    sub = make_sub(tmp_path / "sub", body)
    code, r = run(sub, mini_challenge, tmp_path / "out", "--clock", "3", *mode)
    assert code == 3
    assert r["verdict"] == "timeout"
    assert r["inflate"]["timed_out"] is True
    assert 2.5 < r["inflate"]["elapsed_s"] < 10
    assert "killed" in r["message"]
    assert processes_with(token) == []


def test_setup_and_scoring_leave_no_time(tmp_path, mini_challenge):
    sub = make_sub(tmp_path / "sub", WRITE_RAWS)
    out = tmp_path / "out"
    code = run_main(
        [str(sub), "--challenge-dir", str(mini_challenge), "--out", str(out), "--no-score",
         "--quiet", "--clock", "100", "--setup-overhead", "60", "--score-estimate", "50", *SANDBOX_ARGS]
    )  # fmt: skip
    r = json.loads((out / "run.json").read_text())
    # Known before anything runs and nothing to do with the submission: bad input.
    assert code == 2 and r["verdict"] == "bad_input"
    assert "leaves inflate no time" in r["message"]
    assert r["inflate"] is None and not (out / "workspace").exists()


@pytest.mark.parametrize("mode", MODES.values())
def test_children_that_outlive_inflate_are_killed(tmp_path, mini_challenge, token, mode):
    body = WRITE_RAWS + f"(setsid bash -c 'exec -a {token} sleep 300' &)\nsleep 0.2\n"
    sub = make_sub(tmp_path / "sub", body)
    code, r = run(sub, mini_challenge, tmp_path / "out", *mode)
    assert code == 0, r["message"]
    assert any(token in p for p in r["inflate"]["leftover_processes"])
    assert any("left 1 process" in w for w in r["warnings"])
    assert processes_with(token) == []


@pytest.mark.parametrize("mode", MODES.values())
def test_inflate_past_the_memory_cap(tmp_path, mini_challenge, mode):
    body = 'python3 -c "b = bytearray(300 << 20); print(len(b))"\n' + WRITE_RAWS
    sub = make_sub(tmp_path / "sub", body)
    code, r = run(sub, mini_challenge, tmp_path / "out", "--memory", "100M", *mode)
    assert code == 3, r["message"]
    assert r["verdict"] == "out_of_memory"
    assert r["inflate"]["oom_killed"] is True
    # The same inflate fits the runner's real cap.
    code, r = run(sub, mini_challenge, tmp_path / "out2", "--memory", "1G", *mode)
    assert code == 0, r["message"]
    assert r["peak_rss_bytes"] is None or r["peak_rss_bytes"] < 1 << 30


@needs_bwrap
def test_inflate_cannot_write_outside_the_workspace(tmp_path, mini_challenge, token):
    outside = tmp_path / "outside.txt"  # under /tmp: lands in the sandbox's private /tmp
    user_file = tmp_path / "sub" / "compress.sh"  # the user's own submission dir
    system = Path("/usr") / token  # anywhere else: read-only
    body = WRITE_RAWS + (
        f'echo owned > "{outside}" || true\necho owned > "{user_file}" || true\necho owned > "{system}"\n'
    )
    sub = make_sub(tmp_path / "sub", body, {"compress.sh": "original\n"})
    code, r = run(sub, mini_challenge, tmp_path / "out")
    assert code == 3
    assert r["verdict"] == "inflate_failed"
    assert "Read-only file system" in r["inflate"]["stderr_tail"]
    assert "write outside" in r["message"]
    assert not outside.exists()
    assert not system.exists()
    assert user_file.read_text() == "original\n"


def test_writes_inside_the_checkout_outside_inflated_are_reported(tmp_path, mini_challenge):
    body = WRITE_RAWS + 'echo scratch > "$1/../scratch.bin"\n'
    sub = make_sub(tmp_path / "sub", body)
    code, r = run(sub, mini_challenge, tmp_path / "out")
    assert code == 0, r["message"]
    assert r["runs"][0]["writes_outside_inflated"] == ["submissions/sub/scratch.bin"]
    assert any("outside INFLATED_DIR" in w for w in r["warnings"])
    assert not (sub / "scratch.bin").exists()


@needs_bwrap
def test_inflate_cannot_read_the_originals(tmp_path, mini_challenge):
    video = mini_challenge / "videos" / "0.mkv"
    body = f'cat "{video}" > /dev/null\nls videos/ 2>/dev/null || true\n' + WRITE_RAWS
    sub = make_sub(tmp_path / "sub", body)
    code, r = run(sub, mini_challenge, tmp_path / "out")
    assert code == 3
    assert r["verdict"] == "inflate_failed"
    assert "No such file" in r["inflate"]["stderr_tail"]
    assert "original videos" in r["message"]
    assert r["isolation"]["originals_hidden"] is True
    assert video.stat().st_size > 0  # hidden from inflate only


def test_root_modules_importable_and_gpu_hidden(tmp_path, mini_challenge):
    body = (
        'python3 -c "import frame_utils, os, sys; '
        "assert frame_utils.FROM_ROOT; "
        "assert os.environ['CUDA_VISIBLE_DEVICES'] == ''; "
        "assert len(os.sched_getaffinity(0)) <= 4\"\n"
        'python3 -m submissions.sub.helper\n' + WRITE_RAWS
    )  # fmt: skip
    sub = make_sub(tmp_path / "sub", body, {"helper.py": "import frame_utils\nprint('ok')\n"})
    code, r = run(sub, mini_challenge, tmp_path / "out")
    assert code == 0, r["message"] + r["inflate"]["stderr_tail"]


@needs_bwrap
def test_network_off_isolates_inflate(tmp_path, mini_challenge):
    probe = (
        'python3 -c "import socket, sys\n'
        "try:\n"
        "    socket.create_connection(('10.255.255.1', 9), timeout=3)\n"
        "except OSError as e:\n"
        "    print(e.errno, file=sys.stderr)\n"
        '"\n'
        "ls /sys/class/net > /dev/null\n"
        "test $(grep -c : /proc/net/dev) -eq 1  # only lo\n"
    )
    sub = make_sub(tmp_path / "sub", probe + WRITE_RAWS)
    code, r = run(sub, mini_challenge, tmp_path / "out", "--network", "off")
    assert code == 0, r["message"]
    assert r["isolation"]["network"] == "isolated"
    assert r["runner"]["network"] == "off"


def test_raw_of_wrong_size(tmp_path, mini_challenge):
    body = f'mkdir -p "$2"\ntruncate -s {RAW_BYTES - 10} "$2/0.raw"\n'
    sub = make_sub(tmp_path / "sub", body)
    code, r = run(sub, mini_challenge, tmp_path / "out")
    assert code == 3
    assert r["verdict"] == "wrong_output"
    assert "0.raw" in r["error"]


def test_raw_with_missing_frames(tmp_path, mini_challenge):
    body = f'mkdir -p "$2"\ntruncate -s {RAW_BYTES - 2 * FRAME_BYTES} "$2/0.raw"\n'
    sub = make_sub(tmp_path / "sub", body)
    code, r = run(sub, mini_challenge, tmp_path / "out")
    assert code == 3
    assert r["verdict"] == "wrong_output"
    assert "frame count" in r["message"]


def test_missing_raw(tmp_path, mini_challenge):
    body = 'mkdir -p "$2"\ntouch "$2/zero.raw"\n'
    sub = make_sub(tmp_path / "sub", body)
    code, r = run(sub, mini_challenge, tmp_path / "out")
    assert code == 3
    assert r["verdict"] == "wrong_output"
    assert "missing" in r["message"]


def test_extra_unexpected_files_are_a_warning(tmp_path, mini_challenge):
    body = WRITE_RAWS + 'echo debug > "$2/frames.log"\nmkdir -p "$2/tmp"\necho x > "$2/tmp/x"\n'
    sub = make_sub(tmp_path / "sub", body)
    code, r = run(sub, mini_challenge, tmp_path / "out")
    assert code == 0, r["message"]
    assert r["runs"][0]["extra_files"] == ["frames.log", "tmp/x"]
    assert any("ignores them" in w for w in r["warnings"])


def test_repeat_finds_nondeterministic_inflate(tmp_path, mini_challenge):
    body = WRITE_RAWS + 'head -c 16 /dev/urandom | dd of="$2/0.raw" conv=notrunc status=none\n'
    sub = make_sub(tmp_path / "sub", body)
    code, r = run(sub, mini_challenge, tmp_path / "out", "--repeat", "2")
    assert code == 0, r["message"]
    rep = r["repeat"]
    assert {k: rep[k] for k in ("n", "completed", "deterministic", "mismatches")} == {
        "n": 2, "completed": 2, "deterministic": False, "mismatches": ["0.raw"]}
    assert rep["differing_frames"] == {"2": {"0.raw": {"frames": [0], "of": 4}}}  # the first 16 bytes moved
    assert len(rep["inflate_s"]) == 2 and "scores" not in rep  # --no-score: nothing to average
    assert any("not deterministic" in w for w in r["warnings"])
    assert len(r["runs"]) == 2 and len(r["clock"]["inflate_runs_s"]) == 2


def test_repeat_confirms_deterministic_inflate(tmp_path, mini_challenge):
    sub = make_sub(tmp_path / "sub", WRITE_RAWS)
    code, r = run(sub, mini_challenge, tmp_path / "out", "--repeat", "2")
    assert code == 0
    assert r["repeat"]["deterministic"] is True


def test_results_never_land_in_the_submission_dir(tmp_path, mini_challenge, monkeypatch):
    sub = make_sub(tmp_path / "sub", WRITE_RAWS)
    monkeypatch.chdir(tmp_path)
    args = [str(sub), "--challenge-dir", str(mini_challenge), "--no-score", "--quiet", *SANDBOX_ARGS]
    assert run_main(args) == 0
    made = list(tmp_path.glob("vcc-run-sub-*"))
    assert len(made) == 1 and (made[0] / "run.json").is_file()
    assert sorted(p.name for p in sub.iterdir()) == ["archive.zip", "inflate.sh"]


def test_out_dir_must_be_new(tmp_path, mini_challenge, capsys):
    sub = make_sub(tmp_path / "sub", WRITE_RAWS)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = [str(sub), "--challenge-dir", str(mini_challenge), "--out", str(out), "--quiet"]
    assert run_main(args) == 2
    assert (out / "keep.txt").read_text() == "mine"


def test_t4_runner_shape(tmp_path, mini_challenge, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    body = 'test "${CUDA_VISIBLE_DEVICES-unset}" = unset  # the T4 runner shows its GPU\n' + WRITE_RAWS
    sub = make_sub(tmp_path / "sub", body)
    code, r = run(sub, mini_challenge, tmp_path / "out", "--runner", "t4")
    assert code == 0, r["message"] + r["inflate"]["stderr_tail"]
    assert r["runner"]["kind"] == "t4"
    assert r["runner"]["memory_bytes"] == 26 << 30
    assert r["runner"]["gpu_visible_to_inflate"] is True
    import torch

    if not torch.cuda.is_available():
        assert r["runner"]["score_decode"] == "dali-emulated"
        assert "EMULATED" in r["runner"]["label"]


def test_keep_workspace_and_json_path(tmp_path, mini_challenge):
    sub = make_sub(tmp_path / "sub", WRITE_RAWS)
    out, report = tmp_path / "out", tmp_path / "elsewhere" / "r.json"
    code = run_main(
        [str(sub), "--challenge-dir", str(mini_challenge), "--out", str(out), "--json", str(report),
         "--no-score", "--quiet", "--keep-workspace", *SANDBOX_ARGS]
    )  # fmt: skip
    assert code == 0
    r = json.loads(report.read_text())
    assert r["workspace_kept"] is True
    ws = Path(r["workspace"])
    assert (ws / "submissions" / "sub" / "inflated" / "0.raw").stat().st_size == RAW_BYTES
    assert (ws / "submissions" / "__init__.py").is_file()
    assert (ws / "frame_utils.py").is_symlink()
    assert not (ws / "videos").exists()  # the originals are not linked into the root
    assert (out / "logs" / "inflate.stderr.log").is_file()
