"""`RunConfig`: everything one `vcc run` replay is told, validated on construction."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from vcc.base import BadInput, cores
from vcc.scorer import ScoreOptions, torch_default_threads

from ._archive import ExtractLimits
from ._shapes import BACKENDS, ENV_CHOICES, RUNNERS, RunnerShape

__all__ = ["RunConfig"]


@dataclass
class RunConfig:
    submission_dir: Path
    challenge_dir: Path
    names_file: Path | None = None
    runner: str = "cpu"  # cpu | t4
    backend: str = "local"  # local | docker
    clock_s: float = 1800.0  # the job's timeout-minutes: 30
    setup_overhead_s: float | None = None  # default: the runner's estimate
    score_estimate_s: float | None = None  # default: the runner's per-pair estimate
    network: bool = True
    repeat: int = 1
    out_dir: Path | None = None  # default: ./vcc-run-<name>-<timestamp>
    json_path: Path | None = None  # default: <out>/run.json
    name: str | None = None  # default: SUBMISSION_DIR's name
    scoring: bool = True  # False (--no-score): stop after checking the raws
    keep_workspace: bool = False
    memory_bytes: int | None = None  # default: the runner's
    cpus: int | None = None  # default: the runner's
    disk_bytes: int | None = None  # what inflate's workspace may grow to; default: the runner's SSD (14 GiB)
    sandbox: bool | None = None  # None or True: bubblewrap, refused without it; False: never (--sandbox off)
    # --sandbox off as root where inflate cannot run as an unprivileged uid: refused unless this is set
    # (--allow-root-inflate), since inflate would then run as root with the whole host in reach.
    allow_root_inflate: bool = False
    cgroup: bool = True  # False (--no-cgroup): rlimits and the process group only (weaker)
    extract_limits: ExtractLimits = field(default_factory=ExtractLimits)
    progress: bool = True
    # How scoring runs: batches, threads, workers, numerics, cache. The device and decode are the
    # runner's (`scoring_options`). The cache is off by default: a ground-truth cache hit halves
    # scoring time, which the runner (decoding the originals afresh) never gets, flattering the
    # headroom. threads: default the runner's CPU count, capped at this machine's (CPU results depend
    # on it in the last bits: the official CPU runner has 4); workers: the runner's CPUs (capped at
    # this machine's) // the threads. The numerics caps apply to inflate too (it inherits the environment).
    options: ScoreOptions = field(default_factory=lambda: ScoreOptions(use_cache=False))
    docker_image: str | None = None
    env: str = "auto"  # auto | official | vcc: inflate's Python environment (local backend)
    envs_dir: Path | None = None  # default: $XDG_CACHE_HOME/vcc/envs

    def __post_init__(self) -> None:
        self.submission_dir = Path(self.submission_dir)
        self.challenge_dir = Path(self.challenge_dir)
        if self.env not in ENV_CHOICES:
            raise BadInput(f"unknown --env {self.env!r}", fix=f"use one of {', '.join(ENV_CHOICES)}")
        if self.runner not in RUNNERS:
            raise BadInput(f"unknown --runner {self.runner!r}", fix=f"use one of {', '.join(RUNNERS)}")
        if self.backend not in BACKENDS:
            raise BadInput(f"unknown --backend {self.backend!r}", fix=f"use one of {', '.join(BACKENDS)}")
        if self.repeat < 1:
            raise BadInput(f"--repeat must be at least 1, got {self.repeat}", fix="use --repeat 2")
        # Checked here, before staging: a bad value found only at scoring would cost a whole inflate.
        for what, v, fix in (
            ("--cpus", self.cpus, "omit it for the runner's 4 (0 does not mean all)"),
            ("--memory", self.memory_bytes, "omit it for the runner's cap"),
        ):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise BadInput(f"{what} must be a whole number of at least 1, got {v!r}", fix=fix)
        lim = self.extract_limits
        for what, v in (
            ("--max-unzipped-bytes", lim.max_total_bytes),
            ("--max-members", lim.max_members),
            ("--max-ratio", lim.max_ratio),
        ):
            if not v > 0:
                raise BadInput(f"{what} must be positive, got {v!r}", fix="omit it for the default cap")
        if self.clock_s <= 0:
            raise BadInput(f"--clock must be positive, got {self.clock_s}", fix="use 1800 (official)")
        for what, v in (
            ("--setup-overhead", self.setup_overhead_s),
            ("--score-estimate", self.score_estimate_s),
        ):
            if v is not None and v < 0:
                raise BadInput(f"{what} cannot be negative, got {v}", fix="use 0 or more seconds")

    @property
    def shape(self) -> RunnerShape:
        return RUNNERS[self.runner]

    def scoring_options(self, device: str, decode: str) -> ScoreOptions:
        """The options scoring runs with, on either backend, decided here once: the runner's device
        and decode; threads as given, else the profile's, else torch's default capped at the runner's
        CPUs (and this machine's cores; the runner has `cpus`: scoring with more would flatter the
        headroom); workers as given, else as many of those threads as those cores hold. Imports torch."""
        runner_cores = min(cores(), self.cpus or self.shape.cpus)
        options = dataclasses.replace(self.options, device=device, decode=decode)
        return options.resolved(default_threads=min(torch_default_threads(), runner_cores), cores=runner_cores)

    @property
    def submission_name(self) -> str:
        return self.name or self.submission_dir.resolve().name

    @property
    def setup_overhead(self) -> float:
        return self.shape.setup_overhead_s if self.setup_overhead_s is None else self.setup_overhead_s
