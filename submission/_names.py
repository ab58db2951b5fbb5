"""The submission's name, checked as the official job checks it before it evaluates.

The job evaluates submissions/<name> of the PR's merge ref: the name must not already be taken
on the challenge's master (it exempts `baseline`), must be the directory's own name, and the
runner imports `submissions.<name>.inflate`, so it must be a Python module name. Taken names are
read with `git ls-tree` from the checkout's origin/master (else master); a checkout without git
history cannot say, which is a warning that this part was skipped.
"""

from __future__ import annotations

import keyword
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EXEMPT_NAMES", "NameFinding", "name_problems", "taken_names", "check_submission_name"]

EXEMPT_NAMES = frozenset({"baseline"})  # the official job lets a PR update submissions/baseline
_REFS = ("refs/remotes/origin/master", "refs/heads/master")


@dataclass(frozen=True)
class NameFinding:
    severity: str  # "error" | "warning"
    message: str
    fix: str
    skipped: bool = False  # the taken-name part could not run (no git history): a note for the author only


def name_problems(name: str) -> list[str]:
    """Why `name` would not work as submissions/<name>: the runner imports `submissions.<name>.inflate`
    and puts the name unquoted in a shell path."""
    problems = []
    if not name.isascii() or not name.isidentifier():
        problems.append(
            f"{name!r} is not a Python identifier (letters, digits, '_', not starting with a digit): "
            f"`python -m submissions.{name}.inflate` cannot import it"
        )
    elif keyword.iskeyword(name):
        problems.append(f"{name!r} is a Python keyword: `submissions.{name}` cannot be imported")
    problems += _style_problems(name)
    return problems


def _style_problems(name: str) -> list[str]:
    """Not refused by the job, but unlike every merged name."""
    return [f"{name!r} has capitals; every merged submission's name is lower case"] if name != name.lower() else []


def _git(checkout: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    git = shutil.which("git")
    if git is None:
        return None
    return subprocess.run([git, "-C", str(checkout), *args], capture_output=True, text=True, check=False, timeout=60)


def taken_names(checkout: Path) -> tuple[str, set[str]] | str:
    """(the ref read, the names under submissions/ there), or why they could not be read."""
    for ref in _REFS:
        found = _git(checkout, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        if found is None:
            return "git is not installed"
        if found.returncode == 0:
            listing = _git(checkout, "ls-tree", "--name-only", f"{ref}:submissions")
            if listing is None or listing.returncode != 0:  # no submissions/ on master: nothing taken
                return ref.removeprefix("refs/remotes/").removeprefix("refs/heads/"), set()
            names = {line.strip() for line in listing.stdout.splitlines() if line.strip()}
            return ref.removeprefix("refs/remotes/").removeprefix("refs/heads/"), names
    return f"{checkout} has no master or origin/master branch (no git history)"


def check_submission_name(name: str, dir_name: str, checkout: Path | None) -> list[NameFinding]:
    """Every way the official job would refuse `name` for the directory `dir_name`."""
    style = set(_style_problems(name))
    out = [
        NameFinding("warning" if p in style else "error", p, "rename the submission dir (and its name in the PR)")
        for p in name_problems(name)
    ]
    if name != dir_name:
        out.append(NameFinding(
            "error",
            f"the submission name {name!r} is not its directory's name {dir_name!r}: the job evaluates "
            f"submissions/<name>",
            f"name the PR's submission {dir_name!r}, or rename the dir to {name!r}",
        ))
    if checkout is None:
        return out
    taken = taken_names(Path(checkout))
    if isinstance(taken, str):
        out.append(NameFinding(
            "warning",
            f"the check that {name!r} is not taken on master was skipped: {taken}",
            "pass a git clone of the challenge (`git fetch origin master`) as --challenge-dir",
            skipped=True,
        ))
    elif name in taken[1] and name not in EXEMPT_NAMES:
        ref, _ = taken
        out.append(NameFinding(
            "error",
            f"submissions/{name} already exists on the checkout's {ref}: the official job refuses a taken name",
            "choose a new name (rename the dir); run `git fetch origin master` first to see the latest names",
        ))
    return out
