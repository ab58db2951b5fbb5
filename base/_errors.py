"""Errors that carry vcc's exit codes (the same for every command, see README)."""

from __future__ import annotations

from ._text import escape_control  # what a submission wrote reaches the terminal escaped

__all__ = [
    "EXIT_OK",
    "EXIT_GATE",
    "EXIT_BAD_INPUT",
    "EXIT_SUBMISSION_FAILED",
    "EXIT_HARNESS",
    "VccError",
    "BadInput",
    "SubmissionFailed",
    "HarnessError",
    "GateFailed",
]

EXIT_OK = 0
EXIT_GATE = 1
EXIT_BAD_INPUT = 2
EXIT_SUBMISSION_FAILED = 3
EXIT_HARNESS = 4


class VccError(Exception):
    """Base of every error vcc reports to the user; `exit_code` is the process exit status."""

    exit_code: int = EXIT_HARNESS

    def __init__(self, message: str, *, path: object = None, fix: str | None = None) -> None:
        self.path = path
        self.fix = fix
        super().__init__(message)

    def render(self) -> str:
        """One message naming the file and the fix, as the CLI prints it."""
        lines = [str(self)]
        if self.path is not None:
            lines.append(f"  file: {self.path}")
        if self.fix:
            lines.append(f"  fix:  {self.fix}")
        return escape_control("\n".join(lines), keep_newlines=True)


class BadInput(VccError):
    """The user's files or arguments are wrong (also: unsafe or corrupt archive)."""

    exit_code = EXIT_BAD_INPUT


class SubmissionFailed(VccError):
    """The submission failed while running: inflate crashed, timed out, OOM, wrong output."""

    exit_code = EXIT_SUBMISSION_FAILED


class HarnessError(VccError):
    """vcc itself or its environment failed (missing library, no GPU when one is required)."""

    exit_code = EXIT_HARNESS


class GateFailed(VccError):
    """A gate's bound was not met."""

    exit_code = EXIT_GATE
