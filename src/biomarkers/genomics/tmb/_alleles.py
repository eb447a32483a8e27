"""Allele representation: the minimal, left-aligned form of a split ALT, its variant type, and hotspot lists in that form."""

from __future__ import annotations

from pathlib import Path

import pysam

from ._vcf import open_vcf

__all__ = ["normalize", "variant_type", "read_hotspots"]


def normalize(pos: int, ref: str, alt: str, *, chrom: str | None = None,
              reference: pysam.FastaFile | None = None) -> tuple[int, str, str]:
    """Trim a shared suffix, then a shared prefix, keeping one base; with the reference,
    left-align a simple indel as well (bcftools norm -f), so that every spelling of the
    same indel in a repeat is one variant."""
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    if reference is not None and len(ref) != len(alt) and (len(ref) == 1 or len(alt) == 1) and ref[-1] == alt[-1]:
        window = ""
        window_start = pos - 1  # 0-based start of `window`
        while pos > 1 and ref[-1] == alt[-1]:
            if pos - 2 < window_start:
                window_start = max(0, pos - 1 - 64)
                window = reference.fetch(chrom, window_start, pos - 1).upper()
            base = window[pos - 2 - window_start]
            ref, alt, pos = base + ref[:-1], base + alt[:-1], pos - 1
    return pos, ref, alt


def variant_type(ref: str, alt: str) -> str:
    """SNV, MNV, INS, DEL or COMPLEX of a normalized allele."""
    if len(ref) == len(alt):
        return "SNV" if len(ref) == 1 else "MNV"
    if len(ref) == 1 and alt[0] == ref[0]:
        return "INS"
    if len(alt) == 1 and ref[0] == alt[0]:
        return "DEL"
    return "COMPLEX"


def read_hotspots(path: str | Path, reference: pysam.FastaFile | None = None) -> set[tuple[str, int, str, str]]:
    """Known hotspots (e.g. COSMIC recurrent mutations) as normalized (CHROM, POS, REF, ALT)."""
    spots: set[tuple[str, int, str, str]] = set()
    with open_vcf(path) as vcf:
        for rec in vcf:
            for alt in rec.alts or ():
                pos, ref, a = normalize(rec.pos, rec.ref, alt, chrom=rec.chrom, reference=reference)
                spots.add((rec.chrom, pos, ref, a))
    return spots
