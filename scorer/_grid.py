"""`vcc score --grid`: the candidate against each ground truth with the nets on each device present.

The official job posts two figures for one archive: PyAV ground truth with CPU kernels (the CPU
runner) and DALI ground truth with CUDA kernels (the T4 runner). The 2x2 grid of (ground truth)
x (nets' device) splits the gap between them into the decoder's share (a row change in one
column) and the kernels' share (a column change in one row). Per device, one score computes
both ground truths with one candidate forward (decode "both"); the decoded frames are shared
between the devices through one frames directory. Without CUDA the CPU column alone runs (the
decoder's share), and the grid says that the kernel column needs a GPU. Without DALI 1.52 on a
GPU machine the DALI row on CUDA uses the emulated frames.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from vcc.base import VccError

from ._axis import PUBLISHED_T4_MINUS_CPU, axis_of_target
from ._breakdown import TERM_NAMES
from ._compare import term_deltas
from ._config import ScoreConfig
from ._validate import CheckedSubmission

__all__ = ["GRID_SCHEMA", "GRID_TRUTHS", "GRID_DEVICES", "score_grid", "grid_text", "grid_deltas"]

GRID_SCHEMA = 1
GRID_TRUTHS = ("pyav", "dali")  # rows: the ground truth (dali: real DALI on CUDA, its emulation on the CPU)
GRID_DEVICES = ("cpu", "cuda")  # columns: where the nets run
_CELL_KEYS = ("decode", "device", "samples", "posenet_distortion", "segnet_distortion", "rate", "score", "terms")


def _cell(report: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    cell = {k: target[k] for k in _CELL_KEYS if k in target}
    cell["device"] = report["device"]
    cell["axis"] = axis_of_target(target["decode"], report["device"])
    cell["numerics"] = report.get("numerics")
    return cell


def _targets_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return report.get("targets") or {report["decode"]: report}


def _row(decode: str) -> str:
    return "pyav" if decode == "pyav" else "dali"


def _device_plan(device: str) -> tuple[list[str], str | None]:
    """The `decode` values to score on `device` (one run each) and a note, or ([], why not)."""
    if device == "cpu":
        return ["both"], None
    import torch

    if not torch.cuda.is_available():
        return [], "the kernel column needs a GPU: torch sees no CUDA device here"
    from ._dali import require_pinned_dali

    try:
        require_pinned_dali()
    except VccError as exc:
        return ["pyav", "dali-emulated"], f"DALI row on CUDA uses emulated frames: {exc}"
    return ["both"], None


def score_grid(cfg: ScoreConfig, checked: CheckedSubmission | None = None) -> dict[str, Any]:
    """Score the grid's cells this machine can run; returns the grid report (see grid_text)."""
    from ._score import score_submission

    cells: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    missing: dict[str, str] = {}
    versions: dict[str, Any] = {}
    warnings: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vcc-grid-frames-") as frames:
        for device in GRID_DEVICES:
            decodes, note = _device_plan(device)
            if not decodes:
                missing[device] = note or "not available"
                continue
            if note:
                notes.append(note)
            for decode in decodes:
                options = dataclasses.replace(cfg.options, device=device, decode=decode, grid=False,
                                              workers=cfg.options.workers if device == "cpu" else None)
                run = dataclasses.replace(cfg, options=options, write_reports=False, shared_frames_dir=Path(frames))
                report = score_submission(run, checked).as_json()
                versions[device] = report["versions"]
                warnings += [w for w in report.get("warnings", []) if w not in warnings]
                for target in _targets_of(report).values():
                    cells[f"{_row(target['decode'])}/{device}"] = _cell(report, target)
    return {
        "vcc_grid_schema": GRID_SCHEMA,
        "rows": list(GRID_TRUTHS),
        "columns": list(GRID_DEVICES),
        "dali_variant": cfg.options.dali_variant,
        "cells": cells,
        "missing_columns": missing,
        "deltas": grid_deltas(cells),
        "published_t4_minus_cpu": PUBLISHED_T4_MINUS_CPU,
        "versions": versions,
        "notes": notes,
        "warnings": warnings,
    }


