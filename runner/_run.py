"""`vcc run`: replay the official job on this machine: evaluate.sh's steps (unzip -o, inflate.sh
with the official argv, a check that every raw exists, evaluate.py) inside the workflow's
30-minute clock, in the CPU or T4 runner's shape.

stage the repository root -> unzip (vetted) -> inflate.sh under the clock and the
runner's limits (x repeat) -> check the raws -> score -> one JSON report.

Every outcome writes the report; a submission fault is a verdict with its exit
code (2 bad input, 3 failed while running), never a traceback.
"""

from __future__ import annotations

import platform
import shutil
import stat
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from vcc.base import (
    ARCHIVE_NAME,
    BadInput,
    HarnessError,
    SubmissionFailed,
    VccError,
    apply_profile,
    file_sha256,
    numerics_identity,
    remove_tree,
    walk_tree,
    write_json_atomic,
)
from vcc.scorer import Challenge, check_raws

from ._archive import ExtractResult, extract_archive
from ._clock import check_headroom, fill_clock, fill_phases, inflate_budget, ok_message, score_estimate, start_clock
from ._config import RunConfig
from ._integrity import (
    ChallengeFingerprint,
    FileFingerprint,
    check_archive_unchanged,
    check_challenge_unchanged,
    check_inflate_sh_link,
    check_raw_links,
    check_submission_dir,
    fingerprint_challenge,
    fingerprint_file,
)
from ._local import LocalBackend
from ._repeat import raw_digests, run_figures
from ._result import InflateRun, RunResult
from ._sandbox import ProcResult
from ._verdicts import Verdict, collect_findings, failure, judge_inflate, verdict_for
from ._workspace import SKIPPED_FROM_SUBMISSION, Workspace, stage_workspace

__all__ = [
    "run_submission",
    "default_out_dir",
    "Backend",
    "make_backend",
]


