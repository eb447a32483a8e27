"""Observed repeat lengths per site from BAM/CRAM reads (one observation per fragment).

A read counts at a site when its alignment covers both flanks and its sequence
shows the left flank, then the repeat, then the right flank: the length is read
from the sequence, so an indel the aligner placed inside or next to the tract is
measured, not guessed. Duplicates, secondary and supplementary alignments,
QC-failed, unmapped and low-MAPQ reads are skipped; overlapping mates count once.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pysam

from ...errors import InputError
from ...log import Progress, get_logger
from .._alignments import check_contigs, open_alignments, open_reference
from ._config import MsiSettings
from ._sites import check_reference

__all__ = ["count_lengths", "count_lengths_file", "encode_counts", "decode_counts"]

log = get_logger("msi.reads")

KERNEL_ENV = "BIOMARKERS_MSI_KERNEL"  # "python" forces the Python loop (tests, benchmarks/bench_msi.py)


def _compiled_kernel():
    """The compiled read loop (_kernel.pyx) when it is built for the pysam installed; else None.

    It reads pysam's C structures, so it is used only with the pysam it was compiled against.
    """
    if os.environ.get(KERNEL_ENV, "").lower() == "python":
        return None
    try:
        from . import _kernel
    except ImportError:
        return None
    return _kernel if _kernel.BUILT_WITH_PYSAM == pysam.__version__ else None


def kernel_name() -> str:
    """Which read loop `count_lengths` uses in this process: "compiled" or "python"."""
    return "python" if _compiled_kernel() is None else "compiled"

_SKIP_FLAGS = 0x4 | 0x100 | 0x200 | 0x400 | 0x800  # unmapped, secondary, QC fail, duplicate, supplementary
_ALIGNED = (0, 7, 8)  # M, =, X
_QUERY_ONLY = (1, 4)  # I, S
_REF_ONLY = (2, 3)  # D, N


def encode_counts(counts: dict[int, int]) -> str:
    """``{10: 3, 11: 40}`` -> ``"10:3,11:40"`` (lengths in bases, ascending)."""
    return ",".join(f"{k}:{counts[k]}" for k in sorted(counts))


def decode_counts(text: str | None) -> dict[int, int]:
    if not text or not isinstance(text, str):
        return {}
    out = {}
    for item in text.split(","):
        k, _, v = item.partition(":")
        out[int(k)] = int(v)
    return out


def _query_pos(cigar: list[tuple[int, int]], ref_start: int, target: int) -> int | None:
    """Query offset aligned to reference position ``target``; None when it is deleted or not covered."""
    r, q = ref_start, 0
    for op, n in cigar:
        if op in _ALIGNED:
            if r + n > target:
                return q + (target - r) if target >= r else None
            r += n
            q += n
        elif op in _QUERY_ONLY:
            q += n
        elif op in _REF_ONLY:
            if r + n > target:
                return None
            r += n
    return None


_RUNS: dict[str, re.Pattern] = {}


def _regions(starts: list[int], ends: list[int], flank: list[int], gap: int = 2000) -> list[tuple[int, int, int, int]]:
    """Sites (sorted, one contig) grouped into fetch regions: (first site, last site + 1, lo, hi)."""
    out = []
    first = 0
    lo, hi = starts[0] - flank[0], ends[0] + flank[0]
    for i in range(1, len(starts)):
        s_lo = starts[i] - flank[i]
        if s_lo - hi > gap:
            out.append((first, i, lo, hi))
            first, lo = i, s_lo
        hi = max(hi, ends[i] + flank[i])
    out.append((first, len(starts), lo, hi))
    return out


def _run_pattern(unit: str) -> re.Pattern:
    run = _RUNS.get(unit)
    if run is None:
        run = _RUNS[unit] = re.compile("(?:%s)*%s" % (unit, "".join(f"(?:{c}" for c in unit[:-1]) + ")?" * (len(unit) - 1)))
    return run


def _by_contig(chroms: list[str], starts: list[int]) -> dict[str, list[int]]:
    """Row numbers per contig (in first-seen order), sorted by start."""
    groups: dict[str, list[int]] = {}
    for row, chrom in enumerate(chroms):
        groups.setdefault(chrom, []).append(row)
    return {chrom: sorted(rows, key=starts.__getitem__) for chrom, rows in groups.items()}


def count_lengths(alignments: pysam.AlignmentFile, sites, *, min_mapq: int = 20, max_reads: int = 1000,
                  label: str = "reads") -> list[dict[int, int]]:
    """For each site (row of a site table: a frame or a mapping of columns), ``{repeat length in bases: fragments}``.

    Reads are streamed once per cluster of nearby sites (one index seek per
    cluster, not per site) and matched to every site whose flanks they span.
    Per-site state is the counts and, while reads can still reach the site,
    the names of the fragments already counted there.
    """
    chroms, all_starts = list(sites["CHROM"]), list(sites["START"])
    all_ends, all_units = list(sites["END"]), list(sites["UNIT"])
    all_lefts, all_rights = list(sites["LEFT_FLANK"]), list(sites["RIGHT_FLANK"])
    out: list[dict[int, int]] = [{} for _ in range(len(chroms))]
    kernel = _compiled_kernel()
    with Progress(f"msi {label} (sites)", len(chroms), logger=log) as prog:
        present = set(alignments.references)
        for chrom, rows in _by_contig(chroms, all_starts).items():
            if chrom not in present:
                prog.update(len(rows))
                continue
            starts = [all_starts[r] for r in rows]
            ends = [all_ends[r] for r in rows]
            lefts = [all_lefts[r] for r in rows]
            flanks = [len(x) for x in lefts]
            if kernel is not None:
                packed = kernel.Sites(starts, ends, [all_units[r] for r in rows], lefts,
                                      [all_rights[r] for r in rows], [out[r] for r in rows])
                for first, last, lo, hi in _regions(starts, ends, flanks):
                    kernel.count_region(alignments.fetch(chrom, lo, hi), packed, first, last, min_mapq, max_reads)
                    prog.update(last - first)
                continue
            region = _Region(starts=starts, lefts=lefts, rights=[all_rights[r] for r in rows],
                             tracts=[all_units[r] * ((all_ends[r] - all_starts[r]) // len(all_units[r])) for r in rows],
                             runs=[_run_pattern(all_units[r]).match for r in rows],
                             lows=[s - f for s, f in zip(starts, flanks)], highs=[e + f for e, f in zip(ends, flanks)],
                             counts=[out[r] for r in rows])
            for first, last, lo, hi in _regions(starts, ends, flanks):
                _count_region(alignments.fetch(chrom, lo, hi), region, first, last, min_mapq, max_reads)
                prog.update(last - first)
    return out


class _Region:
    """The sites of one contig, sorted by start, as parallel lists (the kernel indexes them)."""

    __slots__ = ("starts", "lefts", "rights", "runs", "lows", "highs", "counts", "flanks", "looked", "tracts")

    def __init__(self, **columns):
        for name, value in columns.items():
            setattr(self, name, value)
        self.flanks = [len(x) for x in self.lefts]
        self.looked = [0] * len(self.starts)  # reads looked at per site (max_reads)


def _count_region(reads, region: _Region, first: int, last: int, min_mapq: int, max_reads: int) -> None:
    """Add the fragments of ``reads`` (sorted by start) to sites ``first..last-1`` of ``region``.

    The hot loop of the caller: plain lists, no call per read in the common case (no indel before the
    repeat), and fragment names kept only for paired reads while a site can still get reads.
    """
    lows, highs, starts, lefts, rights, runs, counts, flanks, looked, tracts = (
        region.lows, region.highs, region.starts, region.lefts, region.rights, region.runs, region.counts,
        region.flanks, region.looked, region.tracts)
    seen: dict[int, set[str]] = {}
    i0 = first
    for read in reads:
        flag = read.flag
        if flag & _SKIP_FLAGS or read.mapping_quality < min_mapq:
            continue
        r_start = read.reference_start
        while i0 < last and lows[i0] < r_start:  # reads come sorted by start: this site can get no more reads
            if seen:
                seen.pop(i0, None)
            i0 += 1
        if i0 == last:
            break
        r_end = read.reference_end
        i = i0
        seq = None
        while i < last and highs[i] <= r_end:  # the read anchors both flanks of site i
            if looked[i] < max_reads:
                names = name = None
                if flag & 1:  # paired: its mate may span the site too and must not count again
                    name = read.query_name
                    names = seen.get(i)
                    if names is not None and name in names:
                        i += 1
                        continue
                looked[i] += 1
                if seq is None:
                    seq = read.query_sequence
                    shift = read.query_alignment_start - r_start
                begin = starts[i] + shift
                length = None
                if begin >= flanks[i] and seq.startswith(lefts[i], begin - flanks[i]):
                    tract = tracts[i]
                    if seq.startswith(tract, begin) and seq.startswith(rights[i], begin + len(tract)):
                        length = len(tract)  # the reference length (most reads): two comparisons, no regex
                    else:
                        end = runs[i](seq, begin).end()  # whole units, then a partial one
                        if seq.startswith(rights[i], end):
                            length = end - begin
                if length is None:
                    length = _length(read, seq, begin, starts[i], lefts[i], rights[i], runs[i], r_start)
                if length is not None:
                    if name is not None:
                        if names is None:
                            names = seen[i] = set()
                        names.add(name)
                    site = counts[i]
                    site[length] = site.get(length, 0) + 1
            i += 1


def _length(read, seq: str, begin: int, site_start: int, left: str, right: str, run, r_start: int) -> int | None:
    """Repeat length in ``seq`` between the flanks; ``begin``: the repeat's first base if no indel precedes it."""
    flank = len(left)
    if begin < flank or not seq.startswith(left, begin - flank):
        # an indel before the repeat, or one the aligner moved into the flank: place it by the CIGAR, then look nearby
        q_left = _query_pos(read.cigartuples, r_start, site_start - 1)
        if q_left is None:
            return None
        if seq[q_left - flank + 1:q_left + 1] != left:
            found = seq.find(left, max(0, q_left - flank + 1 - 8), q_left + 1 + 8)
            if found < 0:
                return None
            q_left = found + flank - 1
        begin = q_left + 1
    end = run(seq, begin).end()  # whole units, then a partial one
    if seq.startswith(right, end):
        return end - begin
    # the repeat-like prefix may run into the right flank (a flank can read like the unit out of phase):
    # the tract ends at the longest prefix the right flank follows
    for e in range(end - 1, begin - 1, -1):
        if seq.startswith(right, e):
            return e - begin
    return None


