"""`vcc sweep`: argument parsing only; the work is in runner._sweep (and the modules it uses)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vcc.base import EXIT_OK, BadInput, run_cli

from ._shapes import RUNNERS

__all__ = ["register", "main"]

_DESCRIPTION = """\
Score many candidates at once. SPEC (TOML, or YAML by a .yml/.yaml suffix) names a compress
command template, its parameters' values, the submission's code (inflate.sh and what it runs)
and the challenge dir. Each point is compressed into its own workspace (a copy of the code plus
the archive.zip the command wrote) and replayed with `vcc run` (inflate under the clock, score).
A point whose point.json exists with the same inputs' hashes is skipped, so a rerun with the
same --out continues an interrupted sweep. Results: OUT/results.csv (and .parquet), the Pareto
front, OUT/rate-distortion.png.

  challenge_dir = "challenge"            # relative to the SPEC file
  submission_dir = "submission"
  compress = "bash {submission_dir}/compress.sh {videos_dir} {out_dir} {names_file} --crf {crf} --scale {scale}"
  compress_timeout_s = 3600
  [grid]                                 # every combination; or points = [{crf = 30, scale = 0.4}, ...]
  crf = [30, 40]
  scale = [0.3, 0.45]
  [run]                                  # vcc run options: runner, clock_s, setup_overhead_s, memory,
  runner = "cpu"                         # cpus, threads, batch_size, cache_dir, score, env, numerics, ...

Placeholders besides the parameters: {challenge_dir} {videos_dir} {names_file} {submission_dir}
{out_dir} (where archive.zip must go) {python}. The template is split like a shell line, no shell
runs it.
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "sweep",
        help="compress, run and score a grid of candidates (local process pool or Ray); table, Pareto front, plot",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", type=Path, nargs="?", default=None,
                   help="the sweep's SPEC (omit with --top and --out to read an existing sweep)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="results dir (default: the SPEC's `out`, else ./vcc-sweep-<SPEC name>); rerun with the "
                   "same dir to continue")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="points at once (default: from the cores and memory, each point its runner's CPUs and "
                   "memory cap; with --ray: as many as the cluster schedules)")
    p.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="run the points as Ray tasks: HOST:PORT or ray://HOST:PORT of a cluster, auto, or "
                   "`local` (a private 2-CPU instance); needs vcc[ray]")
    p.add_argument("--runner", choices=sorted(RUNNERS), default=None, help="override the SPEC's [run] runner")
    p.add_argument("--top", type=int, default=None, metavar="K", help="print the K best points (with only --out: "
                   "from an existing sweep, nothing runs)")
    p.add_argument("--retry-failed", action="store_true", help="rerun points whose record is a failure")
    p.add_argument("--quiet", action="store_true", help="no progress")
    p.set_defaults(handler=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    from ._sweep_table import load_sweep_table, top_text

    if args.top is not None and args.top < 1:
        raise BadInput(f"--top must be at least 1, got {args.top}", fix="use --top 5")
    if args.spec is None:
        if args.top is None or args.out is None:
            raise BadInput("give a SPEC, or --top K with the --out dir of an existing sweep",
                           fix="vcc sweep SPEC  or  vcc sweep --top 5 --out DIR")
        table, parameters = load_sweep_table(args.out)
        print(top_text(table, parameters, args.top))
        return EXIT_OK
    from ._sweep import SweepOptions, run_sweep
    from ._sweep_spec import load_spec

    spec = load_spec(args.spec).with_runner(args.runner)
    out = args.out or spec.out or Path.cwd() / f"vcc-sweep-{args.spec.stem}"
    outcome = run_sweep(spec, SweepOptions(out_dir=out, workers=args.workers, ray=args.ray,
                                           progress=not args.quiet, retry_failed=args.retry_failed))
    table = outcome.table
    verdicts = table["verdict"].value_counts().to_dict()
    print(f"vcc sweep: {len(table)} points ({', '.join(f'{n} {v}' for v, n in sorted(verdicts.items()))}); "
          f"ran {len(outcome.ran)}, skipped {len(outcome.skipped)} already done; {outcome.engine}, "
          f"{outcome.workers or 'as many as Ray schedules'} workers x {outcome.threads} threads; "
          f"{outcome.wall_s:.1f} s")
    for pid, why in outcome.lost.items():
        print(f"vcc sweep: point {pid} was lost by the engine ({why}); rerun to do it", file=sys.stderr)
    print(top_text(table, spec.parameters, args.top or 3))
    for f in outcome.files:
        print(f"  {f}")
    return outcome.exit_code


def main(argv: list[str] | None = None) -> int:
    """`vcc sweep ...` with argv after the subcommand (for tests and scripts)."""
    return run_cli(["sweep", *(sys.argv[1:] if argv is None else argv)], [register])
