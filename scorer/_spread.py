"""`--spread`: the same candidate under every numerics profile and thread count this machine can run.

The official CPU runner's own last digits vary with its host (CPU class) and thread count; the
spread shows by how much for this candidate. Each variant runs in its own process (kernel caps
apply only before torch is imported), all sharing one decode of the originals and the
ground-truth cache. Cost: one candidate forward per variant, plus one ground-truth forward per
variant whose ground truth is not cached yet.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcc.base import (
    NUMERICS_PROFILES,
    BadInput,
    HarnessError,
    VccError,
    check_profile_supported,
    cores,
    profile_env,
    write_atomic,
    write_json_atomic,
)

from ._config import ScoreConfig

__all__ = ["SpreadVariant", "spread_variants", "score_spread", "spread_summary", "spread_text"]

SPREAD_THREADS = (1, 2, 4)
# The figures whose spread is reported, as they stand in a score's JSON.
_FIGURES = ("posenet_distortion", "segnet_distortion", "score")
_TERMS = ("segnet", "posenet", "rate")


@dataclass(frozen=True)
class SpreadVariant:
    profile: str
    threads: int | None  # None: torch's default here

    @property
    def label(self) -> str:
        return f"{self.profile}@{'default' if self.threads is None else self.threads}"


def _default_threads() -> int:
    """torch's default intra-op thread count here, without importing torch."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return int(os.environ["OMP_NUM_THREADS"])
    return cores()


def spread_variants() -> tuple[list[SpreadVariant], list[dict[str, str]]]:
    """The variants this machine can run, and those it cannot (with the reason)."""
    variants = [SpreadVariant("native", None)]
    variants += [SpreadVariant("native", t) for t in SPREAD_THREADS if t != _default_threads()]
    skipped = []
    for name, profile in NUMERICS_PROFILES.items():
        if name == "native":
            continue
        try:
            check_profile_supported(profile)
        except VccError as err:
            skipped.append({"profile": name, "reason": str(err)})
            continue
        variants.append(SpreadVariant(name, profile.threads))
    return variants, skipped


def _child_argv(cfg: ScoreConfig, variant: SpreadVariant, out: Path, frames: Path) -> list[str]:
    """A variant's `vcc score`: the score's own options with the variant's profile and threads (the
    child resolves the rest, e.g. its workers, as a plain score would)."""
    options = dataclasses.replace(cfg.options, numerics=variant.profile, threads=variant.threads)
    argv = [
        sys.executable, "-m", "vcc", "score", str(cfg.submission_dir),
        "--challenge-dir", str(cfg.challenge_dir),
        "--inflated-dir", str(cfg.inflated), "--archive", str(cfg.archive), *options.to_argv(),
        "--json", str(out / f"{variant.label}.json"), "--report", str(out / f"{variant.label}.txt"),
        "--shared-frames-dir", str(frames), "--quiet",
    ]  # fmt: skip
    if cfg.names_file is not None:
        argv += ["--names-file", str(cfg.names_file)]
    if cfg.official_truncation:
        argv.append("--official-truncation")
    return argv


def spread_summary(native: dict[str, Any], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per figure and per score term: the native value, min, max and spread over the variants."""
    def row(values: list[float], native_value: float) -> dict[str, float]:
        return {"native": native_value, "min": min(values), "max": max(values), "spread": max(values) - min(values)}

    summary = {f: row([r[f] for r in results.values()], native[f]) for f in _FIGURES}
    for term in _TERMS:
        summary[f"{term}_term"] = row([r["terms"][term] for r in results.values()], native["terms"][term])
    return summary


def score_spread(cfg: ScoreConfig) -> dict[str, Any]:
    """Score `cfg` under every variant; returns the native report with a `spread` block added.

    Writes report.txt (the native variant's, as the runner would print it here) and the JSON
    report like a plain score, unless `cfg.write_reports` is off.
    """
    if not cfg.options.on_cpu:
        raise BadInput("--spread measures CPU numerics; it runs with --device cpu", fix="drop --device or --spread")
    if cfg.options.numerics != "native" or cfg.options.threads is not None:
        raise BadInput("--spread runs every profile and thread count itself",
                       fix="drop --numerics and --threads when asking for --spread")
    variants, skipped = spread_variants()
    work = Path(tempfile.mkdtemp(prefix="vcc-spread-"))
    results: dict[str, dict[str, Any]] = {}
    try:
        for variant in variants:
            env = profile_env(NUMERICS_PROFILES[variant.profile])
            proc = subprocess.run(_child_argv(cfg, variant, work, work / "frames"), env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            json_path = work / f"{variant.label}.json"
            if proc.returncode != 0 and not (cfg.official_truncation and json_path.is_file()):
                raise _child_error(variant, proc)
            results[variant.label] = json.loads(json_path.read_text())
        native_label = variants[0].label
        report = dict(results[native_label])
        report["spread"] = {
            "variants": [
                {"label": v.label, "profile": v.profile, "threads": results[v.label]["numerics"]["torch_threads"],
                 "class": results[v.label]["numerics"]["class"],
                 **{f: results[v.label][f] for f in _FIGURES}, "terms": results[v.label]["terms"]}
                for v in variants
            ],
            "skipped": skipped,
            "summary": spread_summary(results[native_label], results),
            "cost": f"{len(variants)} processes: one candidate forward each, plus one ground-truth forward each "
            "whose ground truth was not cached",
        }
        if cfg.write_reports:
            write_atomic(cfg.report, (work / f"{native_label}.txt").read_text(encoding="utf-8"))
            write_json_atomic(cfg.json_report, report)
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _child_error(variant: SpreadVariant, proc: subprocess.CompletedProcess[str]) -> VccError:
    tail = (proc.stderr or "").strip().splitlines()[-6:]
    message = f"the {variant.label} variant of --spread failed (exit {proc.returncode}): " + " | ".join(tail)
    if proc.returncode == BadInput.exit_code:
        return BadInput(message)
    return HarnessError(message)


def spread_text(spread: dict[str, Any]) -> str:
    """The terminal table: each variant's figures, then min/max/spread per figure."""
    def cols(posenet: float, segnet: float, score: float) -> str:
        return f"{posenet!r:>25} {segnet!r:>25} {score!r:>25}"

    out = ["  numerics spread (same candidate, every profile and thread count this machine runs):",
           f"    {'variant':<16}{'class':<22}{'posenet':>25} {'segnet':>25} {'score':>25}"]
    for v in spread["variants"]:
        out.append(f"    {v['label']:<16}{v['class']:<22}" + cols(v["posenet_distortion"], v["segnet_distortion"],
                                                                  v["score"]))
    s = spread["summary"]
    for key in ("min", "max", "spread"):
        out.append(f"    {key:<38}" + cols(s["posenet_distortion"][key], s["segnet_distortion"][key], s["score"][key]))
    for skip in spread["skipped"]:
        out.append(f"    skipped {skip['profile']}: {skip['reason']}")
    return "\n".join(out)
