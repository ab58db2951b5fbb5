"""`vcc pack`, `vcc manifest`, `vcc lint`, `vcc gate`: argument parsing only; the work is in the library."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vcc.base import RUNNERS, BadInput, run_cli, write_atomic, write_json_atomic
from vcc.runner.cli import parse_size, run_config, run_options_parser

from ._advise import AdviseConfig, advise
from ._custody import build_custody
from ._gate import GateBounds, GateConfig, gate_submission
from ._lint import CHECKS, LintConfig, lint_submission
from ._manifest import build_manifest, check_manifest, write_manifest
from ._pack import PackConfig, pack_archive, parse_name_map
from ._prbody import PrBodyConfig, build_pr_body, load_run_report
from ._report_check import check_report, read_report_arg
from ._upload import UploadConfig, check_upload

__all__ = ["register", "main"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    _register_pack(subparsers)
    _register_advise(subparsers)
    _register_pr_body(subparsers)
    _register_manifest(subparsers)
    _register_lint(subparsers)
    _register_gate(subparsers)
    _register_check_upload(subparsers)
    _register_check_report(subparsers)


def _register_pack(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "pack",
        help="build a deterministic archive.zip (byte-identical on any machine)",
        description=(
            "Zip files and directories deterministically: sorted names, fixed timestamps "
            "(1980-01-01), modes 0644/0755, no extra fields, no needless directory entries. A file "
            "becomes a member named by its base name; a directory adds its contents. Prints the "
            "size and its rate contribution 25 * size / 37,545,489. Inputs are only read."
        ),
    )
    p.add_argument("sources", nargs="+", type=Path, metavar="SRC", help="files or directories to pack")
    p.add_argument("-o", "--output", type=Path, required=True, help="the archive to write (atomically)")
    method = p.add_mutually_exclusive_group()
    method.add_argument(
        "--best",
        dest="method",
        action="store_const",
        const="best",
        help="per member the smallest of stored, deflate-9 and zopfli (when installed): the default",
    )
    method.add_argument(
        "--store", dest="method", action="store_const", const="store", help="no compression for any member"
    )
    method.add_argument(
        "--deflate",
        dest="method",
        action="store_const",
        const="deflate",
        help="deflate at level 9 (zlib); members deflate would not shrink are stored",
    )
    p.add_argument(
        "--advise",
        action="store_true",
        help="also print the rate advisor's table for the packed archive (what brotli, lzma, zstd, zopfli would save)",
    )
    p.add_argument(
        "--name-map",
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="rename a member, e.g. 0.hevc=0 (every byte of a name is metered); repeatable",
    )
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the result as JSON")
    p.set_defaults(handler=_pack, method="best")


def _register_advise(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "advise",
        help="rate advisor: each member's bytes under stored/deflate/zopfli/brotli/lzma/zstd, and the zip overhead",
        description=(
            "For an archive.zip (or a submission dir holding one, or a dir of files not packed yet): per member "
            "its bytes now and what stored, deflate-9, zopfli, brotli (q11, 16 MiB window), lzma (9e) and zstd "
            "(22, long) would give, the saving in bytes and in score points, an entropy estimate; and the "
            "container's bytes by record kind against the minimal container. brotli, lzma and zstd streams need "
            "the submission's inflate to decode them; the others unzip reads as they are. Only reads."
        ),
    )
    p.add_argument("path", type=Path, metavar="ARCHIVE_OR_DIR", help="archive.zip, a submission dir, or files' dir")
    p.add_argument("--no-zopfli", action="store_true", help="skip zopfli (the slow coder)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the advice as JSON")
    p.set_defaults(handler=_advise)


def _register_pr_body(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "pr-body",
        help="the official pull-request template's sections, filled from the submission and its run (Markdown)",
        description=(
            "Fill the official PR template's sections in order: the submission's name (checked: the runner "
            "imports submissions.<name>.inflate), the archive's sha256 and size with a placeholder for its "
            "download URL, report.txt from the run, whether inflate needs a GPU (the runs and lint), whether "
            "compress scripts are included, and the full-precision score, numerics class and headroom."
        ),
    )
    p.add_argument("submission_dir", type=Path, help="dir with archive.zip and inflate.sh (only read)")
    p.add_argument(
        "--run",
        type=Path,
        action="append",
        required=True,
        metavar="RUN.json",
        help="run.json of `vcc run` on this archive; give one per runner (cpu, t4) to report both targets",
    )
    p.add_argument("-o", "--output", type=Path, default=None, metavar="OUT.md", help="write here instead of stdout")
    p.add_argument("--no-lint", action="store_true", help="skip lint (its GPU findings go into the body)")
    p.add_argument("--archive-url", default=None, metavar="URL",
                   help="the archive's download link: fetched as the job's `curl -L` and compared (see check-upload); "
                   "it goes in the body, the check in its custody block; exit 1 when it serves other bytes")
    p.add_argument("--challenge-dir", type=Path, default=None, metavar="DIR",
                   help="the checkout whose master holds the taken submission names (default: the run's)")
    p.set_defaults(handler=_pr_body)


def _register_manifest(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "manifest",
        help="sha256 and sizes of archive.zip, its members and the submission's code; --check against a saved one",
        description=(
            "Describe exactly what a submission ships: archive.zip (size, sha256, rate contribution), each "
            "member (size, compressed size, CRC-32, method, sha256) and each code file (size, sha256). "
            "With --check, compare against a saved manifest and exit 1 listing every change."
        ),
    )
    p.add_argument("submission_dir", type=Path, help="dir with archive.zip and inflate.sh (only read)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write here (atomically) instead of stdout")
    p.add_argument("--check", type=Path, default=None, metavar="MANIFEST",
                   help="verify against a saved manifest, or the custody block of one or of a `vcc pr-body` output")
    p.add_argument("--custody", type=Path, action="append", default=[], metavar="RUN.json",
                   help="add the custody block: this run's scores, axis, numerics, versions, shape (repeatable)")
    p.add_argument("--archive-url", default=None, metavar="URL",
                   help="with --custody: check the hosted archive (check-upload) and record when it was verified")
    p.set_defaults(handler=_manifest)


def _register_lint(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "lint",
        help="check a submission for what fails or misleads on the runner (exit 2 on errors)",
        description="Run the registered checks: " + "; ".join(f"{c.id} ({c.severity})" for c in CHECKS.values()),
    )
    p.add_argument(
        "submission_dir", type=Path, nargs="?", default=None, help="dir with archive.zip and inflate.sh (only read)"
    )
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the findings as JSON")
    p.add_argument("--ignore", action="append", default=[], metavar="ID", help="skip a check; repeatable")
    p.add_argument(
        "--max-file-bytes",
        type=int,
        default=LintConfig.max_file_bytes,
        metavar="N",
        help="files outside archive.zip larger than this are errors (default 1,000,000)",
    )
    p.add_argument(
        "--challenge-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="the official checkout: its uv.lock says which packages inflate may import (default: a built-in list)",
    )
    p.add_argument(
        "--runner",
        choices=tuple(RUNNERS),
        default=None,
        help="the target runner (default: both): an inflate that needs CUDA is an error only for cpu",
    )
    p.add_argument("--name", default=None, help="the submission's name in the PR (default: the dir's name)")
    p.add_argument("--list", action="store_true", help="list the checks and exit")
    p.set_defaults(handler=_lint)


def _add_axis_bounds(p: argparse.ArgumentParser) -> None:
    """The per-axis score bounds (the two figures the official bot posts), declared together."""
    p.add_argument("--max-score-cpu", type=float, default=None, metavar="X",
                   help="fail if the CPU runner's score (axis cpu-runner: PyAV, CPU nets) is above X or was not scored")
    p.add_argument("--max-score-t4", type=float, default=None, metavar="X",
                   help="fail if the T4 runner's score (axis t4-gpu, else t4-emulated) is above X or was not scored")


def _register_gate(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "gate",
        parents=[run_options_parser()],
        help="CI gate: lint, replay the runner (vcc run), fail on bounds (score, headroom, inflate time)",
        description=(
            "Lint the submission (errors exit 2), replay the official job with `vcc run`'s runner (its "
            "failures keep their exit codes: 2 bad input, 3 submission failed), then check each bound: "
            "exit 1 listing every bound not met, 0 when all hold. For GitHub Actions: the reusable "
            ".github/workflows/vcc-gate.yml and its caller submission/ci-example.yml."
        ),
    )
    p.add_argument("submission_dir", type=Path, help="dir with archive.zip and inflate.sh (only read)")
    p.add_argument("--max-score", type=float, default=None, metavar="X", help="fail if the score is above X")
    p.add_argument(
        "--min-headroom",
        type=float,
        default=None,
        metavar="S",
        help="fail if fewer than S seconds remain on the job's 30-minute clock",
    )
    p.add_argument("--max-inflate-s", type=float, default=None, metavar="S", help="fail if inflate takes over S s")
    _add_axis_bounds(p)
    p.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="results dir (default ./vcc-run-<name>-<time>)"
    )
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="gate report (default OUT/gate.json)")
    p.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="REPORT.json",
        help="an earlier gate.json, run.json or vcc-report.json of the same challenge and runner",
    )
    p.add_argument(
        "--max-regression",
        type=float,
        default=None,
        metavar="D",
        help="fail if the score exceeds the baseline's by more than D (default 0 with --baseline)",
    )
    p.add_argument("--allow-estimate", action="store_true",
                   help="accept a sampled ESTIMATE (vcc score --sample) as --baseline: its point estimate is used; "
                   "without this an estimate is refused (exit 2)")
    p.add_argument("--junit", type=Path, default=None, metavar="PATH", help="also write JUnit XML (checks, bounds)")
    p.add_argument("--summary", type=Path, default=None, metavar="PATH", help="also write a Markdown summary")
    p.add_argument("--no-lint", action="store_true", help="skip lint")
    p.add_argument("--archive-url", default=None, metavar="URL",
                   help="a bound: the URL serves archive.zip's bytes, fetched as the job's `curl -L` (check-upload)")
    p.add_argument("--lint-ignore", action="append", default=[], metavar="ID", help="skip a lint check; repeatable")
    p.set_defaults(handler=_gate)


def _register_check_upload(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "check-upload",
        help="fetch the archive URL as the official job's `curl -L` does and compare it with archive.zip",
        description=(
            "Fetch URL like the official job (`curl -L`: redirects followed, no cookies, curl's user agent) "
            "within a size cap and a deadline, hashing as it streams (nothing is written to disk), and compare "
            "size and sha256 with SUBMISSION_DIR/archive.zip. Verdicts: same bytes (exit 0); other bytes, an "
            "HTML page, not found, another HTTP error, a truncated body, a timeout, over the cap (exit 1); "
            "the host unreachable from here (exit 4)."
        ),
    )
    p.add_argument("url", metavar="URL", help="the archive's download link, as it goes in the PR")
    p.add_argument("submission_dir", type=Path, help="dir with archive.zip (only read)")
    p.add_argument("--max-bytes", type=parse_size, default=UploadConfig.max_bytes, metavar="SIZE",
                   help="stop reading past this many bytes (default 512M)")
    p.add_argument("--timeout", type=float, default=UploadConfig.timeout_s, metavar="S",
                   help="give up after S seconds (default 120)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the check as JSON")
    p.set_defaults(handler=_check_upload)


def _register_check_report(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "check-report",
        help="check the bot's report (report.txt or the PR comment) against vcc's full-precision figures",
        description=(
            "Read an official report.txt, or the bot's pull-request comment pasted as text (`## Eval Results: "
            "`NAME`` and the report in a code block; `-` reads standard input), and check each printed figure "
            "against vcc's within the printed rounding: 8 decimals for the distortions and the rate, exact "
            "sizes, 2 decimals for the score. Exit 0 when all agree, 1 naming each that does not. The report's "
            "`device:` line names its axis; a cuda report is not compared with CPU figures without --force."
        ),
    )
    p.add_argument("report", metavar="REPORT_OR_COMMENT", help="report.txt, a file with the comment, or -")
    p.add_argument("--against", type=Path, required=True, metavar="JSON",
                   help="vcc-report.json of `vcc score` or run.json of `vcc run` for the same raws")
    p.add_argument("--force", action="store_true", help="compare across axes (cuda report, CPU figures) anyway")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the check as JSON")
    p.set_defaults(handler=_check_report)


def _check_report(args: argparse.Namespace) -> int:
    path, text = read_report_arg(args.report)
    result = check_report(path, args.against, force=args.force, text=text)
    print(result.summary())
    if args.json is not None:
        write_json_atomic(args.json, result.as_json())
    return result.exit_code


def _check_upload(args: argparse.Namespace) -> int:
    result = check_upload(UploadConfig(args.url, args.submission_dir, args.max_bytes, args.timeout))
    print(result.summary())
    if args.json is not None:
        write_json_atomic(args.json, result.as_json())
    return result.exit_code


def _pack(args: argparse.Namespace) -> int:
    cfg = PackConfig(args.sources, args.output, method=args.method, name_map=parse_name_map(args.name_map))
    result = pack_archive(cfg)
    print(result.summary())
    report = result.as_json()
    if args.advise:
        advice = advise(AdviseConfig(result.output))
        print()
        print(advice.table())
        report["advice"] = advice.as_json()
    if args.json is not None:
        write_json_atomic(args.json, report)
    return 0


def _advise(args: argparse.Namespace) -> int:
    advice = advise(AdviseConfig(args.path, zopfli=not args.no_zopfli))
    print(advice.table())
    if args.json is not None:
        write_json_atomic(args.json, advice.as_json())
    return 0


def _pr_body(args: argparse.Namespace) -> int:
    body = build_pr_body(PrBodyConfig(args.submission_dir, tuple(args.run), lint=not args.no_lint,
                                      challenge_dir=args.challenge_dir, archive_url=args.archive_url))
    if args.output is not None:
        write_atomic(args.output, body.markdown.encode())
        print(f"vcc pr-body: wrote {args.output}")
    else:
        print(body.markdown, end="")
    for w in body.warnings:
        print(f"vcc pr-body: warning: {w}", file=sys.stderr)
    return body.exit_code


def _manifest(args: argparse.Namespace) -> int:
    exclude = tuple(p for p in (args.json, args.check) if p is not None)
    if args.check is not None:
        check = check_manifest(args.submission_dir, args.check, exclude=exclude)
        if args.json is not None:
            write_json_atomic(args.json, check.as_json())
        check.raise_for_mismatch()
        print(f"vcc manifest: {args.submission_dir} matches {args.check}")
        return 0
    manifest = build_manifest(args.submission_dir, exclude=exclude)
    if args.archive_url and not args.custody:
        raise BadInput("--archive-url goes into the custody block", fix="also pass --custody RUN.json")
    upload = None
    if args.custody:
        runs = [load_run_report(p) for p in args.custody]
        if args.archive_url:
            upload = check_upload(UploadConfig(args.archive_url, args.submission_dir))
            print(upload.summary(), file=sys.stderr)
        manifest["custody"] = build_custody(args.submission_dir, runs, upload.as_json() if upload else None, exclude)
    if args.json is not None:
        write_manifest(manifest, args.json)
        a = manifest["archive"]
        print(
            f"vcc manifest: {args.json}: archive.zip {a['bytes']:,} bytes, {len(a['members'] or [])} member(s), "
            f"{len(manifest['files'])} code file(s)"
        )
    else:
        print(json.dumps(manifest, indent=2))
    return 0 if upload is None else upload.exit_code


def _lint(args: argparse.Namespace) -> int:
    if args.list:
        for c in CHECKS.values():
            print(f"{c.id:28} {c.severity:8} {c.summary}")
        return 0
    if args.submission_dir is None:
        raise BadInput("vcc lint needs SUBMISSION_DIR", fix="vcc lint path/to/submission (or --list)")
    cfg = LintConfig(
        args.submission_dir,
        tuple(args.ignore),
        args.max_file_bytes,
        challenge_dir=args.challenge_dir,
        runner=args.runner,
        name=args.name,
    )
    result = lint_submission(cfg)
    print(result.summary())
    if args.json is not None:
        write_json_atomic(args.json, result.as_json())
    return result.exit_code


def _gate(args: argparse.Namespace) -> int:
    cfg = GateConfig(
        run=run_config(args),  # --out and --json are the gate's: the run writes under OUT/run
        bounds=GateBounds(
            max_score=args.max_score,
            min_headroom_s=args.min_headroom,
            max_inflate_s=args.max_inflate_s,
            deterministic=args.repeat > 1,
            max_regression=args.max_regression,
            max_score_cpu=args.max_score_cpu,
            max_score_t4=args.max_score_t4,
        ),
        out_dir=args.out,
        json_path=args.json,
        lint=not args.no_lint,
        lint_ignore=tuple(args.lint_ignore),
        baseline=args.baseline,
        allow_estimate=args.allow_estimate,
        junit_path=args.junit,
        summary_path=args.summary,
        archive_url=args.archive_url,
    )
    result = gate_submission(cfg)
    print(result.summary())
    if result.error is not None:
        print(f"vcc gate: {result.error.render()}", file=sys.stderr)
    return result.exit_code


def main(argv: list[str] | None = None) -> int:
    """argv starts with the subcommand: main(["lint", "path/to/sub"])."""
    return run_cli(list(sys.argv[1:] if argv is None else argv), [register])
