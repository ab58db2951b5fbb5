"""`vcc manifest`: what exactly a submission is, as JSON, and a check against a saved one.

The manifest holds archive.zip's size and sha256, each member (name, size,
compressed size, CRC-32, method, sha256 of its content) and each file of the
submission's code (path, size, sha256). It carries no timestamp and no absolute
path, so the same submission gives the same manifest anywhere: commit it, and
`--check` in CI says exactly which byte moved.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcc.base import METHOD_NAMES, BadInput, GateFailed, file_sha256, write_json_atomic

from ._custody import compare_custody, custody_from_text
from ._files import ARCHIVE_NAME, submission_files
from ._pack import OFFICIAL_ORIGINAL_BYTES, rate_contribution

__all__ = [
    "MANIFEST_SCHEMA",
    "ManifestCheck",
    "build_manifest",
    "load_manifest",
    "compare_manifests",
    "check_manifest",
    "write_manifest",
]

MANIFEST_SCHEMA = 1


def _members(archive: Path) -> tuple[list[dict[str, Any]] | None, str | None]:
    """The archive's members, or None and why when it cannot be read as a zip."""
    try:
        with zipfile.ZipFile(archive) as zf:
            out = []
            for info in zf.infolist():
                digest = None
                if not info.is_dir():
                    with zf.open(info) as f:
                        digest = hashlib.file_digest(f, "sha256").hexdigest()
                out.append(
                    {
                        "name": info.filename,
                        "bytes": info.file_size,
                        "compressed_bytes": info.compress_size,
                        "crc32": f"{info.CRC:08x}",
                        "method": METHOD_NAMES.get(info.compress_type, str(info.compress_type)),
                        "sha256": digest,
                    }
                )
            return out, None
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError, EOFError) as e:
        return None, f"{type(e).__name__}: {e}"


def build_manifest(submission_dir: Path, exclude: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The manifest of SUBMISSION_DIR (only read); `exclude` keeps e.g. the manifest file itself out."""
    root = Path(submission_dir)
    if not root.is_dir():
        raise BadInput("submission dir not found", path=root, fix="pass the dir holding archive.zip and inflate.sh")
    archive = root / ARCHIVE_NAME
    if not archive.is_file():
        raise BadInput(f"{ARCHIVE_NAME} not found", path=archive, fix="pack it first (vcc pack ... -o archive.zip)")
    size = archive.stat().st_size
    members, error = _members(archive)
    files = []
    for rel in submission_files(root, exclude):
        p = root / rel
        if p.is_symlink():
            files.append({"path": rel, "symlink": os.readlink(p)})
        else:
            files.append({"path": rel, "bytes": p.stat().st_size, "sha256": file_sha256(p)})
    manifest: dict[str, Any] = {
        "vcc_manifest_schema": MANIFEST_SCHEMA,
        "archive": {
            "path": ARCHIVE_NAME,
            "bytes": size,
            "sha256": file_sha256(archive),
            "rate_contribution": rate_contribution(size),
            "original_bytes": OFFICIAL_ORIGINAL_BYTES,
            "members": members,
        },
        "files": files,
    }
    if error is not None:
        manifest["archive"]["members_error"] = error
    return manifest


def write_manifest(manifest: dict[str, Any], path: Path) -> None:
    write_json_atomic(path, manifest)


def load_manifest(path: Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text()
        data = json.loads(text)
    except FileNotFoundError as e:
        raise BadInput("manifest not found", path=path, fix="write one with `vcc manifest SUB --json PATH`") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        custody = custody_from_text(text) if isinstance(e, json.JSONDecodeError) else None
        if custody is not None:  # a PR body from `vcc pr-body`: its custody block alone is checked
            return {"custody": custody}
        raise BadInput(f"manifest is not readable JSON ({e})", path=path, fix="regenerate it with vcc manifest") from e
    if isinstance(data, dict) and "vcc_custody_schema" in data:  # a custody block saved on its own
        return {"custody": data}
    if not isinstance(data, dict) or data.get("vcc_manifest_schema") != MANIFEST_SCHEMA:
        raise BadInput(
            f"not a vcc manifest (schema {MANIFEST_SCHEMA} expected)",
            path=path,
            fix="regenerate it with `vcc manifest SUB --json PATH`",
        )
    return data


def _diff_fields(label: str, old: dict[str, Any], new: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    moved = [f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
    return [f"{label}: {', '.join(moved)}"] if moved else []


def compare_manifests(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What changed from `saved` to `current`, one line each; empty when they agree."""
    changes: list[str] = []
    a_old, a_new = saved.get("archive") or {}, current.get("archive") or {}
    changes += _diff_fields(ARCHIVE_NAME, a_old, a_new, ("bytes", "sha256"))
    m_old = {m["name"]: m for m in a_old.get("members") or []}
    m_new = {m["name"]: m for m in a_new.get("members") or []}
    if a_new.get("members") is None and a_old.get("members") is not None:
        changes.append(f"{ARCHIVE_NAME}: no longer a readable zip ({a_new.get('members_error')})")
    else:
        for name in sorted(m_old.keys() | m_new.keys()):
            label = f"{ARCHIVE_NAME} member {name!r}"
            if name not in m_new:
                changes.append(f"{label}: removed")
            elif name not in m_old:
                changes.append(f"{label}: added ({m_new[name]['bytes']:,} bytes)")
            else:
                keys = ("bytes", "compressed_bytes", "crc32", "method", "sha256")
                changes += _diff_fields(label, m_old[name], m_new[name], keys)
    f_old = {f["path"]: f for f in saved.get("files") or []}
    f_new = {f["path"]: f for f in current.get("files") or []}
    for path in sorted(f_old.keys() | f_new.keys()):
        if path not in f_new:
            changes.append(f"file {path}: removed")
        elif path not in f_old:
            changes.append(f"file {path}: added")
        else:
            changes += _diff_fields(f"file {path}", f_old[path], f_new[path], ("bytes", "sha256", "symlink"))
    return changes


@dataclass
class ManifestCheck:
    manifest_path: Path
    current: dict[str, Any]
    changes: list[str]

    @property
    def matches(self) -> bool:
        return not self.changes

    def as_json(self) -> dict[str, Any]:
        return {
            "manifest": str(self.manifest_path),
            "matches": self.matches,
            "changes": self.changes,
            "current": self.current,
        }

    def raise_for_mismatch(self) -> None:
        if self.changes:
            listing = "\n".join(f"  - {c}" for c in self.changes)
            raise GateFailed(
                f"the submission differs from its manifest in {len(self.changes)} place(s):\n{listing}",
                path=self.manifest_path,
                fix="if the change is intended, regenerate the manifest with `vcc manifest SUB --json PATH`",
            )


def check_manifest(submission_dir: Path, manifest_path: Path, exclude: tuple[Path, ...] = ()) -> ManifestCheck:
    """The submission against a saved manifest, or against the custody block of a manifest or a PR body."""
    saved = load_manifest(manifest_path)
    exclude = (Path(manifest_path), *exclude)
    current = build_manifest(submission_dir, exclude=exclude)
    changes = [] if set(saved) == {"custody"} else compare_manifests(saved, current)
    if saved.get("custody"):
        changes += compare_custody(saved["custody"], Path(submission_dir), exclude)
    return ManifestCheck(Path(manifest_path), current, changes)
