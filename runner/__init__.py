"""vcc's runner: replay the official evaluation job locally (`vcc run`).

stage a repository root -> vetted unzip -> inflate.sh under the clock, sandboxed
with the runner's limits -> raw checks -> scoring -> one JSON report.

The work lives in small private modules, re-exported here: `_shapes` (the runners),
`_config` (RunConfig), `_result` (RunResult), `_run` (the job's steps), `_local` and
`_docker_backend` (where inflate runs), `_sandbox` (containment), `_clock`, `_verdicts`.
`vcc sweep`: `_sweep_spec` (the SPEC), `_sweep_point` (one point: compress, then `vcc run`),
`_sweep_engines` (local process pool, Ray), `_sweep_table` (table, Pareto front, plot), `_sweep`.
"""

from ._archive import ExtractLimits, ExtractResult, extract_archive, vet_archive
from ._config import RunConfig
from ._local import LocalBackend
from ._result import InflateRun, RunResult
from ._run import Backend, default_out_dir, make_backend, run_submission
from ._sandbox import (
    Isolation,
    ProcResult,
    ResourceLimits,
    SandboxSpec,
    bwrap_unavailable_reason,
    run_contained,
)
from ._shapes import RUNNER_GROUPS, RUNNER_SHAPES, RUNNERS, RunnerShape
from ._sweep import SweepOptions, SweepOutcome, run_sweep
from ._sweep_engines import LocalPool, RayEngine, parallel_points
from ._sweep_point import PointTask, run_point
from ._sweep_spec import SweepPoint, SweepSpec, load_spec
from ._sweep_table import build_table, load_sweep_table, pareto_mask, plot_sweep, top_points
from ._verdicts import Verdict
from ._workspace import Workspace, stage_workspace

__all__ = [
    "ExtractLimits",
    "ExtractResult",
    "extract_archive",
    "vet_archive",
    "RUNNERS",
    "Verdict",
    "RUNNER_SHAPES",
    "RUNNER_GROUPS",
    "InflateRun",
    "RunConfig",
    "RunnerShape",
    "RunResult",
    "default_out_dir",
    "run_submission",
    "Backend",
    "LocalBackend",
    "make_backend",
    "Isolation",
    "ProcResult",
    "ResourceLimits",
    "SandboxSpec",
    "bwrap_unavailable_reason",
    "run_contained",
    "Workspace",
    "stage_workspace",
    "SweepOptions",
    "SweepOutcome",
    "run_sweep",
    "LocalPool",
    "RayEngine",
    "parallel_points",
    "PointTask",
    "run_point",
    "SweepPoint",
    "SweepSpec",
    "load_spec",
    "build_table",
    "load_sweep_table",
    "pareto_mask",
    "plot_sweep",
    "top_points",
]
