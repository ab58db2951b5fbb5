"""One sweep point, start to end: compress into its own workspace, then `vcc run` it (runner._run).

`run_point(task)` is the one implementation every engine calls (a local process pool's worker or a
Ray task): it never raises, and it writes OUT/points/<id>/point.json last and atomically, so a point
with that file is complete and a killed sweep leaves none behind for a half-done point.

Layout of a point: points/<id>/submission (a copy of the submission's code plus the archive.zip the
compress command wrote there), compress.log, run/ (`vcc run`'s results dir, run.json), point.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcc.base import ARCHIVE_NAME, NAMES_FILE, VccError, file_sha256, remove_tree, score_terms, write_json_atomic

from ._run import run_submission
from ._sweep_spec import SweepPoint, SweepSpec
from ._verdicts import Verdict

__all__ = ["POINT_SCHEMA", "PointTask", "run_point", "code_hashes", "challenge_hashes", "point_inputs",
           "read_point", "NOT_COPIED"]

POINT_SCHEMA = 1
# What is not the submission's code: compress's output and what inflate or a previous run left.
NOT_COPIED = (ARCHIVE_NAME, "archive", "inflated", "__pycache__", ".git", "report.txt", "vcc-report.json")


@dataclass(frozen=True)
class PointTask:
    """Everything a worker needs for one point (picklable: a process pool or Ray ships it)."""

    spec: SweepSpec
    point: SweepPoint
    point_dir: Path
    inputs: dict[str, Any]
    inputs_sha256: str
    threads: int
    cache_dir: Path | None


# --------------------------------------------------------------------------- inputs and their hashes


def _digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def code_hashes(submission_dir: Path) -> dict[str, str]:
    """sha256 of every file of the submission's code (inflate.sh and what it runs), by relative path."""
    out: dict[str, str] = {}
    for root, dirs, files in os.walk(submission_dir):
        dirs[:] = sorted(d for d in dirs if d not in NOT_COPIED)
        for f in sorted(files):
            p = Path(root) / f
            if f not in NOT_COPIED and p.is_file():
                out[str(p.relative_to(submission_dir))] = file_sha256(p)
    return out


def challenge_hashes(spec: SweepSpec) -> dict[str, str]:
    """sha256 of the challenge's assets a score depends on: the names file, its videos, the models."""
    ch = spec.challenge_dir
    names = Path(spec.run["names_file"]) if spec.run.get("names_file") else ch / NAMES_FILE
    files = [names] if names.is_file() else []
    if names.is_file():
        files += [ch / "videos" / n.strip() for n in names.read_text().splitlines() if n.strip()]
    models = ch / "models"
    if models.is_dir():
        files += sorted(p for p in models.rglob("*") if p.is_file())
    return {str(p.relative_to(ch) if p.is_relative_to(ch) else p): file_sha256(p) for p in files if p.is_file()}


def point_inputs(spec: SweepSpec, point: SweepPoint, code: dict[str, str], challenge: dict[str, str],
                 threads: int) -> tuple[dict[str, Any], str]:
    """What a point's result depends on, and its hash: a point whose point.json has the same hash is done."""
    inputs = {
        "command": spec.symbolic_command(point),
        "params": dict(point.params),
        "code_sha256": _digest(code),
        "challenge_sha256": _digest(challenge),
        "run": {**spec.run, "threads": spec.run.get("threads", threads)},
    }
    return inputs, _digest(inputs)


