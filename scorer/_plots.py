"""`vcc plot`: PNGs of a score report (matplotlib, Agg, no display needed).

- distortions.png: each pair's SegNet and PoseNet distortion over the video(s), the worst marked;
- breakdown.png: the score's three terms (contribution and share) per target, with marginal costs;
- segnet_worst.png: for the k worst SegNet pairs, the original and candidate frame, both SegNet
  maps and the disagreement, in the five-class palette;
- posenet_worst.png: for the k worst PoseNet pairs, both sides' six pose outputs.
The last two re-run the nets on those pairs (scorer._frames, which imports torch); the first two
need only the report. `plots.json` in the output directory lists every PNG with its caption.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vcc.base import OFFICIAL_BATCH_SIZE, Progress, write_atomic

from ._breakdown import TERM_NAMES, target_decomposition

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ._frames import PairView

__all__ = ["SEG_PALETTE", "PlotSet", "make_plots", "worst_pairs", "plot_distortions", "plot_breakdown",
           "plot_segnet_pairs", "plot_posenet_pairs", "seg_colors"]

# One colour per SegNet class (0..4), far apart so a flipped pixel shows.
SEG_PALETTE = np.array([[128, 64, 128], [244, 215, 0], [70, 130, 180], [220, 20, 60], [60, 179, 75]], np.uint8)
_TERM_COLOURS = {"segnet": "#4c72b0", "posenet": "#dd8452", "rate": "#55a868"}
_INDEX = "plots.json"


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig: Figure, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_atomic(path, buf.getvalue())
    return path


def _targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    others = [t for name, t in (report.get("targets") or {}).items() if name != report["decode"]]
    return [report, *others]


def worst_pairs(report: dict[str, Any], key: str, k: int) -> list[dict[str, Any]]:
    """The report's k pairs with the highest `key` distortion ("segnet" or "posenet"), worst first."""
    return sorted(report["per_pair"], key=lambda p: p[key], reverse=True)[:k]


def plot_distortions(report: dict[str, Any], path: Path, k: int) -> Path:
    """Both distortions per pair along the video(s), each target a line, the k worst of the primary marked."""
    pairs = report["per_pair"]
    x = np.arange(len(pairs))
    fig = _figure(12, 6)
    axes = fig.subplots(2, 1, sharex=True)
    for ax, key, label in ((axes[0], "segnet", "SegNet distortion (fraction of pixels)"),
                           (axes[1], "posenet", "PoseNet distortion (MSE of 6 outputs)")):
        for t in _targets(report):
            ax.plot(x[: len(t["per_pair"])], [p[key] for p in t["per_pair"]], marker=".", lw=1,
                    label=f"{t['decode']} (mean {t[key + '_distortion']:.6g})")
        index = {(p["video"], p["pair"]): i for i, p in enumerate(pairs)}
        worst = worst_pairs(report, key, k)
        wx = [index[(p["video"], p["pair"])] for p in worst]
        ax.scatter(wx, [p[key] for p in worst], s=80, facecolors="none", edgecolors="red", lw=1.5, zorder=3,
                   label=f"{len(worst)} worst ({report['decode']})")
        for i, p in zip(wx, worst, strict=True):
            ax.annotate(str(p["pair"]), (i, p[key]), textcoords="offset points", xytext=(0, 6), ha="center",
                        fontsize=7, color="red")
        starts = [i for i, p in enumerate(pairs) if i and p["video"] != pairs[i - 1]["video"]]
        for s in starts:
            ax.axvline(s - 0.5, color="gray", ls=":", lw=1)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    videos = list(dict.fromkeys(p["video"] for p in pairs))
    axes[1].set_xlabel(f"pair, in scoring order (videos: {', '.join(videos)}; red: the worst, labelled by pair index)")
    fig.suptitle(f"Per-pair distortions, {report['samples']} pairs")
    return _save(fig, path)


