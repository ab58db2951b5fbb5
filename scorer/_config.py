"""What to score and how: `ScoreConfig` (torch-free, so arguments are checked before torch loads)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vcc.base import ARCHIVE_NAME, BadInput, get_profile

from ._targets import DALI_VARIANTS, DECODE_CHOICES, targets_for

__all__ = ["ScoreConfig", "READ_AHEAD_CHOICES"]

READ_AHEAD_CHOICES = ("auto", "on", "off")


@dataclass
class ScoreConfig:
    """What to score and how. Paths are kept as given: the official report prints them so."""

    submission_dir: Path
    challenge_dir: Path
    names_file: Path | None = None
    inflated_dir: Path | None = None  # default: submission_dir/inflated
    archive_path: Path | None = None  # default: submission_dir/archive.zip
    device: str = "cpu"
    batch_size: int = 16
    decode: str = "pyav"  # pyav | dali | dali-emulated | both
    report_path: Path | None = None  # default: submission_dir/report.txt (as the official runner)
    json_path: Path | None = None  # default: submission_dir/vcc-report.json
    cache_dir: Path | None = None  # default: $XDG_CACHE_HOME/vcc/ground-truth
    use_cache: bool = True
    progress: bool = True
    official_truncation: bool = False  # score a short raw as the official zip() loop would
    write_reports: bool = True
    # The official evaluator's shape: no cache, no read-ahead, one step after another.
    # The benchmark's baseline; the results are the same either way.
    reference_loop: bool = False
    dali_variant: str = "1.52"  # which DALI release's RGB conversion dali-emulated reproduces
    # torch's intra-op threads. CPU results depend on it in the last bits (kernels split work
    # by thread count), so it is part of the cache key and the report. None: torch's default.
    threads: int | None = None
    # CPU kernel caps (native | runner | portable, see base._numerics); applied before torch
    # runs a kernel. A profile with a thread count sets the threads unless `threads` is given.
    numerics: str = "native"
    # Decoded ground-truth frames shared between processes (`--spread`): each video's frames
    # are read from here when a process before wrote them, else decoded and written here.
    shared_frames_dir: Path | None = None
    # report.txt's config block prints the paths evaluate.py was given. A replay of the official
    # job (`vcc run`) scores a staged copy and names its paths as the job would (relative to the
    # repository root); keys: report, submission_dir, uncompressed_dir, video_names_file.
    report_paths: dict[str, str] | None = None
    # Worker processes the batches are sharded across (CPU), each with `threads` torch threads;
    # the figures are the same bits for any count. None: the cores // the threads, at least 1.
    workers: int | None = None
    # Decode, raw reads and net inputs made in a thread ahead of the forwards: auto (where every
    # worker has a core to spare for it), on, off. The figures are the same bits either way.
    read_ahead: str = "auto"

    def __post_init__(self) -> None:
        self.submission_dir = Path(self.submission_dir)
        self.challenge_dir = Path(self.challenge_dir)
        if self.decode not in DECODE_CHOICES:
            raise BadInput(f"unknown --decode {self.decode!r}", fix=f"use one of {', '.join(DECODE_CHOICES)}")
        if self.dali_variant not in DALI_VARIANTS:
            raise BadInput(f"unknown --dali-variant {self.dali_variant!r}",
                           fix=f"use one of {', '.join(DALI_VARIANTS)}")
        if self.threads is not None and self.threads < 1:
            raise BadInput(f"--threads must be at least 1, got {self.threads}", fix="omit it for torch's default")
        if self.workers is not None and self.workers < 1:
            raise BadInput(f"--workers must be at least 1, got {self.workers}",
                           fix="omit it for one per `threads` cores")
        if self.workers is not None and self.workers > 1:
            single = ("with --reference-loop" if self.reference_loop
                      else "under torchrun" if int(os.environ.get("WORLD_SIZE", "1")) > 1
                      else f"on {self.device}" if not self.device.startswith("cpu") else None)
            if single is not None:
                raise BadInput(f"--workers {self.workers} shards CPU scoring; {single} the score runs as one "
                               "process", fix="drop --workers" + ("; for several GPUs launch with torchrun"
                                                                  if not self.device.startswith("cpu") else ""))
        if self.read_ahead not in READ_AHEAD_CHOICES:
            raise BadInput(f"unknown --read-ahead {self.read_ahead!r}",
                           fix=f"use one of {', '.join(READ_AHEAD_CHOICES)}")
        if self.reference_loop and self.read_ahead == "on":
            raise BadInput("--reference-loop reads nothing ahead (the official loop's shape)", fix="drop --read-ahead")
        if self.batch_size < 1:
            raise BadInput(f"--batch-size must be at least 1, got {self.batch_size}", fix="use 16 (official)")
        get_profile(self.numerics)  # an unknown name is bad input

    @property
    def inflated(self) -> Path:
        return Path(self.inflated_dir) if self.inflated_dir else self.submission_dir / "inflated"

    @property
    def archive(self) -> Path:
        return Path(self.archive_path) if self.archive_path else self.submission_dir / ARCHIVE_NAME

    @property
    def report(self) -> Path:
        return Path(self.report_path) if self.report_path else self.submission_dir / "report.txt"

    @property
    def json_report(self) -> Path:
        return Path(self.json_path) if self.json_path else self.submission_dir / "vcc-report.json"

    @property
    def effective_threads(self) -> int | None:
        """The thread count asked for: --threads, else the profile's, else None (torch's default)."""
        return self.threads if self.threads is not None else get_profile(self.numerics).threads

    @property
    def targets(self) -> list[str]:
        """Ground-truth decode paths to score against."""
        return targets_for(self.decode, cuda=self.device.startswith("cuda"))

