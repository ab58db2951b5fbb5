"""vcc's runner: replay the official evaluation job locally (`vcc run`).

stage a repository root -> vetted unzip -> inflate.sh under the clock, sandboxed
with the runner's limits -> raw checks -> scoring -> one JSON report.
"""

from ._archive import ExtractLimits, ExtractResult, extract_archive, vet_archive
from ._run import (
    RUNNERS,
    InflateRun,
    RunConfig,
    RunnerShape,
    RunResult,
    default_out_dir,
    run_submission,
)
from ._sandbox import (
    Isolation,
    ProcResult,
    ResourceLimits,
    SandboxSpec,
    bwrap_unavailable_reason,
    run_contained,
)
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
    "Isolation",
    "ProcResult",
    "ResourceLimits",
    "SandboxSpec",
    "bwrap_unavailable_reason",
    "run_contained",
    "Workspace",
    "stage_workspace",
]