def plot_breakdown(report: dict[str, Any], path: Path) -> Path:
    """Each target's score as its three contributions, labelled with value and share; marginal costs below."""
    targets = _targets(report)
    fig = _figure(13, 1.8 + 1.2 * len(targets))
    ax = fig.subplots()
    for row, t in enumerate(targets):
        d = target_decomposition(report, t)
        left = 0.0
        for name in TERM_NAMES:
            term = d["terms"][name]
            width = term["contribution"]
            ax.barh(row, width, height=0.6, left=left, color=_TERM_COLOURS[name], edgecolor="white",
                    label=f"{name} term ({term['formula']})" if row == 0 else None)
            if (term["share"] or 0) > 0.15:  # wide enough to hold its label
                ax.text(left + width / 2, row, f"{name}\n{width:.4g} ({100 * term['share']:.1f}%)", ha="center",
                        va="center", fontsize=8, color="white")
            left += width
        lines = [f"score {t['score']!r}"] + [
            f"{n} {d['terms'][n]['contribution']:.6g} ({100 * (d['terms'][n]['share'] or 0):.2f}%)" for n in TERM_NAMES]
        ax.text(left, row, "  " + "\n  ".join(lines), va="center", fontsize=8)
    ax.set_yticks(range(len(targets)), [f"{t['decode']}" for t in targets])
    ax.invert_yaxis()
    ax.set_xlim(0, max(t["score"] for t in targets) * 1.45)
    ax.set_xlabel("score units (lower is better)")
    m = target_decomposition(report, report)["marginal"]
    if m["score_per_byte"] is not None and m["score_per_segnet_pixel"] is not None:
        pose = m.get("score_per_posenet")
        ax.set_title(
            f"marginal costs ({report['decode']}): 1 archive byte = {m['score_per_byte']:.3g}; one SegNet pixel in "
            f"one pair = {m['score_per_segnet_pixel']:.3g}; d score/d posenet = "
            f"{'inf' if pose is None else f'{pose:.4g}'}", fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle("Score breakdown")
    return _save(fig, path)


def seg_colors(classes: np.ndarray) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) palette colours."""
    return SEG_PALETTE[np.clip(classes, 0, len(SEG_PALETTE) - 1)]


def _disagreement(view: PairView) -> np.ndarray:
    """The candidate's class where the two maps differ; dark grey where they agree."""
    out = np.full((*view.original_seg.shape, 3), 40, np.uint8)
    differ = view.original_seg != view.candidate_seg
    out[differ] = seg_colors(view.candidate_seg)[differ]
    return out


