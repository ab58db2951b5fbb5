"""Sampled scores: K pairs scored like the official loop scores them, the full figures estimated.

`sample_pair_values` scores the drawn pairs of one or more candidates: the ground truth from the
cache where an entry exists (the full run's own outputs, so bit for bit the full run's), else
decoded and run through the nets for the drawn pairs only; the candidate's drawn pairs in batches
of the official size (drawn pairs in the official order, 16 at a time), so a pair's values are a
full run's wherever the kernels give a sample the same bits in another batch (the coverage bench
counts how often). `score_sample` and `compare_sample` turn them into estimates (`_estimate`).
Every result is labelled an estimate; nothing here writes report.txt.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vcc.base import BadInput, apply_profile, cores

from ._assets import Challenge
from ._batches import plan_jobs
from ._cache import CacheKey, GroundTruthCache
from ._config import ScoreConfig
from ._container import iter_yuv_frames
from ._decode import raw_pair_batches
from ._distortion import NetOutputs, forward_side, inputs_of_pairs, pose_distortion, seg_distortion
from ._estimate import Unit, difference_estimate, estimate_means, score_estimate
from ._sampling import ESTIMATE_NOTE, SampleDesign, SampleOptions, draw_pairs
from ._targets import decode_target, frame_converter

__all__ = ["PopulationPair", "SampledValues", "sample_pair_values", "scoring_batches", "score_sample",
           "compare_sample", "estimate_json", "summary_text", "compare_sample_text", "SAMPLE_SCHEMA"]

SAMPLE_SCHEMA = 1


@dataclass(frozen=True)
class PopulationPair:
    """One pair the official loop scores: ground truth (video, pair) against candidate (raw, pair)."""

    video: int
    pair: int
    raw: int
    raw_pair: int


@dataclass
class SampledValues:
    """Per candidate, per target: the drawn pairs' (posenet, segnet) values, in the drawn order."""

    design: SampleDesign
    population: list[PopulationPair]
    video_names: list[str]
    values: list[dict[str, list[tuple[float, float]]]]  # [candidate][decode] -> per drawn pair
    rates: list[float]
    archive_bytes: list[int]
    original_bytes: int
    cache: dict[str, str]  # decode -> hit | miss | off
    timings: dict[str, float]
    versions: dict[str, str]
    numerics: dict[str, Any]
    assets: dict[str, dict[str, object]]
    threads: int
    batch_size: int


def _population(challenge: Challenge, gt_pairs: list[int], cand_pairs: list[int], batch_size: int
                ) -> list[PopulationPair]:
    out = []
    for job in plan_jobs(gt_pairs, cand_pairs, batch_size):
        for i in range(job.size):
            out.append(PopulationPair(job.video, job.gt_batch * batch_size + i, job.raw,
                                      job.cand_batch * batch_size + i))
    return out


def scoring_batches(drawn: list[int], official_size: list[int], position: list[int]) -> list[list[int]]:
    """The drawn units (population indices, ascending) grouped into the batches they are scored in.

    Each drawn pair is scored in a batch of its official batch's size n, at its own place in that
    batch: the kernels choose their code path, and so the last bits, by the batch size and by the
    sample's place in the batch (measured: a pair of the official partial batch of 3 scored in a batch
    of 16 differs in PoseNet's last bits; on AVX2, the last pair of that batch scored first in a batch
    of 3 differs in SegNet's). Pairs of one size and different places share a batch; the places no
    drawn pair takes are filled with a pair of the batch (the fillers' values are not used)."""
    groups: dict[int, list[int]] = {}
    for u in drawn:
        groups.setdefault(official_size[u], []).append(u)
    out = []
    for size in sorted(groups, reverse=True):
        by_place: dict[int, list[int]] = {}
        for u in groups[size]:
            by_place.setdefault(position[u], []).append(u)
        for k in range(max(len(units) for units in by_place.values())):
            batch = [units[k] if k < len(units) else None for units in (by_place.get(j, []) for j in range(size))]
            filler = next(u for u in batch if u is not None)
            out.append([filler if u is None else u for u in batch])
    return out


