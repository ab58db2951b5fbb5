"""The two public runners' shapes (CPU: 4 cores, 16 GB, no GPU, PyAV decode; T4: a GPU, 26 GB,
DALI decode), and the choices `vcc run` offers."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GiB", "RunnerShape", "RUNNERS", "BACKENDS", "ENV_CHOICES"]

GiB = 1 << 30


@dataclass(frozen=True)
class RunnerShape:
    """One of the two public runners: its cores, memory, GPU, decode path and setup overhead."""

    kind: str
    cpus: int
    memory_bytes: int
    gpu: bool
    setup_overhead_s: float
    setup_basis: str
    # Scoring time estimate: nets load + per pair. Used before inflate to set its
    # deadline; the measured scoring time replaces it in the headroom.
    score_fixed_s: float
    score_per_pair_s: float
    score_basis: str


RUNNERS: dict[str, RunnerShape] = {
    "cpu": RunnerShape(
        kind="cpu",
        cpus=4,
        memory_bytes=16 * GiB,
        gpu=False,
        setup_overhead_s=150.0,
        setup_basis=(
            "estimate of the job's steps before evaluate.sh on ubuntu-latest: checkout and archive "
            "download ~10 s, apt-get update + git-lfs ~20 s, git lfs pull (131 MB) ~10 s, "
            "setup-uv + `uv sync --group cpu` (torch 2.10 cpu wheels) ~40 s, apt-get ffmpeg ~60 s, "
            "plus margin"
        ),
        score_fixed_s=15.0,
        score_per_pair_s=0.6,
        score_basis=(
            "15 s (load nets, open videos) + 0.6 s per frame pair: `vcc score --no-cache` "
            "used 1.66 CPU-seconds per pair on an AMD EPYC (golden data, 35 pairs), spread "
            "over the runner's 4 cores at ~70% parallel efficiency"
        ),
    ),
    "t4": RunnerShape(
        kind="t4",
        cpus=4,
        memory_bytes=26 * GiB,
        gpu=True,
        setup_overhead_s=300.0,
        setup_basis=(
            "estimate for linux-nvidia-t4: as the CPU runner, but `uv sync --group cu128` fetches "
            "~3 GB (torch cu128, CUDA libraries, DALI) instead of ~0.3 GB"
        ),
        score_fixed_s=30.0,
        score_per_pair_s=0.05,
        score_basis="30 s (CUDA init, load nets) + 0.05 s per frame pair on a T4 (estimate)",
    ),
}

BACKENDS = ("local", "docker")
# Which Python environment runs inflate with the local backend: the checkout's synced
# `uv sync --group` env (official), vcc's own (vcc), or official where synced (auto).
ENV_CHOICES = ("auto", "official", "vcc")
