"""The reusable GitHub Actions workflow (.github/workflows/vcc-gate.yml) and its example caller
(submission/ci-example.yml): parsed with a YAML parser, checked at schema level (jobs, steps, every
input, step output and env name used is declared), and the commands it runs run here, on the demo
challenge, as the job would run them (one full gate; `vcc pr-body` on its run)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from vcc import submission
from vcc.base import BadInput
from vcc.submission import TEMPLATE_HEADINGS

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "vcc-gate.yml"
EXAMPLE = Path(submission.__file__).parent / "ci-example.yml"
KNOWN_ACTIONS = {"actions/checkout@v4", "actions/setup-python@v5", "actions/cache@v4", "actions/upload-artifact@v4"}
# Steps that set up the machine (apt, pip): the test's machine already has what they install.
SETUP_STEPS = ("Tools the runner has", "Install vcc")
EXPR = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True
    if True in data:
        data["on"] = data.pop(True)
    return data


@pytest.fixture(scope="module")
def workflow() -> dict:
    return load(WORKFLOW)


# --------------------------------------------------------------------------- schema


def test_reusable_workflow_schema(workflow):
    text = WORKFLOW.read_text()
    call = workflow["on"]["workflow_call"]
    inputs = call["inputs"]
    assert {"submission-dir", "runner", "max-score", "baseline-report", "max-regression"} <= set(inputs)
    for name, spec in inputs.items():
        assert spec["type"] in ("string", "boolean", "number"), name
        assert isinstance(spec.get("required", False), bool) and spec.get("description"), name
        if "default" in spec:
            assert isinstance(spec["default"], {"string": str, "boolean": bool, "number": (int, float)}[spec["type"]])
    assert inputs["submission-dir"]["required"] is True
    used_inputs = set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", text))
    assert used_inputs and used_inputs <= set(inputs), f"undeclared inputs: {used_inputs - set(inputs)}"
    assert set(inputs) - {"vcc-repository", "vcc-ref"} <= used_inputs  # no input is declared for nothing

    (job_name, job), = workflow["jobs"].items()  # fmt: skip
    assert job["runs-on"] and job["timeout-minutes"] > 30  # the official job's 30 minutes plus vcc's setup
    for out in call["outputs"].values():
        m = re.fullmatch(r"\$\{\{ jobs\.([\w-]+)\.outputs\.([\w-]+) \}\}", out["value"])
        assert m and m.group(1) == job_name and m.group(2) in job["outputs"]
    ids: list[str] = []
    for step in job["steps"]:
        assert ("uses" in step) != ("run" in step), step
        if "uses" in step:
            assert step["uses"] in KNOWN_ACTIONS, step["uses"]
        body = json.dumps(step)
        for ref in re.findall(r"steps\.([\w-]+)\.outputs", body):
            assert ref in ids, f"step output of {ref!r} used before (or without) a step with that id"
        for ref in re.findall(r"\benv\.([A-Z_]+)", body):
            assert ref in job["env"], ref
        if "run" in step:  # every shell variable is the job's env, GitHub's, or set in the script
            assigned = set(re.findall(r"\b([A-Za-z_]+)=", step["run"]))
            for var in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", step["run"]):
                assert var in job["env"] or var.startswith("GITHUB_") or var in assigned, var
        if "id" in step:
            ids.append(step["id"])
    for step_id in re.findall(r"steps\.([\w-]+)\.outputs", json.dumps(job["outputs"])):
        assert step_id in ids
    uses = [s["uses"] for s in job["steps"] if "uses" in s]
    assert "actions/cache@v4" in uses and "actions/upload-artifact@v4" in uses
    cache = next(s for s in job["steps"] if s.get("uses") == "actions/cache@v4")
    assert cache["with"]["key"] == "${{ steps.key.outputs.key }}"
    upload = next(s for s in job["steps"] if s.get("uses") == "actions/upload-artifact@v4")
    assert upload["if"] == "always()"  # the reports of a failed gate are kept too
    gate = next(s for s in job["steps"] if s.get("id") == "gate")
    for flag in ("--junit", "--summary", "--baseline", "--max-regression", "--max-score", "GITHUB_STEP_SUMMARY"):
        assert flag in gate["run"]


def test_example_caller_uses_the_reusable_workflow_with_declared_inputs(workflow):
    example = load(EXAMPLE)
    assert "pull_request" in example["on"]
    inputs = workflow["on"]["workflow_call"]["inputs"]
    required = {n for n, s in inputs.items() if s.get("required")}
    for job in example["jobs"].values():
        assert job["uses"].split("@")[0].endswith("/.github/workflows/vcc-gate.yml")
        assert set(job["with"]) <= set(inputs) and required <= set(job["with"])
        assert job["with"]["runner"] in ("cpu", "t4")
    # shipped as package data, so `pip install vcc` users find the example
    assert '"vcc.submission" = ["*.yml"]' in (ROOT / "pyproject.toml").read_text()


# --------------------------------------------------------------------------- running its commands


def evaluate(expr: str, ctx: dict[str, str]) -> str:
    """The few expression forms the workflow uses: a context value, or `X != ''`."""
    m = re.fullmatch(r"(.+?)\s*!=\s*''", expr)
    if m:
        return "true" if evaluate(m.group(1), ctx) != "" else "false"
    if expr not in ctx:
        raise AssertionError(f"expression {expr!r} is not one this test knows")
    return ctx[expr]


def substitute(text: str, ctx: dict[str, str]) -> str:
    return EXPR.sub(lambda m: evaluate(m.group(1), ctx), text)


def run_job(workflow: dict, inputs: dict[str, str], cwd: Path, bin_dir: Path) -> dict:
    """Run the job's shell steps in order as the runner would (bash -e), skipping machine setup.

    Returns the step outcomes, GITHUB_OUTPUT values and the job summary."""
    spec = workflow["on"]["workflow_call"]["inputs"]
    ctx = {f"inputs.{n}": str(inputs.get(n, s.get("default", ""))) for n, s in spec.items()}
    ctx["github.workspace"] = str(cwd)
    (job,) = workflow["jobs"].values()
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    for k, v in job["env"].items():
        env[k] = substitute(str(v), ctx)
        ctx[f"env.{k}"] = env[k]
    env["GITHUB_STEP_SUMMARY"] = str(cwd / "step-summary.md")
    outcomes: dict[str, int] = {}
    outputs: dict[str, str] = {}
    for step in job["steps"]:
        if "run" not in step or step["name"].startswith(SETUP_STEPS):
            continue
        if "if" in step and substitute(step["if"], ctx) != "true":
            continue
        out_file = cwd / f".github-output-{len(outcomes)}"
        out_file.write_text("")
        proc = subprocess.run(["bash", "-e", "-c", substitute(step["run"], ctx)], cwd=cwd,
                              env={**env, "GITHUB_OUTPUT": str(out_file)}, capture_output=True, text=True,
                              timeout=900)  # fmt: skip
        outcomes[step.get("id", step["name"])] = proc.returncode
        assert proc.returncode == 0, f"step {step['name']!r}: {proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        for line in out_file.read_text().splitlines():
            k, _, v = line.partition("=")
            outputs[k] = v
            ctx[f"steps.{step.get('id')}.outputs.{k}"] = v
    summary = Path(env["GITHUB_STEP_SUMMARY"])
    return {"outcomes": outcomes, "outputs": outputs, "summary": summary.read_text() if summary.exists() else ""}


@pytest.fixture(scope="module")
def fork(tmp_path_factory) -> dict:
    """A competitor's fork of the demo challenge: the checkout, and its submission's scripts under
    submissions/example_submission; archive.zip is hosted elsewhere (a file:// URL) as on the board."""
    from vcc.demo import build_example_submission, cached_challenge

    challenge = cached_challenge(8, seed=0, cache_dir=tmp_path_factory.mktemp("demo-cache"))
    built = build_example_submission(challenge, tmp_path_factory.mktemp("built") / "example_submission")
    checkout = tmp_path_factory.mktemp("fork") / "challenge"
    shutil.copytree(challenge, checkout, symlinks=True)
    sub = checkout / "submissions" / "example_submission"
    sub.mkdir(parents=True)
    for name in ("inflate.sh", "inflate.py", "compress.sh", "compress.py"):
        shutil.copy2(built / name, sub / name)
    hosted = tmp_path_factory.mktemp("hosting") / "archive.zip"
    shutil.copy2(built / "archive.zip", hosted)
    bin_dir = tmp_path_factory.mktemp("bin")
    shim = bin_dir / "vcc"
    shim.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m vcc "$@"\n')
    shim.chmod(0o755)
    return {"checkout": checkout, "sub": sub, "hosted": hosted, "bin": bin_dir}


@pytest.fixture(scope="module")
def gate_job(workflow, fork) -> dict:
    """The whole job's commands, once: download, cache key, `vcc gate` with a score bound and a baseline."""
    checkout = fork["checkout"]
    key = subprocess.run([fork["bin"] / "vcc", "cache", "key", "--challenge-dir", str(checkout), "--json",
                          str(checkout.parent / "key.json")], capture_output=True, text=True, check=True)  # fmt: skip
    assets = json.loads((checkout.parent / "key.json").read_text())["assets"]
    baseline = {"score": 1e6, "decode": "pyav", "official_report": "", "assets": {k: {"sha256": v} for k, v in
                                                                                   assets.items()}}  # fmt: skip
    (checkout / "baseline.json").write_text(json.dumps(baseline))
    inputs = {
        "submission-dir": "submissions/example_submission",
        "runner": "cpu",
        "max-score": "1000",
        "baseline-report": "baseline.json",
        "max-regression": "0",
        "archive-url": fork["hosted"].as_uri(),
    }
    job = run_job(workflow, inputs, checkout, fork["bin"])
    job["key_printed"] = key.stdout.strip()
    return job


def test_the_workflow_commands_gate_the_demo_submission(gate_job, fork):
    checkout = fork["checkout"]
    assert gate_job["outcomes"] == {"download": 0, "key": 0, "gate": 0}
    assert (fork["sub"] / "archive.zip").read_bytes() == fork["hosted"].read_bytes()  # curl -L fetched it
    key = gate_job["outputs"]["key"]
    assert key == gate_job["key_printed"] and key.startswith("vcc-gt-cpu-")
    reports = checkout / "vcc-gate"
    gate = json.loads((reports / "gate.json").read_text())
    assert gate["verdict"] == "pass" and gate["baseline"]["kind"] == "score"
    assert [b["name"] for b in gate["bounds"]] == ["max_score", "max_regression"]
    assert any((checkout / ".vcc-ground-truth").iterdir())  # the dir actions/cache saves was filled
    assert "## vcc gate: PASS" in gate_job["summary"] and "| max_regression |" in gate_job["summary"]
    suites = ET.parse(reports / "junit.xml").getroot()
    assert suites.tag == "testsuites"
    lint_cases = suites.find("testsuite[@name='vcc lint']").findall("testcase")
    assert [c.get("name") for c in lint_cases] == gate["lint"]["checks"]  # one per lint check
    bound_cases = [c.get("name") for c in suites.find("testsuite[@name='vcc gate bounds']").findall("testcase")]
    assert bound_cases == ["run", "max_score", "max_regression"]  # the run, then one per bound
    assert not suites.findall(".//failure")


def test_a_baseline_of_another_challenge_is_refused(gate_job, fork, tmp_path):
    from vcc.submission import check_baseline_matches, load_baseline

    run = json.loads((fork["checkout"] / "vcc-gate" / "run" / "run.json").read_text())
    other = {"score": 1.0, "decode": "pyav", "official_report": "",
             "assets": {k: {"sha256": "0" * 64} for k in run["score"]["assets"]}}  # fmt: skip
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(BadInput, match="another challenge") as err:
        check_baseline_matches(load_baseline(tmp_path / "other.json"), run["score"])
    assert err.value.exit_code == 2 and err.value.path == tmp_path / "other.json"


def test_pr_body_from_the_gates_run_has_the_templates_headings_in_order(gate_job, fork, tmp_path, capsys):
    from vcc.submission.cli import main

    run_json = fork["checkout"] / "vcc-gate" / "run" / "run.json"
    out = tmp_path / "pr.md"
    assert main(["pr-body", str(fork["sub"]), "--run", str(run_json), "-o", str(out)]) == 0
    body = out.read_text()
    headings = [line for line in body.splitlines() if line.startswith("# ")]
    assert headings == list(TEMPLATE_HEADINGS)
    run = json.loads(run_json.read_text())
    section = dict(zip(TEMPLATE_HEADINGS, re.split(r"^# .*$\n", body, flags=re.M)[1:], strict=True))
    assert section["# submission name:"].splitlines()[0] == "example_submission"
    assert "naming" not in section["# submission name:"]  # a valid name: no problem listed
    archive = fork["sub"] / "archive.zip"
    upload = section["# upload zipped `archive.zip`"]
    assert __import__("hashlib").sha256(archive.read_bytes()).hexdigest() in upload
    assert f"{archive.stat().st_size:,} bytes" in upload and "curl -L" in upload and "<ARCHIVE_URL>" in upload
    assert run["score"]["official_report"].rstrip("\n") in section["# report.txt"]
    assert section["# does your submission require gpu for evaluation (inflation)?"].splitlines()[0] == "no"
    assert section["# did you include the compression script? and want it to be merged?"].startswith("yes")
    comments = section["# additional comments"]
    assert repr(run["score"]["score"]) in comments and run["numerics"]["class"] in comments
    assert "headroom" in comments and "not measured on the t4 runner" in comments