def _truth_frames(challenge: Challenge, conversion: str, wanted: list[PopulationPair]) -> dict[tuple[int, int], Any]:
    """(video, pair) -> the ground-truth frames (1, 2, H, W, 3) of the wanted pairs: every frame
    up to the last wanted one is decoded (HEVC needs it), only the wanted ones converted."""
    import numpy as np

    convert = frame_converter(conversion)
    by_video: dict[int, set[int]] = {}
    for p in wanted:
        by_video.setdefault(p.video, set()).add(p.pair)
    out: dict[tuple[int, int], Any] = {}
    for v, want in by_video.items():
        last = max(want)
        frames: list[np.ndarray] = []
        for i, yuv in enumerate(iter_yuv_frames(challenge.videos[v].path)):
            pair = i // 2
            if pair > last:
                break
            if pair in want:
                frames.append(convert(yuv))
                if len(frames) == 2:
                    # Filled like the official pair batches: a stride-0 batch axis (np.stack(...)[None])
                    # leads the inputs to another memory layout, another conv kernel, other last bits.
                    both = np.empty((1, 2, *frames[0].shape), np.uint8)
                    both[0, 0], both[0, 1] = frames
                    out[(v, pair)] = torch.from_numpy(both)
                    frames = []
    return out


def _raw_pairs(raw_paths: list[Path], raw_frames: list[int], batch: list[PopulationPair]) -> Iterator[torch.Tensor]:
    """The batch's pairs from the candidate's raws, (1, 2, H, W, 3) each, in the batch's order."""
    for p in batch:
        yield from raw_pair_batches(raw_paths[p.raw], 1, raw_frames[p.raw], batches=[p.raw_pair])


