"""Progress of long work as whole lines with a rate and an ETA, readable in a terminal and in ``ray job logs``.

No carriage-return spinners: a log keeps every line, so a line is printed at most every ``every_s`` seconds
(and always at the end), e.g.::

    embedding item text: 4,096/19,870 items (21%), 310 items/s, ETA 51s
    embedding item text: 19,870 items in 64s (310 items/s)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

__all__ = ["Progress", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``."""
    s = int(round(max(seconds, 0)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _write_line(line: str) -> None:
    """One line to stdout. Not ``print``: Ray Train 2.5x patches ``print`` in its workers to log *and* echo,
    so a printed line reached the driver twice."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Progress:
    """Report ``done``/``total`` of a step. ``update(done)`` sets the count, ``advance(n)`` adds to it; ``close()``
    prints the summary line. ``enabled=False`` prints nothing (the counts are still kept)."""

    def __init__(self, label: str, total: int, unit: str = "items", every_s: float = 10.0, enabled: bool = True,
                 write: Callable[[str], None] | None = None) -> None:
        self.label, self.total, self.unit, self.every_s, self.enabled = label, int(total), unit, every_s, enabled
        self.write = write or _write_line
        self.done = 0
        self.t0 = time.perf_counter()
        self._last = self.t0
        self._closed = False

    def advance(self, n: int = 1) -> None:
        self.update(self.done + n)

    def update(self, done: int) -> None:
        self.done = int(done)
        now = time.perf_counter()
        if self.enabled and now - self._last >= self.every_s and self.done < self.total:
            self._last = now
            self.write(self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.perf_counter()) - self.t0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        pct = f" ({self.done / self.total:.0%})" if self.total else ""
        eta = f", ETA {format_seconds((self.total - self.done) / rate)}" if rate > 0 and self.total else ""
        return f"{self.label}: {self.done:,}/{self.total:,} {self.unit}{pct}, {rate:,.0f} {self.unit}/s{eta}"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        elapsed = time.perf_counter() - self.t0
        if self.enabled:
            rate = f" ({self.done / elapsed:,.0f} {self.unit}/s)" if elapsed > 0 and self.done else ""
            self.write(f"{self.label}: {self.done:,} {self.unit} in {format_seconds(elapsed)}{rate}")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
