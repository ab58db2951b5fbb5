"""What `vcc score --sample` / `--progressive` and `vcc compare --sample` are asked: `SampleOptions`,
their command-line options, and the sampling design (which pairs). Torch-free.

The population is every pair the official loop scores (video after video); a design draws K of
them: `simple` (simple random sampling without replacement) or `stratified` (by difficulty: the
pairs ranked by a related candidate's per-pair contribution to the score, from an earlier full
report given with --strata, cut into equal strata, allocated in proportion, two per stratum at
least). The draw depends on the seed alone, so a run is reproducible and two candidates can be
scored on the same pairs.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcc.base import BadInput

from ._estimate import allocate, simple_sample, strata_by_difficulty, stratified_sample

__all__ = ["DESIGNS", "SampleOptions", "SampleDesign", "add_sample_arguments", "sample_options", "draw_pairs",
           "default_strata_count", "ESTIMATE_NOTE"]

DESIGNS = ("simple", "stratified")
DEFAULT_SEED = 0
ESTIMATE_NOTE = ("ESTIMATE from a sample of pairs, not the official score: each figure is an estimate of the "
                 "full-video figure with its 95 % interval")


@dataclass(frozen=True)
class SampleOptions:
    """--sample K, --strata REPORT.json, --seed, --design, --progressive (one place, one object)."""

    sample: int | None = None
    strata: Path | None = None
    seed: int = DEFAULT_SEED
    design: str | None = None  # None: stratified with --strata, else simple
    progressive: bool = False

    def __post_init__(self) -> None:
        if self.design is not None and self.design not in DESIGNS:
            raise BadInput(f"unknown --design {self.design!r}", fix=f"use one of {', '.join(DESIGNS)}")
        if self.sample is not None and self.sample < 2:
            raise BadInput(f"--sample must be at least 2 pairs (for a variance), got {self.sample}",
                           fix="give --sample K with K >= 2, e.g. --sample 32")
        if self.design == "stratified" and self.strata is None:
            raise BadInput("--design stratified needs --strata REPORT.json (an earlier full report)",
                           fix="add --strata PATH/vcc-report.json, or use --design simple")
        if self.strata is not None and self.sample is None:
            raise BadInput("--strata only applies with --sample K", fix="add --sample K, or drop --strata")
        if self.design is not None and self.sample is None:
            raise BadInput("--design only applies with --sample K", fix="add --sample K, or drop --design")
        if self.progressive and self.sample is not None:
            raise BadInput("--progressive scores every pair; --sample scores K of them",
                           fix="drop one of --progressive and --sample")

    def to_argv(self) -> list[str]:
        """These options as `vcc score` arguments (ScoreOptions.to_argv)."""
        argv = [] if self.sample is None else ["--sample", str(self.sample)]
        if self.strata is not None:
            argv += ["--strata", str(self.strata)]
        if self.design is not None:
            argv += ["--design", self.design]
        if self.sample is not None or self.progressive:
            argv += ["--seed", str(self.seed)]
        if self.progressive:
            argv.append("--progressive")
        return argv

    @property
    def effective_design(self) -> str:
        return self.design or ("stratified" if self.strata is not None else "simple")

    @property
    def sampled(self) -> bool:
        return self.sample is not None


def add_sample_arguments(p: argparse.ArgumentParser, *, progressive: bool = True) -> None:
    """The sampling options, on `vcc score` (with --progressive) and `vcc compare`."""
    g = p.add_argument_group("estimates (sampled pairs; labelled ESTIMATE, never the official score)")
    g.add_argument("--sample", type=int, default=None, metavar="K",
                   help="score K pairs drawn by --design and report each figure's estimate for the full video with "
                   "its 95%% interval (written to the JSON report only, never as report.txt)")
    g.add_argument("--strata", type=Path, default=None, metavar="REPORT.json",
                   help="an earlier full vcc report of this challenge (a related candidate): pairs are stratified "
                   "by its per-pair difficulty (implies --design stratified)")
    g.add_argument("--design", default=None, metavar="DESIGN",
                   help=f"sampling design: {' or '.join(DESIGNS)} (default: stratified with --strata, else simple)")
    g.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help=f"seed of the pairs' draw (or of --progressive's batch order); default {DEFAULT_SEED}")
    if progressive:
        g.add_argument("--progressive", action="store_true",
                       help="score every official batch in a random order (--seed), print a running estimate with "
                       "its interval after each, and end with the exact score (bit-identical to a plain run)")


def sample_options(args: argparse.Namespace) -> SampleOptions:
    return SampleOptions(sample=args.sample, strata=args.strata, seed=args.seed, design=args.design,
                         progressive=bool(getattr(args, "progressive", False)))


def default_strata_count(k: int) -> int:
    """Strata for K draws: four draws a stratum, between 2 and 8 strata."""
    return max(2, min(8, k // 4))


@dataclass(frozen=True)
class SampleDesign:
    """The pairs drawn: per stratum, indices into the population (pairs in the official order)."""

    design: str
    seed: int
    strata: list[list[int]]  # the population's units in each stratum
    drawn: list[list[int]]  # the drawn units of each stratum
    strata_report: str | None = None

    @property
    def pairs(self) -> list[int]:
        """Every drawn unit, ascending (the order they are scored in)."""
        return sorted(i for s in self.drawn for i in s)

    def as_json(self) -> dict[str, Any]:
        return {"design": self.design, "seed": self.seed, "strata_report": self.strata_report,
                "strata": [{"units": len(s), "drawn": len(d)} for s, d in zip(self.strata, self.drawn, strict=True)]}


def _strata_difficulty(path: Path, population: list[tuple[str, int]], fix_hint: str) -> list[float]:
    """Each population pair's contribution to the related candidate's score (SegNet's linear term,
    PoseNet's linearised at its mean), from an earlier full report of the same challenge."""
    fix = f"give a full `vcc score` JSON report of this challenge ({fix_hint}), or drop --strata"
    try:
        report = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BadInput("--strata report not found", path=path, fix=fix) from None
    except (OSError, ValueError) as exc:
        raise BadInput(f"--strata report is not readable JSON: {exc}", path=path, fix=fix) from None
    if not isinstance(report, dict) or not isinstance(report.get("per_pair"), list):
        raise BadInput("--strata is not a vcc score report (no per_pair list)", path=path, fix=fix)
    if report.get("estimate"):
        raise BadInput("--strata is itself a sampled estimate; its per-pair values cover only its sample",
                       path=path, fix=fix)
    rows = report["per_pair"]
    keys = [(str(p.get("video")), int(p.get("pair", -1))) for p in rows]
    if keys != population:
        what = (f"{len(rows)} pairs, this challenge's score has {len(population)}" if len(rows) != len(population)
                else "its videos or pairs differ from this challenge's")
        raise BadInput(f"--strata report is of another challenge or pair count ({what})", path=path, fix=fix)
    mean_pose = sum(float(p["posenet"]) for p in rows) / len(rows)
    slope = math.sqrt(10) / (2 * math.sqrt(mean_pose)) if mean_pose > 0 else 0.0
    return [100 * float(p["segnet"]) + slope * float(p["posenet"]) for p in rows]


def draw_pairs(opts: SampleOptions, population: list[tuple[str, int]], *, assets_sha256: dict[str, str] | None = None,
               strata_hint: str = "e.g. vcc score SUB --json REPORT.json") -> SampleDesign:
    """The pairs to score: K of `population` ((video, pair) in the official order) by the design.

    K larger than the population, a strata report of another challenge: BadInput naming the option."""
    k = opts.sample
    n = len(population)
    if k is None:
        raise ValueError("draw_pairs needs --sample")
    if k > n:
        raise BadInput(f"--sample {k} is larger than the {n} pairs the score covers",
                       fix=f"give --sample K with K <= {n}, or score them all without --sample")
    rng = random.Random(opts.seed)
    if opts.effective_design == "simple":
        return SampleDesign("simple", opts.seed, [list(range(n))], [simple_sample(n, k, rng)])
    assert opts.strata is not None
    difficulty = _strata_difficulty(opts.strata, population, strata_hint)
    if assets_sha256 is not None:
        theirs = json.loads(Path(opts.strata).read_text()).get("assets") or {}
        changed = sorted(a for a, sha in assets_sha256.items() if a.startswith("videos/")
                         and (theirs.get(a) or {}).get("sha256") not in (None, sha))
        if changed:
            raise BadInput(f"--strata report is of another challenge ({', '.join(changed)} differ by sha256)",
                           path=opts.strata, fix="give a full report of this challenge, or drop --strata")
    count = default_strata_count(k)
    if k < 2 * count:
        raise BadInput(f"--sample {k} is too small for a stratified draw (two pairs per stratum at least)",
                       fix="give --sample 4 or more, or use --design simple")
    strata = strata_by_difficulty(difficulty, count)
    # Proportional allocation: Neyman's (by the related candidate's spreads) measured wider intervals on
    # the golden challenge, where that candidate's spreads did not carry over (bench/bench_sample.py).
    alloc = allocate(k, [len(s) for s in strata], [1.0] * len(strata))
    return SampleDesign("stratified", opts.seed, strata, stratified_sample(strata, alloc, rng), str(opts.strata))