def _delta(cells: dict[str, dict[str, Any]], a: str, b: str, meaning: str) -> dict[str, Any] | None:
    """b minus a per term, with the distortions' ratios; None unless both cells ran."""
    if a not in cells or b not in cells:
        return None
    first, second = cells[a], cells[b]
    out: dict[str, Any] = {"from": a, "to": b, "meaning": meaning, **term_deltas(first, second)}
    for name in ("posenet", "segnet"):
        low = first[f"{name}_distortion"]
        out[f"{name}_distortion_ratio"] = second[f"{name}_distortion"] / low if low else None
    return out


def grid_deltas(cells: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The deltas that attribute the CPU-runner -> T4-runner gap: decoder (a row change within a
    column), kernels (a column change within a row), the whole gap, and what neither explains
    alone (the interaction: the gap minus the decoder on CPU minus the kernels on DALI frames)."""
    deltas = {
        "decoder_on_cpu": _delta(cells, "pyav/cpu", "dali/cpu", "DALI's frames instead of PyAV's, CPU nets"),
        "decoder_on_cuda": _delta(cells, "pyav/cuda", "dali/cuda", "DALI's frames instead of PyAV's, CUDA nets"),
        "kernels_on_pyav": _delta(cells, "pyav/cpu", "pyav/cuda", "CUDA kernels instead of CPU's, PyAV frames"),
        "kernels_on_dali": _delta(cells, "dali/cpu", "dali/cuda", "CUDA kernels instead of CPU's, DALI frames"),
        "t4_minus_cpu": _delta(cells, "pyav/cpu", "dali/cuda", "the T4 runner's figure minus the CPU runner's"),
    }
    gap, dec, ker = deltas["t4_minus_cpu"], deltas["decoder_on_cpu"], deltas["kernels_on_dali"]
    if gap and dec and ker:
        deltas["interaction"] = {n: gap[n] - dec[n] - ker[n] for n in (*TERM_NAMES, "score")}
    return deltas


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def grid_text(grid: dict[str, Any]) -> str:
    """The 2x2 (or the part that ran), then each delta per term."""
    cells = grid["cells"]
    out = ["vcc score --grid: the candidate against each ground truth, nets on each device",
           f"  {'ground truth':<24}{'device':<8}{'score':>22}{'segnet term':>22}{'posenet term':>22}"
           f"{'posenet dist':>16}{'segnet dist':>14}  axis"]
    for row in grid["rows"]:
        for device in grid["columns"]:
            cell = cells.get(f"{row}/{device}")
            if cell is None:
                out.append(f"  {row:<24}{device:<8}{'(not run: ' + grid['missing_columns'].get(device, '?') + ')'}")
                continue
            t = cell["terms"]
            out.append(f"  {cell['decode']:<24}{device:<8}{cell['score']!r:>22}{t['segnet']!r:>22}"
                       f"{t['posenet']!r:>22}{cell['posenet_distortion']:>16.8f}{cell['segnet_distortion']:>14.8f}"
                       f"  {cell['axis']}")
    out.append("  deltas (to minus from):")
    for name, d in grid["deltas"].items():
        if d is None:
            continue
        if name == "interaction":
            out.append(f"  {name:<18}score {d['score']:+.8f}  (segnet term {d['segnet']:+.8f}, posenet term "
                       f"{d['posenet']:+.8f})")
            continue
        pose_ratio, seg_ratio = _fmt(d["posenet_distortion_ratio"], ".4f"), _fmt(d["segnet_distortion_ratio"], ".4f")
        out.append(f"  {name:<18}score {d['score']:+.8f}  segnet term {d['segnet']:+.8f}  posenet term "
                   f"{d['posenet']:+.8f}  rate term {d['rate']:+.8f}  posenet x{pose_ratio}  segnet x{seg_ratio}"
                   f"  [{d['from']} -> {d['to']}]")
    for device, why in grid["missing_columns"].items():
        out.append(f"  {device} column not run: {why}")
    gap = grid["published_t4_minus_cpu"]
    out.append(f"  for scale: the published T4 - CPU gap is {gap['score']:+.4f} +- {gap['score_spread']:.4f} points "
               f"(PoseNet x{gap['posenet_ratio']}, SegNet x{gap['segnet_ratio']}; {gap['source']})")
    for note in grid["notes"]:
        out.append(f"  note: {note}")
    return "\n".join(out)
