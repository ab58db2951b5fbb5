"""Progress for every step that can take more than a few seconds (decode, forwards, cache fill, plots).

One helper for every path: on a terminal a tqdm bar with the rate and the ETA; in a log (CI, a
pipe) one line per 10 %; nothing when disabled (`--quiet`). Always on stderr, so stdout keeps
the reports.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

__all__ = ["Progress", "progress_iter"]

T = TypeVar("T")


class Progress:
    """`with Progress(total, "scoring", "pair", enabled=...) as bar: bar.update(n)`."""

    def __init__(self, total: int, desc: str, unit: str = "pair", *, enabled: bool = True,
                 stream: IO[str] | None = None, initial: int = 0, log_lines: int = 10) -> None:
        """`initial`: already done before this run (a resumed sweep); the rate and the ETA count only
        this run's. `log_lines`: lines a whole run writes to a log (10: one per tenth; `total`: one
        per item)."""
        self.total, self.desc, self.unit = max(int(total), 0), desc, unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and self.total > 0
        self.done = self.initial = min(max(int(initial), 0), self.total)
        self._bar: Any = None
        self._log_lines = max(1, int(log_lines))
        self._next_mark = (self.done * self._log_lines // self.total if self.total else 0) + 1
        self._start = time.monotonic()
        if self.enabled and _is_tty(self.stream):
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, initial=self.done, desc=desc, unit=unit, file=self.stream,
                             leave=False, dynamic_ncols=True)

    @property
    def interactive(self) -> bool:
        """A bar on a terminal (else lines in a log, or nothing)."""
        return self._bar is not None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1, note: str | None = None) -> None:
        """Advance by `n`; `note` (what just finished) goes beside the bar, or after the log line."""
        if not self.enabled:
            return
        self.done += n
        if self._bar is not None:
            if note:
                self._bar.set_postfix_str(note[:60])
            self._bar.update(n)
            return
        # A log: one line each time another 1/log_lines is complete (several at once if a step jumps).
        mark = self.done * self._log_lines // self.total
        if mark >= self._next_mark:
            self._next_mark = mark + 1
            self.stream.write(self.line() + (f" {note}" if note else "") + "\n")
            self.stream.flush()

    def line(self) -> str:
        """`scoring: 30% (12/40 pairs, 2.5 pairs/s, ETA 11 s)`."""
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = (self.done - self.initial) / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = "ETA 0 s, done" if self.done >= self.total else f"ETA {left:.0f} s"
        return (f"vcc {self.desc}: {100 * self.done // self.total:3d}% ({self.done}/{self.total} {self.unit}s, "
                f"{rate:.2f} {self.unit}s/s, {eta})")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def progress_iter(items: Iterable[T], total: int, desc: str, unit: str = "pair", *, enabled: bool = True,
                  weight: Any = None) -> Iterator[T]:
    """Yield `items`, advancing a Progress by 1 per item (or by `weight(item)`)."""
    with Progress(total, desc, unit, enabled=enabled) as bar:
        for item in items:
            yield item
            bar.update(1 if weight is None else int(weight(item)))


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
