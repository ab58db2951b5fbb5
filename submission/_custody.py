"""The custody record: what was measured, on which bytes, by what, and where the archive is hosted.

One block, carried by `vcc pr-body` and `vcc manifest --custody`: the archive's size and sha256,
its URL and when `check-upload` last found it serving those bytes, the sha256 of the submission's
code tree, each run's scores with their axis and numerics class, the library versions, the runner
shape and headroom, and vcc's version. `vcc manifest --check` recomputes the archive's and the
code tree's hashes and fails on any change after the record was made.

The code tree's hash (CODE_TREE_ORDER): every file of the submission dir but archive.zip, local-run
outputs and build litter (all of them: inflate.sh may run any), paths sorted by their UTF-8 bytes;
one line per file, `<sha256>  <path>\\n` as sha256sum prints it (a symlink: `symlink:<target>  <path>`);
the tree's sha256 is that of these lines.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from vcc.base import file_sha256, short_float

from ._files import ARCHIVE_NAME, submission_files

__all__ = [
    "CUSTODY_SCHEMA",
    "CODE_TREE_ORDER",
    "code_tree",
    "build_custody",
    "compare_custody",
    "custody_markdown",
    "custody_from_text",
]

CUSTODY_SCHEMA = 1
CODE_TREE_ORDER = (
    "every file of the submission dir except archive.zip, archive/, inflated/, report.txt, __pycache__, .git, "
    ".DS_Store, *.pyc; sorted by UTF-8 bytes of the path; sha256 of the lines '<sha256>  <path>\\n' "
    "('symlink:<target>' for a link)"
)


def code_tree(root: Path, exclude: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The code tree's sha256 (CODE_TREE_ORDER) and its file count."""
    lines = []
    for rel in submission_files(root, exclude):
        p = root / rel
        digest = f"symlink:{os.readlink(p)}" if p.is_symlink() else file_sha256(p)
        lines.append(f"{digest}  {rel}\n")
    text = "".join(lines).encode("utf-8", "surrogateescape")
    return {"sha256": hashlib.sha256(text).hexdigest(), "files": len(lines), "order": CODE_TREE_ORDER}


def _vcc_version() -> str:
    try:
        return metadata.version("vcc")
    except metadata.PackageNotFoundError:
        return "unknown"


def _run_record(run: dict[str, Any]) -> dict[str, Any]:
    score, runner, clock = run.get("score") or {}, run.get("runner") or {}, run.get("clock") or {}
    numerics = run.get("numerics") or score.get("numerics") or {}
    record: dict[str, Any] = {
        "runner": runner.get("kind"),
        "axis": {"device": score.get("device"), "decode": score.get("decode")},
        "numerics_class": numerics.get("class"),
        "numerics_profile": numerics.get("profile"),
        "score": score.get("score"),
        "posenet_distortion": score.get("posenet_distortion"),
        "segnet_distortion": score.get("segnet_distortion"),
        "rate": score.get("rate"),
        "samples": score.get("samples"),
        "archive_sha256": (run.get("submission") or {}).get("archive_sha256"),
        "shape": {k: runner.get(k) for k in ("kind", "backend", "cpus", "memory_bytes", "gpu_visible_to_inflate",
                                             "network", "label")},
        "headroom_s": clock.get("headroom_s"),
        "clock_s": clock.get("clock_s"),
        "inflate_s": clock.get("inflate_s"),
        "versions": score.get("versions") or {},
        "inflate_env": {k: v for k, v in ((run.get("environment") or {}).get("inflate") or {}).items()
                        if k in ("kind", "python", "path", "image", "group")},
    }
    repeat = run.get("repeat") or {}
    if (repeat.get("terms") or {}).get("score"):
        st = repeat["terms"]["score"]
        record["repeat"] = {"n": len(repeat.get("scores") or []), "mean": st["mean"], "min": st["min"],
                            "max": st["max"], "spread": st["spread"], "raws_agree": repeat.get("deterministic")}
    return record


