"""`vcc run`: argument parsing only; the work is in runner._run (and the modules it uses)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vcc.base import BadInput, escape_control, run_cli
from vcc.scorer import ScoreOptions, add_score_options, numerics_line

from . import env_cli, sweep_cli
from ._archive import ExtractLimits
from ._config import RunConfig
from ._repeat import repeat_lines
from ._result import RunResult
from ._run import run_submission
from ._shapes import BACKENDS, ENV_CHOICES, RUNNERS
from ._sizes import parse_size

__all__ = ["register", "main", "parse_size", "run_options_parser", "run_config"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    _register_run(subparsers)
    env_cli.register(subparsers)
    sweep_cli.register(subparsers)


def _register_run(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "run",
        parents=[run_options_parser()],
        help="replay the official runner locally: unzip, inflate under the clock, check, score",
        description=(
            "Replay the official evaluation job on this machine: stage a repository root, unzip "
            "archive.zip safely, run inflate.sh with the official argv under the 30-minute clock "
            "and the runner's CPU/memory limits (sandboxed with bubblewrap where available), check "
            "the raws, score them, and write one JSON report."
        ),
    )
    p.add_argument("submission_dir", type=Path, help="dir with archive.zip and inflate.sh (only read)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="report path (default OUT/run.json)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="results dir (default ./vcc-run-<name>-<timestamp>); must be new or empty",
    )
    p.set_defaults(handler=_run)


def run_options_parser() -> argparse.ArgumentParser:
    """The options of the runner's replay, shared by `vcc run` and `vcc gate` (argparse parents=[...]).

    SUBMISSION_DIR, --out and --json are each command's own; `run_config` builds the RunConfig.
    """
    p = argparse.ArgumentParser(add_help=False)
    _add_job_options(p)
    _add_limit_options(p)
    _add_scoring_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _add_job_options(p: argparse.ArgumentParser) -> None:
    """Which job is replayed: the checkout, the runner, the backend, the clock, repeats."""
    p.add_argument("--challenge-dir", type=Path, required=True, help="checkout of the official repo (LFS pulled)")
    p.add_argument("--names-file", type=Path, default=None, help="override the video names file")
    p.add_argument(
        "--runner",
        choices=sorted(RUNNERS),
        default="cpu",
        help="cpu: 4 CPUs, 16 GB, no GPU, PyAV decode; t4: GPU visible, 26 GB, DALI decode",
    )
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="local",
        help="local processes (bubblewrap sandbox) or the runner's Docker image",
    )
    p.add_argument(
        "--clock",
        type=float,
        default=1800.0,
        metavar="S",
        help="the whole job's time limit in seconds (official: 1800)",
    )
    p.add_argument(
        "--setup-overhead",
        type=float,
        default=None,
        metavar="S",
        help="seconds the job spends before evaluate.sh (default: cpu 150, t4 300; estimates)",
    )
    p.add_argument(
        "--score-estimate",
        type=float,
        default=None,
        metavar="S",
        help="seconds to reserve for scoring when setting inflate's deadline (default: the runner's per-pair estimate)",
    )
    p.add_argument("--network", choices=("on", "off"), default="on", help="network for inflate")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run the whole job N times, each from a fresh workspace and scored: every run's score, the mean, "
        "min, max and spread per term, and whether the raws agree (vcc gate: with N > 1 they must, and the "
        "bounds hold the worst run)",
    )
    p.add_argument("--name", default=None, help="submission name in submissions/<name> (default: the dir's)")
    p.add_argument("--no-score", action="store_true", help="stop after checking the raws")
    p.add_argument("--keep-workspace", action="store_true", help="keep OUT/workspace (raws included)")


def _add_limit_options(p: argparse.ArgumentParser) -> None:
    """What inflate gets: memory, CPUs, the sandbox, the archive's caps."""
    p.add_argument(
        "--memory",
        type=parse_size,
        default=None,
        metavar="SIZE",
        help="memory cap for inflate (default: the runner's, 16G cpu / 26G t4)",
    )
    p.add_argument("--cpus", type=int, default=None, metavar="N", help="CPUs for inflate (default 4)")
    p.add_argument(
        "--sandbox",
        choices=("on", "off", "auto", "require"),
        default="on",
        help="bubblewrap (on, the default: refused with exit 4 where it is missing), or off to run inflate "
        "unsandboxed, seeing your files and the network; auto and require are old names of on",
    )
    p.add_argument(
        "--allow-root-inflate",
        action="store_true",
        help="with --sandbox off as root: run inflate as root when the paths it needs are closed to other "
        "users (otherwise refused with exit 4: inflate could then write the whole host)",
    )
    p.add_argument(
        "--disk",
        type=parse_size,
        default=None,
        metavar="SIZE",
        help="disk cap on inflate's workspace (default 14G, the runner's SSD); past it inflate is killed",
    )
    p.add_argument(
        "--no-cgroup",
        action="store_true",
        help="no scratch cgroup: RLIMIT_AS and the process group only (weaker containment)",
    )
    p.add_argument(
        "--max-unzipped-bytes",
        type=parse_size,
        default=ExtractLimits.max_total_bytes,
        metavar="SIZE",
        help="cap on the archive's total uncompressed size (default 8G)",
    )
    p.add_argument(
        "--max-ratio",
        type=float,
        default=ExtractLimits.max_ratio,
        help="cap on a member's compression ratio (default 1000)",
    )
    p.add_argument(
        "--max-members",
        type=int,
        default=ExtractLimits.max_members,
        help="cap on the number of zip members (default 10000)",
    )


