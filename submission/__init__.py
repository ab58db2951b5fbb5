"""vcc's submission tools: deterministic packaging, manifest, lint, and the CI gate.

pack (files -> archive.zip, byte-identical everywhere) -> manifest (what exactly
ships) -> lint (registered checks on the code and the archive) -> gate (lint, the
runner's replay, bounds on score, headroom and inflate time).
"""

from . import _checks  # noqa: F401 - importing registers the built-in lint checks
from ._files import ARCHIVE_NAME, RUN_OUTPUTS, submission_files
from ._gate import BoundCheck, GateBounds, GateConfig, GateResult, evaluate_bounds, gate_submission
from ._lint import (
    CHECKS,
    ERROR,
    WARNING,
    Check,
    Finding,
    Hit,
    LintConfig,
    LintResult,
    Submission,
    lint_submission,
    load_submission,
    register_check,
)
from ._manifest import (
    MANIFEST_SCHEMA,
    ManifestCheck,
    build_manifest,
    check_manifest,
    compare_manifests,
    load_manifest,
    write_manifest,
)
from ._pack import (
    DEFAULT_EXCLUDES,
    OFFICIAL_ORIGINAL_BYTES,
    PackConfig,
    PackedMember,
    PackResult,
    collect_members,
    pack_archive,
    parse_name_map,
    rate_contribution,
)

__all__ = [
    "ARCHIVE_NAME",
    "RUN_OUTPUTS",
    "submission_files",
    "BoundCheck",
    "GateBounds",
    "GateConfig",
    "GateResult",
    "evaluate_bounds",
    "gate_submission",
    "CHECKS",
    "ERROR",
    "WARNING",
    "Check",
    "Finding",
    "Hit",
    "LintConfig",
    "LintResult",
    "Submission",
    "lint_submission",
    "load_submission",
    "register_check",
    "MANIFEST_SCHEMA",
    "ManifestCheck",
    "build_manifest",
    "check_manifest",
    "compare_manifests",
    "load_manifest",
    "write_manifest",
    "DEFAULT_EXCLUDES",
    "OFFICIAL_ORIGINAL_BYTES",
    "PackConfig",
    "PackedMember",
    "PackResult",
    "collect_members",
    "pack_archive",
    "parse_name_map",
    "rate_contribution",
]
