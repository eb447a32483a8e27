"""Tiny synthetic references and BAMs for the MSI tests: reads spanning repeats with chosen lengths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam

BASES = "ACGT"


def background(rng: np.random.Generator, length: int) -> str:
    """Random sequence without runs of 3 equal bases nor 2-base repeats, so only designed sites are microsatellites."""
    out: list[str] = []
    while len(out) < length:
        b = BASES[rng.integers(4)]
        if len(out) >= 2 and out[-1] == b:
            continue
        tail = "".join(out[-9:]) + b
        if any(len(tail) >= 2 * k and tail[-k:] == tail[-2 * k:-k] for k in range(2, 6)):
            continue  # would start a repeat of a 2-5 base unit
        out.append(b)
    return "".join(out)


def _spacer(rng: np.random.Generator, n: int, prev_unit: str | None, next_unit: str | None) -> str:
    while True:
        s = background(rng, n)
        if prev_unit and s[0] == prev_unit[0]:
            continue  # would extend the previous tract
        if next_unit and s[-1] == next_unit[-1]:
            continue  # would extend the next tract to the left
        return s


def design(rng: np.random.Generator, specs: list[tuple[str, int]], spacing: int = 400, contig: str = "chr1"):
    """Reference with one microsatellite (unit, repeats) every ``spacing`` bases; returns (seq, sites)."""
    seq = ""
    sites = []
    prev = None
    for unit, repeats in specs:
        seq += _spacer(rng, spacing if prev else spacing // 2, prev, unit)
        start = len(seq)
        seq += unit * repeats
        sites.append({"CHROM": contig, "START": start, "END": len(seq), "UNIT": unit, "REPEATS": repeats})
        prev = unit
    seq += _spacer(rng, spacing // 2, prev, None)
    return seq, sites


def write_fasta(path: Path, contigs: dict[str, str], *, bgzip: bool = False) -> Path:
    text = "".join(f">{name}\n" + "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60)) + "\n" for name, seq in contigs.items())
    path.write_text(text)
    if bgzip:
        pysam.tabix_compress(str(path), str(path) + ".gz", force=True)
        path.unlink()
        path = Path(str(path) + ".gz")
    pysam.faidx(str(path))
    return path


def tract(unit: str, length: int) -> str:
    return (unit * (length // len(unit) + 1))[:length]


def site_reads(seq: str, site: dict, lengths: list[int], rng: np.random.Generator, *, read_len: int = 100, flank: int = 5,
               prefix: str = "r") -> list[dict]:
    """One read per entry of ``lengths`` (repeat length in bases), indel at the tract's start as aligners left-align it."""
    reads = []
    start, end = site["START"], site["END"]
    ref_len = end - start
    for i, length in enumerate(lengths):
        room = read_len - length - 2 * (flank + 3)
        left = flank + 3 + int(rng.integers(max(1, room)))
        right = read_len - left - length
        if right < flank + 1:
            raise ValueError("read too short for this repeat")
        read_start = start - left
        query = seq[read_start:start] + tract(site["UNIT"], length) + seq[end:end + right]
        d = length - ref_len
        if d > 0:
            cigar = [(0, left), (1, d), (0, read_len - left - d)]
        elif d < 0:
            cigar = [(0, left), (2, -d), (0, read_len - left)]
        else:
            cigar = [(0, read_len)]
        reads.append({"name": f"{prefix}{site['START']}_{i}", "chrom": site["CHROM"], "pos": read_start, "seq": query, "cigar": cigar})
    return reads


def write_bam(path: Path, contigs: dict[str, int], reads: list[dict], *, sort: bool = True, index: bool = True) -> Path:
    header = {"HD": {"VN": "1.6", "SO": "coordinate" if sort else "unsorted"},
              "SQ": [{"SN": n, "LN": ln} for n, ln in contigs.items()], "RG": [{"ID": "rg1", "SM": "sample"}]}
    tmp = path.with_suffix(".unsorted.bam")
    names = list(contigs)
    with pysam.AlignmentFile(str(tmp), "wb", header=header) as out:
        for r in reads:
            a = pysam.AlignedSegment(out.header)
            a.query_name = r["name"]
            a.flag = r.get("flag", 0)
            a.reference_id = names.index(r["chrom"])
            a.reference_start = r["pos"]
            a.mapping_quality = r.get("mapq", 60)
            a.cigartuples = r["cigar"]
            a.query_sequence = r["seq"]
            a.query_qualities = pysam.qualitystring_to_array("I" * len(r["seq"]))
            a.set_tag("RG", "rg1")
            out.write(a)
    if sort:
        pysam.sort("-o", str(path), str(tmp))
        tmp.unlink()
        if index:
            pysam.index(str(path))
    else:
        tmp.rename(path)
    return path


def stutter_lengths(rng: np.random.Generator, ref_len: int, unit_len: int, depth: int, *, stutter: float = 0.08,
                    shifted_fraction: float = 0.0, shift_units: int = -2) -> list[int]:
    """Fragment repeat lengths: PCR stutter (+-1 unit) on every read; a fraction carries a somatic shift."""
    out = []
    for _ in range(depth):
        length = ref_len + (shift_units * unit_len if rng.random() < shifted_fraction else 0)
        u = rng.random()
        if u < stutter * 0.75:
            length -= unit_len
        elif u < stutter:
            length += unit_len
        out.append(length)
    return out
