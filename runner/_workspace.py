"""A scratch directory shaped like the official repository root for one run.

    <root>/
      <each top-level entry of the checkout>  symlinks (frame_utils.py, modules/, ...)
      public_test_video_names.txt             a copy of the names file in use
      submissions/__init__.py
      submissions/<other>/                    symlinks to the checkout's other submissions
      submissions/<name>/                     a copy of SUBMISSION_DIR (never the original)
      .vcc/tmp, .vcc/home                     inflate's /tmp and $HOME

`videos/` is not linked: the originals stay out of inflate's reach (the
sandbox also hides them at their real path). The user's SUBMISSION_DIR is
only read.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vcc.base import ARCHIVE_NAME, NAMES_FILE, BadInput, remove_tree
from vcc.scorer import Challenge

__all__ = ["Workspace", "stage_workspace", "NAMES_FILE", "SKIPPED_FROM_SUBMISSION"]

# What the official job recreates itself (archive/ is rm -rf'd, inflated/ written
# by inflate); a stale copy from a local run would let a broken inflate pass.
SKIPPED_FROM_SUBMISSION = ("archive", "inflated", "report.txt")
# Top-level entries of the challenge checkout that are not linked into the root.
_NOT_LINKED = {"videos", "submissions", NAMES_FILE, ".git"}


@dataclass(frozen=True)
class Workspace:
    root: Path
    name: str

    @property
    def submission(self) -> Path:
        return self.root / "submissions" / self.name

    @property
    def archive_zip(self) -> Path:
        return self.submission / ARCHIVE_NAME

    @property
    def archive_dir(self) -> Path:
        return self.submission / "archive"

    @property
    def inflated_dir(self) -> Path:
        return self.submission / "inflated"

    @property
    def inflate_sh(self) -> Path:
        return self.submission / "inflate.sh"

    @property
    def names_file(self) -> Path:
        return self.root / NAMES_FILE

    @property
    def meta(self) -> Path:
        """vcc's own scratch space inside the root (inflate's /tmp and $HOME)."""
        return self.root / ".vcc"

    @property
    def tmp_dir(self) -> Path:
        return self.meta / "tmp"

    @property
    def home_dir(self) -> Path:
        return self.meta / "home"

    @property
    def inflate_owned(self) -> tuple[Path, ...]:
        """What inflate may write: its submission dir (archive/, inflated/, scratch) and its $HOME.

        Handed to inflate's uid for the run when vcc is root; the root, submissions/ and .vcc/
        stay vcc's, so inflate cannot swap the paths vcc later removes or writes.
        """
        return (self.submission, self.home_dir)

    def inflate_argv(self) -> list[str]:
        """The official call, relative to the repository root as evaluate.sh gives it."""
        sub = f"./submissions/{self.name}"
        return ["bash", f"{sub}/inflate.sh", f"{sub}/archive", f"{sub}/inflated", f"./{NAMES_FILE}"]

    def reset_outputs(self) -> None:
        """Remove archive/ and inflated/ (and inflate's scratch) for a run from scratch."""
        for d in (self.archive_dir, self.inflated_dir, self.tmp_dir, self.home_dir):
            remove_tree(d)  # also read-only dirs an extraction left
        self.tmp_dir.mkdir(parents=True)
        self.home_dir.mkdir(parents=True)


def _ignore_outputs(top: Path, also: Path) -> Callable[[str, list[str]], set[str]]:
    """copytree filter: the job's own outputs at the top, and vcc's out dir wherever it is."""

    def ignore(src: str, names: list[str]) -> set[str]:
        skip = set(SKIPPED_FROM_SUBMISSION) & set(names) if Path(src) == top else set()
        # realpath, not Path.resolve: a link loop in the submission must not raise here
        skip.update(n for n in names if Path(os.path.realpath(Path(src) / n)) == also)
        return skip

    return ignore


def stage_workspace(
    submission_dir: Path,
    challenge: Challenge,
    root: Path,
    name: str,
    *,
    out_dir: Path | None = None,
) -> tuple[Workspace, list[str]]:
    """Build the scratch root; returns it and notes for the report.

    `out_dir` (vcc's results dir) is never copied, should it sit inside SUBMISSION_DIR.
    """
    submission_dir = Path(submission_dir)
    _check_inputs(submission_dir, root)
    root.mkdir(parents=True, exist_ok=True)
    ws = Workspace(root.resolve(), name)
    ch_root = challenge.root.resolve()
    _link_checkout(ws, ch_root)
    _stage_submissions_dir(ws, ch_root)
    notes = _copy_submission(submission_dir, ws, (out_dir or root).resolve())
    shutil.copyfile(challenge.names_file, ws.names_file)
    ws.tmp_dir.mkdir(parents=True)
    ws.home_dir.mkdir(parents=True)
    if not name.isidentifier():
        notes.append(
            f"the submission name {name!r} is not a Python identifier: "
            f"`python -m submissions.{name}.inflate` cannot import it on the runner"
        )
    return ws, notes


def _check_inputs(submission_dir: Path, root: Path) -> None:
    """BadInput unless SUBMISSION_DIR holds archive.zip and inflate.sh and root is new or empty."""
    if not submission_dir.is_dir():
        raise BadInput("submission dir not found", path=submission_dir, fix="pass the dir holding archive.zip")
    if not (submission_dir / ARCHIVE_NAME).is_file():
        raise BadInput(
            f"{ARCHIVE_NAME} not found in the submission dir",
            path=submission_dir / ARCHIVE_NAME,
            fix="build it first (e.g. your compress.sh); the runner downloads it from your PR",
        )
    if not (submission_dir / "inflate.sh").is_file():
        raise BadInput(
            "inflate.sh not found in the submission dir (the official evaluate.sh stops without it)",
            path=submission_dir / "inflate.sh",
            fix="add inflate.sh: `bash inflate.sh ARCHIVE_DIR INFLATED_DIR NAMES_FILE` must write the raws",
        )
    if root.exists() and any(root.iterdir()):
        raise BadInput("workspace dir is not empty", path=root, fix="pass a new --out dir")


def _link_checkout(ws: Workspace, ch_root: Path) -> None:
    """Symlink each top-level entry of the checkout into the root, except those in _NOT_LINKED."""
    for entry in sorted(ch_root.iterdir()):
        if entry.name in _NOT_LINKED:
            continue
        (ws.root / entry.name).symlink_to(entry)


def _stage_submissions_dir(ws: Workspace, ch_root: Path) -> None:
    """submissions/: the checkout's __init__.py (or an empty one) and links to its other submissions."""
    subs = ws.root / "submissions"
    subs.mkdir()
    ch_subs = ch_root / "submissions"
    if (ch_subs / "__init__.py").is_file():
        shutil.copy2(ch_subs / "__init__.py", subs / "__init__.py")
    else:
        (subs / "__init__.py").write_text("")
    if ch_subs.is_dir():
        for entry in sorted(ch_subs.iterdir()):
            if entry.name not in (ws.name, "__init__.py", "__pycache__"):
                (subs / entry.name).symlink_to(entry)


def _copy_submission(submission_dir: Path, ws: Workspace, out_dir: Path) -> list[str]:
    """Copy SUBMISSION_DIR (symlinks as links) without the job's own outputs or out_dir; the notes."""
    notes: list[str] = []
    skipped = [n for n in SKIPPED_FROM_SUBMISSION if (submission_dir / n).exists()]
    if skipped:
        notes.append("not copied from the submission dir (the official job recreates them): " + ", ".join(skipped))
    shutil.copytree(
        submission_dir,
        ws.submission,
        symlinks=True,
        ignore=_ignore_outputs(submission_dir, out_dir),
    )
    # archive.zip as a regular file (a link inside the dir was checked): vcc opens the workspace's
    # copy without following links, so inflate cannot swap what it points to.
    if ws.archive_zip.is_symlink():
        ws.archive_zip.unlink()
        shutil.copyfile(os.path.realpath(submission_dir / "archive.zip"), ws.archive_zip)
    return notes
