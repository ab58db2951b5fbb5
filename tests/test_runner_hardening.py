"""`vcc run` against submissions that attack what is scored, and the runner's own loose ends.

Each table row is one case found by a hostile-submission suite or a reading of the code
(issue 9): what is scored must be what was submitted, every argument is checked before
anything runs, messages say what happened, reports are readable by others. No model is
loaded (--no-score); the mini challenge's video has 4 frames.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import struct
import subprocess
import time
import zipfile
import zlib
from pathlib import Path

import pytest

import vcc.runner._cgroup as cgroup_mod
from vcc import runner
from vcc.base import BadInput, file_sha256, write_atomic, write_json_atomic
from vcc.runner import RunConfig, bwrap_unavailable_reason, extract_archive
from vcc.runner._result import InflateRun, RunResult
from vcc.runner.cli import main as run_main
from vcc.scorer import ScoreConfig
from vcc.scorer._assets import asset_sha256
from vcc.scorer._cache import GroundTruthCache

from helpers import NO_SCORE_ARGS, RAW_BYTES, SANDBOX_OFF_ARGS, WRITE_RAWS, make_sub, run, run_vcc

SANDBOX_OFF = SANDBOX_OFF_ARGS
needs_bwrap = pytest.mark.skipif(
    bwrap_unavailable_reason() is not None, reason=f"bubblewrap unavailable: {bwrap_unavailable_reason()}"
)


def own_challenge(mini_challenge: Path, tmp_path: Path) -> Path:
    """A private copy of the mini challenge, for cases that damage it."""
    root = tmp_path / "challenge"
    shutil.copytree(mini_challenge, root)
    return root


def tree_state(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): file_sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- what is scored

ARCHIVE_ATTACKS = {
    "truncated": ': > "$1/../archive.zip"',
    "appended": 'printf padding >> "$1/../archive.zip"',
    "same size, other bytes": 'printf Z | dd of="$1/../archive.zip" bs=1 seek=40 conv=notrunc status=none',
    "replaced": 'rm "$1/../archive.zip"',
}


@pytest.mark.parametrize("attack", ARCHIVE_ATTACKS.values(), ids=ARCHIVE_ATTACKS.keys())
def test_inflate_that_changes_the_archive_fails(tmp_path, mini_challenge, attack):
    sub = make_sub(tmp_path / "sub", WRITE_RAWS + attack + "\n")
    user_zip = sub / "archive.zip"
    before = (user_zip.stat().st_size, file_sha256(user_zip))
    # Without the sandbox: the check must hold whatever containment inflate ran under.
    code, r = run(sub, mini_challenge, tmp_path / "out", *SANDBOX_OFF)
    assert code == 3, r["message"]
    assert r["verdict"] == "archive_changed"
    assert "archive.zip changed while inflate ran" in r["message"]
    assert f"{before[0]:,} bytes" in r["message"]  # says what it was
    # The report keeps the archive as submitted; the user's file is untouched.
    assert (r["submission"]["archive_bytes"], r["submission"]["archive_sha256"]) == before
    assert (user_zip.stat().st_size, file_sha256(user_zip)) == before


CHALLENGE_ATTACKS = {
    "padded videos/": ('head -c 5000 /dev/zero > "{ch}/videos/pad.bin"', ["videos/pad.bin added", "denominator"]),
    "grown video": ('printf x >> "{ch}/videos/0.mkv"', ["videos/0.mkv changed", "denominator"]),
    "changed weights": (
        'printf Z | dd of="{ch}/models/segnet.safetensors" bs=1 seek=3 conv=notrunc status=none',
        ["models/segnet.safetensors changed"],
    ),
    "removed extra file": ('rm "{ch}/videos/old.bin"', ["videos/old.bin removed"]),
}


@pytest.mark.parametrize("attack, words", CHALLENGE_ATTACKS.values(), ids=CHALLENGE_ATTACKS.keys())
def test_inflate_that_changes_the_challenge_fails(tmp_path, mini_challenge, monkeypatch, attack, words):
    """Whatever changed the challenge while inflate ran, the run fails. As root, both the sandbox and
    `--sandbox off` mount the checkout read-only (tests/test_runner_hostile.py), so the change is made
    right after inflate returns, as a non-root `--sandbox off` inflate (plain processes) could."""
    ch = own_challenge(mini_challenge, tmp_path)
    (ch / "videos" / "old.bin").write_bytes(b"an extra file that was there before")
    sub = make_sub(tmp_path / "sub", WRITE_RAWS)
    real_inflate = runner._local.LocalBackend.inflate

    def inflate_then_tamper(self, *args, **kwargs):
        result = real_inflate(self, *args, **kwargs)
        subprocess.run(["bash", "-c", attack.format(ch=ch)], check=True)
        return result

    monkeypatch.setattr(runner._local.LocalBackend, "inflate", inflate_then_tamper)
    code, r = run(sub, ch, tmp_path / "out", *SANDBOX_OFF)
    assert code == 3, r["message"]
    assert r["verdict"] == "challenge_changed"
    for w in words:
        assert w in r["message"]


def test_untouched_archive_and_challenge_pass(tmp_path, mini_challenge):
    ch = own_challenge(mini_challenge, tmp_path)
    before = tree_state(ch)
    sub = make_sub(tmp_path / "sub", WRITE_RAWS)
    code, r = run(sub, ch, tmp_path / "out", *SANDBOX_OFF)
    assert code == 0, r["message"]
    assert r["submission"]["archive_sha256"] == file_sha256(sub / "archive.zip")
    assert tree_state(ch) == before


# --------------------------------------------------------------------------- arguments and clock

BAD_ARGUMENTS = {
    "batch size 0": (["--batch-size", "0"], "--batch-size"),
    "threads 0": (["--threads", "0"], "--threads"),
    "threads negative": (["--threads", "-2"], "--threads"),
    "cpus 0": (["--cpus", "0"], "--cpus"),
    "cpus negative": (["--cpus", "-1"], "--cpus"),
    "max members 0": (["--max-members", "0"], "--max-members"),
    "max ratio 0": (["--max-ratio", "0"], "--max-ratio"),
}


@pytest.mark.parametrize("args, flag", BAD_ARGUMENTS.values(), ids=BAD_ARGUMENTS.keys())
def test_bad_arguments_are_refused_before_anything_runs(tmp_path, mini_challenge, capsys, args, flag):
    marker = tmp_path / "inflate-ran"
    sub = make_sub(tmp_path / "sub", f'touch "{marker}"\n' + WRITE_RAWS)
    out = tmp_path / "out"
    code = run_main([str(sub), "--challenge-dir", str(mini_challenge), "--out", str(out), *NO_SCORE_ARGS,
                     *SANDBOX_OFF, *args])  # fmt: skip
    assert code == 2
    assert flag in capsys.readouterr().err
    assert not marker.exists()  # inflate never ran
    assert not out.exists()  # refused while parsing: nothing staged, nothing written


@pytest.mark.parametrize("cpus", [0, -1, True, 1.5])
def test_run_config_refuses_bad_counts(tmp_path, cpus):
    with pytest.raises(BadInput, match="--cpus"):
        RunConfig(tmp_path, tmp_path, cpus=cpus)


def test_clock_shorter_than_the_estimates_is_bad_input(tmp_path, mini_challenge):
    marker = tmp_path / "inflate-ran"
    sub = make_sub(tmp_path / "sub", f'touch "{marker}"\n' + WRITE_RAWS)
    out = tmp_path / "out"
    # The runner's default setup estimate alone exceeds a 10 s clock.
    code, r = run_vcc(sub, mini_challenge, out, "--no-score", "--quiet", "--clock", "10", *SANDBOX_OFF)
    assert code == 2 and r["verdict"] == "bad_input"
    assert "--clock 10 s leaves inflate no time" in r["message"]
    assert r["runs"] == [] and not marker.exists()


# --------------------------------------------------------------------------- messages

EXIT_MESSAGES = {
    # inflate.sh itself killed: inside its pid namespace (bubblewrap, or `unshare --pid` as root) the
    # leftover wrapper's shell reports 128 + N; only a bare process shows the negative status
    "bash killed": ("kill -9 $$", "signal 9"),
    "child killed": ("sleep 30 & kill -KILL $!; wait $!", "status 137 (128 + 9: most likely a command inside it "
                                                          "was killed by signal 9, SIGKILL)"),
    "terminated": ("kill -TERM $$", "signal 15"),
    "plain status": ("exit 5", "exited with status 5 after"),
}


@pytest.mark.parametrize(("status", "words"), [(-9, "was killed by signal 9 (SIGKILL)"),
                                               (-15, "was killed by signal 15 (SIGTERM)"),
                                               (137, "128 + 9: most likely a command inside it was killed by signal 9"),
                                               (5, "exited with status 5"), (None, "killed at the deadline")])
def test_exit_text_names_the_signal(status, words):
    from vcc.runner._verdicts import exit_text

    assert words in exit_text(status)
    assert "status -" not in exit_text(status)


@pytest.mark.parametrize("body, words", EXIT_MESSAGES.values(), ids=EXIT_MESSAGES.keys())
def test_exit_status_in_words(tmp_path, mini_challenge, body, words):
    sub = make_sub(tmp_path / "sub", body + "\n")
    code, r = run(sub, mini_challenge, tmp_path / "out", *SANDBOX_OFF, "--no-cgroup")
    assert code == 3 and r["verdict"] == "inflate_failed"
    assert words in r["message"]
    assert "status -" not in r["message"]


def test_oom_kill_that_inflate_survives_is_a_warning(tmp_path, mini_challenge):
    body = 'python3 -c "b = bytearray(400 << 20); b[::4096] = b\\"x\\" * len(b[::4096])" || true\n' + WRITE_RAWS
    sub = make_sub(tmp_path / "sub", body)
    code, r = run(sub, mini_challenge, tmp_path / "out", *SANDBOX_OFF, "--memory", "120M")
    if not any(n.startswith("the kernel killed") for n in r["isolation"]["notes"]):
        pytest.skip(f"no cgroup OOM counter here: {r['isolation']['memory_cap']}")
    assert code == 0, r["message"]
    assert any(w.startswith("out of memory inside inflate") for w in r["warnings"])


RAW_KINDS = {
    "directory": ('mkdir -p "$2/0.raw"', "is a directory"),
    "fifo": ('mkdir -p "$2"; mkfifo "$2/0.raw"', "is a FIFO (named pipe)"),
    "link to /dev/zero": ('mkdir -p "$2"; ln -s /dev/zero "$2/0.raw"', "points outside INFLATED_DIR (to /dev/zero)"),
    "dangling link": ('mkdir -p "$2"; ln -s "$2/nothing.raw" "$2/0.raw"', "symbolic link that dangles"),
    "link out of the dir": (
        f'mkdir -p "$2"; truncate -s {RAW_BYTES} "$TMPDIR/r"; ln -s "$TMPDIR/r" "$2/0.raw"',
        "points outside INFLATED_DIR",
    ),
    "inflated dir is a link": (f'mkdir -p "$TMPDIR/d"; truncate -s {RAW_BYTES} "$TMPDIR/d/0.raw"; '
                               'ln -s "$TMPDIR/d" "$2"', "INFLATED_DIR is a symbolic link"),
    "missing": ('mkdir -p "$2"', "is missing"),
}


@pytest.mark.parametrize("body, words", RAW_KINDS.values(), ids=RAW_KINDS.keys())
def test_raw_that_is_not_a_file_says_what_it_is(tmp_path, mini_challenge, body, words):
    if "mknod" in body and os.geteuid() != 0:
        pytest.skip("mknod needs root")
    sub = make_sub(tmp_path / "sub", body + "\n")
    code, r = run(sub, mini_challenge, tmp_path / "out", *SANDBOX_OFF)
    assert code == 3 and r["verdict"] == "wrong_output", r["message"]
    assert words in r["message"]


def test_a_character_device_is_named_as_such():
    """inflate can no longer mknod (every capability dropped): the naming is checked on /dev/zero."""
    from vcc.scorer import file_kind

    assert "character device" in file_kind(Path("/dev/zero"))


def test_raw_link_inside_the_dir_is_accepted(tmp_path, mini_challenge):
    body = f'mkdir -p "$2"; truncate -s {RAW_BYTES} "$2/real.bin"; ln -s real.bin "$2/0.raw"\n'
    code, r = run(make_sub(tmp_path / "sub", body), mini_challenge, tmp_path / "out", *SANDBOX_OFF)
    assert code == 0, r["message"]


INFLATE_SH_LINKS = {
    "out of the submission dir": ("../elsewhere/inflate.sh", "points outside the submission dir"),
    "dangling": ("missing.sh", "dangles"),
    "absolute, into the dir": ("{sub}/real.sh", "is absolute"),
}


@pytest.mark.parametrize("target, words", INFLATE_SH_LINKS.values(), ids=INFLATE_SH_LINKS.keys())
def test_inflate_sh_link_is_refused_at_staging(tmp_path, mini_challenge, target, words):
    sub = make_sub(tmp_path / "sub", WRITE_RAWS)
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(sub / "inflate.sh", sub / "real.sh")
    (sub / "inflate.sh").rename(tmp_path / "elsewhere" / "inflate.sh")
    (sub / "inflate.sh").symlink_to(target.format(sub=sub.resolve()))
    out = tmp_path / "out"
    code = run_main([str(sub), "--challenge-dir", str(mini_challenge), "--out", str(out), *NO_SCORE_ARGS])
    assert code == 2
    r = json.loads((out / "run.json").read_text())
    assert r["verdict"] == "bad_input" and words in r["message"]
    assert r["runs"] == []


def test_inflate_sh_link_inside_the_dir_runs(tmp_path, mini_challenge):
    sub = make_sub(tmp_path / "sub", WRITE_RAWS)
    (sub / "inflate.sh").rename(sub / "real.sh")
    (sub / "inflate.sh").symlink_to("real.sh")
    code, r = run(sub, mini_challenge, tmp_path / "out")
    assert code == 0, r["message"]


def test_corrupt_video_still_writes_run_json(tmp_path, mini_challenge):
    ch = own_challenge(mini_challenge, tmp_path)
    (ch / "videos" / "0.mkv").write_bytes(b"\x1a\x45\xdf\xa3 not a matroska file" * 100)
    out = tmp_path / "out"
    code = run_main([str(make_sub(tmp_path / "sub", WRITE_RAWS)), "--challenge-dir", str(ch), "--out", str(out),
                     *NO_SCORE_ARGS])  # fmt: skip
    assert code == 2
    r = json.loads((out / "run.json").read_text())
    assert r["verdict"] == "bad_input" and "0.mkv" in json.dumps(r["error"])


def test_peaks_not_measured_are_null_with_the_reason(tmp_path, mini_challenge):
    code, r = run(make_sub(tmp_path / "sub", WRITE_RAWS), mini_challenge, tmp_path / "out",
                  *SANDBOX_OFF, "--no-cgroup")  # fmt: skip
    assert code == 0, r["message"]
    assert r["peak_memory_bytes"] is None
    assert "without a cgroup" in r["peaks_not_measured"]["peak_memory_bytes"]


def test_docker_rss_peak_is_null_with_the_reason(tmp_path, mini_challenge):
    from vcc.runner import Isolation, ProcResult

    cfg = RunConfig(tmp_path, mini_challenge, backend="docker")
    iso = Isolation("docker", True, True, "shared", "1 GiB", "4", "container")
    proc = ProcResult(["bash"], 0, 1.0, False, False, 5 << 20, None, [], tmp_path / "o", tmp_path / "e", iso)
    result = RunResult(cfg, tmp_path, tmp_path / "run.json", runs=[InflateRun(0, proc=proc)])
    j = result.as_json()
    assert j["peak_memory_bytes"] == 5 << 20 and j["peak_rss_bytes"] is None
    assert "Docker" in j["peaks_not_measured"]["peak_rss_bytes"]
    assert "peak_memory_bytes" not in j["peaks_not_measured"]


# --------------------------------------------------------------------------- environment

# Values no path holds by chance (a "7" matched pytest's tmp dir pytest-107 once).
SECRETS = {"VCC_TEST_SECRET_TOKEN": "s3cret-token", "AWS_SECRET_ACCESS_KEY": "s3cret-aws",
           "LD_LIBRARY_PATH": "/nonexistent-ld", "OMP_NUM_THREADS": "73921", "PYTHONPATH": "/nonexistent-py"}


@pytest.mark.parametrize("mode", [pytest.param((), marks=needs_bwrap, id="sandbox"),
                                  pytest.param(SANDBOX_OFF, id="no-sandbox")])
def test_vcc_secrets_are_invisible_to_inflate(tmp_path, mini_challenge, monkeypatch, mode):
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")  # a numerics cap: kept
    monkeypatch.setenv("LC_TIME", "C.UTF-8")
    sub = make_sub(tmp_path / "sub", 'env -0 > "$HOME/env.bin"\n' + WRITE_RAWS)
    out = tmp_path / "out"
    code, r = run(sub, mini_challenge, out, *mode, "--keep-workspace")
    assert code == 0, r["message"]
    text = (Path(r["workspace"]) / ".vcc" / "home" / "env.bin").read_bytes().decode()
    env = dict(item.split("=", 1) for item in text.split("\0") if item)
    for k, v in SECRETS.items():
        assert k not in env and v not in text
    assert env["ATEN_CPU_CAPABILITY"] == "default" and env["LC_TIME"] == "C.UTF-8"
    assert env["CUDA_VISIBLE_DEVICES"] == "" and env["UV_GROUP"] == "cpu" and env["EVAL_DEVICE"] == "cpu"
    assert env["HOME"].endswith(".vcc/home") and "PATH" in env


def test_docker_environment_comes_from_the_same_allow_list():
    from vcc.runner._inflate_env import inflate_environment

    host = {"PATH": "/host/bin", "AWS_SECRET_ACCESS_KEY": "x", "MKL_CBWR": "COMPATIBLE",
            "CUDA_VISIBLE_DEVICES": "1", "LANG": "C.UTF-8"}
    cpu = inflate_environment(home="/h", gpu=False, group="cpu", host=host, from_host=False)
    assert cpu == {"MKL_CBWR": "COMPATIBLE", "CUDA_VISIBLE_DEVICES": "", "CI": "true", "GITHUB_ACTIONS": "true",
                   "UV_GROUP": "cpu", "EVAL_DEVICE": "cpu", "HOME": "/h"}
    gpu = inflate_environment(home="/h", gpu=True, group="cu128", host=host)
    assert gpu["CUDA_VISIBLE_DEVICES"] == "1" and gpu["PATH"] == "/host/bin" and gpu["LANG"] == "C.UTF-8"
    assert "AWS_SECRET_ACCESS_KEY" not in gpu


# --------------------------------------------------------------------------- extraction vs unzip -o


def _lying_size_zip(path: Path) -> None:
    """A deflated 3 MiB member whose headers claim 1 MiB, with the CRC of its first MiB."""
    data = bytes(range(256)) * (3 << 12)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("big.bin"), data, compress_type=zipfile.ZIP_DEFLATED)
    blob = bytearray(path.read_bytes())
    crc, claimed = zlib.crc32(data[: 1 << 20]), 1 << 20
    central = blob.rfind(b"PK\x01\x02")
    struct.pack_into("<I", blob, 14, crc)
    struct.pack_into("<I", blob, 22, claimed)
    struct.pack_into("<I", blob, central + 16, crc)
    struct.pack_into("<I", blob, central + 24, claimed)
    path.write_bytes(bytes(blob))


UNZIP_CASES = {
    "header lies about the size": (_lying_size_zip, "declares 1,048,576 bytes but its data holds at least"),
}


@pytest.mark.parametrize("build, words", UNZIP_CASES.values(), ids=UNZIP_CASES.keys())
def test_extraction_refuses_where_unzip_differs(tmp_path, build, words):
    archive = tmp_path / "archive.zip"
    build(archive)
    with pytest.raises(BadInput, match="archive.zip") as exc:
        extract_archive(archive, tmp_path / "ours")
    assert words in str(exc.value)
    unzip = shutil.which("unzip")
    if unzip is None:
        pytest.skip("Info-ZIP unzip is not installed: refusal checked, unzip's own result not compared")
    theirs = tmp_path / "theirs"
    res = subprocess.run([unzip, "-o", str(archive), "-d", str(theirs)], capture_output=True)
    names = sorted(os.listdir(os.fsencode(theirs)))
    with zipfile.ZipFile(archive) as zf:
        python_names = sorted(os.fsencode(i.filename) for i in zf.infolist())
    # unzip writes the whole stream, flags the CRC, exits 2
    assert res.returncode == 2 and b"bad CRC" in res.stdout + res.stderr
    assert (theirs / "big.bin").stat().st_size == 3 << 20
    assert names == python_names


def test_plain_zip_still_matches_unzip(tmp_path):
    archive = tmp_path / "archive.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a", random.Random(0).randbytes(2 << 20), compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("d/b\u00e9.bin", b"yz", compress_type=zipfile.ZIP_BZIP2)  # UTF-8 flag set
    extract_archive(archive, tmp_path / "ours")
    unzip = shutil.which("unzip")
    if unzip is None:
        pytest.skip("Info-ZIP unzip is not installed")
    subprocess.run([unzip, "-o", "-q", str(archive), "-d", str(tmp_path / "theirs")], check=True)
    assert tree_state(tmp_path / "ours") == tree_state(tmp_path / "theirs")


# --------------------------------------------------------------------------- files: modes, hashes, cache


def _run_json(tmp_path: Path, mini_challenge: Path) -> Path:
    code, _ = run(make_sub(tmp_path / "sub", WRITE_RAWS), mini_challenge, tmp_path / "out")
    return tmp_path / "out" / "run.json"


def _manifest(tmp_path: Path, _: Path) -> Path:
    from vcc.submission.cli import main as sub_main

    sub = make_sub(tmp_path / "sub", WRITE_RAWS)
    path = tmp_path / "manifest.json"
    assert sub_main(["manifest", str(sub), "--json", str(path)]) == 0
    return path


def _cache_entry(tmp_path: Path, _: Path) -> Path:
    import torch

    from vcc.scorer import CacheKey, NetOutputs

    key = CacheKey("a" * 64, "b" * 64, "c" * 64, "pyav", "cpu", 16, 2, (("torch", "x"),))
    out = NetOutputs(pose=torch.zeros(2, 6), seg=torch.zeros(2, 384, 512, dtype=torch.uint8))
    return GroundTruthCache(tmp_path / "cache").put(key, out)


WRITERS = {
    "report.txt": lambda tmp, _: (write_atomic(tmp / "report.txt", "text\n"), tmp / "report.txt")[1],
    "json report": lambda tmp, _: (write_json_atomic(tmp / "r.json", {"a": 1}), tmp / "r.json")[1],
    "run.json": _run_json,
    "manifest": _manifest,
    "cache entry": _cache_entry,
}


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)], ids=["umask 022", "umask 027"])
@pytest.mark.parametrize("write", WRITERS.values(), ids=WRITERS.keys())
def test_reports_and_cache_entries_are_readable_by_others(tmp_path, mini_challenge, write, umask, mode):
    old = os.umask(umask)
    try:
        path = write(tmp_path, mini_challenge)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode


def test_asset_hash_sees_a_rewrite_with_the_mtime_put_back(tmp_path):
    f = tmp_path / "segnet.safetensors"
    f.write_bytes(b"A" * 4096)
    first = asset_sha256(f)
    st = f.stat()
    with open(f, "r+b") as fh:  # same size, same inode, mtime restored: only ctime tells
        fh.write(b"B")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (f.stat().st_size, f.stat().st_mtime_ns, f.stat().st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)
    assert asset_sha256(f) == file_sha256(f) != first


def test_cache_clear_spares_a_temp_file_being_written(tmp_path):
    from vcc.scorer._cache import TEMP_MAX_AGE_S

    cache = GroundTruthCache(tmp_path)
    (tmp_path / "gt-0123.bin").write_bytes(b"entry")
    abandoned = tmp_path / ".gt-dead.bin.x.tmp"
    abandoned.write_bytes(b"half")
    old = time.time() - TEMP_MAX_AGE_S - 60
    os.utime(abandoned, (old, old))
    # Another process's entry, mid-write: its rename must still succeed after the clear.
    writing = tmp_path / ".gt-live.bin.y.tmp"
    fd = os.open(writing, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"first half")
    assert cache.clear() == 2
    os.write(fd, b" second half")
    os.close(fd)
    os.replace(writing, tmp_path / "gt-live.bin")
    assert (tmp_path / "gt-live.bin").read_bytes() == b"first half second half"
    assert not abandoned.exists() and not (tmp_path / "gt-0123.bin").exists()


# --------------------------------------------------------------------------- report.txt paths


def test_report_config_block_names_the_jobs_relative_paths(tmp_path, mini_challenge):
    from vcc.scorer import Challenge, job_report_paths
    from vcc.scorer._report import official_config_block, official_report_text

    cfg = ScoreConfig(tmp_path / "ws" / "submissions" / "mine", mini_challenge,
                      report_path=tmp_path / "out" / "report.txt",
                      report_paths=job_report_paths("mine"))  # fmt: skip
    block = official_config_block(cfg, Challenge.load(mini_challenge))
    text = official_report_text(config=block, samples=2, posenet=0.1, segnet=0.01, archive_bytes=10,
                                original_bytes=100, rate=0.1, score=1.0)  # fmt: skip
    lines = text.splitlines()
    assert "  report: ./submissions/mine/report.txt" in lines
    assert "  submission_dir: ./submissions/mine" in lines
    assert "  uncompressed_dir: ./videos" in lines
    assert "  video_names_file: ./public_test_video_names.txt" in lines
    assert str(tmp_path) not in text
    # `vcc score` on its own still prints the paths it was given.
    plain = official_config_block(ScoreConfig(tmp_path / "s", mini_challenge), Challenge.load(mini_challenge))
    assert plain["submission_dir"] == tmp_path / "s"
    # `vcc run` end to end (scoring the golden stand-ins): tests/test_runner_e2e.py (slow).


# --------------------------------------------------------------------------- cgroup v2 writes


@pytest.mark.parametrize("unwritable", ["memory.max", "pids.max"])
def test_cgroup_v2_unwritable_limit_leaves_no_group(tmp_path, monkeypatch, unwritable):
    """A v2 hierarchy (a plain dir standing in for cgroupfs) whose limit file refuses writes."""
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("memory pids\n")
    (root / "cgroup.subtree_control").write_text("memory pids\n")
    real_write, real_read = cgroup_mod._write, cgroup_mod._read

    written: dict[str, str] = {}

    def write(path: Path, value: str) -> None:
        if path.name == unwritable:
            raise OSError(errno.EACCES, "Permission denied", str(path))
        if path.parent == root:
            real_write(path, value)
        else:  # a group's control files are the kernel's: a real rmdir removes the group with them
            written[str(path)] = value

    def read(path: Path) -> str | None:
        if path.name == "cgroup.controllers" and path.parent != root:
            return "memory pids\n" if path.parent.exists() else None
        return real_read(path)

    monkeypatch.setattr(cgroup_mod, "_write", write)
    monkeypatch.setattr(cgroup_mod, "_read", read)
    monkeypatch.setattr(cgroup_mod, "_own_paths", lambda: {"": "/"})
    monkeypatch.setattr(cgroup_mod.Cgroup, "kill_all", lambda self, timeout_s=2.0: None)
    cg = cgroup_mod._create_v2(root, "vcc-test", 1 << 30, None, 512)
    if unwritable == "memory.max":  # no cap: no group, nothing left behind
        assert cg is None
        assert not (root / "vcc-test").exists() and not (tmp_path / "vcc-test").exists()
    else:  # the memory cap holds; the missing pids cap is said
        assert cg is not None and cg.memory_bytes == 1 << 30 and cg.pids_max is None
        assert any("pids.max" in n for n in cg.notes)


def test_score_cli_takes_the_job_paths():
    import argparse

    from vcc.scorer.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["score", "sub", "--challenge-dir", "ch", "--job-paths", "mine"])
    assert args.job_paths == "mine"
