"""What to score and how: `ScoreConfig` (torch-free, so arguments are checked before torch loads)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from vcc.base import ARCHIVE_NAME, BadInput

from ._options import READ_AHEAD_CHOICES, ScoreOptions

__all__ = ["ScoreConfig", "READ_AHEAD_CHOICES"]


@dataclass
class ScoreConfig:
    """What to score (paths, reports) and how (`options`). Paths are kept as given: the official
    report prints them so."""

    submission_dir: Path
    challenge_dir: Path
    names_file: Path | None = None
    inflated_dir: Path | None = None  # default: submission_dir/inflated
    archive_path: Path | None = None  # default: submission_dir/archive.zip
    options: ScoreOptions = field(default_factory=ScoreOptions)
    report_path: Path | None = None  # default: submission_dir/report.txt (as the official runner)
    json_path: Path | None = None  # default: submission_dir/vcc-report.json
    progress: bool = True
    official_truncation: bool = False  # score a short raw as the official zip() loop would
    write_reports: bool = True
    # The official evaluator's shape: no cache, no read-ahead, one step after another.
    # The benchmark's baseline; the results are the same either way.
    reference_loop: bool = False
    # Decoded ground-truth frames shared between processes (`--spread`): each video's frames
    # are read from here when a process before wrote them, else decoded and written here.
    shared_frames_dir: Path | None = None
    # report.txt's config block prints the paths evaluate.py was given. A replay of the official
    # job (`vcc run`) scores a staged copy and names its paths as the job would (relative to the
    # repository root); keys: report, submission_dir, uncompressed_dir, video_names_file.
    report_paths: dict[str, str] | None = None

    def __post_init__(self) -> None:
        self.submission_dir = Path(self.submission_dir)
        self.challenge_dir = Path(self.challenge_dir)
        opts = self.options
        if opts.workers is not None and opts.workers > 1 and self.one_process:
            single = ("with --reference-loop" if self.reference_loop
                      else "under torchrun" if _torchrun() else f"on {opts.device}")
            raise BadInput(f"--workers {opts.workers} shards CPU scoring; {single} the score runs as one "
                           "process", fix="drop --workers" + ("; for several GPUs launch with torchrun"
                                                              if not opts.on_cpu else ""))
        if self.reference_loop and opts.read_ahead == "on":
            raise BadInput("--reference-loop reads nothing ahead (the official loop's shape)", fix="drop --read-ahead")

    @property
    def one_process(self) -> bool:
        """The score runs as one process: the reference loop (the official loop's shape), under
        torchrun (a rank each), or off the CPU."""
        return self.reference_loop or _torchrun() or not self.options.on_cpu

    def resolved(self, default_threads: int, cores: int) -> ScoreConfig:
        """This config with its options' thread and worker counts decided (`ScoreOptions.resolved`)."""
        options = self.options.resolved(default_threads=default_threads, cores=cores, one_process=self.one_process)
        return dataclasses.replace(self, options=options)

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


def _torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1
