"""vcc's submission tools: deterministic packaging, manifest, lint, and the CI gate.

pack (files -> archive.zip, byte-identical everywhere) -> manifest (what exactly
ships) -> lint (registered checks on the code and the archive) -> gate (lint, the
runner's replay, bounds on score, headroom and inflate time).

pack, manifest and lint need only base (no torch); the gate runs the runner and the scorer,
so its names are imported on first use.
"""

from __future__ import annotations

import importlib

from . import _checks  # noqa: F401 - importing registers the built-in lint checks
from ._advise import (
    CODERS,
    UNZIP_CODERS,
    Advice,
    AdviseConfig,
    ContainerAdvice,
    MemberAdvice,
    advise,
    entropy_bits_per_byte,
    minimal_container_bytes,
)
from ._baseline import Baseline, check_baseline_matches, load_baseline
from ._files import ARCHIVE_NAME, RUN_OUTPUTS, submission_files
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
    PACK_METHODS,
    PackConfig,
    PackedMember,
    PackResult,
    collect_members,
    pack_archive,
    parse_name_map,
    rate_contribution,
    read_source,
)
from ._prbody import (
    TEMPLATE_HEADINGS,
    URL_PLACEHOLDER,
    PrBody,
    PrBodyConfig,
    build_pr_body,
    load_run_report,
    name_problems,
)

__all__ = [
    "CODERS",
    "UNZIP_CODERS",
    "Advice",
    "AdviseConfig",
    "ContainerAdvice",
    "MemberAdvice",
    "advise",
    "entropy_bits_per_byte",
    "minimal_container_bytes",
    "Baseline",
    "check_baseline_matches",
    "load_baseline",
    "TEMPLATE_HEADINGS",
    "URL_PLACEHOLDER",
    "PrBody",
    "PrBodyConfig",
    "build_pr_body",
    "load_run_report",
    "name_problems",
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
    "PACK_METHODS",
    "PackConfig",
    "PackedMember",
    "PackResult",
    "collect_members",
    "pack_archive",
    "parse_name_map",
    "rate_contribution",
    "read_source",
]

_GATE_NAMES = ("BoundCheck", "GateBounds", "GateConfig", "GateResult", "evaluate_bounds", "gate_submission")


def __getattr__(name: str) -> object:
    """The gate's names (and submission._gate), imported on first use: the gate loads torch."""
    if name in _GATE_NAMES or name == "_gate":
        gate = importlib.import_module(f"{__name__}._gate")  # not `from . import`: it would ask this hook again
        return gate if name == "_gate" else getattr(gate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
