"""Logging and progress for long steps.

Progress is logged, not drawn, so it reads the same on a terminal, in a SLURM log
and in Nextflow's ``.command.log``: at most one line per ``every`` seconds plus the
final line. Messages never carry direct identifiers; subjects and specimens are
named by study IDs only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["get_logger", "configure", "progress", "Progress"]

T = TypeVar("T")
_ROOT = "biomarkers"


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name if name.startswith(_ROOT) else f"{_ROOT}.{name}")


def configure(level: str | int = "INFO") -> None:
    root = logging.getLogger(_ROOT)
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
        root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    root.propagate = False


class Progress:
    """Counts work done and logs ``label: done/total (pct) elapsed`` now and then."""

    def __init__(self, label: str, total: int | None = None, *, every: float = 2.0, logger: logging.Logger | None = None):
        self.label = label
        self.total = total
        self.done = 0
        self.every = every
        self.log = logger or get_logger("progress")
        self._start = time.monotonic()
        self._last = self._start

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self.log.info("%s", self._line(now))

    def _line(self, now: float) -> str:
        elapsed = now - self._start
        if self.total:
            return f"{self.label}: {self.done:,}/{self.total:,} ({100 * self.done / self.total:.0f}%) {elapsed:.1f}s"
        return f"{self.label}: {self.done:,} {elapsed:.1f}s"

    def close(self) -> None:
        self.log.info("%s done", self._line(time.monotonic()))

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, exc_type, *_):
        if exc_type is None:
            self.close()


def progress(items: Iterable[T], label: str, total: int | None = None, **kwargs) -> Iterator[T]:
    """Iterate over ``items`` logging progress (``total`` taken from ``len`` if possible)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(label, total, **kwargs) as prog:
        for item in items:
            yield item
            prog.update()
