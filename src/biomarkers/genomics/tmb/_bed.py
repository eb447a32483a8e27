"""Target and coding BED files: read, check, merge once (overlaps are not double-counted)."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import InputError

__all__ = ["Regions", "read_bed"]


@dataclass(frozen=True)
class Regions:
    """Merged, sorted half-open intervals per contig (0-based starts, as BED)."""

    intervals: dict[str, tuple[np.ndarray, np.ndarray]]  # contig -> (starts, ends)
    source: str = ""

    @property
    def contigs(self) -> list[str]:
        return list(self.intervals)

    @property
    def total_bases(self) -> int:
        return int(sum(int((e - s).sum()) for s, e in self.intervals.values()))

    def contains(self, contig: str, pos0: np.ndarray | int) -> np.ndarray | bool:
        """Whether 0-based position(s) fall inside an interval of ``contig``."""
        scalar = np.isscalar(pos0)
        pos = np.atleast_1d(np.asarray(pos0, dtype=np.int64))
        if contig not in self.intervals:
            out = np.zeros(len(pos), dtype=bool)
        else:
            starts, ends = self.intervals[contig]
            idx = np.searchsorted(starts, pos, side="right") - 1
            out = (idx >= 0) & (pos < ends[np.clip(idx, 0, None)])
        return bool(out[0]) if scalar else out

    def overlaps(self, contig: str, start0: int, end0: int) -> bool:
        """Whether the half-open span [start0, end0) touches an interval."""
        if contig not in self.intervals:
            return False
        starts, ends = self.intervals[contig]
        idx = np.searchsorted(starts, end0, side="left") - 1
        return bool(idx >= 0 and ends[idx] > start0)

    def to_bed(self, path: str | Path) -> Path:
        lines = []
        for contig, (starts, ends) in self.intervals.items():
            lines += [f"{contig}\t{s}\t{e}\n" for s, e in zip(starts.tolist(), ends.tolist())]
        Path(path).write_text("".join(lines))
        return Path(path)


def merge_intervals(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge overlapping or touching half-open intervals (bedtools merge semantics)."""
    if len(starts) == 0:
        return starts.astype(np.int64), ends.astype(np.int64)
    order = np.lexsort((ends, starts))
    starts, ends = starts[order], ends[order]
    running_end = np.maximum.accumulate(ends)
    new_block = np.ones(len(starts), dtype=bool)
    new_block[1:] = starts[1:] > running_end[:-1]
    block = np.cumsum(new_block) - 1
    merged_starts = starts[new_block]
    merged_ends = np.zeros(len(merged_starts), dtype=np.int64)
    np.maximum.at(merged_ends, block, running_end)
    return merged_starts.astype(np.int64), merged_ends


def read_bed(path: str | Path, *, what: str = "BED") -> Regions:
    """Read a BED (plain or gzipped) and merge its intervals per contig.

    Header, track and browser lines are skipped. A line with fewer than three columns,
    non-integer coordinates, a negative start or an end before its start is an error
    naming the line. Zero-length intervals (end == start) are legal BED and add nothing.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} file not found", file=path)
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    per_contig: dict[str, tuple[list[int], list[int]]] = {}
    with opener(path, "rt", encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.rstrip("\n\r").split("\t")
            if len(fields) < 3:
                fields = line.split()
            if len(fields) < 3:
                raise InputError("a BED line needs at least 3 columns (contig, start, end)", file=path, row=f"line {line_no}")
            try:
                start, end = int(fields[1]), int(fields[2])
            except ValueError:
                raise InputError("start and end must be integers", file=path, row=f"line {line_no}", value=f"{fields[1]} {fields[2]}") from None
            if start < 0:
                raise InputError("start is negative", file=path, row=f"line {line_no}", field="start", value=start)
            if end < start:
                raise InputError(f"end {end} is before start {start}", file=path, row=f"line {line_no}", field="end")
            if end == start:
                continue
            starts, ends = per_contig.setdefault(fields[0], ([], []))
            starts.append(start)
            ends.append(end)
    merged = {}
    for contig, (starts, ends) in per_contig.items():
        merged[contig] = merge_intervals(np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64))
    return Regions(merged, source=str(path))
