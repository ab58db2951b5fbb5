"""Reports: the official report.txt text, vcc's JSON report, the terminal summary (atomic writes: base)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcc.base import NAMES_FILE, score_formula, write_atomic, write_json_atomic

if TYPE_CHECKING:
    from ._assets import Challenge
    from ._config import ScoreConfig
    from ._result import ScoreResult


__all__ = [
    "comparison_text",
    "write_atomic",
    "write_json_atomic",
    "score_formula",
    "write_score_reports",
    "official_config_block",
    "job_report_paths",
    "official_report_text",
    "terminal_summary",
    "numerics_line",
    "marginal_text",
    "reports_line",
]


def reports_line(report: Path, json_report: Path, result: dict[str, Any]) -> str:
    """report.txt's companion line: where the reports are and which axis the score stands for
    (report.txt itself stays the official text, byte for byte)."""
    axis = result.get("axis", {}).get("name")
    return f"reports: {report}  {json_report}" + (f"  (axis {axis})" if axis else "")


def write_score_reports(result: ScoreResult, report_path: Path, json_path: Path) -> None:
    """report.txt (the primary target's official text) and the JSON report, each atomically."""
    write_atomic(report_path, result.primary.official_report)
    write_json_atomic(json_path, result.as_json())


def job_report_paths(name: str) -> dict[str, str]:
    """The paths the official job hands evaluate.py for submission `name`, as report.txt prints them.

    The workflow runs `evaluate.sh --submission-dir ./submissions/NAME` from the repository root
    (SPEC.md sections 2 and 8), and evaluate.sh passes `S/report.txt` and the root's videos/ and
    names file on, the root taken as `.`. A replay that scores a staged copy (`vcc run`) gives
    these so that its report.txt reads as the runner's.
    """
    sub = f"./submissions/{name}"
    return {
        "submission_dir": sub,
        "report": f"{sub}/report.txt",
        "uncompressed_dir": "./videos",
        "video_names_file": f"./{NAMES_FILE}",
    }


def official_config_block(cfg: ScoreConfig, challenge: Challenge) -> dict[str, object]:
    """The "Evaluation config" block of report.txt: evaluate.py's arguments, paths as given."""
    given = cfg.report_paths or {}
    return {
        "batch_size": cfg.options.batch_size,
        "device": cfg.options.device,
        "num_threads": 2,  # evaluate.py's DALI threads, printed whatever the decode path
        "prefetch_queue_depth": 4,
        "report": given.get("report", cfg.report),
        "seed": 1234,
        "submission_dir": given.get("submission_dir", cfg.submission_dir),
        "uncompressed_dir": given.get("uncompressed_dir", challenge.videos_dir),
        "video_names_file": given.get("video_names_file", challenge.names_file),
    }


def official_report_text(
    *,
    config: dict[str, object],
    samples: int,
    posenet: float,
    segnet: float,
    archive_bytes: int,
    original_bytes: int,
    rate: float,
    score: float,
) -> str:
    """report.txt as evaluate.py writes it: config keys sorted, then the results block."""
    lines = ["=== Evaluation config ==="]
    lines += [f"  {k}: {config[k]}" for k in sorted(config)]
    lines += [
        f"=== Evaluation results over {samples} samples ===",
        f"  Average PoseNet Distortion: {posenet:.8f}",
        f"  Average SegNet Distortion: {segnet:.8f}",
        f"  Submission file size: {archive_bytes:,} bytes",
        f"  Original uncompressed size: {original_bytes:,} bytes",
        f"  Compression Rate: {rate:.8f}",
        f"  Final score: 100*segnet_dist + \u221a(10*posenet_dist) + 25*rate = {score:.2f}",
    ]
    return "\n".join(lines) + "\n"


def terminal_summary(result: dict[str, Any]) -> str:
    """Each term, its contribution to the score, and the score at full precision."""
    terms = result["terms"]
    rows = [
        ("SegNet distortion", result["segnet_distortion"], terms["segnet"], "100 * segnet"),
        ("PoseNet distortion", result["posenet_distortion"], terms["posenet"], "sqrt(10 * posenet)"),
        ("Rate", result["rate"], terms["rate"], "25 * rate"),
    ]
    shares = {n: t["share"] for n, t in (result.get("decomposition") or {}).get("terms", {}).items()}
    out = [
        f"vcc score ({result['decode']} ground truth, {result['device']}, {result['samples']} samples)",
        f"  {'term':<20}{'value':>24}  {'contribution':>22}  {'share':>8}",
    ]
    for (name, value, contribution, how), key in zip(rows, ("segnet", "posenet", "rate"), strict=True):
        share = f"{100 * shares[key]:7.3f}%" if shares.get(key) is not None else f"{'':>8}"
        out.append(f"  {name:<20}{value!r:>24}  {contribution!r:>22}  {share}  = {how}")
    if "numerics" in result:
        out.append(f"  {'numerics':<20}{numerics_line(result['numerics'])}")
    out.append(f"  {'score':<20}{result['score']!r:>24}  (official report shows {result['score']:.2f})")
    if "axis" in result:
        from ._axis import axis_line

        out.append(f"  {axis_line(result['axis'])}")
    if "decomposition" in result:
        out.append(marginal_text(result["decomposition"]["marginal"]))
    for name, target in result.get("targets", {}).items():
        if name == result["decode"]:
            continue
        t = target["terms"]
        axis = f" [axis {target['axis']['name']}]" if "axis" in target else ""
        out.append(f"  against {name} ground truth{axis}: score {target['score']!r}  (segnet term {t['segnet']!r}, "
                   f"posenet term {t['posenet']!r}, rate term {t['rate']!r})")
    if "comparison" in result:
        out.append(comparison_text(result["comparison"]))
    for w in result.get("warnings", []):
        out.append(f"  warning: {w}")
    return "\n".join(out)


def marginal_text(m: dict[str, Any]) -> str:
    """What one more unit of each costs, in score units."""
    pose = m.get("score_per_posenet")
    pose_text = "infinite at posenet 0" if pose is None else (
        f"{pose!r} per unit of posenet ({m['score_per_pair_posenet']!r} per unit in one pair)")
    return (f"  marginal costs: one archive byte {m['score_per_byte']!r}; one SegNet pixel in one pair "
            f"{m['score_per_segnet_pixel']!r}; d score/d posenet {pose_text}")


def numerics_line(numerics: dict[str, Any]) -> str:
    """The CPU numerics class and what set it, in one line."""
    caps = ", ".join(f"{k}={v}" for k, v in numerics.get("caps", {}).items() if v)
    text = (f"class {numerics.get('class')} (profile {numerics.get('profile')}, {numerics.get('torch_threads')} "
            f"torch threads{', ' + caps if caps else ''})")
    if "gpu" in numerics:
        text += f"; GPU {numerics['gpu'].get('name')} (sm {numerics['gpu'].get('compute_capability')})"
    return text


def comparison_text(comparison: dict[str, Any]) -> str:
    d = comparison["deltas"]
    out = [f"  {comparison['to']} minus {comparison['from']}: score {d['score']:+.6f} "
           f"(segnet term {d['segnet']:+.6f}, posenet term {d['posenet']:+.6f}, rate term {d['rate']:+.6f})",
           "  pairs whose contribution moves most:"]
    for m in comparison["pairs_moving_most"][:5]:
        out.append(f"    {m['video']} pair {m['pair']:4d}: score {m['score_delta']:+.6f}  "
                   f"segnet {m['segnet_delta']:+.5f}  posenet {m['posenet_delta']:+.3e}")
    return "\n".join(out)
