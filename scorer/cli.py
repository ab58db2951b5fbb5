"""`vcc score`, `vcc cache`, `vcc dali-verify`: argument parsing only; the work is in the library.

Importing this module does not import torch (`vcc --help` and `vcc cache list` stay fast): the
handlers import the pipeline when they run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from vcc.base import EXIT_BAD_INPUT, EXIT_OK, BadInput, add_numerics_argument, run_cli, write_json_atomic

from ._cache import GroundTruthCache, default_cache_dir
from ._config import READ_AHEAD_CHOICES
from ._report import job_report_paths, terminal_summary
from ._sampling import add_sample_arguments, sample_options
from ._targets import DALI_VARIANTS, DECODE_CHOICES

__all__ = ["register", "main"]


def _add_score_options(p: argparse.ArgumentParser) -> None:
    """`vcc score`'s options about what and how to score."""
    p.add_argument("--challenge-dir", type=Path, required=True,
                   help="checkout laid out like the official repo: videos/, models/, public_test_video_names.txt")
    p.add_argument("--names-file", type=Path, default=None, help="override the video names file")
    p.add_argument("--device", default="cpu", help="cpu (CPU runner) or cuda (T4 runner); default cpu")
    p.add_argument("--batch-size", type=int, default=16, help="pairs per batch (official: 16)")
    p.add_argument("--decode", choices=DECODE_CHOICES, default=None,
                   help="ground-truth decode path: pyav (CPU runner), dali (T4 runner, CUDA), "
                   "dali-emulated (T4 frames on the CPU), both; default pyav on cpu, dali on cuda")
    p.add_argument("--dali-variant", choices=DALI_VARIANTS, default="1.52",
                   help="DALI release whose RGB conversion dali-emulated reproduces: 1.52 (the official lock) or "
                   "post-6076 (DALI after Nov 2025: chroma kept in float, R/G/B shifted by about +0.87/-0.53/+1.08)")
    p.add_argument("--cache-dir", type=Path, default=None, help=f"ground-truth cache (default {default_cache_dir()})")
    p.add_argument("--no-cache", action="store_true", help="recompute the ground truth, read and write no cache")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads; results depend on it in the last bits (the CPU runner has 4 cores); "
                   "default: torch's default for this machine")
    p.add_argument("--workers", type=int, default=None,
                   help="CPU worker processes the batches are sharded across, each with --threads threads; the "
                   "figures are the same bits for any count (default: this machine's cores // the threads)")
    p.add_argument("--read-ahead", choices=READ_AHEAD_CHOICES, default="auto",
                   help="decode, raw reads and net inputs in a thread ahead of the forwards: auto (only where each "
                   "worker has a core to spare for it; otherwise it slows the forwards), on, off; same bits")
    add_numerics_argument(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def default_decode(args: argparse.Namespace) -> str:
    return args.decode or ("dali" if str(args.device).startswith("cuda") else "pyav")


def _score(args: argparse.Namespace) -> int:
    from ._config import ScoreConfig
    from ._validate import validate_submission

    if args.env == "official" and not os.environ.get("VCC_SCORING_ENV"):
        # vcc.main re-runs `score --env official` in the synced environment before parsing.
        raise BadInput("--env official was not applied", fix="run it through the vcc command and spell it out: "
                       "vcc score ... --env official")
    sampling = sample_options(args)
    if sampling.sampled or sampling.progressive:
        _check_sampling_args(args, sampling.sampled)
    cfg = ScoreConfig(
        submission_dir=args.submission_dir,
        challenge_dir=args.challenge_dir,
        names_file=args.names_file,
        inflated_dir=args.inflated_dir,
        device=args.device,
        batch_size=args.batch_size,
        decode=default_decode(args),
        report_path=args.report,
        json_path=args.json if args.json is not None or not sampling.sampled
        else args.submission_dir / "vcc-estimate.json",
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        progress=not args.quiet and not sampling.progressive,
        official_truncation=args.official_truncation,
        reference_loop=args.reference_loop,
        dali_variant=args.dali_variant,
        threads=args.threads,
        numerics=args.numerics,
        archive_path=args.archive,
        shared_frames_dir=args.shared_frames_dir,
        report_paths=job_report_paths(args.job_paths) if args.job_paths else None,
        workers=args.workers,
        read_ahead=args.read_ahead,
    )
    if args.pairs is not None:
        from ._pairs import pairs_outputs

        pairs_outputs(args.pairs)  # a directory or an impossible Parquet is refused before scoring
    checked = validate_submission(cfg)  # bad input is refused before torch is imported
    if sampling.sampled:
        from ._sampled import score_sample, summary_text

        report = score_sample(cfg, sampling)
        print(summary_text(report))
        print(f"estimate report: {cfg.json_report} (no report.txt: an estimate is not the official score)")
        return EXIT_OK
    if args.spread:
        from ._spread import score_spread, spread_text

        report = score_spread(cfg)
        print(report["official_report"], end="")
        print(terminal_summary(report))
        print(spread_text(report["spread"]))
        print(f"reports: {cfg.report}  {cfg.json_report}")
        _write_pairs(args.pairs, report)
        return EXIT_BAD_INPUT if report["truncated"] else EXIT_OK

    if not cfg.reference_loop:  # the reference keeps the official process's memory defaults
        from ._memory import request_huge_pages

        request_huge_pages()
    from ._score import score_submission

    progressive = None
    if sampling.progressive:
        from ._progressive import ProgressiveRun

        progressive = ProgressiveRun(seed=sampling.seed)
    result = score_submission(cfg, checked, progressive=progressive)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 reports
        return EXIT_OK
    print(result.primary.official_report, end="")
    print(terminal_summary(result.as_json()))
    print(f"reports: {cfg.report}  {cfg.json_report}")
    _write_pairs(args.pairs, result.as_json())
    if result.truncated:
        print("vcc score: the raw is short: this is what the official runner would print, "
              "but the submission is invalid", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


def _check_sampling_args(args: argparse.Namespace, sampled: bool) -> None:
    """Options a sampled (or progressive) score cannot honour: refused before anything runs."""
    what = "--sample" if sampled else "--progressive"
    clashes = [("--spread", args.spread), ("--reference-loop", args.reference_loop)]
    if sampled:
        clashes += [("--report", args.report is not None), ("--pairs", args.pairs is not None),
                    ("--job-paths", args.job_paths is not None), ("--official-truncation", args.official_truncation)]
    for option, given in clashes:
        if given:
            why = ("an estimate is never written as report.txt" if option == "--report"
                   else f"{what} does not combine with it")
            raise BadInput(f"{option} with {what}: {why}", fix=f"drop {option} (or {what})")


def _write_pairs(path: Path | None, report: dict) -> None:
    if path is None:
        return
    from ._pairs import write_pairs

    for written in write_pairs(report, path):
        print(f"per-pair table: {written}")


def _cache(args: argparse.Namespace) -> int:
    if args.cache_command == "key":
        from ._cache import ci_cache_key

        key, assets = ci_cache_key(args.challenge_dir, args.runner)
        if args.json is not None:
            write_json_atomic(args.json, {"key": key, "runner": args.runner, "assets": assets})
        print(key)
        return EXIT_OK
    cache = GroundTruthCache(args.cache_dir)
    if args.cache_command == "clear":
        print(f"removed {cache.clear()} entries from {cache.root}")
        return EXIT_OK
    entries = cache.entries()
    if args.json is not None:  # a path, like every other command's --json
        write_json_atomic(args.json, [{"path": str(e.path), "bytes": e.bytes, "samples": e.samples, "key": e.key}
                                      for e in entries])
    print(f"{len(entries)} entries in {cache.root}")
    for e in entries:
        k = e.key
        print(f"  {e.path.name}  {e.bytes / 1e6:8.1f} MB  {e.samples:5d} samples  "
              f"decode={k.get('decode')} device={k.get('device_type')} batch={k.get('batch_size')} "
              f"threads={k.get('threads')} numerics={dict(k.get('numerics') or {}).get('class', '-')} "
              f"video={str(k.get('video_sha256'))[:12]}")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score SUBMISSION_DIR (archive.zip + inflated/*.raw) like evaluate.py")
    p.add_argument("submission_dir", type=Path)
    _add_score_options(p)
    p.add_argument("--inflated-dir", type=Path, default=None, help="default SUBMISSION_DIR/inflated")
    p.add_argument("--archive", type=Path, default=None, help="default SUBMISSION_DIR/archive.zip")
    p.add_argument("--report", type=Path, default=None, help="report.txt path (default SUBMISSION_DIR/report.txt)")
    p.add_argument("--json", type=Path, default=None, help="JSON report (default SUBMISSION_DIR/vcc-report.json)")
    p.add_argument("--job-paths", default=None, metavar="NAME",
                   help="report.txt names the paths as the official job passes them for submission NAME "
                   "(./submissions/NAME, ./videos, ...) instead of the paths given here: for a staged copy")
    p.add_argument("--official-truncation", action="store_true",
                   help="score a short raw as the official zip() loop silently would (still exits 2)")
    p.add_argument("--reference-loop", action="store_true",
                   help="run like the official evaluator (no cache, no read-ahead): the benchmark's baseline")
    p.add_argument("--spread", action="store_true",
                   help="score under every numerics profile and thread count this machine can run (one process "
                   "each, one candidate forward each) and report each figure's min, max and spread")
    p.add_argument("--pairs", type=Path, default=None, metavar="PATH",
                   help="also write the per-pair table here: CSV (and Parquet beside it when pyarrow is installed)")
    p.add_argument("--shared-frames-dir", type=Path, default=None, help=argparse.SUPPRESS)  # --spread's children
    add_sample_arguments(p)
    p.add_argument("--env", choices=("vcc", "official"), default="vcc",
                   help="Python environment that scores: vcc (default: vcc's own) or official (the checkout's "
                   "environment built by `vcc env sync --challenge-dir CH`, group cpu for --device cpu, cu128 for "
                   "cuda: torch, timm, smp, av, numpy as its uv.lock pins them); official never syncs: without a "
                   "synced env it exits 2, with one that lacks the scorer's modules 4")  # applied in vcc.main
    p.set_defaults(handler=_score)

    c = sub.add_parser("cache", help="list or clear the ground-truth cache")
    c.add_argument("cache_command", choices=["list", "clear", "key"],
                   help="key: print a CI cache key from the challenge's asset hashes (videos, weights) and the runner")
    c.add_argument("--cache-dir", type=Path, default=None)
    c.add_argument("--challenge-dir", type=Path, default=Path("."), help="for key: the checkout (default .)")
    c.add_argument("--runner", choices=("cpu", "t4"), default="cpu", help="for key: the runner kind (default cpu)")
    c.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the listing as JSON here")
    c.set_defaults(handler=_cache)

    register_dali_verify(sub)


def register_dali_verify(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dali-verify",
        help="decode VIDEO with real DALI (GPU) and with vcc's CPU emulation; compare per channel",
    )
    p.add_argument("video", type=Path)
    p.add_argument("--variant", choices=DALI_VARIANTS, default="1.52",
                   help="emulation expected to match (1.52: the official runner's DALI)")
    p.add_argument("--device", default="cuda", help="CUDA device DALI decodes on (default cuda)")
    p.add_argument("--max-frames", type=int, default=None, help="compare only the first N frames")
    p.add_argument("--json", type=Path, default=None, help="also write the result as JSON here")
    p.set_defaults(handler=_dali_verify)


def _dali_verify(args: argparse.Namespace) -> int:
    from ._dali_verify import verify_command

    return verify_command(args)


def main(argv: list[str] | None = None) -> int:
    """`vcc score ...` with argv after the subcommand (for tests and scripts)."""
    return run_cli(["score", *(sys.argv[1:] if argv is None else argv)], [register])