def default_out_dir(name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path.cwd() / f"vcc-run-{name}-{stamp}"
    out, i = base, 1
    while out.exists():
        i += 1
        out = base.with_name(f"{base.name}-{i}")
    return out


def _snapshot(ws: Workspace) -> dict[str, tuple[int, int]]:
    """Files in the workspace that inflate is not expected to write, with (size, mtime); walked iteratively
    (inflate may leave a tree thousands of levels deep)."""
    skip = {str(d.relative_to(ws.root)) for d in (ws.meta, ws.archive_dir, ws.inflated_dir)}
    out: dict[str, tuple[int, int]] = {}
    for rel, st in walk_tree(ws.root):
        parts = rel.split("/")
        if "__pycache__" in parts or any(rel == d or rel.startswith(d + "/") for d in skip):
            continue
        if not stat.S_ISDIR(st.st_mode):
            out[rel] = (st.st_size, st.st_mtime_ns)
    return out


def _check_outputs(run: InflateRun, ws: Workspace, challenge: Challenge, cfg: RunConfig) -> None:
    """Raws exist with the exact size (SubmissionFailed otherwise), then their sha256."""
    try:
        checks = check_raws(challenge, ws.inflated_dir, cfg.options.batch_size)
    except BadInput as e:
        # A wrong or missing raw here is inflate's output, not the user's input.
        raise failure(
            Verdict.WRONG_OUTPUT,
            f"inflate wrote the wrong output: {e}",
            path=e.path,
            fix=e.fix or "fix inflate",
        ) from e
    expected = {c.path.name for c in checks}
    run.extra_files = sorted(
        rel
        for rel, st in walk_tree(ws.inflated_dir)
        if stat.S_ISREG(st.st_mode) and rel.rsplit("/", 1)[-1] not in expected
    )
    t0 = time.perf_counter()
    for c in checks:
        if cfg.repeat > 1:  # per-frame digests too, to say which frames differ between runs
            digest, run.frame_sha256[c.path.name] = raw_digests(c.path)
        else:
            digest = file_sha256(c.path)
        run.raws[c.path.name] = {
            "video": c.name,
            "bytes": c.bytes,
            "frames": c.frames,
            "sha256": digest,
        }
    run.hash_s = time.perf_counter() - t0


@dataclass(frozen=True)
class _Fingerprints:
    """Taken before the first inflate; every run is checked against them."""

    archive: FileFingerprint
    challenge: ChallengeFingerprint


class Backend(Protocol):
    """Where inflate and scoring run: local processes or the runner's Docker image."""

    def score_target(self) -> tuple[str, str, str]:
        """(device, decode, label) of the runner's scoring path here."""
        ...

    def inflate(self, ws: Workspace, index: int, budget_s: float, logs: Path) -> ProcResult: ...

    def score(self, ws: Workspace, out: Path, device: str, decode: str) -> tuple[dict[str, Any], float]:
        """The scorer's JSON and the seconds scoring took (without container start-up)."""
        ...


def make_backend(cfg: RunConfig, challenge: Challenge) -> Backend:
    if cfg.backend == "docker":
        from ._docker_backend import DockerBackend

        return DockerBackend(cfg, challenge)
    return LocalBackend(cfg, challenge)


def run_submission(cfg: RunConfig) -> RunResult:
    """Replay the official job; always returns, with the verdict and error set on failure.

    Errors in the arguments (unknown runner, missing challenge) raise before
    anything is written.
    """
    apply_profile(cfg.options.profile)  # refuses before anything runs if it cannot apply
    challenge = Challenge.load(cfg.challenge_dir, cfg.names_file)
    out = _prepare_out_dir(cfg)
    json_path = Path(cfg.json_path) if cfg.json_path else out / "run.json"
    result = RunResult(cfg, out.resolve(), json_path, numerics=numerics_identity(cfg.options.numerics))
    # From here on every outcome is a verdict in run.json (a corrupt video included).
    try:
        backend = make_backend(cfg, challenge)
        target = backend.score_target()
        result.environment = {"inflate": _inflate_env_record(cfg, backend, result.warnings), "scorer": _scorer_env(cfg)}
        result.runner = _runner_record(cfg, *target)
        result.warnings += challenge.warnings
        score_est, score_basis = score_estimate(cfg, challenge)  # reads every video
        result.clock = start_clock(cfg, score_est, score_basis)  # bad input if the clock leaves no time
    except VccError as e:
        _record_error(result, e)
        write_json_atomic(json_path, result.as_json())
        return result
    except Exception as e:  # a vcc bug (or a video no check caught): still leave a report behind
        result.error = HarnessError(f"vcc run failed unexpectedly: {type(e).__name__}: {e}")
        result.verdict, result.message = Verdict.HARNESS_ERROR, str(result.error)
        write_json_atomic(json_path, result.as_json())
        raise
    _run_job(cfg, challenge, backend, result, out, target, score_est)
    write_json_atomic(json_path, result.as_json())
    return result


def _prepare_out_dir(cfg: RunConfig) -> Path:
    """The results dir, created: new or empty, never the submission dir itself."""
    out = Path(cfg.out_dir) if cfg.out_dir else default_out_dir(cfg.submission_name)
    if out.exists() and any(out.iterdir()):
        raise BadInput("--out dir exists and is not empty", path=out, fix="pass a new or empty --out dir")
    if out.resolve() == cfg.submission_dir.resolve():
        raise BadInput("--out cannot be the submission dir itself", path=out, fix="pass a new dir")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _record_error(result: RunResult, e: VccError) -> None:
    result.error, result.verdict, result.message = e, verdict_for(e), str(e)


def _inflate_env_record(cfg: RunConfig, backend: Backend, warnings: list[str]) -> dict[str, Any]:
    """Which Python runs inflate (the local backend picks one here), for run.json's `environment`."""
    if isinstance(backend, LocalBackend):
        return backend.resolve_env(warnings)
    return {"kind": "docker image", "image": cfg.docker_image, "note": "--env is for --backend local"}


def _runner_record(cfg: RunConfig, device: str, decode: str, label: str) -> dict[str, Any]:
    shape = cfg.shape
    return {
        "kind": shape.kind,
        "backend": cfg.backend,
        "cpus": cfg.cpus or shape.cpus,
        "memory_bytes": cfg.memory_bytes or shape.memory_bytes,
        "gpu_visible_to_inflate": shape.inflate_sees_cuda,
        "network": "on" if cfg.network else "off",
        "score_device": device,
        "score_decode": decode,
        "label": label,
    }


def _run_job(
    cfg: RunConfig,
    challenge: Challenge,
    backend: Backend,
    result: RunResult,
    out: Path,
    target: tuple[str, str, str],
    score_est: float,
) -> None:
    """Stage, inflate (x repeat), score, check the clock; the verdict lands in `result`."""
    device, decode, _ = target
    ws_root = out / "workspace"
    ws: Workspace | None = None
    try:
        t0 = time.perf_counter()
        check_submission_dir(cfg.submission_dir, skip_top=SKIPPED_FROM_SUBMISSION)
        check_inflate_sh_link(cfg.submission_dir)
        ws, notes = stage_workspace(cfg.submission_dir, challenge, ws_root, cfg.submission_name, out_dir=out)
        result.notes += notes
        result.workspace = str(ws.root)
        # The user's archive as submitted (staging checked it exists), before inflate can reach the copy.
        archive_fp = result.archive = fingerprint_file(cfg.submission_dir / ARCHIVE_NAME)  # a regular file, checked
        check_archive_unchanged(ws.archive_zip, archive_fp, "while it was staged")
        fingerprints = _Fingerprints(archive_fp, fingerprint_challenge(challenge))
        result.phases["stage_s"] = time.perf_counter() - t0
        _write_provisional(result)
        score_times: list[float] = []
        for i in range(cfg.repeat):
            if i > 0:  # a whole job again: a fresh workspace, as a new runner would start from
                ws = None
                _remove_workspace(ws_root)
                ws, _ = stage_workspace(cfg.submission_dir, challenge, ws_root, cfg.submission_name, out_dir=out)
                check_archive_unchanged(ws.archive_zip, archive_fp, "while it was staged")
            _inflate_once(cfg, challenge, backend, ws, result, i, score_est, out / "logs", fingerprints)
            if cfg.scoring:  # every run scored; run 1's report.txt and score.json stay at OUT
                run_out = out if i == 0 else out / "runs" / str(i + 1)
                run_out.mkdir(parents=True, exist_ok=True)
                report, score_s = backend.score(ws, run_out, device, decode)
                score_times.append(score_s)
                if i == 0:
                    result.score_report = report
                if cfg.repeat > 1:
                    result.runs[-1].score = run_figures(report, score_s, run_out)
        collect_findings(result)
        fill_phases(result)
        if score_times:
            result.phases["score_s"] = max(score_times)  # the clock holds the slowest
        fill_clock(result, score_est)
        check_headroom(result)
        result.verdict = Verdict.OK
        result.message = ok_message(result)
    except VccError as e:
        _record_error(result, e)
        collect_findings(result)
        fill_phases(result)
        fill_clock(result, score_est)
    except Exception as e:  # a vcc bug: still leave a report behind
        result.error = HarnessError(f"vcc run failed unexpectedly: {type(e).__name__}: {e}")
        result.verdict = Verdict.HARNESS_ERROR
        result.message = str(result.error)
        fill_phases(result)
        write_json_atomic(result.json_path, result.as_json())
        raise
    finally:
        if ws is not None:
            result.workspace_kept = cfg.keep_workspace
            if not cfg.keep_workspace:
                _remove_workspace(ws_root)


def _write_provisional(result: RunResult) -> None:
    """A report before inflate runs, replaced at the end: should vcc itself be killed meanwhile
    (inflate cannot reach it, the kernel's OOM killer or a user can), run.json still says so."""
    verdict, message = result.verdict, result.message
    result.verdict = Verdict.INTERRUPTED
    result.message = "vcc was stopped before the run finished (this report was written before inflate started)"
    write_json_atomic(result.json_path, result.as_json())
    result.verdict, result.message = verdict, message


def _inflate_once(
    cfg: RunConfig,
    challenge: Challenge,
    backend: Backend,
    ws: Workspace,
    result: RunResult,
    index: int,
    score_est: float,
    logs: Path,
    fingerprints: _Fingerprints,
) -> None:
    """One unzip + inflate from scratch, judged, its raws checked and hashed."""
    run = InflateRun(index)
    result.runs.append(run)
    ws.reset_outputs()
    run.extract = _extract(cfg, ws)
    budget = inflate_budget(cfg, result.clock, run.extract.elapsed_s, score_est)
    before = _snapshot(ws)
    run.proc = backend.inflate(ws, index, budget, logs)
    result.isolation = run.proc.isolation.as_json()
    after = _snapshot(ws)
    run.writes_outside = sorted(k for k, v in after.items() if before.get(k) != v)
    # What is scored must be what was submitted, whatever inflate's exit status says.
    check_archive_unchanged(ws.archive_zip, fingerprints.archive, "while inflate ran")
    check_challenge_unchanged(challenge, fingerprints.challenge)
    env_kind = result.environment.get("inflate", {}).get("kind", "vcc")
    try:
        judge_inflate(run.proc, challenge, budget, env_kind, cfg.shape.uv_group)
        check_raw_links(challenge, ws.inflated_dir)
        _check_outputs(run, ws, challenge, cfg)
    except SubmissionFailed as e:
        if _has_crlf(cfg.submission_dir / "inflate.sh"):  # the likeliest cause; bash's errors do not name it
            err = failure(verdict_for(e), f"{e} Hint: {CRLF_HINT}", path=e.path, fix=e.fix)
            raise err from e
        raise


CRLF_HINT = (
    "inflate.sh has Windows (CRLF) line endings: bash reads every line with a trailing carriage return "
    "(`cd $'dir\\r'`, `set: pipefail\\r: invalid option name`), on the runner as here; convert it with "
    "`sed -i 's/\\r$//' inflate.sh` or `dos2unix inflate.sh`"
)


def _has_crlf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return b"\r\n" in f.read(1 << 20)
    except OSError:
        return False


def _extract(cfg: RunConfig, ws: Workspace) -> ExtractResult:
    try:
        return extract_archive(ws.archive_zip, ws.archive_dir, cfg.extract_limits)
    except BadInput as e:
        e.path = cfg.submission_dir / ARCHIVE_NAME  # name the user's file, not our copy
        raise


def _scorer_env(cfg: RunConfig) -> dict[str, Any]:
    """vcc's own environment, which scores (without importing torch for --no-score runs)."""
    from importlib import metadata

    def version(pkg: str) -> str | None:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    if cfg.backend == "docker":
        return {"kind": "docker image", "image": cfg.docker_image}
    return {"kind": "vcc", "prefix": sys.prefix, "python": platform.python_version(), "torch": version("torch")}


def _remove_workspace(root: Path) -> None:
    """Best effort: what cannot be removed (an immutable file, say) stays behind."""
    try:
        remove_tree(root)
    except OSError:
        shutil.rmtree(root, ignore_errors=True)
