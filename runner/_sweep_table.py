"""A sweep's results: one table (pandas; CSV, and Parquet where pyarrow is installed), its Pareto
front (the rate term against the distortion terms), a scatter plot, and the best points.

The table is built from the points' point.json records alone, so `vcc sweep --top K --out DIR`
reads a finished (or half-finished) sweep without rerunning anything.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcc.base import BadInput, write_atomic

if TYPE_CHECKING:  # pandas loads only where a table is built
    import pandas as pd

__all__ = ["SWEEP_RECORD", "TABLE_CSV", "TABLE_PARQUET", "PLOT_PNG", "TIMING_COLUMNS", "build_table",
           "pareto_mask", "write_table", "plot_sweep", "top_points", "top_text", "load_sweep_table"]

SWEEP_RECORD = "sweep.json"
TABLE_CSV = "results.csv"
TABLE_PARQUET = "results.parquet"
PLOT_PNG = "rate-distortion.png"
# Columns that measure this machine rather than the submission: they differ from run to run.
TIMING_COLUMNS = ("compress_s", "inflate_s", "headroom_s", "wall_s")


def build_table(parameters: list[str], point_ids: list[str], records: dict[str, dict[str, Any] | None]) -> pd.DataFrame:
    """One row per point, in the SPEC's order; a point without a record is `not_run`."""
    import pandas as pd

    rows = []
    for pid in point_ids:
        rec = records.get(pid)
        row: dict[str, Any] = {"point": pid}
        if rec is None:
            rows.append({**row, "verdict": "not_run"})
            continue
        row.update({p: rec["params"].get(p) for p in parameters})
        s = rec.get("score") or {}
        terms = s.get("terms") or {}
        row.update({
            "verdict": str(rec["verdict"]),  # a Verdict in memory, its string once read back
            "archive_bytes": rec.get("archive_bytes"),
            "posenet_distortion": s.get("posenet_distortion"),
            "segnet_distortion": s.get("segnet_distortion"),
            "rate": s.get("rate"),
            "posenet_term": terms.get("posenet"),
            "segnet_term": terms.get("segnet"),
            "rate_term": terms.get("rate"),
            # The score is rate term + distortion term, so the best score lies on this front.
            "distortion_term": (terms["segnet"] + terms["posenet"]) if terms else None,
            "score": s.get("score"),
            "compress_s": (rec.get("compress") or {}).get("seconds"),
            "inflate_s": rec.get("inflate_s"),
            "headroom_s": rec.get("headroom_s"),
            "wall_s": rec.get("wall_s"),
            "message": (rec.get("message") or "").splitlines()[0][:200] if rec.get("message") else "",
        })
        rows.append(row)
    columns = ["point", *parameters, "verdict", "archive_bytes", "posenet_distortion", "segnet_distortion", "rate",
               "posenet_term", "segnet_term", "rate_term", "distortion_term", "score", "pareto", *TIMING_COLUMNS,
               "message"]
    table = pd.DataFrame(rows, columns=columns)
    table["pareto"] = pareto_mask(table)
    return table


def pareto_mask(table: pd.DataFrame) -> list[bool]:
    """Scored points no other scored point beats on both the rate term and the distortion term."""
    scored = [(i, r, d) for i, r, d in zip(table.index, table["rate_term"], table["distortion_term"], strict=True)
              if _finite(r) and _finite(d)]
    front = {i for i, r, d in scored
             if not any(r2 <= r and d2 <= d and (r2 < r or d2 < d) for _, r2, d2 in scored)}
    return [i in front for i in table.index]


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def write_table(table: pd.DataFrame, out: Path) -> list[Path]:
    """results.csv always, results.parquet where pyarrow is installed; both written atomically."""
    written = [out / TABLE_CSV]
    buf = io.StringIO()
    table.to_csv(buf, index=False)
    write_atomic(out / TABLE_CSV, buf.getvalue())
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return written
    data = io.BytesIO()
    table.to_parquet(data, index=False)
    write_atomic(out / TABLE_PARQUET, data.getvalue())
    return [*written, out / TABLE_PARQUET]


