"""`vcc score --progressive`: the official batches in a stated random order, a running estimate
after each, the exact score at the end. Torch-free.

Each step of the official loop is one batch (16 pairs; a video's last may be partial). Taken in a
random order (a permutation drawn from --seed), the batches done so far are a simple random sample
of the batches without replacement: the batch is the sampling unit, the mean per pair a ratio
estimate (batch sums over batch pairs), with the finite-population correction, so the interval
closes to zero width as the last batch arrives (`_estimate`). The final figure is not this
estimate: the scorer adds the per-batch float32 sums in the official order once every batch is
in (`_score._reduce_in_order`), so it is bit-identical to a plain run.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from ._estimate import Unit, estimate_means, score_estimate

__all__ = ["ProgressiveRun", "batch_order"]


def batch_order(batches: int, seed: int) -> list[int]:
    """The order the batches are scored in: a permutation of range(batches) drawn from `seed`."""
    order = list(range(batches))
    random.Random(seed).shuffle(order)
    return order


@dataclass
class ProgressiveRun:
    """The order, and the running estimate of every target after each batch."""

    seed: int
    rate: float = 0.0
    out: TextIO | None = field(default_factory=lambda: sys.stdout)
    order: list[int] = field(default_factory=list)
    batch_pairs: list[int] = field(default_factory=list)
    decodes: list[str] = field(default_factory=list)
    units: list[list[Unit]] = field(default_factory=list)  # per target, one per batch done
    trace: list[dict[str, Any]] = field(default_factory=list)

    def start(self, batch_pairs: list[int], decodes: list[str], rate: float) -> list[int]:
        """Plan the run: the steps' pair counts (official order) and the targets; the order to take."""
        self.batch_pairs, self.decodes, self.rate = list(batch_pairs), list(decodes), rate
        self.order = batch_order(len(batch_pairs), self.seed)
        self.units = [[] for _ in decodes]
        return self.order

    def observe(self, index: int, parts: list[tuple[float, float, int]]) -> None:
        """Batch `index` done: per target (its float32 PoseNet sum, SegNet sum, pairs)."""
        for units, (pose, seg, count) in zip(self.units, parts, strict=True):
            units.append(Unit((pose, seg), count))
        done = len(self.units[0])
        pairs = sum(u.count for u in self.units[0])
        row: dict[str, Any] = {"batches": done, "batch": index, "pairs": pairs, "targets": {}}
        total = sum(self.batch_pairs)
        for decode, units in zip(self.decodes, self.units, strict=True):
            if done < 2 and done < len(self.batch_pairs):
                continue  # one batch gives no variance
            est = estimate_means([units], [len(self.batch_pairs)], [total])
            row["targets"][decode] = score_estimate(est, self.rate).as_json()
        self.trace.append(row)
        if self.out is not None:
            self.out.write(self.line(row) + "\n")
            self.out.flush()

    def line(self, row: dict[str, Any]) -> str:
        head = (f"progressive {row['batches']:>4}/{len(self.batch_pairs)} batches "
                f"({row['pairs']}/{sum(self.batch_pairs)} pairs)")
        if not row["targets"]:
            return f"{head}: ESTIMATE needs two batches"
        parts = []
        for decode, t in row["targets"].items():
            s = t["score"]
            parts.append(f"{decode} score ESTIMATE {s['estimate']:.6f} [{s['low']:.6f}, {s['high']:.6f}] 95%")
        return f"{head}: " + "; ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "order": self.order, "sampling_unit": "official batch", "trace": self.trace,
                "note": "the running figures are estimates; the report's figures are the exact score, reduced in "
                        "the official order"}