def count_lengths_file(bam: str | Path, sites, fasta: str | Path, settings: MsiSettings, *, label: str | None = None,
                       with_contigs: bool = False):
    """Open ``bam`` (CRAM with ``fasta``), check it against the reference and the site table, count.

    With ``with_contigs``, returns (counts, the contigs of the alignments' header).
    """
    reference = open_reference(fasta)
    try:
        check_reference(sites, reference, fasta=fasta)
        alignments = open_alignments(bam, fasta)
        try:
            check_contigs(alignments, reference, file=bam)
            missing = set(sites["CHROM"]) - set(alignments.references)
            if missing:
                # e.g. a BAM aligned to the primary assembly, a site table scanned with alt contigs: those sites
                # have no reads (LOW_COVERAGE), which the per-site table shows
                n = sum(chrom in missing for chrom in sites["CHROM"])
                names = sorted(missing)
                log.warning("%s: no contig %s in the alignments' header; its %d site(s) count as not covered",
                            Path(bam).name, ", ".join(names[:3]) + ("..." if len(names) > 3 else ""), n)
            reads = settings.reads
            try:
                counts = count_lengths(alignments, sites, min_mapq=reads.min_mapq, max_reads=reads.max_reads,
                                       label=label or Path(bam).name)
                return (counts, set(alignments.references)) if with_contigs else counts
            except OSError as exc:  # truncated or corrupt blocks surface only while reading
                raise InputError(f"cannot read the alignments: {exc}", file=bam) from None
        finally:
            alignments.close()
    finally:
        reference.close()
