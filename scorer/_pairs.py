"""The per-pair table: every scored pair of every target, with its share of each score term.

One row per (decode target, pair): where it is (video, pair index, frame indices, the official
batch it was summed in), its PoseNet and SegNet distortion, and its share of each term. Shares
are fractions of the term (they sum to 1 over a target's pairs); contributions are in score
units (they sum to the term: SegNet's exactly in the reals, PoseNet's by proportional
attribution of the concave sqrt, the rate's evenly). CSV always, Parquet when pyarrow is
installed (through pandas). Torch-free, except `reaccumulate` (the official float32 sums are torch's).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcc.base import OFFICIAL_BATCH_SIZE, BadInput, write_atomic

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PAIR_COLUMNS", "pair_rows", "pairs_table", "pairs_csv", "write_pairs", "pairs_outputs", "read_pairs",
           "reaccumulate", "have_parquet"]

PAIR_COLUMNS = (
    "decode", "pair_index", "video", "pair", "frame_first", "frame_second", "batch", "posenet", "segnet",
    "posenet_share", "segnet_share", "rate_share", "posenet_contribution", "segnet_contribution",
    "rate_contribution", "score_contribution",
)


def _targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target's figures, the primary first."""
    others = [t for name, t in (report.get("targets") or {}).items() if name != report["decode"]]
    return [report, *others]


def _target_rows(t: dict[str, Any], batch_size: int) -> list[dict[str, Any]]:
    pairs = t["per_pair"]
    n = len(pairs)
    pose_sum = sum(p["posenet"] for p in pairs)
    seg_sum = sum(p["segnet"] for p in pairs)
    terms = t["terms"]
    rows = []
    batch, video, in_video = -1, None, 0
    for i, p in enumerate(pairs):
        # The official loop batches each video's pairs from its first: a new video starts a new batch.
        if p["video"] != video or in_video == batch_size:
            batch, video, in_video = batch + 1, p["video"], 0
        in_video += 1
        pose_share = p["posenet"] / pose_sum if pose_sum else 0.0
        seg_share = p["segnet"] / seg_sum if seg_sum else 0.0
        contributions = (terms["posenet"] * pose_share, 100 * p["segnet"] / n, terms["rate"] / n)
        rows.append({
            "decode": t["decode"], "pair_index": i, "video": p["video"], "pair": p["pair"],
            "frame_first": 2 * p["pair"], "frame_second": 2 * p["pair"] + 1, "batch": batch,
            "posenet": p["posenet"], "segnet": p["segnet"],
            "posenet_share": pose_share, "segnet_share": seg_share, "rate_share": 1 / n,
            "posenet_contribution": contributions[0], "segnet_contribution": contributions[1],
            "rate_contribution": contributions[2], "score_contribution": sum(contributions),
        })
    return rows


def pair_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The table's rows as plain dicts (every target's pairs, the primary's first)."""
    batch_size = int(report.get("batch_size", OFFICIAL_BATCH_SIZE))
    return [row for t in _targets(report) for row in _target_rows(t, batch_size)]


def pairs_table(report: dict[str, Any]) -> pd.DataFrame:
    """The per-pair DataFrame of a score report (every target's pairs, the primary's first)."""
    import pandas as pd

    return pd.DataFrame(pair_rows(report), columns=list(PAIR_COLUMNS))


def pairs_csv(report: dict[str, Any]) -> str:
    """The table as CSV, floats at full precision (repr: shortest round-trip), so it reads back bit for bit.

    Written with the csv module, not pandas: `vcc score --pairs` also runs in the official
    checkout's environment (`--env official`), which has no pandas."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(PAIR_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(pair_rows(report))
    return buf.getvalue()


def have_parquet() -> bool:
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def pairs_outputs(path: Path) -> list[Path]:
    """The files `--pairs PATH` writes: the CSV (PATH, or its .csv sibling for a .parquet PATH) and,
    with pyarrow, the Parquet beside it. A .parquet PATH without pyarrow is bad input."""
    path = Path(path)
    if path.is_dir():
        raise BadInput("the per-pair table path is a directory", path=path,
                       fix=f"give a file path, e.g. {path / 'pairs.csv'}")
    if path.suffix == ".parquet":
        if not have_parquet():
            raise BadInput("writing Parquet needs pyarrow, which is not installed", path=path,
                           fix="pip install pyarrow, or give a .csv path")
        return [path.with_suffix(".csv"), path]
    return [path, path.with_suffix(".parquet")] if have_parquet() else [path]


def write_pairs(report: dict[str, Any], path: Path) -> list[Path]:
    """Write the report's table (atomically) as `pairs_outputs(path)` says; the paths written."""
    written = []
    for out in pairs_outputs(path):
        if out.suffix == ".parquet":
            buf = io.BytesIO()
            pairs_table(report).to_parquet(buf, index=False)
            write_atomic(out, buf.getvalue())
        else:
            write_atomic(out, pairs_csv(report))
        written.append(out)
    return written


def read_pairs(path: Path, report: dict[str, Any] | None = None, report_path: Path | None = None) -> pd.DataFrame:
    """A per-pair table written by `write_pairs`; with `report`, refused unless it is that report's."""
    import pandas as pd

    path = Path(path)
    fix = (f"regenerate it: vcc pairs {report_path or 'REPORT.json'} -o {path}" if report is not None
           else "write it with `vcc score --pairs PATH` or `vcc pairs REPORT.json -o PATH`")
    if not path.is_file():
        raise BadInput("per-pair table not found" if not path.exists() else "per-pair table path is not a file",
                       path=path, fix=fix)
    try:
        if path.suffix == ".parquet":
            table = pd.read_parquet(path)
        else:  # before pandas 3 the default float parser can miss the last bit
            precise = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
            table = pd.read_csv(path, **precise)
    except Exception as exc:  # pandas and pyarrow raise many types for a bad file
        raise BadInput(f"cannot read the per-pair table: {exc}", path=path, fix=fix) from None
    missing = [c for c in PAIR_COLUMNS if c not in table.columns]
    if missing:
        raise BadInput(f"not a vcc per-pair table (no {', '.join(missing)} column)", path=path, fix=fix)
    if report is not None:
        expected = pairs_table(report)
        key = ["decode", "video", "pair", "posenet", "segnet"]
        mine = table[key].reset_index(drop=True)
        theirs = expected[key].reset_index(drop=True)
        if len(mine) != len(theirs) or not mine.equals(theirs.astype(mine.dtypes.to_dict())):
            what = (f"{len(mine)} rows, the report has {len(theirs)}" if len(mine) != len(theirs)
                    else "its pairs or distortions differ from the report's")
            raise BadInput(f"the per-pair table does not match its report ({what})", path=path, fix=fix)
    return table


def reaccumulate(table: pd.DataFrame) -> dict[str, tuple[float, float, int]]:
    """Each target's (posenet, segnet, samples) from the table, summed exactly as the official loop
    does: per batch a float32 sum, added into float32 zero-dim accumulators, divided at the end."""
    import torch

    from ._score import Accumulator

    out = {}
    for decode, rows in table.groupby("decode", sort=False):
        acc = Accumulator(torch.device("cpu"))
        for _, batch in rows.groupby("batch", sort=True):
            acc.update(torch.tensor(batch["posenet"].to_numpy(), dtype=torch.float32),
                       torch.tensor(batch["segnet"].to_numpy(), dtype=torch.float32),
                       str(batch["video"].iloc[0]), int(batch["pair"].iloc[0]))
        out[str(decode)] = acc.compute()
    return out
