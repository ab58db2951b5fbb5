"""The submission-name check (lint and pr-body) against a challenge checkout with real git history."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from vcc.submission import LintConfig, lint_submission
from vcc.submission._names import check_submission_name, taken_names

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(cwd), "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def add_submission(repo: Path, name: str) -> None:
    d = repo / "submissions" / name
    d.mkdir(parents=True)
    (d / "inflate.sh").write_text("#!/usr/bin/env bash\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"add {name}")


@pytest.fixture
def upstream(tmp_path) -> Path:
    repo = tmp_path / "upstream"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "master")
    add_submission(repo, "baseline")
    add_submission(repo, "taken")
    return repo


def sub_named(tmp_path: Path, name: str) -> Path:
    d = tmp_path / "subs" / name
    d.mkdir(parents=True)
    (d / "inflate.sh").write_text('#!/usr/bin/env bash\nset -e\nmkdir -p "$2"; cat "$1/x" > /dev/null; : "$3"\n')
    return d


def name_findings(sub: Path, checkout: Path | None, name: str | None = None):
    result = lint_submission(LintConfig(sub, challenge_dir=checkout, name=name))
    return [(f.severity, f.message) for f in result.findings if f.check == "submission-name"]


def test_taken_on_master_is_an_error_baseline_exempt(tmp_path, upstream):
    assert taken_names(upstream) == ("master", {"baseline", "taken"})
    (severity, message), = name_findings(sub_named(tmp_path, "taken"), upstream)
    assert severity == "error" and "submissions/taken already exists on the checkout's master" in message
    assert name_findings(sub_named(tmp_path, "baseline"), upstream) == []
    assert name_findings(sub_named(tmp_path, "fresh"), upstream) == []


def test_origin_master_is_read_when_the_checkout_has_one(tmp_path, upstream):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(upstream), str(clone))
    add_submission(upstream, "newer")  # taken upstream after the clone: seen once fetched
    sub = sub_named(tmp_path, "newer")
    assert name_findings(sub, clone) == []
    git(clone, "fetch", "-q", "origin")
    assert taken_names(clone) == ("origin/master", {"baseline", "taken", "newer"})
    (severity, _), = name_findings(sub, clone)
    assert severity == "error"


def test_name_must_be_the_dirs_and_a_module_name(tmp_path, upstream):
    sub = sub_named(tmp_path, "mine")
    (severity, message), = name_findings(sub, upstream, name="other")
    assert severity == "error" and "'other' is not its directory's name 'mine'" in message
    bad = sub_named(tmp_path, "3d-codec")
    messages = [m for _, m in name_findings(bad, upstream)]
    assert any("not a Python identifier" in m for m in messages)


def test_checkout_without_history_warns_that_the_check_was_skipped(tmp_path):
    plain = tmp_path / "plain"
    (plain / "submissions" / "taken").mkdir(parents=True)
    (severity, message), = name_findings(sub_named(tmp_path, "taken"), plain)
    assert severity == "warning" and "was skipped" in message
    assert check_submission_name("fine", "fine", None) == []  # no checkout given: only the local checks


def test_pr_body_names_a_taken_name_from_the_runs_checkout(tmp_path, upstream, capsys):
    from test_pr_body import make_submission, run_report, write

    from vcc.submission.cli import main

    sub = make_submission(tmp_path / "x" / "taken")
    run = write(tmp_path / "run.json", run_report(sub, challenge_dir=str(upstream)))
    assert main(["pr-body", str(sub), "--run", str(run), "--no-lint"]) == 0
    captured = capsys.readouterr()
    assert "- naming: submissions/taken already exists on the checkout's master" in captured.out
    assert "submission name: submissions/taken already exists" in captured.err
