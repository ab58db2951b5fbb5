"""`vcc score`, `vcc cache`, `vcc dali-verify`: argument parsing only; the work is in the library.

Importing this module does not import torch (`vcc --help` and `vcc cache list` stay fast): the
handlers import the pipeline when they run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from vcc.base import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    NAMES_FILE,
    RUNNERS,
    BadInput,
    run_cli,
    write_json_atomic,
)

from ._cache import GroundTruthCache
from ._options import ScoreOptions, add_score_options, add_threads_option
from ._report import job_report_paths, reports_line, terminal_summary
from ._targets import DALI_VARIANTS

__all__ = ["register", "main"]


def _add_score_options(p: argparse.ArgumentParser) -> None:
    """`vcc score`'s options about what and how to score."""
    p.add_argument("--challenge-dir", type=Path, required=True,
                   help=f"checkout laid out like the official repo: videos/, models/, {NAMES_FILE}")
    p.add_argument("--names-file", type=Path, default=None, help="override the video names file")
    add_score_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _score(args: argparse.Namespace) -> int:
    from ._config import ScoreConfig
    from ._validate import validate_submission

    if args.env == "official" and not os.environ.get("VCC_SCORING_ENV"):
        # vcc.main re-runs `score --env official` in the synced environment before parsing.
        raise BadInput("--env official was not applied", fix="run it through the vcc command and spell it out: "
                       "vcc score ... --env official")
    options = ScoreOptions.from_args(args)
    sampling = options.sampling
    if sampling.sampled or sampling.progressive:
        _check_sampling_args(args, sampling.sampled)
    cfg = ScoreConfig(
        submission_dir=args.submission_dir,
        challenge_dir=args.challenge_dir,
        names_file=args.names_file,
        inflated_dir=args.inflated_dir,
        options=options,
        report_path=args.report,
        json_path=args.json if args.json is not None or not sampling.sampled
        else args.submission_dir / "vcc-estimate.json",
        progress=not args.quiet and not sampling.progressive,
        official_truncation=args.official_truncation,
        reference_loop=args.reference_loop,
        archive_path=args.archive,
        shared_frames_dir=args.shared_frames_dir,
        report_paths=job_report_paths(args.job_paths) if args.job_paths else None,
    )
    if args.pairs is not None:
        from ._pairs import pairs_outputs

        pairs_outputs(args.pairs)  # a directory or an impossible Parquet is refused before scoring
    checked = validate_submission(cfg)  # bad input is refused before torch is imported
    if cfg.options.grid:
        return _grid(args, cfg, checked)
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
        print(reports_line(cfg.report, cfg.json_report, report))
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
    report = result.as_json()
    print(result.primary.official_report, end="")
    print(terminal_summary(report))
    print(reports_line(cfg.report, cfg.json_report, report))
    _write_pairs(args.pairs, report)
    if result.truncated:
        print("vcc score: the raw is short: this is what the official runner would print, "
              "but the submission is invalid", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


def _grid(args: argparse.Namespace, cfg: object, checked: object) -> int:
    from ._grid import grid_text, score_grid

    if args.spread or args.reference_loop or args.decode is not None:
        raise BadInput("--grid picks its own ground truths and devices",
                       fix="drop --decode, --spread and --reference-loop (--device is ignored too)")
    grid = score_grid(cfg, checked)  # type: ignore[arg-type]
    print(grid_text(grid))
    path = args.json if args.json is not None else args.submission_dir / "vcc-grid.json"
    write_json_atomic(path, grid)
    print(f"grid report: {path}")
    return EXIT_OK


def _check_sampling_args(args: argparse.Namespace, sampled: bool) -> None:
    """Options a sampled (or progressive) score cannot honour: refused before anything runs."""
    what = "--sample" if sampled else "--progressive"
    clashes = [("--spread", args.spread), ("--reference-loop", args.reference_loop), ("--grid", args.grid)]
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
    c.add_argument("--runner", choices=tuple(RUNNERS), default="cpu", help="for key: the runner kind (default cpu)")
    c.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the listing as JSON here")
    c.set_defaults(handler=_cache)

    register_dali_verify(sub)


def register_dali_verify(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dali-verify",
        help="decode VIDEO with real DALI (GPU) and with vcc's CPU emulation; compare per channel",
    )
    p.add_argument("video", type=Path)
    p.add_argument("--variant", choices=DALI_VARIANTS, default=None,
                   help="emulation expected to match (default: the installed DALI's: 1.52 for 1.52.x, the "
                   "official runner's; post-6076 for 1.53 and later)")
    p.add_argument("--device", default="cuda", help="CUDA device DALI decodes on (default cuda)")
    p.add_argument("--max-frames", type=int, default=None, help="compare only the first N frames")
    p.add_argument("--json", type=Path, default=None, help="also write the result as JSON here")
    add_bundle_options(p)
    p.set_defaults(handler=_dali_verify)


def add_bundle_options(p: argparse.ArgumentParser) -> None:
    """`vcc dali-verify --bundle`: one archive with every T4-axis figure this machine can measure."""
    p.add_argument("--bundle", type=Path, default=None, metavar="OUT.tar",
                   help="write one archive: the frame comparison (GPU), DALI's CPU kernels against the emulation, "
                   "the grid on --candidate, the versions; what cannot run here is recorded as such")
    p.add_argument("--candidate", type=Path, default=None, metavar="SUBMISSION_DIR",
                   help="for --bundle: the submission (archive.zip + inflated/) the grid scores")
    p.add_argument("--challenge-dir", type=Path, default=None, help="for --bundle --candidate: the challenge checkout")
    add_threads_option(p)  # for --bundle's grid


def _dali_verify(args: argparse.Namespace) -> int:
    if args.bundle is not None:
        return _bundle(args)
    if args.candidate is not None:
        raise BadInput("--candidate is for --bundle", fix="add --bundle OUT.tar")
    from ._dali_verify import verify_command

    return verify_command(args)


def _bundle(args: argparse.Namespace) -> int:
    cfg = None
    if args.candidate is not None:
        if args.challenge_dir is None:
            raise BadInput("--candidate needs --challenge-dir (the grid scores against its videos)",
                           fix="add --challenge-dir CHECKOUT")
        from ._config import ScoreConfig
        from ._validate import validate_submission

        cfg = ScoreConfig(submission_dir=args.candidate, challenge_dir=args.challenge_dir, progress=False,
                          write_reports=False, options=ScoreOptions(threads=args.threads))
        validate_submission(cfg)  # bad input before anything is measured
    if not args.video.is_file():
        raise BadInput("video not found", path=args.video, fix="pass the challenge video (videos/0.mkv)")
    from ._dali_bundle import write_bundle

    result = write_bundle(args.bundle, args.video, cfg, args.device, args.max_frames)
    print(result["summary"], end="")
    print(f"bundle: {args.bundle}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """`vcc score ...` with argv after the subcommand (for tests and scripts)."""
    return run_cli(["score", *(sys.argv[1:] if argv is None else argv)], [register])