def _cached_rows(entry: Any, batch_size: int, pairs: list[int]) -> dict[int, tuple[Any, Any]]:
    """pair -> (pose row, seg map) of one video's pairs, from its cache entry (the full run's outputs)."""
    batches = sorted({p // batch_size for p in pairs})
    rows: dict[int, tuple[Any, Any]] = {}
    for b, out in zip(batches, entry.read_batches(batches), strict=True):
        for p in pairs:
            if p // batch_size == b:
                rows[p] = (out.pose[p - b * batch_size], out.seg[p - b * batch_size])
    return rows


def sample_pair_values(cfgs: list[ScoreConfig], opts: SampleOptions) -> SampledValues:
    """Score the pairs the design draws, for each candidate of `cfgs` (same challenge and settings;
    they differ in submission only). Validates each; refuses what a sample cannot do."""
    from ._score import _SEED, _plan, _validate
    from ._validate import validate_submission

    if not cfgs[0].options.on_cpu:
        raise BadInput("--sample scores on the CPU", fix="drop --device, or score in full on the GPU")
    if any(decode_target(t).needs_cuda for t in cfgs[0].options.targets):
        raise BadInput("--sample decodes the ground truth on the CPU (pyav or dali-emulated)",
                       fix="use --decode pyav or --decode dali-emulated with --sample")
    apply_profile(cfgs[0].options.profile)
    threads_before = torch.get_num_threads()
    # the thread count a full run resolves (the per-pair values depend on it), applied as it does
    cfgs = [c.resolved(default_threads=threads_before, cores=cores()) for c in cfgs]
    cfg, opts_score = cfgs[0], cfgs[0].options
    torch.set_num_threads(opts_score.threads)
    t0 = time.perf_counter()
    try:
        checked = [validate_submission(c) for c in cfgs]
        device, dist, challenge, _, raws = _validate(cfg, checked[0])
        if dist is not None:
            raise BadInput("--sample runs as one process", fix="run it without torchrun")
        plan = _plan(cfg, device, dist, challenge, checked[0].archive_bytes, raws)
        gt_pairs = [r.expected_frames // 2 for r in raws]
        if any(r.frames != r.expected_frames for c in checked for r in c.raws):
            raise BadInput("--sample needs complete raws (a short raw is scored, if at all, in full)",
                           fix="fix the candidate's raws, or score without --sample")
        population = _population(challenge, gt_pairs, [r.frames // 2 for r in raws], opts_score.batch_size)
        names = [v.name for v in challenge.videos]
        keys = [(names[p.video], p.pair) for p in population]
        assets = {a.relpath: a.as_json() for a in plan.assets}
        design = draw_pairs(opts, keys, assets_sha256={k: str(v["sha256"]) for k, v in assets.items()})
        drawn = [population[i] for i in design.pairs]
        timings = {"validate_s": time.perf_counter() - t0}

        t1 = time.perf_counter()
        torch.manual_seed(_SEED)
        from ._nets import load_nets

        nets = load_nets(challenge.models_dir, device)
        timings["load_nets_s"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        cache = GroundTruthCache(opts_score.cache_dir) if opts_score.use_cache else None
        lean = device.type == "cpu"
        sizes = [_official_size(p, gt_pairs, opts_score.batch_size) for p in population]
        places = [p.pair % opts_score.batch_size for p in population]
        unit_batches = scoring_batches(design.pairs, sizes, places)
        batches = [[population[u] for u in b] for b in unit_batches]
        slots: dict[int, tuple[int, int]] = {}  # unit -> (batch, slot) where it sits at its own place
        for b, batch_units in enumerate(unit_batches):
            for j, u in enumerate(batch_units):
                if places[u] == j:
                    slots[u] = (b, j)
        truths: dict[str, list[NetOutputs]] = {}
        cache_state: dict[str, str] = {}
        for decode in opts_score.targets:
            conversion = decode_target(decode).key_part(opts_score.dali_variant)
            entries = {}
            for v in sorted({p.video for p in drawn}):
                entry = None
                if cache is not None:
                    key = CacheKey(video_sha256=plan.cache_key_fields["videos"][names[v]], decode=conversion,
                                   **{k: x for k, x in plan.cache_key_fields.items() if k != "videos"})
                    entry = cache.open(key, samples=gt_pairs[v])
                entries[v] = entry
            cache_state[decode] = ("off" if cache is None else "hit" if all(e is not None for e in entries.values())
                                   else "miss")
            truths[decode] = _truth_batches(challenge, conversion, batches, entries, opts_score.batch_size, nets,
                                            device, lean)
        values: list[dict[str, list[tuple[float, float]]]] = []
        for chk in checked:
            got: dict[str, list[list[tuple[float, float]]]] = {d: [] for d in opts_score.targets}
            raw_paths, raw_frames = [r.path for r in chk.raws], [r.frames for r in chk.raws]
            for b, batch in enumerate(batches):
                cand = forward_side(nets, inputs_of_pairs(_raw_pairs(raw_paths, raw_frames, batch), len(batch),
                                                          device), lean)
                for decode in opts_score.targets:
                    gt = truths[decode][b]
                    got[decode].append(list(zip(pose_distortion(gt, cand).tolist(), seg_distortion(gt, cand).tolist(),
                                                strict=True)))
            values.append({d: [got[d][slots[u][0]][slots[u][1]] for u in design.pairs] for d in opts_score.targets})
        timings["score_s"] = time.perf_counter() - t2
        timings["total_s"] = time.perf_counter() - t0
        return SampledValues(
            design, population, names, values, [chk.archive_bytes / challenge.original_bytes for chk in checked],
            [chk.archive_bytes for chk in checked], challenge.original_bytes, cache_state, timings, plan.versions,
            plan.numerics, assets, torch.get_num_threads(), opts_score.batch_size)
    finally:
        torch.set_num_threads(threads_before)


def _truth_batches(challenge: Challenge, conversion: str, batches: list[list[PopulationPair]],
                   entries: dict[int, Any], batch_size: int, nets: Any, device: torch.device,
                   lean: bool) -> list[NetOutputs]:
    """The ground truth's outputs for each scoring batch: rows of the cache entries (the full
    run's own outputs) where the batch's videos have one, else the nets' forward on the batch."""
    rows: dict[tuple[int, int], tuple[Any, Any]] = {}
    for v, entry in entries.items():
        if entry is not None:
            pairs = sorted({p.pair for b in batches for p in b if p.video == v})
            rows.update({(v, p): r for p, r in _cached_rows(entry, batch_size, pairs).items()})
    missing = [p for b in batches for p in b if (p.video, p.pair) not in rows]
    frames = _truth_frames(challenge, conversion, missing) if missing else {}
    out = []
    for batch in batches:
        if any((p.video, p.pair) not in rows for p in batch):
            fresh = forward_side(nets, inputs_of_pairs((frames[(p.video, p.pair)] for p in batch), len(batch),
                                                       device), lean)
            out.append(fresh)
            continue
        pose = torch.stack([rows[(p.video, p.pair)][0] for p in batch]).to(device)
        seg = torch.stack([rows[(p.video, p.pair)][1] for p in batch]).to(device)
        out.append(NetOutputs(pose, seg))
    return out


def _official_size(p: PopulationPair, gt_pairs: list[int], batch_size: int) -> int:
    """The size of the official batch the pair is scored in."""
    return min(batch_size, gt_pairs[p.video] - p.pair // batch_size * batch_size)


def _units(design: SampleDesign, per_pair: list[tuple[float, ...]]) -> list[list[Unit]]:
    """The drawn pairs' values as sampling units, grouped by stratum."""
    at = {unit: i for i, unit in enumerate(design.pairs)}
    return [[Unit(per_pair[at[u]], 1) for u in drawn] for drawn in design.drawn]


def _sample_header(s: SampledValues) -> dict[str, Any]:
    return {
        "vcc_sample_schema": SAMPLE_SCHEMA,
        "estimate": True,
        "note": ESTIMATE_NOTE,
        "sample": {**s.design.as_json(), "pairs_scored": len(s.design.pairs), "population_pairs": len(s.population),
                   "batch_size": s.batch_size, "torch_threads": s.threads},
        "cache": s.cache,
        "timings": s.timings,
        "versions": s.versions,
        "numerics": s.numerics,
        "assets": s.assets,
        "original_bytes": s.original_bytes,
    }


def _pairs_json(s: SampledValues, candidate: int) -> list[dict[str, Any]]:
    stratum = {u: h for h, drawn in enumerate(s.design.drawn) for u in drawn}
    rows = []
    for i, u in enumerate(s.design.pairs):
        p = s.population[u]
        row: dict[str, Any] = {"video": s.video_names[p.video], "pair": p.pair, "stratum": stratum[u]}
        for decode, vals in s.values[candidate].items():
            key = "" if decode == next(iter(s.values[candidate])) else f"{decode}_"
            row[f"{key}posenet"], row[f"{key}segnet"] = vals[i]
        rows.append(row)
    return rows


def estimate_json(s: SampledValues, candidate: int = 0) -> dict[str, Any]:
    """One candidate's sampled estimate: per target, each figure's estimate and 95 % interval."""
    strata_units = [len(st) for st in s.design.strata]
    targets = {}
    for decode, vals in s.values[candidate].items():
        est = estimate_means(_units(s.design, vals), strata_units, strata_units)
        targets[decode] = score_estimate(est, s.rates[candidate]).as_json()
    primary = next(iter(targets))
    return {**_sample_header(s), "decode": primary, **targets[primary], "rate": s.rates[candidate],
            "archive_bytes": s.archive_bytes[candidate], "targets": targets, "sampled_pairs": _pairs_json(s, candidate)}


def score_sample(cfg: ScoreConfig, opts: SampleOptions) -> dict[str, Any]:
    """`vcc score --sample K`: the estimate's JSON report (also written to cfg's JSON path unless
    told not to; never report.txt)."""
    from vcc.base import write_json_atomic

    report = estimate_json(sample_pair_values([cfg], opts))
    if cfg.write_reports:
        write_json_atomic(cfg.json_report, report)
    return report


def compare_sample(a: ScoreConfig, b: ScoreConfig, opts: SampleOptions) -> dict[str, Any]:
    """`vcc compare --sample K A B`: both on the same drawn pairs; B - A with its interval."""
    s = sample_pair_values([a, b], opts)
    strata_units = [len(st) for st in s.design.strata]
    out: dict[str, Any] = {**_sample_header(s), "a": str(a.submission_dir), "b": str(b.submission_dir),
                           "differences": {}, "estimates": {}}
    for decode in s.values[0]:
        joint = [va + vb for va, vb in zip(s.values[0][decode], s.values[1][decode], strict=True)]
        est = estimate_means(_units(s.design, joint), strata_units, strata_units)
        out["differences"][decode] = difference_estimate(est, s.rates[0], s.rates[1]).as_json()
    out["estimates"] = {"a": estimate_json(s, 0), "b": estimate_json(s, 1)}
    for side in out["estimates"].values():
        for k in ("vcc_sample_schema", "note", "sample", "cache", "timings", "versions", "numerics", "assets"):
            side.pop(k, None)
    return out


def _interval_text(x: dict[str, float]) -> str:
    return f"{x['estimate']:.8f}  95% [{x['low']:.8f}, {x['high']:.8f}]  (+/- {x['half_width']:.8f})"


def summary_text(report: dict[str, Any]) -> str:
    """The terminal's view of a sampled estimate: ESTIMATE on every line that gives a figure."""
    s = report["sample"]
    out = [f"ESTIMATE (not the official score): {s['pairs_scored']} of {s['population_pairs']} pairs, "
           f"design {s['design']}, seed {s['seed']}, {len(s['strata'])} strata; 95% intervals for the full video"]
    for decode, t in report["targets"].items():
        out.append(f"[{decode}]")
        out.append(f"  ESTIMATE score           {_interval_text(t['score'])}")
        for name in ("segnet", "posenet", "rate"):
            out.append(f"  ESTIMATE {name + ' term':<15} {_interval_text(t['terms'][name])}")
        out.append(f"  ESTIMATE posenet dist.   {_interval_text(t['posenet_distortion'])}")
        out.append(f"  ESTIMATE segnet dist.    {_interval_text(t['segnet_distortion'])}")
    return "\n".join(out)


def compare_sample_text(result: dict[str, Any]) -> str:
    s = result["sample"]
    out = [f"ESTIMATE (paired, not official scores): B - A on the same {s['pairs_scored']} of "
           f"{s['population_pairs']} pairs (design {s['design']}, seed {s['seed']})",
           f"  A: {result['a']}", f"  B: {result['b']}"]
    for decode, d in result["differences"].items():
        sign = ("settled at 95%: B is " + ("worse (higher)" if d["score"]["low"] > 0 else "better (lower)")
                if d["sign_settled"] else "NOT settled at 95% (the interval holds 0)")
        out.append(f"[{decode}] score B - A  {_interval_text(d['score'])}")
        out.append(f"  sign: {sign}")
        out.append(f"  paired interval {d['tighter_by']:.2f}x narrower than two separate estimates' difference "
                   f"(+/- {d['separate_half_width']:.8f})")
        for name in ("segnet", "posenet", "rate"):
            out.append(f"  {name + ' term':<13} {_interval_text(d['terms'][name])}")
        for side in ("a", "b"):
            score = result["estimates"][side]["targets"][decode]["score"]
            out.append(f"  {side.upper()} score ESTIMATE {_interval_text(score)}")
    return "\n".join(out)
