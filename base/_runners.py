"""The runner shapes: one table of everything that differs by runner (torch-free, so every layer
reads it: the scorer's cache key, the runner, lint, the PR body, env sync, Docker).

Two shapes are the public runners `vcc run --runner` replays (CPU: 4 cores, 16 GB, no GPU, PyAV
decode; T4: a GPU, 26 GB, DALI decode). The others are the official checkout's remaining uv
groups (cu126, cu130, mps): `vcc env sync --runner` builds their environments, nothing runs as
them. A new runner is one RunnerShape here (plus its Dockerfile if `vcc run` replays it).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "RUNNER_SHAPES",
    "RUNNERS",
    "RUNNER_GROUPS",
    "UV_GROUPS",
    "RunnerShape",
    "public_runner_for",
    "runner_kinds",
]

_GiB = 1 << 30


@dataclass(frozen=True)
class RunnerShape:
    """One runner (or uv group) and its facts. The sizes and estimates hold for public runners;
    a group-only shape (public_runner False) leaves them at zero: nothing is replayed as it."""

    kind: str  # the name `--runner` takes
    uv_group: str  # `uv sync --group G` of the checkout: the environment inflate runs in
    public_runner: bool  # offered by `vcc run --runner`, lint and the PR body
    gpu: bool  # the machine has a GPU
    inflate_sees_cuda: bool  # inflate's environment keeps CUDA visible (else CUDA_VISIBLE_DEVICES="")
    decode: str  # the ground truth's decode target on this runner (scorer._targets)
    dali_version: str | None  # the DALI release its lock pins (a scorer DALI_VARIANTS value); None: no DALI
    dockerfile: str | None  # relative to vcc's source root; None: no image replays it
    cpus: int = 0
    memory_bytes: int = 0
    setup_overhead_s: float = 0.0
    setup_basis: str = ""
    # Scoring time estimate: nets load + per pair. Used before inflate to set its
    # deadline; the measured scoring time replaces it in the headroom.
    score_fixed_s: float = 0.0
    score_per_pair_s: float = 0.0
    score_basis: str = ""


_CPU = RunnerShape(
    kind="cpu",
    uv_group="cpu",
    public_runner=True,
    gpu=False,
    inflate_sees_cuda=False,
    decode="pyav",
    dali_version=None,
    dockerfile="docker/Dockerfile.cpu",
    cpus=4,
    memory_bytes=16 * _GiB,
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
)

_T4 = RunnerShape(
    kind="t4",
    uv_group="cu128",
    public_runner=True,
    gpu=True,
    inflate_sees_cuda=True,
    decode="dali",
    dali_version="1.52",  # the official lock's nvidia-dali-cuda120==1.52.0
    dockerfile="docker/Dockerfile.t4",
    cpus=4,
    memory_bytes=26 * _GiB,
    setup_overhead_s=300.0,
    setup_basis=(
        "estimate for linux-nvidia-t4: as the CPU runner, but `uv sync --group cu128` fetches "
        "~3 GB (torch cu128, CUDA libraries, DALI) instead of ~0.3 GB"
    ),
    score_fixed_s=30.0,
    score_per_pair_s=0.05,
    score_basis="30 s (CUDA init, load nets) + 0.05 s per frame pair on a T4 (estimate)",
)


def _group_only(group: str, *, gpu: bool, cuda: bool, decode: str) -> RunnerShape:
    """A uv group of the checkout that no public runner uses: env sync builds it, nothing replays it.
    The evaluator decodes with DALI on cuda and with PyAV on cpu and mps; which DALI the group's
    lock pins is the lock's to say (None here)."""
    return RunnerShape(kind=group, uv_group=group, public_runner=False, gpu=gpu, inflate_sees_cuda=cuda,
                       decode=decode, dali_version=None, dockerfile=None)


RUNNER_SHAPES: dict[str, RunnerShape] = {
    "cpu": _CPU,
    "t4": _T4,
    "cu126": _group_only("cu126", gpu=True, cuda=True, decode="dali"),
    "cu130": _group_only("cu130", gpu=True, cuda=True, decode="dali"),
    "mps": _group_only("mps", gpu=True, cuda=False, decode="pyav"),  # Apple's GPU: no CUDA, the PyAV path
}

# The public runners: `vcc run --runner`, lint's and the gate's --runner, the PR body.
RUNNERS: dict[str, RunnerShape] = {k: s for k, s in RUNNER_SHAPES.items() if s.public_runner}
# The uv group each public runner syncs (lint reads what these groups of the lock provide).
RUNNER_GROUPS: dict[str, str] = {k: s.uv_group for k, s in RUNNERS.items()}
# Every group env sync knows by name, in the table's order.
UV_GROUPS: tuple[str, ...] = tuple(dict.fromkeys(s.uv_group for s in RUNNER_SHAPES.values()))


def runner_kinds(*, public_only: bool = True) -> tuple[str, ...]:
    """The kinds, in the table's order: the public runners, or every shape."""
    return tuple(RUNNERS if public_only else RUNNER_SHAPES)


def public_runner_for(*, cuda: bool) -> RunnerShape:
    """The public runner whose device is CUDA (or not): the one `vcc score --env official` mirrors."""
    return next(s for s in RUNNERS.values() if s.inflate_sees_cuda == cuda)