def read_point(point_dir: Path) -> dict[str, Any] | None:
    """A finished point's record, or None (missing, or unreadable: then it runs again)."""
    try:
        data = json.loads((point_dir / "point.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("vcc_sweep_point_schema") == POINT_SCHEMA else None


# --------------------------------------------------------------------------- one point


def run_point(task: PointTask) -> dict[str, Any]:
    """Compress, replay, record; always returns the record (a failure is a verdict, never a raise)."""
    started = time.perf_counter()
    pdir = task.point_dir
    record: dict[str, Any] = {
        "vcc_sweep_point_schema": POINT_SCHEMA,
        "point": task.point.point_id,
        "params": dict(task.point.params),
        "inputs_sha256": task.inputs_sha256,
        "inputs": task.inputs,
        "verdict": Verdict.HARNESS_ERROR,
        "exit_code": Verdict.HARNESS_ERROR.exit_code,
        "message": "",
        "archive_bytes": None,
        "compress": None,
        "run_json": None,
        "score": None,
        "inflate_s": None,
        "headroom_s": None,
        "worker": {"host": platform.node(), "pid": os.getpid()},
    }
    try:
        if pdir.exists():  # a point an interrupted sweep left half done: start it afresh
            remove_tree(pdir)
        sub = pdir / "submission"
        shutil.copytree(task.spec.submission_dir, sub, ignore=shutil.ignore_patterns(*NOT_COPIED), symlinks=True)
        if _compress(task, sub, record):
            _replay(task, sub, record)
    except Exception as e:  # a vcc bug or the disk: still a record, and the sweep goes on
        record["verdict"], record["exit_code"] = Verdict.HARNESS_ERROR, Verdict.HARNESS_ERROR.exit_code
        record["message"] = f"{type(e).__name__}: {e}"
        record["traceback"] = traceback.format_exc()[-4000:]
    record["wall_s"] = round(time.perf_counter() - started, 3)
    write_json_atomic(pdir / "point.json", record)
    return record


def _tool_env() -> dict[str, str]:
    # The template may call `python3`: this interpreter's directory goes first on PATH, as the
    # runner does for inflate, so the compressor sees the libraries vcc runs with.
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _compress(task: PointTask, sub: Path, record: dict[str, Any]) -> bool:
    """Run the compress template into `sub`; True when it wrote sub/archive.zip."""
    spec = task.spec
    names = Path(spec.run["names_file"]) if spec.run.get("names_file") else spec.challenge_dir / NAMES_FILE
    argv = spec.render(task.point, {
        "challenge_dir": str(spec.challenge_dir),
        "videos_dir": str(spec.challenge_dir / "videos"),
        "names_file": str(names),
        "submission_dir": str(spec.submission_dir),
        "out_dir": str(sub),
        "python": sys.executable,
    })
    log = task.point_dir / "compress.log"
    t0 = time.perf_counter()
    info: dict[str, Any] = {"argv": argv, "log": str(log.relative_to(task.point_dir))}
    record["compress"] = info
    with open(log, "wb") as out:
        try:
            proc = subprocess.Popen(argv, cwd=sub, env=_tool_env(), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            info["seconds"] = 0.0
            record["verdict"], record["exit_code"] = Verdict.COMPRESS_FAILED, Verdict.COMPRESS_FAILED.exit_code
            record["message"] = f"compress could not start: {argv[0]}: {e.strerror}"
            return False
        try:
            rc = proc.wait(timeout=spec.compress_timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            info["seconds"] = round(time.perf_counter() - t0, 3)
            record["verdict"], record["exit_code"] = Verdict.COMPRESS_TIMEOUT, Verdict.COMPRESS_TIMEOUT.exit_code
            record["message"] = f"compress ran past compress_timeout_s = {spec.compress_timeout_s:g} s"
            return False
    info["seconds"], info["returncode"] = round(time.perf_counter() - t0, 3), rc
    if rc != 0:
        tail = log.read_bytes()[-1500:].decode(errors="replace").strip()
        record["verdict"], record["exit_code"] = Verdict.COMPRESS_FAILED, Verdict.COMPRESS_FAILED.exit_code
        record["message"] = f"compress exited with status {rc}: {tail}"
        return False
    if not (sub / ARCHIVE_NAME).is_file():
        record["verdict"], record["exit_code"] = Verdict.COMPRESS_FAILED, Verdict.COMPRESS_FAILED.exit_code
        record["message"] = f"compress exited 0 but wrote no {ARCHIVE_NAME} into {{out_dir}}"
        return False
    record["archive_bytes"] = (sub / ARCHIVE_NAME).stat().st_size
    return True


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _replay(task: PointTask, sub: Path, record: dict[str, Any]) -> None:
    """`vcc run` the point's submission (the runner library: the same steps as the command)."""
    cfg = task.spec.run_config(sub, task.point_dir / "run", threads=task.threads, cache_dir=task.cache_dir)
    try:
        result = run_submission(cfg)
    except VccError as e:  # refused before anything ran (the challenge, the numerics profile)
        record["verdict"], record["exit_code"], record["message"] = Verdict.REFUSED, e.exit_code, e.render()
        return
    r = result.as_json()
    record["verdict"], record["exit_code"], record["message"] = r["verdict"], r["exit_code"], r["message"]
    record["run_json"] = str(result.json_path.relative_to(task.point_dir))
    record["inflate_s"] = r["phases"].get("inflate_s")
    record["headroom_s"] = r["clock"].get("headroom_s")
    s = r["score"]
    if s:
        record["score"] = {
            "posenet_distortion": s["posenet_distortion"],
            "segnet_distortion": s["segnet_distortion"],
            "rate": s["rate"],
            "score": s["score"],
            "terms": score_terms(s["posenet_distortion"], s["segnet_distortion"], s["rate"]),
            "samples": s.get("samples"),
        }
        stats = (r["repeat"].get("terms") or {}).get("score")
        if stats:  # [run] repeat: the point's runs, quoted as their mean and spread
            record["score"]["repeat"] = {"n": r["repeat"]["n"], **stats, "raws_agree": r["repeat"]["deterministic"]}