def build_custody(
    submission_dir: Path,
    runs: list[dict[str, Any]],
    upload: dict[str, Any] | None = None,
    exclude: tuple[Path, ...] = (),
) -> dict[str, Any]:
    """The custody block. `upload` is a check-upload record (UploadCheck.as_json()), or None."""
    root = Path(submission_dir)
    archive = root / ARCHIVE_NAME
    return {
        "vcc_custody_schema": CUSTODY_SCHEMA,
        "vcc_version": _vcc_version(),
        "archive": {"bytes": archive.stat().st_size, "sha256": file_sha256(archive)},
        "upload": None if upload is None else {
            "url": upload["url"],
            "verdict": upload["verdict"],
            "verified_at": upload["checked_at"] if upload.get("ok") else None,
            "checked_at": upload["checked_at"],
            "remote": upload.get("remote"),
        },
        "code_tree": code_tree(root, exclude),
        "runs": [_run_record(r) for r in runs],
    }


def compare_custody(saved: dict[str, Any], root: Path, exclude: tuple[Path, ...] = ()) -> list[str]:
    """What changed in the submission since the custody record was made, one line each."""
    changes = []
    archive = Path(root) / ARCHIVE_NAME
    old = saved.get("archive") or {}
    if not archive.is_file():
        return [f"custody: {ARCHIVE_NAME} is gone"]
    size, sha = archive.stat().st_size, file_sha256(archive)
    if (size, sha) != (old.get("bytes"), old.get("sha256")):
        changes.append(f"custody: {ARCHIVE_NAME} {old.get('bytes')!r} bytes sha256 {old.get('sha256')} -> "
                       f"{size!r} bytes sha256 {sha} (the runs and the upload check were of the old bytes)")
    tree = code_tree(Path(root), exclude)
    old_tree = (saved.get("code_tree") or {}).get("sha256")
    if tree["sha256"] != old_tree:
        changes.append(f"custody: code tree sha256 {old_tree} -> {tree['sha256']} (a file inflate may run changed)")
    return changes


def custody_markdown(custody: dict[str, Any]) -> list[str]:
    """The block for the PR body: a fenced JSON the reviewers (and `vcc manifest --check`) can read."""
    a, up, tree = custody["archive"], custody.get("upload"), custody["code_tree"]
    if up is None:
        hosted = "not checked (pass --archive-url URL)"
    elif up.get("verified_at"):
        hosted = f"{up['url']} served these bytes at {up['verified_at']}"
    else:
        hosted = f"{up['url']}: {up['verdict'].replace('_', ' ')} at {up['checked_at']} (NOT these bytes)"
    lines = [
        "<details><summary>custody record (vcc)</summary>",
        "",
        f"- archive.zip {a['bytes']:,} bytes, sha256 `{a['sha256']}`; hosted: {hosted}",
        f"- code tree sha256 `{tree['sha256']}` over {tree['files']} file(s) ({tree['order']})",
    ]
    for r in custody["runs"]:
        rep = r.get("repeat")
        quoted = (f"{rep['mean']:.8f} (mean of {rep['n']} runs, spread {short_float(rep['spread'])})" if rep
                  else f"{r['score']!r}")
        lines.append(f"- {r['runner']} runner ({r['axis']['device']}, {r['axis']['decode']} decode, numerics class "
                     f"{r['numerics_class']}): score {quoted}; headroom {r['headroom_s']} s")
    lines += [f"- vcc {custody['vcc_version']}", "", "```json", json.dumps(custody, indent=2), "```", "", "</details>"]
    return lines


_JSON_BLOCK = re.compile(r"^```json\s*$(.*?)^```\s*$", re.M | re.S)


def custody_from_text(text: str) -> dict[str, Any] | None:
    """The custody block inside a PR body (its fenced JSON), or None."""
    for m in _JSON_BLOCK.finditer(text):
        try:
            data = json.loads(m.group(1))
        except ValueError:
            continue
        if isinstance(data, dict) and "vcc_custody_schema" in data:
            return data
    return None
