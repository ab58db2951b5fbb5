"""How a score runs: `ScoreOptions`, its command-line options, its checks and its defaults, in one place.

Torch-free, so the options are checked before torch loads. Every command that scores (`vcc score`,
`vcc run`, `vcc gate`, sweeps through `vcc run`'s options) declares them with `add_score_options`,
builds them with `ScoreOptions.from_args`, and every process that starts another vcc scoring process
(the Docker backend, `--spread`) hands them on with `to_argv`. Defaults that depend on the machine
(the thread count, the worker count) are filled by `resolved`, once, where the scoring process is
decided; a resolved value travels on as an explicit one, so every backend scores with the same.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcc.base import (
    OFFICIAL_BATCH_SIZE,
    BadInput,
    NumericsProfile,
    add_numerics_argument,
    get_profile,
    public_runner_for,
)

from ._cache import default_cache_dir
from ._sampling import SampleOptions, add_sample_arguments, sample_options
from ._targets import DALI_VARIANTS, DECODE_CHOICES, targets_for

__all__ = [
    "ScoreOptions", "READ_AHEAD_CHOICES", "add_score_options", "add_threads_option", "default_decode",
    "torch_default_threads",
]

READ_AHEAD_CHOICES = ("auto", "on", "off")


def default_decode(device: str) -> str:
    """The ground truth of the public runner with this device (cpu: pyav, cuda: dali), from the runner table."""
    return public_runner_for(cuda=str(device).startswith("cuda")).decode


@dataclass(frozen=True)
class ScoreOptions:
    """How a score runs (not what it scores): device, decode, batches, threads, workers, numerics, cache.

    `threads` and `workers` None: not given; `resolved` fills them for this machine.
    """

    device: str = "cpu"
    batch_size: int = OFFICIAL_BATCH_SIZE
    decode: str = "pyav"  # pyav | dali | dali-emulated | both
    dali_variant: str = "1.52"  # which DALI release's RGB conversion dali-emulated reproduces
    # torch's intra-op threads. CPU results depend on it in the last bits (kernels split work by
    # thread count), so it is part of the cache key and the report.
    threads: int | None = None
    # Worker processes the batches are sharded across (CPU), each with `threads` torch threads;
    # the figures are the same bits for any count.
    workers: int | None = None
    # CPU kernel caps (native | runner | portable, see base._numerics); applied before torch runs a
    # kernel. A profile with a thread count sets the threads unless `threads` is given.
    numerics: str = "native"
    use_cache: bool = True
    cache_dir: Path | None = None  # default: $XDG_CACHE_HOME/vcc/ground-truth
    # Decode, raw reads and net inputs made in a thread ahead of the forwards: auto (where every
    # worker has a core to spare for it), on, off. The figures are the same bits either way.
    read_ahead: str = "auto"
    # `vcc score --grid`: the candidate against each ground truth with the nets on each device
    # present (scorer/_grid.py), instead of the one target `decode` names.
    grid: bool = False
    # `--sample K` / `--progressive` (scorer/_sampling.py): an estimate from drawn pairs, or the
    # official batches in a random order with a running estimate.
    sampling: SampleOptions = SampleOptions()

    def __post_init__(self) -> None:
        if self.cache_dir is not None and not isinstance(self.cache_dir, Path):
            object.__setattr__(self, "cache_dir", Path(self.cache_dir))
        _check_choice("--decode", self.decode, DECODE_CHOICES)
        _check_choice("--dali-variant", self.dali_variant, DALI_VARIANTS)
        _check_choice("--read-ahead", self.read_ahead, READ_AHEAD_CHOICES)
        for what, value, fix in (
            ("--batch-size", self.batch_size, f"use {OFFICIAL_BATCH_SIZE} (official)"),
            ("--threads", self.threads, "omit it for the default (the profile's, the runner's or torch's)"),
            ("--workers", self.workers, "omit it for as many as the cores hold"),
        ):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise BadInput(f"{what} must be at least 1, got {value!r}", fix=fix)
        get_profile(self.numerics)  # an unknown name is bad input

    @property
    def profile(self) -> NumericsProfile:
        return get_profile(self.numerics)

    @property
    def on_cpu(self) -> bool:
        return self.device.startswith("cpu")

    @property
    def targets(self) -> list[str]:
        """Ground-truth decode paths to score against."""
        return targets_for(self.decode, cuda=self.device.startswith("cuda"))

    def resolved(self, *, default_threads: int, cores: int, one_process: bool = False) -> ScoreOptions:
        """These options with the thread and worker counts decided (the one place they are).

        threads: as given, else the numerics profile's (the bits depend on it, so it holds on any
        machine), else `default_threads` (torch's default here; `vcc run`: capped at the runner's
        CPUs). workers: 1 where the score runs as one process (`one_process`, or off the CPU), else
        as given, else as many of `threads` threads as `cores` hold, at least one.
        """
        threads = self.threads or self.profile.threads or max(1, default_threads)
        workers = 1 if one_process or not self.on_cpu else (self.workers or max(1, cores // threads))
        return dataclasses.replace(self, threads=threads, workers=workers)

    def to_argv(self) -> list[str]:
        """These options as `vcc score` arguments: for every process that scores on their behalf."""
        argv = ["--device", self.device, "--batch-size", str(self.batch_size), "--decode", self.decode,
                "--dali-variant", self.dali_variant, "--numerics", self.numerics, "--read-ahead", self.read_ahead]
        if self.threads is not None:
            argv += ["--threads", str(self.threads)]
        if self.workers is not None:
            argv += ["--workers", str(self.workers)]
        if self.cache_dir is not None:
            argv += ["--cache-dir", str(self.cache_dir)]
        if not self.use_cache:
            argv.append("--no-cache")
        if self.grid:
            argv.append("--grid")
        return argv + self.sampling.to_argv()

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ScoreOptions:
        """The options `add_score_options` declared, as parsed; those a command lacks keep their defaults
        (`vcc run` decides the device, the decode and the read-ahead by the runner it replays)."""
        names = [f.name for f in dataclasses.fields(cls) if f.name != "sampling"]
        given: dict[str, Any] = {name: getattr(args, name) for name in names if hasattr(args, name)}
        if hasattr(args, "sample"):
            given["sampling"] = sample_options(args)
        if given.get("decode") is None:
            given["decode"] = default_decode(given.get("device", cls.device))
        return cls(**given)


def _check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise BadInput(f"unknown {what} {value!r}", fix=f"use one of {', '.join(choices)}")


def add_score_options(p: argparse.ArgumentParser, *, replay: bool = False) -> None:
    """Declare the options of `ScoreOptions` on a command's parser (their one declaration).

    `replay`: `vcc run`'s (and so `vcc gate`'s) form: the runner decides the device, the decode and
    the read-ahead; the cache is off unless asked for (a hit would flatter the clock's headroom).
    """
    if not replay:
        p.add_argument("--device", default=ScoreOptions.device,
                       help="cpu (CPU runner) or cuda (T4 runner); default cpu")
        p.add_argument("--decode", choices=DECODE_CHOICES, default=None,
                       help="ground-truth decode path: pyav (CPU runner), dali (T4 runner, CUDA), "
                       "dali-emulated (T4 frames on the CPU), both; default pyav on cpu, dali on cuda")
        p.add_argument("--dali-variant", choices=DALI_VARIANTS, default=ScoreOptions.dali_variant,
                       help="DALI release whose RGB conversion dali-emulated reproduces: 1.52 (the official lock) "
                       "or post-6076 (DALI after Nov 2025: chroma kept in float, R/G/B shifted by about "
                       "+0.87/-0.53/+1.08)")
    p.add_argument("--batch-size", type=int, default=OFFICIAL_BATCH_SIZE,
                   help=f"pairs per batch (official: {OFFICIAL_BATCH_SIZE})")
    if replay:
        p.add_argument("--use-cache", dest="use_cache", action="store_true", default=False,
                       help="allow the ground-truth cache (faster; scoring time then understates the runner)")
        p.add_argument("--cache-dir", type=Path, default=None, help="ground-truth cache dir")
    else:
        p.add_argument("--cache-dir", type=Path, default=None,
                       help=f"ground-truth cache (default {default_cache_dir()})")
        p.add_argument("--no-cache", dest="use_cache", action="store_false", default=True,
                       help="recompute the ground truth, read and write no cache")
    add_threads_option(p, replay=replay)
    cores = "the runner's CPUs, capped at this machine's," if replay else "this machine's cores"
    p.add_argument("--workers", type=int, default=None,
                   help="CPU worker processes the batches are sharded across, each with --threads threads; the "
                   f"figures are the same bits for any count (default: {cores} // the threads)")
    if not replay:
        p.add_argument("--grid", action="store_true",
                       help="score against each ground truth (PyAV; DALI, or its emulation on the CPU) with the nets "
                       "on each device present (CPU; CUDA when there is one): the 2x2 that splits the CPU runner -> "
                       "T4 runner gap into the decoder's and the kernels' shares; writes the grid JSON (--json, "
                       "default SUBMISSION_DIR/vcc-grid.json), not report.txt")
        add_sample_arguments(p)
        p.add_argument("--read-ahead", choices=READ_AHEAD_CHOICES, default=ScoreOptions.read_ahead,
                       help="decode, raw reads and net inputs in a thread ahead of the forwards: auto (only where "
                       "each worker has a core to spare for it; otherwise it slows the forwards), on, off; same bits")
    add_numerics_argument(p)  # base declares it: `vcc` reads it before argparse, to apply it before torch loads


def add_threads_option(p: argparse.ArgumentParser, *, replay: bool = False) -> None:
    """`--threads`, the one declaration (also for commands that score without the other options,
    such as `vcc dali-verify --bundle`'s grid)."""
    where = "the runner's CPUs, capped at this machine's cores" if replay else "torch's default for this machine"
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads; results depend on it in the last bits (the CPU runner has 4 cores); "
                   f"default: the numerics profile's, else {where}")


def torch_default_threads() -> int:
    """torch's intra-op thread count in this process as it stands (its default unless a caller set
    another): the machine's share of `ScoreOptions.resolved`. Imports torch."""
    import torch

    return torch.get_num_threads()
