"""vcc: the command line. A thin shell over the scorer, runner and submission libraries.

Each package's `cli.register(subparsers)` adds its subcommands; handlers take the
parsed args and return an exit code. VccError becomes its message and exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

__all__ = ["main", "build_parser"]

# Packages whose cli module registers subcommands, in help order.
_CLI_MODULES = ("scorer.cli", "runner.cli", "submission.cli", "demo.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vcc",
        description="Score comma video compression challenge submissions exactly as the official runner.",
        epilog="exit codes: 0 ok, 1 gate bound not met, 2 bad input, 3 submission failed while running, "
        "4 harness or environment error",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _CLI_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name in (name, name.split(".")[0]):  # that part of vcc is not installed
                continue
            raise
        module.register(sub)
    return parser


def _numerics_rerun(argv: list[str]) -> int | None:
    """Apply --numerics before torch is imported: its caps are read when torch initialises.

    Sets the caps in this process when torch is not loaded yet; otherwise (vcc.main called from
    a Python program that imported torch) runs the same command in a fresh interpreter and
    returns its exit code. None: carry on in this process.
    """
    from base import NUMERICS_PROFILES, check_profile_supported, numerics_from_argv, profile_env

    profile = NUMERICS_PROFILES.get(numerics_from_argv(argv) or "native")
    if profile is None or not profile.env:
        return None  # native, or a wrong name that argparse reports
    check_profile_supported(profile)
    if all(os.environ.get(k) == v for k, v in profile.env.items()):
        return None
    if "torch" not in sys.modules:
        os.environ.update(profile.env)
        return None
    return subprocess.run([sys.executable, "-m", "vcc", *argv], env=profile_env(profile)).returncode


class _PreParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ValueError(message)  # the real parser reports it


def _score_env_request(argv: list[str]) -> tuple[Path, str] | None:
    """(challenge dir, device) when argv is `score ... --env official`, else None.

    Reads only --env, --challenge-dir and --device (abbreviations as argparse takes them); a
    command line this cannot read is left to the real parser.
    """
    if not argv or argv[0] != "score" or "-h" in argv or "--help" in argv:
        return None
    pre = _PreParser(add_help=False)
    pre.add_argument("--env")
    pre.add_argument("--challenge-dir", type=Path)
    pre.add_argument("--device", default="cpu")
    try:
        ns, _ = pre.parse_known_args(argv[1:])
    except (ValueError, argparse.ArgumentError):
        return None
    if ns.env != "official" or ns.challenge_dir is None:
        return None
    return ns.challenge_dir, str(ns.device)


def _child_argv(argv: list[str]) -> list[str]:
    """argv with --env official replaced by --env vcc (the child is already in the env)."""
    out, replaced = [], False
    for i, arg in enumerate(argv):
        if i > 0 and argv[i - 1] == "--env":
            out.append("vcc")
            replaced = True
        elif arg.startswith("--env="):
            out.append("--env=vcc")
            replaced = True
        else:
            out.append(arg)
    return out if replaced else [*out, "--env", "vcc"]


def official_env_command(argv: list[str]) -> tuple[list[str], dict[str, str]] | None:
    """`vcc score --env official`: the command and environment that score inside the checkout's
    synced env (group cpu for a CPU device, cu128 for cuda), or None to carry on here.

    No synced env: exit 2 naming `vcc env sync` (it is never built here: the lock's torch is
    gigabytes). The env lacks what the scorer imports: exit 4 naming the modules. Otherwise the
    child is [env python, -m, vcc, ...] with PYTHONPATH on a private copy of vcc's code.
    """
    request = _score_env_request(argv)
    if request is None:
        return None
    from base import HarnessError
    from runner import _env  # runner's package imports scorer, and so torch: only for --env official
    challenge_dir, device = request
    group = "cu128" if device.startswith("cuda") else "cpu"
    record = _env.require_env(challenge_dir, group)
    if Path(sys.prefix).resolve() == record.path.resolve():  # already in it
        os.environ.setdefault("VCC_SCORING_ENV", str(record.path))
        return None
    missing = _env.missing_modules(record.python)
    if missing:
        why = "; ".join(f"{name} ({reason})" for name, reason in missing.items())
        raise HarnessError(
            f"--env official: the synced environment cannot import what the scorer needs: "
            f"{', '.join(missing)} [{why}]",
            path=record.path,
            fix="sync a lock that provides them (the official checkout's uv.lock does: "
            f"`vcc env sync --challenge-dir {challenge_dir} --group {group}`), or score with --env vcc",
        )
    tops = ("base", "vcc", *(name.split(".")[0] for name in _CLI_MODULES))
    code = _env.install_vcc_code(record.path.parent, _env.vcc_code_sources(tops))
    return [str(record.python), "-m", "vcc", *_child_argv(argv)], _env.scoring_environ(record, code)


def _official_env_rerun(argv: list[str]) -> int | None:
    planned = official_env_command(argv)
    if planned is None:
        return None
    cmd, env = planned
    if "--quiet" not in argv:
        print(f"vcc score: scoring in the synced environment {env['VCC_SCORING_ENV']}", file=sys.stderr, flush=True)
    return subprocess.run(cmd, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    from base import EXIT_HARNESS, BadInput, VccError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        rerun = _official_env_rerun(argv)
        if rerun is None:
            rerun = _numerics_rerun(argv)
    except VccError as err:
        print(f"vcc: error: {err.render()}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("vcc: interrupted", file=sys.stderr)
        return 130
    if rerun is not None:
        return rerun
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "score" and getattr(args, "env", "vcc") == "official" and not os.environ.get(
            "VCC_SCORING_ENV"
        ):
            raise BadInput("--env official was not applied", fix="spell it out: --env official")
        return int(args.handler(args))
    except VccError as err:
        print(f"vcc {args.command}: error: {err.render()}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("vcc: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("vcc: out of memory", file=sys.stderr)
        return EXIT_HARNESS


if __name__ == "__main__":
    sys.exit(main())