def _add_scoring_options(p: argparse.ArgumentParser) -> None:
    """How scoring runs, and which Python environments inflate and scoring use."""
    add_score_options(p, replay=True)
    p.add_argument("--image", default=None, help="Docker image to use with --backend docker")
    p.add_argument(
        "--env",
        choices=ENV_CHOICES,
        default="auto",
        help="inflate's Python (local backend): official = the checkout's `uv sync --group` env (synced if "
        "missing, see `vcc env sync`); vcc = vcc's own; auto = official where synced, else vcc's with a warning",
    )
    p.add_argument("--envs-dir", type=Path, default=None, help="where `vcc env sync` keeps envs")


def run_config(args: argparse.Namespace, *, out_dir: Path | None = None, json_path: Path | None = None) -> RunConfig:
    """The RunConfig that `run_options_parser()`'s options (and SUBMISSION_DIR) describe."""
    if args.memory is not None and args.memory < (16 << 20):
        raise BadInput(f"--memory {args.memory} bytes is too small to start a shell", fix="use e.g. 512M")
    return RunConfig(
        submission_dir=args.submission_dir,
        challenge_dir=args.challenge_dir,
        names_file=args.names_file,
        runner=args.runner,
        backend=args.backend,
        clock_s=args.clock,
        setup_overhead_s=args.setup_overhead,
        score_estimate_s=args.score_estimate,
        network=args.network == "on",
        repeat=args.repeat,
        out_dir=out_dir,
        json_path=json_path,
        name=args.name,
        scoring=not args.no_score,
        keep_workspace=args.keep_workspace,
        memory_bytes=args.memory,
        cpus=args.cpus,
        sandbox=False if args.sandbox == "off" else None,
        allow_root_inflate=args.allow_root_inflate,
        disk_bytes=args.disk,
        cgroup=not args.no_cgroup,
        extract_limits=ExtractLimits(
            max_total_bytes=args.max_unzipped_bytes,
            max_ratio=args.max_ratio,
            max_members=args.max_members,
        ),
        progress=not args.quiet,
        options=ScoreOptions.from_args(args),
        docker_image=args.image,
        env=args.env,
        envs_dir=args.envs_dir,
    )


def summary(result: RunResult) -> str:
    """A few lines for the terminal; the JSON report holds everything."""
    r = result.as_json()
    first = r["message"].splitlines()[0] if r["message"] else ""
    lines = [f"vcc run: {r['verdict'].upper()}: {first}"]
    runner = r["runner"]
    if runner:
        label = runner.get("label", runner.get("kind"))
        lines.append(f"  runner:   {label} ({runner.get('backend')} backend)")
    iso = r["isolation"]
    if iso:
        lines.append(
            f"  sandbox:  {iso['sandbox']}; memory {iso['memory_cap']}; {iso['cpus']}; network {iso['network']}"
        )
    phases = "  ".join(f"{k[:-2]} {v:.1f} s" for k, v in r["phases"].items())
    if phases:
        lines.append(f"  phases:   {phases}")
    c = r["clock"]
    est = "" if c.get("setup_overhead_basis", "").startswith("given") else " (est.)"
    if "headroom_s" in c:
        lines.append(
            f"  clock:    {c['clock_s']:.0f} s = setup {c['setup_overhead_s']:.0f}{est} + unzip "
            f"+ inflate + score ({c['score_s_basis']}); headroom {c['headroom_s']:.0f} s"
        )
    gib = 1 << 30
    mem = []
    if r["peak_memory_bytes"]:
        mem.append(f"peak {r['peak_memory_bytes'] / gib:.2f} GiB charged (page cache included)")
    if r["peak_rss_bytes"]:
        mem.append(f"resident {r['peak_rss_bytes'] / gib:.2f} GiB (sampled every 50 ms)")
    if mem:
        lines.append("  memory:   " + ", ".join(mem))
    if r["repeat"]["n"] > 1:
        lines += repeat_lines(r["repeat"])
    if r["score"]:
        s = r["score"]
        lines.append(
            f"  score:    {s['score']!r} (posenet {s['posenet_distortion']!r}, "
            f"segnet {s['segnet_distortion']!r}, rate {s['rate']!r}; "
            f"{s['samples']} samples, {s['decode']})"
        )
    if r.get("numerics"):
        lines.append(f"  numerics: {numerics_line(r['numerics'])}")
    for w in r["warnings"]:
        lines.append(f"  warning:  {w}")
    inflate_env = r.get("environment", {}).get("inflate")
    if inflate_env:
        where = inflate_env.get("path") or inflate_env.get("image") or ""
        extra = f", {len(inflate_env['fallbacks'])} fallback(s)" if inflate_env.get("fallbacks") else ""
        lines.append(f"  env:      inflate in {inflate_env['kind']} {where}{extra}")
    lines.append(f"  report:   {result.json_path}")
    return escape_control("\n".join(lines), keep_newlines=True)  # names and logs come from the submission


def _run(args: argparse.Namespace) -> int:
    result = run_submission(run_config(args, out_dir=args.out, json_path=args.json))
    print(summary(result))
    if result.error is not None:
        print(f"vcc run: {result.error.render()}", file=sys.stderr)
    return result.exit_code


def main(argv: list[str] | None = None) -> int:
    """`vcc run ...` with argv after the subcommand (for tests and scripts)."""
    return run_cli(["run", *(sys.argv[1:] if argv is None else argv)], [register])
