"""vcc's runner: replay the official evaluation job locally (`vcc run`).

stage a repository root -> vetted unzip -> inflate.sh under the clock, sandboxed
with the runner's limits -> raw checks -> scoring -> one JSON report.

The work lives in small private modules, re-exported here: `_shapes` (the runners),
`_config` (RunConfig), `_result` (RunResult), `_run` (the job's steps), `_local` and
`_docker_backend` (where inflate runs), `_sandbox` (containment), `_clock`, `_verdicts`.
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
from ._shapes import RUNNERS, RunnerShape
from ._workspace import Workspace, stage_workspace

__all__ = [
    "ExtractLimits",
    "ExtractResult",
    "extract_archive",
    "vet_archive",
    "RUNNERS",
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
]
