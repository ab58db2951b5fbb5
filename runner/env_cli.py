"""`vcc env sync`: build the official job's Python environment (runner._env) from the checkout's lock."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vcc.base import RUNNER_SHAPES, BadInput, run_cli, write_json_atomic

from ._env import EnvConfig, sync_env

__all__ = ["register", "main"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "env",
        help="the runner's Python environment: `uv sync --group G` of the checkout's lock",
        description=(
            "The official job runs inflate inside `uv sync --group cpu` (T4: cu128) of the challenge "
            "checkout's pyproject.toml and uv.lock. `vcc env sync` builds that environment with uv "
            "into vcc's cache (reused while the lock is unchanged); `vcc run` then runs inflate in it."
        ),
    )
    sub = p.add_subparsers(dest="env_command", metavar="ACTION", required=True)
    s = sub.add_parser("sync", help="build or reuse the environment for a checkout's lock and group")
    s.add_argument("--challenge-dir", type=Path, required=True, help="checkout of the official repo")
    s.add_argument(
        "--runner",
        choices=tuple(RUNNER_SHAPES),
        default=None,
        help="the runner shape whose uv group to sync: "
        + ", ".join(f"{k} ({s.uv_group})" for k, s in RUNNER_SHAPES.items())
        + "; default cpu",
    )
    s.add_argument("--group", default=None,
                   help="a dependency group of the checkout's pyproject.toml by name (instead of --runner)")
    s.add_argument("--python", default=None, help="interpreter for the env (default: the one vcc runs on)")
    s.add_argument("--envs-dir", type=Path, default=None, help="where envs live (default $XDG_CACHE_HOME/vcc/envs)")
    s.add_argument(
        "--no-fallback",
        action="store_true",
        help="fail when the lock's torch index is unreachable instead of taking PyPI's torch of the same version",
    )
    s.add_argument("--rebuild", action="store_true", help="build afresh even if a complete env exists")
    s.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the env's record here")
    s.add_argument("--quiet", action="store_true", help="do not echo uv's output")
    s.set_defaults(handler=_sync)


def _group(args: argparse.Namespace) -> str:
    """--group as given, else the --runner shape's uv group (default: the CPU runner's)."""
    from_runner = RUNNER_SHAPES[args.runner or "cpu"].uv_group
    if args.group is not None and args.runner is not None and args.group != from_runner:
        raise BadInput(f"--group {args.group} and --runner {args.runner} (group {from_runner}) disagree",
                       fix="pass one of them")
    return args.group if args.group is not None else from_runner


def _sync(args: argparse.Namespace) -> int:
    cfg = EnvConfig(
        challenge_dir=args.challenge_dir,
        group=_group(args),
        python=args.python,
        envs_dir=args.envs_dir,
        fallback=not args.no_fallback,
        rebuild=args.rebuild,
        progress=not args.quiet,
    )
    record = sync_env(cfg, echo=lambda m: print(f"vcc env: {m}", file=sys.stderr))
    summary = record.as_json()
    print(f"vcc env sync: {'REUSED' if record.reused else 'SYNCED'} ({summary['mode']}): {record.path}")
    print(f"  group {summary['group']}, python {summary['python']}, lock sha256 {summary['lock_sha256']}")
    for fb in record.fallbacks:
        print(
            f"  fallback: {fb['package']} {fb['locked']} -> {fb.get('installed')} from PyPI "
            f"({fb['unreachable_index']} unreachable)"
        )
    if summary["stale_lock"]:
        print(f"  not in uv.lock, resolved afresh: {', '.join(summary['stale_lock'])}")
    print(f"  record:  {record.record_path}")
    if args.json is not None:
        write_json_atomic(args.json, {**record.data, "reused": record.reused})
    return 0


def main(argv: list[str] | None = None) -> int:
    """`vcc env ...` with argv after the subcommand (for tests and scripts)."""
    return run_cli(["env", *(sys.argv[1:] if argv is None else argv)], [register])
