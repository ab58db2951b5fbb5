"""The demo's example submission (x265 at reduced size) and `run_demo`: the whole pipeline, offline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

from vcc.base import ARCHIVE_NAME, NAMES_FILE, BadInput, HarnessError, SubmissionFailed

from ._fixture import build_replacing, cached_challenge, demo_cache_dir
from ._scene import DEMO_BUILDER_VERSION, DEMO_DEFAULT_FRAMES

_SUBMISSION_MARKER = ".vcc-demo-submission"


def example_submission_files() -> list[str]:
    """The bundled example submission's scripts (package data under demo/example_submission)."""
    folder = resources.files(__package__) / "example_submission"
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".sh", ".py")))


def _tool_env() -> dict[str, str]:
    # The scripts call `python3`: put this interpreter's directory first on PATH, as the
    # runner does, so they see the same libraries as vcc.
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _run_script(argv: list[str], what: str, cwd: Path) -> None:
    proc = subprocess.run(argv, cwd=cwd, env=_tool_env(), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SubmissionFailed(
            f"{what} exited with status {proc.returncode}: {proc.stderr.strip()[-2000:]}",
            path=argv[1] if len(argv) > 1 else None,
            fix="see the script's error above",
        )


def build_example_submission(challenge: Path, dest: Path) -> Path:
    """Write the example submission to `dest`: its scripts and the `archive.zip` they make.

    Runs the bundled `compress.sh` on the challenge's videos (x265 at 45% scale),
    then `dest` holds archive.zip, compress.sh/.py and inflate.sh/.py, ready for
    `vcc run` (or the official evaluate.sh). Built in a temporary sibling and
    renamed into place; a previous example submission at `dest` is replaced,
    anything else there is refused.
    """
    challenge, dest = Path(challenge), Path(dest)
    with build_replacing(dest, ours=(dest / _SUBMISSION_MARKER).is_file(), what="submission") as tmp:
        os.chmod(tmp, 0o755)
        folder = resources.files(__package__) / "example_submission"
        for name in example_submission_files():
            target = tmp / name
            target.write_bytes((folder / name).read_bytes())
            target.chmod(0o755)
        names = challenge / NAMES_FILE
        _run_script(
            ["bash", str(tmp / "compress.sh"), str(challenge / "videos"), str(tmp), str(names)],
            "the example submission's compress.sh",
            cwd=tmp,
        )
        if not (tmp / ARCHIVE_NAME).is_file():
            raise HarnessError(f"compress.sh wrote no {ARCHIVE_NAME}", path=tmp, fix="report this bug")
        (tmp / _SUBMISSION_MARKER).write_text("built by `vcc demo`; replaced on the next run\n")
    return dest


# --------------------------------------------------------------------------- run_demo


def _run_example(submission: Path, challenge: Path, out: Path, progress: bool) -> dict:
    """The example submission through `vcc run` (unzip, inflate.sh, checks, scoring)."""
    from vcc.runner import RunConfig, bwrap_unavailable_reason, run_submission
    from vcc.scorer import ScoreOptions

    if out.exists() and any(out.iterdir()):
        if not (out / "run.json").is_file():
            raise BadInput(
                "refusing to replace a directory that is not a previous demo run",
                path=out,
                fix="choose another --workdir",
            )
        shutil.rmtree(out)  # the previous demo run's reports: the runner wants an empty --out
    result = run_submission(
        RunConfig(
            submission_dir=submission,
            challenge_dir=challenge,
            out_dir=out,
            progress=progress,
            # A rerun of the demo may reuse the ground truth: the demo is not a clock check.
            options=ScoreOptions(use_cache=True),
            # The example submission is vcc's own: sandboxed where bubblewrap works, else run plainly
            # (a user's submission is never run unsandboxed without --sandbox off).
            sandbox=None if bwrap_unavailable_reason() is None else False,
        )
    )
    result.raise_for_verdict()
    if result.score_report is None:
        raise HarnessError("vcc run gave no score for the demo", path=out, fix="report this bug")
    return {"score": result.score_report, "message": result.message, "run_json": str(result.json_path)}


def run_demo(
    workdir: Path | None = None,
    frames: int = DEMO_DEFAULT_FRAMES,
    rebuild: bool = False,
    progress: bool = True,
) -> dict:
    """`vcc demo`: build (once) the synthetic challenge and example submission, inflate, score.

    The challenge is cached under demo_cache_dir(); the example submission goes to
    `workdir/example-submission` (default: the demo cache). Prints the official
    report, the full-precision terms and how to rerun `vcc score`/`vcc run` on the
    fixture; returns the scorer's JSON dict plus a "demo" entry with the paths.
    """
    from vcc.scorer import terminal_summary

    def say(msg: str) -> None:
        if progress:
            print(f"vcc demo: {msg}", file=sys.stderr, flush=True)

    started = time.monotonic()
    root = demo_cache_dir()
    say(f"challenge ({frames} frames): building or reusing under {root}")
    challenge = cached_challenge(frames, rebuild=rebuild, progress=progress)
    built_s = time.monotonic() - started
    work = Path(workdir) if workdir is not None else root / f"work-v{DEMO_BUILDER_VERSION}-f{frames}-s0"
    submission = work / "example-submission"
    say(f"example submission: compressing into {submission}")
    build_example_submission(challenge, submission)
    say("inflating and scoring (vcc run)")
    run = _run_example(submission, challenge, work / "run", progress)
    result = run["score"]
    result["demo"] = {
        "challenge_dir": str(challenge),
        "submission_dir": str(submission),
        "run_dir": str(work / "run"),
        "run_json": run["run_json"],
        "run_message": run["message"],
        "frames": frames,
        "builder_version": DEMO_BUILDER_VERSION,
        "challenge_s": round(built_s, 2),
        "total_s": round(time.monotonic() - started, 2),
    }
    print(result["official_report"], end="")
    print(terminal_summary(result))
    print(f"vcc run: {run['message']} (report: {run['run_json']})")
    print(_next_steps(challenge, submission))
    return result


def _next_steps(challenge: Path, submission: Path) -> str:
    """What the numbers are, and how to rerun the pieces by hand."""
    names = challenge / NAMES_FILE
    return (
        "\nThese are synthetic stand-ins (a generated video, random nets with calibrated\n"
        "BatchNorm), not the official challenge: the numbers only show the pipeline working.\n"
        f"  challenge:  {challenge}\n"
        f"  submission: {submission}\n"
        "Rerun the whole job (unzip, inflate, checks, score) on them:\n"
        f"  vcc run {submission} --challenge-dir {challenge} --out NEW_DIR\n"
        "or inflate by hand and score only:\n"
        f"  cd {submission} && unzip -o archive.zip -d archive && "
        f"bash inflate.sh archive inflated {names}\n"
        f"  vcc score {submission} --challenge-dir {challenge}\n"
        "For the real challenge: git clone the official repository "
        "(commaai/comma_video_compression_challenge),\n"
        "run `git lfs pull` in it, and pass that checkout as --challenge-dir."
    )
