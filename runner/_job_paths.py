"""The paths the official job hands evaluate.py, as report.txt prints them.

The workflow runs `evaluate.sh --submission-dir ./submissions/NAME` from the repository root
(SPEC.md sections 2 and 8), and evaluate.sh passes `S/report.txt` and the root's videos/ and
names file on. `vcc run` scores a staged copy at an absolute path; giving the scorer these
strings makes its report.txt read as the runner's. The root is taken as `.` (evaluate.sh run
from the repository root).
"""

from __future__ import annotations

from ._workspace import NAMES_FILE

__all__ = ["official_report_paths"]


def official_report_paths(name: str) -> dict[str, str]:
    sub = f"./submissions/{name}"
    return {
        "submission_dir": sub,
        "report": f"{sub}/report.txt",
        "uncompressed_dir": "./videos",
        "video_names_file": f"./{NAMES_FILE}",
    }
