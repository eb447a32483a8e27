"""Tiny reference, BAM and VCF files with known answers for the TMB tests (built with pysam)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam

CONTIGS = {"chr1": 3000, "chr2": 1500}
CSQ_FORMAT = "Allele|Consequence|IMPACT|SYMBOL|Feature|gnomADe_AF"


def write_reference(folder: Path, seed: int = 7, plant=()) -> Path:
    """Random contigs; ``plant``: (contig, 1-based position, bases) written in, so that VCF records' REF match."""
    rng = np.random.default_rng(seed)
    path = folder / "ref.fa"
    planted: dict[str, list[tuple[int, str]]] = {}
    for contig, pos, bases in plant:
        planted.setdefault(contig, []).append((pos, bases))
    with open(path, "w") as fh:
        for name, length in CONTIGS.items():
            seq = "".join(rng.choice(list("ACGT"), length))
            for pos, bases in planted.get(name, []):
                seq = seq[:pos - 1] + bases + seq[pos - 1 + len(bases):]
            fh.write(f">{name}\n")
            for i in range(0, length, 60):
                fh.write(seq[i:i + 60] + "\n")
    pysam.faidx(str(path))
    return path


def write_bed(path: Path, rows: list[tuple[str, int, int]]) -> Path:
    path.write_text("".join(f"{c}\t{s}\t{e}\n" for c, s, e in rows))
    return path


def _header(sample: str = "TUMOUR") -> dict:
    return {"HD": {"VN": "1.6", "SO": "coordinate"},
            "SQ": [{"SN": n, "LN": ln} for n, ln in CONTIGS.items()],
            "RG": [{"ID": "rg1", "SM": sample}]}


def make_read(name, contig_index, pos, cigar, *, flag=0, mapq=60, qual=30, mate=None, tlen=0, rng=None, low_bq_at=()):
    a = pysam.AlignedSegment()
    a.query_name = name
    a.reference_id = contig_index
    a.reference_start = pos
    a.cigarstring = cigar
    a.flag = flag
    a.mapping_quality = mapq
    length = a.infer_query_length()
    rng = rng or np.random.default_rng(0)
    a.query_sequence = "".join(rng.choice(list("ACGT"), length))
    quals = [qual] * length
    for i in low_bq_at:
        quals[i] = 5
    a.query_qualities = pysam.qualitystring_to_array("".join(chr(q + 33) for q in quals))
    if mate is not None:
        a.next_reference_id = contig_index
        a.next_reference_start = mate
        a.template_length = tlen
    else:
        a.next_reference_id = -1
        a.next_reference_start = -1
    return a


def pair(name, contig_index, pos1, pos2, length=60, *, proper=True, rng=None, **kw):
    """Two mates: the first forward at pos1, the second reverse at pos2."""
    end = max(pos1, pos2) + length
    tlen = end - pos1
    base = 0x1 | (0x2 if proper else 0)
    r1 = make_read(name, contig_index, pos1, f"{length}M", flag=base | 0x20 | 0x40, mate=pos2, tlen=tlen, rng=rng, **kw)
    r2 = make_read(name, contig_index, pos2, f"{length}M", flag=base | 0x10 | 0x80, mate=pos1, tlen=-tlen, rng=rng, **kw)
    return [r1, r2]


def write_bam(path: Path, reads: list, *, index: bool = True, sort: bool = True, sample: str = "TUMOUR") -> Path:
    """``sample``: the read group's SM (the samplesheet compares it with the specimen or sample_name)."""
    if sort:
        reads = sorted(reads, key=lambda r: (r.reference_id, r.reference_start))
    with pysam.AlignmentFile(str(path), "wb", header=_header(sample)) as out:
        for r in reads:
            out.write(r)
    if index:
        pysam.index(str(path))
    return path


