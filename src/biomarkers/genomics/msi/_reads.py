"""Observed repeat lengths per site from BAM/CRAM reads (one observation per fragment).

A read counts at a site when its alignment covers both flanks and its sequence
shows the left flank, then the repeat, then the right flank: the length is read
from the sequence, so an indel the aligner placed inside or next to the tract is
measured, not guessed. Duplicates, secondary and supplementary alignments,
QC-failed, unmapped and low-MAPQ reads are skipped; overlapping mates count once.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pysam

from ...errors import InputError
from ...log import Progress, get_logger
from .._alignments import check_contigs, open_alignments, open_reference
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
    k = len(unit)
    begin = q_left + 1
    p = begin
    while seq.startswith(unit, p):
        p += k
    j = 0
    while j < k - 1 and p + j < len(seq) and seq[p + j] == unit[j]:
        j += 1
    # the repeat-like prefix may run into the right flank (a flank can read like the unit out of phase):
    # the tract ends at the longest prefix the right flank follows
    end = p + j
    for e in range(end, begin - 1, -1):
        if seq.startswith(right, e):
            return e - begin
    return None


def count_lengths(alignments: pysam.AlignmentFile, sites: pd.DataFrame, *, min_mapq: int = 20, max_reads: int = 1000,
                  label: str = "reads") -> list[dict[int, int]]:
    """For each site (row of a site table), ``{repeat length in bases: fragments}``."""
    out: list[dict[int, int]] = []
    cols = [sites[c].tolist() for c in ("CHROM", "START", "END", "UNIT", "LEFT_FLANK", "RIGHT_FLANK")]
    with Progress(f"msi {label} (sites)", len(sites), logger=log) as prog:
        for chrom, start, end, unit, left, right in zip(*cols):
            flank = len(left)
            lo, hi = start - flank, end + flank
            counts: dict[int, int] = {}
            seen: set[str] = set()
            looked = 0
            for read in alignments.fetch(chrom, lo, hi):
                if read.flag & _SKIP_FLAGS or read.mapping_quality < min_mapq:
                    continue
                if read.reference_start > lo or read.reference_end < hi:
                    continue  # does not anchor both flanks
                name = read.query_name
                if name in seen:
                    continue  # the mate already counted this fragment
                looked += 1
                if looked > max_reads:
                    break
                q_left = _query_pos(read.cigartuples, read.reference_start, start - 1)
                if q_left is None:
                    continue
                length = _observed_length(read.query_sequence, q_left, left, right, unit)
                if length is None:
                    continue
                seen.add(name)
                counts[length] = counts.get(length, 0) + 1
            out.append(counts)
            prog.update()
    return out


def count_lengths_file(bam: str | Path, sites: pd.DataFrame, fasta: str | Path, config: dict, *, label: str | None = None
                       ) -> list[dict[int, int]]:
    """Open ``bam`` (CRAM with ``fasta``), check it against the reference and the site table, count."""
    reference = open_reference(fasta)
    try:
        check_reference(sites, reference, fasta=fasta)
        alignments = open_alignments(bam, fasta)
        try:
            check_contigs(alignments, reference, file=bam)
            missing = sorted(set(sites["CHROM"]) - set(alignments.references))
            if missing:
                raise InputError(f"the alignments have no contig {missing[0]} of the site table", file=bam, field=missing[0])
            reads = config["reads"]
            return count_lengths(alignments, sites, min_mapq=reads["min_mapq"], max_reads=reads["max_reads"],
                                 label=label or Path(bam).name)
        finally:
            alignments.close()
    finally:
        reference.close()
