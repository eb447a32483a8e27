"""Observed repeat lengths per site from BAM/CRAM reads (one observation per fragment).

A read counts at a site when its alignment covers both flanks and its sequence
shows the left flank, then the repeat, then the right flank: the length is read
from the sequence, so an indel the aligner placed inside or next to the tract is
measured, not guessed. Duplicates, secondary and supplementary alignments,
QC-failed, unmapped and low-MAPQ reads are skipped; overlapping mates count once.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from pathlib import Path

import pandas as pd
import pysam

from ...errors import InputError
from ...log import Progress, get_logger
from .._alignments import check_contigs, open_alignments, open_reference
from ._config import MsiSettings
from ._sites import check_reference

__all__ = ["count_lengths", "count_lengths_file", "encode_counts", "decode_counts"]

log = get_logger("msi.reads")

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


def _observed_length(seq: str, q_left: int, left: str, right: str, unit: str) -> int | None:
    """Repeat length (bases) between the flanks, reading the sequence from the left flank's last base."""
    flank = len(left)
    if seq[q_left - flank + 1:q_left + 1] != left:
        # the aligner may have moved an indel into the flank: look for the flank nearby
        lo = max(0, q_left - flank + 1 - 8)
        found = seq.find(left, lo, q_left + 1 + 8)
        if found < 0:
            return None
        q_left = found + flank - 1
    run = _RUNS.get(unit)
    if run is None:
        run = _RUNS[unit] = re.compile("(?:%s)*%s" % (unit, "".join(f"(?:{c}" for c in unit[:-1]) + ")?" * (len(unit) - 1)))
    begin = q_left + 1
    end = run.match(seq, begin).end()  # whole units, then a partial one
    # the repeat-like prefix may run into the right flank (a flank can read like the unit out of phase):
    # the tract ends at the longest prefix the right flank follows
    for e in range(end, begin - 1, -1):
        if seq.startswith(right, e):
            return e - begin
    return None


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


def count_lengths(alignments: pysam.AlignmentFile, sites: pd.DataFrame, *, min_mapq: int = 20, max_reads: int = 1000,
                  label: str = "reads") -> list[dict[int, int]]:
    """For each site (row of a site table), ``{repeat length in bases: fragments}``.

    Reads are streamed once per cluster of nearby sites (one index seek per
    cluster, not per site) and matched to every site whose flanks they span.
    """
    out: list[dict[int, int]] = [{} for _ in range(len(sites))]
    order = sites.reset_index(drop=True)
    with Progress(f"msi {label} (sites)", len(sites), logger=log) as prog:
        present = set(alignments.references)
        for chrom, group in order.groupby("CHROM", sort=False):
            if chrom not in present:
                prog.update(len(group))
                continue
            idx = group.sort_values("START", kind="stable").index.to_numpy()
            starts = order.loc[idx, "START"].tolist()
            ends = order.loc[idx, "END"].tolist()
            units = order.loc[idx, "UNIT"].tolist()
            lefts = order.loc[idx, "LEFT_FLANK"].tolist()
            rights = order.loc[idx, "RIGHT_FLANK"].tolist()
            flanks = [len(x) for x in lefts]
            lows = [s - f for s, f in zip(starts, flanks)]
            highs = [e + f for e, f in zip(ends, flanks)]
            for first, last, lo, hi in _regions(starts, ends, flanks):
                seen: dict[int, set[str]] = {}
                looked: dict[int, int] = {}
                done = first  # sites before this one can get no more reads: their read names are dropped
                for read in alignments.fetch(chrom, lo, hi):
                    if read.flag & _SKIP_FLAGS or read.mapping_quality < min_mapq:
                        continue
                    r_start = read.reference_start
                    r_end = read.reference_end
                    i = bisect_left(lows, r_start, first, last)
                    while done < i:  # reads come sorted by start: a site whose flank starts before r_start is complete
                        seen.pop(done, None)
                        looked.pop(done, None)
                        done += 1
                    if i >= last or lows[i] > r_end:
                        continue
                    name = read.query_name
                    seq = cigar = None
                    while i < last and lows[i] < r_end:
                        if highs[i] <= r_end:  # the read anchors both flanks of site i
                            site_seen = seen.setdefault(i, set())
                            n_looked = looked.get(i, 0)
                            if name not in site_seen and n_looked < max_reads:
                                looked[i] = n_looked + 1
                                if seq is None:
                                    seq, cigar = read.query_sequence, read.cigartuples
                                q_left = _query_pos(cigar, r_start, starts[i] - 1)
                                length = None if q_left is None else _observed_length(seq, q_left, lefts[i], rights[i], units[i])
                                if length is not None:
                                    site_seen.add(name)  # the mate of this fragment will not count again
                                    counts = out[idx[i]]
                                    counts[length] = counts.get(length, 0) + 1
                        i += 1
                prog.update(last - first)
    return out


def count_lengths_file(bam: str | Path, sites: pd.DataFrame, fasta: str | Path, settings: MsiSettings, *, label: str | None = None,
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
            missing = sorted(set(sites["CHROM"]) - set(alignments.references))
            if missing:
                # e.g. a BAM aligned to the primary assembly, a site table scanned with alt contigs: those sites
                # have no reads (LOW_COVERAGE), which the per-site table shows
                n = int(sites["CHROM"].isin(missing).sum())
                log.warning("%s: no contig %s in the alignments' header; its %d site(s) count as not covered",
                            Path(bam).name, ", ".join(missing[:3]) + ("..." if len(missing) > 3 else ""), n)
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