def standard_reads(depth: int = 30, seed: int = 3) -> list:
    """A mix the callable territory must get right: many ordinary reads plus every special case."""
    rng = np.random.default_rng(seed)
    reads = []
    # chr1: uniform tiling 100..1300, `depth` reads starting every few bases
    n = 0
    for start in range(100, 1240, 4):
        for k in range(depth * 4 // 60 + 1):
            reads.append(make_read(f"u{n}", 0, start, "60M", rng=rng))
            n += 1
    # overlapping proper pair, non-proper overlapping pair, non-overlapping pair
    reads += pair("pp1", 0, 1500, 1530, rng=rng)
    reads += pair("np1", 0, 1600, 1620, proper=False, rng=rng)
    reads += pair("far1", 0, 1700, 1900, rng=rng)
    # a pair whose second mate has low-quality bases in the overlap, and one with low quality in the first mate
    reads += pair("bq1", 0, 1500, 1510, rng=rng, low_bq_at=(20, 21, 22))
    # excluded reads: duplicate, secondary, supplementary, QC-fail, low MAPQ
    reads.append(make_read("dup", 0, 1500, "60M", flag=0x400, rng=rng))
    reads.append(make_read("sec", 0, 1500, "60M", flag=0x100, rng=rng))
    reads.append(make_read("sup", 0, 1500, "60M", flag=0x800, rng=rng))
    reads.append(make_read("qcf", 0, 1500, "60M", flag=0x200, rng=rng))
    reads.append(make_read("lowmq", 0, 1500, "60M", mapq=10, rng=rng))
    # a pair whose first mate has a deletion inside the overlap
    first, second = pair("delpair", 0, 2000, 2030, rng=rng)
    first.cigarstring = "40M3D20M"
    reads += [first, second]
    # CIGARs: deletion, insertion, soft clip, reference skip; low base qualities
    reads.append(make_read("del", 0, 1500, "20M5D30M", rng=rng))
    reads.append(make_read("ins", 0, 1500, "20M4I30M", rng=rng))
    reads.append(make_read("clip", 0, 1500, "10S40M", rng=rng))
    reads.append(make_read("skip", 0, 1000, "20M100N20M", rng=rng))
    reads.append(make_read("lowbq", 0, 1500, "60M", rng=rng, low_bq_at=tuple(range(10, 20))))
    # chr2: 25 reads over 200..300
    for k in range(25):
        reads.append(make_read(f"c2_{k}", 1, 200, "100M", rng=rng))
    return reads


def reference_depth(bam: Path, contig: str, start: int, end: int, *, min_mapq=20, min_baseq=20, excluded=0xF04) -> np.ndarray:
    """Slow, independent per-base depth: pysam aligned pairs; the second mate's bases inside
    the first mate's reference span do not count (samtools depth -s)."""
    depth = np.zeros(end - start, dtype=np.int64)
    first_mate_positions: dict[str, set[int]] = {}
    with pysam.AlignmentFile(str(bam)) as fh:
        for r in fh.fetch(until_eof=True):
            if r.reference_name != contig or r.flag & excluded or r.mapping_quality < min_mapq:
                continue
            aligned = [(q, p) for q, p in r.get_aligned_pairs(matches_only=True)]
            mate_positions = set()
            if r.is_paired and not r.mate_is_unmapped and r.next_reference_id == r.reference_id:
                if r.query_name in first_mate_positions:
                    mate_positions = first_mate_positions.pop(r.query_name)
                elif r.reference_start <= r.next_reference_start < r.reference_end:
                    first_mate_positions[r.query_name] = set(range(r.reference_start, r.reference_end))
            quals = r.query_qualities
            for q, p in aligned:
                if start <= p < end and quals[q] >= min_baseq and p not in mate_positions:
                    depth[p - start] += 1
    return depth


def write_vcf(path: Path, records: list[str], *, samples=("TUMOUR", "NORMAL"), extra_header=(), formats=("GT", "AD", "AF", "DP"),
              annotation: str | None = "CSQ") -> Path:
    """Write (and bgzip/index) a VCF; ``records`` are tab-joined lines without the FORMAT/sample columns' header."""
    lines = ["##fileformat=VCFv4.2"]
    lines += [f"##contig=<ID={n},length={ln}>" for n, ln in CONTIGS.items()]
    lines += ['##FILTER=<ID=PASS,Description="All filters passed">', '##FILTER=<ID=weak_evidence,Description="weak">']
    fmt_defs = {
        "GT": '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "AD": '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">',
        "AF": '##FORMAT=<ID=AF,Number=A,Type=Float,Description="Allele fractions">',
        "DP": '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">',
    }
    lines += [fmt_defs[f] for f in formats]
    if annotation == "CSQ":
        lines.append(f'##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from Ensembl VEP. Format: {CSQ_FORMAT}">')
    elif annotation == "ANN":
        lines.append('##INFO=<ID=ANN,Number=.,Type=String,Description="Functional annotations: \'Allele | Annotation | Annotation_Impact | Gene_Name | Gene_ID | Feature_Type | Feature_ID | Transcript_BioType | Rank | HGVS.c | HGVS.p\'">')
    lines.append('##INFO=<ID=gnomAD_AF,Number=A,Type=Float,Description="gnomAD AF">')
    lines += list(extra_header)
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]))
    lines += records
    plain = path.with_suffix("") if path.suffix == ".gz" else path
    plain.write_text("\n".join(lines) + "\n")
    if path.suffix == ".gz":
        pysam.tabix_compress(str(plain), str(path), force=True)
        pysam.tabix_index(str(path), preset="vcf", force=True)
        plain.unlink()
    return path
