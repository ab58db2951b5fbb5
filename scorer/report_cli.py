"""`vcc compare`, `vcc plot`, `vcc report`, `vcc pairs`: reading score reports back.

Argument parsing only; the work is in the library (_compare, _plots, _html, _pairs, _load).
None of these imports torch, except `vcc plot`'s frame plots, which re-run the nets on the
worst pairs (`--no-frames` skips them).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from vcc.base import EXIT_OK, run_cli, write_atomic, write_json_atomic

from ._load import check_output_dir, check_output_file, load_run_report, load_score_report
from ._options import add_score_options

__all__ = ["register", "main"]


def _compare(args: argparse.Namespace) -> int:
    from ._compare import compare_reports, compare_text

    if args.json is not None:
        check_output_file(args.json, "--json", "compare.json")
    if args.sample is not None:
        return _compare_sample(args)
    reports = [load_score_report(p) for p in args.reports]
    result = compare_reports(reports, top=args.k, force=args.force)
    print(compare_text(result, shown=args.k))
    if args.json is not None:
        write_json_atomic(args.json, result)
        print(f"comparison: {args.json}")
    return EXIT_OK


def _compare_sample(args: argparse.Namespace) -> int:
    """`vcc compare --sample K A_DIR B_DIR --challenge-dir CH`: both candidates scored on the same pairs."""
    from vcc.base import BadInput

    from ._config import ScoreConfig
    from ._options import ScoreOptions

    options = ScoreOptions.from_args(args)
    opts = options.sampling
    for option, given in (("--progressive", opts.progressive), ("--grid", options.grid)):
        if given:
            raise BadInput(f"{option} is not a comparison option", fix=f"drop {option} (it is `vcc score`'s)")
    if len(args.reports) != 2:
        raise BadInput(f"compare --sample takes two submission directories, got {len(args.reports)}",
                       fix="vcc compare --sample K A_DIR B_DIR --challenge-dir CH")
    if args.challenge_dir is None:
        raise BadInput("compare --sample scores the candidates: it needs --challenge-dir",
                       fix="add --challenge-dir CH (the checkout the candidates are scored on)")
    cfgs = [ScoreConfig(submission_dir=d, challenge_dir=args.challenge_dir, options=options, progress=False,
                        write_reports=False) for d in args.reports]
    from ._sampled import compare_sample, compare_sample_text

    result = compare_sample(cfgs[0], cfgs[1], opts)
    print(compare_sample_text(result))
    if args.json is not None:
        write_json_atomic(args.json, result)
        print(f"paired estimate: {args.json}")
    return EXIT_OK


def _plot(args: argparse.Namespace) -> int:
    from ._plots import make_plots

    out = check_output_dir(args.out, "plot")
    loaded = load_score_report(args.report)
    plots = make_plots(loaded.data, out, k=args.k, frames=not args.no_frames, device=args.device,
                       report_path=loaded.path, progress=not args.quiet)
    for item in plots.items:
        print(f"{out / item['file']}: {item['caption']}")
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from ._html import render_html
    from ._pairs import pairs_csv, read_pairs
    from ._plots import PlotSet, make_plots

    out = check_output_file(args.out, "report", "report.html")
    loaded = load_score_report(args.report)
    run = None
    if args.run is not None:
        run = load_run_report(args.run)
    elif "vcc_run_schema" in json.loads(Path(args.report).read_text()):
        run = load_run_report(args.report)  # a run.json alone: its score and its run
    if args.pairs is not None:
        read_pairs(args.pairs, loaded.data, loaded.path)  # refused unless it is this report's
        csv_bytes = Path(args.pairs).read_bytes() if Path(args.pairs).suffix == ".csv" else None
    else:
        csv_bytes = None
    if csv_bytes is None:
        csv_bytes = pairs_csv(loaded.data).encode()
    if args.plots is not None:  # `vcc plot`'s directory, frame plots included
        plot_dir = check_output_dir(args.plots, "--plots")
        items = PlotSet.read_index(plot_dir)
        if not items:
            from vcc.base import BadInput

            raise BadInput("no plots.json in the plot directory", path=plot_dir,
                           fix=f"make the plots first: vcc plot {args.report} -o {plot_dir}")
        plots = [(i["caption"], (plot_dir / i["file"]).read_bytes()) for i in items]
    else:  # the report's own plots (no frames: those need the nets, `vcc plot`)
        with tempfile.TemporaryDirectory(prefix="vcc-report-") as tmp:
            made = make_plots(loaded.data, Path(tmp), k=min(args.k, 8), frames=False, progress=not args.quiet)
            plots = [(i["caption"], (Path(tmp) / i["file"]).read_bytes()) for i in made.items]
    title = f"vcc report: {Path((loaded.data.get('paths') or {}).get('submission_dir', loaded.path)).name}"
    write_atomic(out, render_html(loaded.data, title=title, run=run, plots=plots, pairs_csv=csv_bytes, k=args.k))
    print(f"report: {out}")
    return EXIT_OK


def _pairs(args: argparse.Namespace) -> int:
    from ._pairs import pairs_outputs, write_pairs

    pairs_outputs(args.out)  # a directory or an impossible Parquet is refused before reading
    loaded = load_score_report(args.report)
    for path in write_pairs(loaded.data, args.out):
        print(f"per-pair table: {path}")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("compare", help="score and term deltas between reports, per pair, at full precision")
    c.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json",
                   help="score reports (or run.json); the first is the baseline; PATH#TARGET picks a target of a "
                   "--decode both report")
    c.add_argument("-k", "--k", type=int, default=10, help="how many most worse / most better pairs (default 10)")
    c.add_argument("--force", action="store_true", help="compare reports of different challenges or pair counts")
    c.add_argument("--json", type=Path, default=None, help="also write the comparison as JSON here")
    # With --sample, REPORT.json are two submission dirs A B, scored on the same pairs with the
    # scoring options of `vcc score` (one declaration: ScoreOptions).
    c.add_argument("--challenge-dir", type=Path, default=None, help="the checkout to score on (with --sample)")
    add_score_options(c)
    c.set_defaults(handler=_compare)

    p = sub.add_parser("plot", help="PNG plots of a score report: distortions, breakdown, worst pairs' frames")
    p.add_argument("report", type=Path, metavar="REPORT.json")
    p.add_argument("-o", "--out", type=Path, required=True, help="directory for the PNGs (created if missing)")
    p.add_argument("-k", "--k", type=int, default=4, help="how many worst pairs to show (default 4)")
    p.add_argument("--no-frames", action="store_true",
                   help="skip the frame plots (they re-run both nets on the worst pairs, which loads torch)")
    p.add_argument("--device", default="cpu", help="device for the frame plots' nets (default cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress")
    p.set_defaults(handler=_plot)

    r = sub.add_parser("report", help="one self-contained HTML report of a score (and its run)")
    r.add_argument("report", type=Path, metavar="REPORT.json", help="score report (or a run.json with a score)")
    r.add_argument("run", type=Path, nargs="?", default=None, metavar="RUN.json",
                   help="the run report of `vcc run`: adds its phases and clock headroom")
    r.add_argument("-o", "--out", type=Path, required=True, help="the HTML file to write")
    r.add_argument("--plots", type=Path, default=None, help="embed `vcc plot`'s PNGs from this directory "
                   "(frame plots included); default: the report's own plots, without frames")
    r.add_argument("--pairs", type=Path, default=None, help="embed this per-pair table (must be the report's)")
    r.add_argument("-k", "--k", type=int, default=10, help="worst pairs listed (default 10)")
    r.add_argument("--quiet", action="store_true", help="no progress")
    r.set_defaults(handler=_report)

    t = sub.add_parser("pairs", help="write a score report's per-pair table (CSV; Parquet too with pyarrow)")
    t.add_argument("report", type=Path, metavar="REPORT.json")
    t.add_argument("-o", "--out", type=Path, required=True, help="pairs.csv (or pairs.parquet)")
    t.set_defaults(handler=_pairs)


def main(argv: list[str] | None = None) -> int:
    """`vcc COMMAND ...` for compare, plot, report, pairs (argv includes the command)."""
    return run_cli(list(sys.argv[1:] if argv is None else argv), [register])