def plot_sweep(table: pd.DataFrame, parameters: list[str], path: Path, title: str) -> Path:
    """Scatter of the rate term against the distortion term, coloured by score, the Pareto front marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = table[table["score"].notna()]
    fig, ax = plt.subplots(figsize=(8, 6), dpi=120)
    if len(ok):
        sc = ax.scatter(ok["rate_term"], ok["distortion_term"], c=ok["score"], cmap="viridis_r", s=70,
                        edgecolors="black", linewidths=0.5, zorder=3)
        fig.colorbar(sc, ax=ax, label="score (lower is better)")
        front = ok[ok["pareto"]].sort_values("rate_term")
        ax.plot(front["rate_term"], front["distortion_term"], color="tab:red", lw=1.5, zorder=2,
                label=f"Pareto front ({len(front)} points)")
        ax.scatter(front["rate_term"], front["distortion_term"], s=180, facecolors="none", edgecolors="tab:red",
                   linewidths=1.5, zorder=4)
        best = ok.loc[ok["score"].idxmin()]
        ax.scatter([best["rate_term"]], [best["distortion_term"]], marker="*", s=260, color="gold",
                   edgecolors="black", zorder=5, label=f"best: {_label(best, parameters)} ({best['score']:.4g})")
        for _, row in ok.iterrows():
            ax.annotate(_label(row, parameters), (row["rate_term"], row["distortion_term"]), fontsize=7,
                        xytext=(6, 4), textcoords="offset points")
        ax.legend(loc="upper right", fontsize=8)
    failed = table[table["score"].isna()]
    if len(failed):
        ax.text(0.01, 0.01, f"{len(failed)} point(s) without a score: "
                + ", ".join(f"{p} ({v})" for p, v in zip(failed["point"], failed["verdict"], strict=True))[:160],
                transform=ax.transAxes, fontsize=7, color="tab:red", va="bottom")
    ax.margins(x=0.15, y=0.1)  # room for the labels of the points at the edges
    ax.set_xlabel("rate term: 25 x archive bytes / original bytes")
    ax.set_ylabel("distortion terms: 100 x segnet + sqrt(10 x posenet)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    write_atomic(path, buf.getvalue())
    return path


def _label(row: Any, parameters: list[str]) -> str:
    return ",".join(f"{p}={row[p]}" for p in parameters)


def top_points(table: pd.DataFrame, k: int) -> pd.DataFrame:
    """The K scored points with the lowest score (ties: fewer archive bytes first)."""
    return table[table["score"].notna()].sort_values(["score", "archive_bytes"], kind="stable").head(k)


def top_text(table: pd.DataFrame, parameters: list[str], k: int) -> str:
    best = top_points(table, k)
    if best.empty:
        return "no point has a score yet"
    lines = [f"best {len(best)} of {int(table['score'].notna().sum())} scored points (lower score is better):"]
    for rank, (_, row) in enumerate(best.iterrows(), 1):
        mark = " pareto" if row["pareto"] else ""
        lines.append(
            f"  {rank:2d}. {_label(row, parameters):30s} score {row['score']:.6f}  rate term {row['rate_term']:.6f}  "
            f"distortion {row['distortion_term']:.6f}  {int(row['archive_bytes']):,} bytes{mark}"
        )
    return "\n".join(lines)


def load_sweep_table(out: Path) -> tuple[pd.DataFrame, list[str]]:
    """The table of an existing sweep dir (from its sweep.json and points' records), and its parameters."""
    from ._sweep_point import read_point

    record_path = Path(out) / SWEEP_RECORD
    try:
        sweep = json.loads(record_path.read_text())
    except (OSError, ValueError) as e:
        raise BadInput("not a sweep results dir: no readable sweep.json", path=record_path,
                       fix="pass the --out dir of a `vcc sweep` run") from e
    ids = sweep["points"]
    records = {pid: read_point(Path(out) / "points" / pid) for pid in ids}
    return build_table(sweep["parameters"], ids, records), sweep["parameters"]