def plot_segnet_pairs(views: list[PairView], path: Path, note: str | None = None) -> Path:
    """One row per pair: original frame, candidate frame, both SegNet maps, the disagreement."""
    from matplotlib.patches import Patch

    fig = _figure(20, 0.6 + 3.1 * len(views))
    axes = np.atleast_2d(fig.subplots(len(views), 5, squeeze=False))
    titles = ("original (last frame of the pair)", "candidate", "SegNet on original", "SegNet on candidate",
              "disagreement (candidate's class)")
    for row, v in zip(axes, views, strict=True):
        images = (v.original, v.candidate, seg_colors(v.original_seg), seg_colors(v.candidate_seg), _disagreement(v))
        for col, (ax, img) in enumerate(zip(row, images, strict=True)):
            ax.imshow(img, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(titles[col], fontsize=9)
        flipped = int((v.original_seg != v.candidate_seg).sum())
        row[0].set_ylabel(f"{v.video} pair {v.pair}\nframes {2 * v.pair},{2 * v.pair + 1}", fontsize=9)
        row[4].set_title(f"disagreement: {flipped} px, segnet {v.segnet:.5f}\n(report {v.reported_segnet:.5f})",
                         fontsize=9)
    fig.legend(handles=[Patch(color=SEG_PALETTE[c] / 255, label=f"class {c}") for c in range(len(SEG_PALETTE))],
               loc="outside lower center", ncol=len(SEG_PALETTE), fontsize=9)
    fig.suptitle("Worst SegNet pairs" + (f" ({note})" if note else ""))
    return _save(fig, path)


def plot_posenet_pairs(views: list[PairView], path: Path, note: str | None = None) -> Path:
    """One panel per pair: the six compared PoseNet outputs on the original and on the candidate."""
    cols = min(len(views), 3)
    rows = -(-len(views) // cols)
    fig = _figure(5 * cols, 0.8 + 3.2 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    dims = np.arange(len(views[0].original_pose))
    for ax, v in zip(axes, views, strict=False):
        ax.bar(dims - 0.2, v.original_pose, width=0.4, label="original", color="#4c72b0")
        ax.bar(dims + 0.2, v.candidate_pose, width=0.4, label="candidate", color="#dd8452")
        ax.axhline(0, color="black", lw=0.5)
        ax.set_xticks(dims, [f"pose[{d}]" for d in dims], fontsize=8)
        ax.set_title(f"{v.video} pair {v.pair}: posenet {v.posenet:.4g}\n(report {v.reported_posenet:.4g})",
                     fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    for ax in axes[len(views):]:
        ax.set_visible(False)
    fig.suptitle("Worst PoseNet pairs: the 6 outputs the distortion compares" + (f" ({note})" if note else ""))
    return _save(fig, path)


class PlotSet:
    """The PNGs written to one directory, with captions (plots.json), in the order written."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.items: list[dict[str, str]] = []

    def add(self, name: str, caption: str, draw: Callable[[Path], Path]) -> None:
        path = draw(self.out_dir / name)
        self.items.append({"file": path.name, "caption": caption})

    def write_index(self, report_path: Path | None) -> Path:
        path = self.out_dir / _INDEX
        write_atomic(path, json.dumps({"report": str(report_path) if report_path else None,
                                       "plots": self.items}, indent=2) + "\n")
        return path

    @staticmethod
    def read_index(out_dir: Path) -> list[dict[str, str]]:
        path = Path(out_dir) / _INDEX
        return json.loads(path.read_text())["plots"] if path.is_file() else []


def make_plots(report: dict[str, Any], out_dir: Path, *, k: int = 4, frames: bool = True, device: str = "cpu",
               report_path: Path | None = None, progress: bool = True) -> PlotSet:
    """Every plot of the report into `out_dir`; the frame plots (torch) only with `frames`."""
    plots = PlotSet(out_dir)
    steps = 2 + (2 if frames else 0)
    with Progress(steps, "plot", "plot", enabled=progress) as bar:
        plots.add("distortions.png", f"Per-pair SegNet and PoseNet distortion; the {k} worst pairs circled",
                  lambda p: plot_distortions(report, p, k))
        bar.update(1)
        plots.add("breakdown.png", "The score's terms: contribution and share per target, with marginal costs",
                  lambda p: plot_breakdown(report, p))
        bar.update(1)
        if frames:
            from ._frames import rerun_pairs

            seg_worst = [(p["video"], p["pair"]) for p in worst_pairs(report, "segnet", k)]
            pose_worst = [(p["video"], p["pair"]) for p in worst_pairs(report, "posenet", k)]
            views, note = rerun_pairs(report, list(dict.fromkeys(seg_worst + pose_worst)), report_path=report_path,
                                      device=device, batch_size=int(report.get("batch_size", OFFICIAL_BATCH_SIZE)),
                                      progress=progress)
            by_pair = {(v.video, v.pair): v for v in views}
            plots.add("segnet_worst.png", f"The {len(seg_worst)} worst SegNet pairs: frames, both SegNet maps and "
                      "their disagreement (five-class palette)",
                      lambda p: plot_segnet_pairs([by_pair[x] for x in seg_worst], p, note))
            bar.update(1)
            plots.add("posenet_worst.png", f"The {len(pose_worst)} worst PoseNet pairs: the six compared outputs "
                      "on the original and the candidate",
                      lambda p: plot_posenet_pairs([by_pair[x] for x in pose_worst], p, note))
            bar.update(1)
    plots.write_index(report_path)
    return plots
