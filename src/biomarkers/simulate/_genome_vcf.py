"""Somatic VCF records of a simulated tumour: Mutect2-like header, VEP CSQ, TMB counting truth.

Each record is designed to be counted or to fail exactly one filter first, in the
order the TMB counter applies them (``FILTERS``). The truth, however, is not the
design: :func:`evaluate` applies the counting rules to the values actually written
(FORMAT fields from the simulated reads, the CSQ, the callable territory), so
truth and files cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pysam

__all__ = ["FILTERS", "Allele", "Record", "evaluate", "write_vcf", "SEVERITY", "NON_CODING", "COUNTED_CONSEQUENCES"]

# Filter order of the TMB counter (issue #3); population applies in tumour-only mode only.
FILTERS = ["filter", "duplicate", "depth", "alt_reads", "vaf", "population", "not_coding", "synonymous", "not_callable"]

# Ensembl VEP consequences, most severe first (the subset the simulator writes).
SEVERITY = [
    "splice_acceptor_variant", "splice_donor_variant", "stop_gained", "frameshift_variant", "stop_lost",
    "start_lost", "inframe_insertion", "inframe_deletion", "missense_variant", "protein_altering_variant",
    "splice_region_variant", "synonymous_variant", "coding_sequence_variant", "5_prime_UTR_variant",
    "3_prime_UTR_variant", "non_coding_transcript_exon_variant", "intron_variant", "NMD_transcript_variant",
    "non_coding_transcript_variant", "upstream_gene_variant", "downstream_gene_variant", "intergenic_variant",
]
IMPACT = {
    "splice_acceptor_variant": "HIGH", "splice_donor_variant": "HIGH", "stop_gained": "HIGH",
    "frameshift_variant": "HIGH", "stop_lost": "HIGH", "start_lost": "HIGH", "inframe_insertion": "MODERATE",
    "inframe_deletion": "MODERATE", "missense_variant": "MODERATE", "protein_altering_variant": "MODERATE",
    "splice_region_variant": "LOW", "synonymous_variant": "LOW",
}
COUNTED_CONSEQUENCES = {"splice_acceptor_variant", "splice_donor_variant", "stop_gained", "frameshift_variant",
                        "stop_lost", "start_lost", "inframe_insertion", "inframe_deletion", "missense_variant",
                        "protein_altering_variant"}
NON_CODING = {"5_prime_UTR_variant", "3_prime_UTR_variant", "non_coding_transcript_exon_variant", "intron_variant",
              "NMD_transcript_variant", "non_coding_transcript_variant", "upstream_gene_variant",
              "downstream_gene_variant", "intergenic_variant"}
CSQ_FIELDS = ["Allele", "Consequence", "IMPACT", "SYMBOL", "Gene", "Feature_type", "Feature", "BIOTYPE", "EXON",
              "INTRON", "HGVSc", "HGVSp", "CANONICAL", "AF", "gnomADe_AF"]
FILTER_REASONS = {
    "germline": "Evidence indicates this site is germline, not somatic",
    "weak_evidence": "Mutation does not meet likelihood threshold",
    "strand_bias": "Evidence indicates a strand bias artifact",
    "normal_artifact": "artifact_in_normal",
    "clustered_events": "Clustered events observed in the tumor",
    "base_qual": "alt median base quality",
}


@dataclass
class Allele:
    alt: str
    csq: list[dict]  # CSQ entries (dict of CSQ_FIELDS) for this allele
    tumour_alt: int = 0
    normal_alt: int = 0
    af_1000g: str = ""
    af_gnomad: str = ""
    design: str = "counted"  # designed fate: counted or the filter it should fail first


@dataclass
class Record:
    contig: str
    pos: int  # 1-based VCF POS
    ref: str
    alleles: list[Allele]
    filter: str = "PASS"
    tumour_dp: int = 0
    normal_dp: int = 0
    write_af: bool = True
    callable_paired: bool = True
    callable_tumor_only: bool = True
    # (normalised POS, REF, ALT) per allele for duplicate detection and truth rows
    normalised: list[tuple[int, str, str]] = field(default_factory=list)


def most_severe(entries: list[dict]) -> str:
    terms = [t for e in entries for t in e["Consequence"].split("&")]
    return min(terms, key=SEVERITY.index)


def _tumour_af(allele: Allele, record: Record) -> float:
    return allele.tumour_alt / record.tumour_dp if record.tumour_dp else 0.0


def _af_text(x: float) -> str:
    return f"{x:.3f}"


def written_vaf(record: Record, allele: Allele) -> float:
    """Tumour VAF as the counter reads it: FORMAT AF when written, else AD alt / sum(AD)."""
    if record.write_af:
        return float(_af_text(_tumour_af(allele, record)))
    total = record.tumour_dp
    return allele.tumour_alt / total if total else 0.0


def evaluate(records: list[Record], counting: dict, *, tumor_only: bool) -> list[tuple[Record, Allele, str]]:
    """First failed filter per allele ('' when counted), in VCF order, for paired or tumour-only mode."""
    seen: set[tuple[str, int, str, str]] = set()
    out = []
    for record in records:
        for allele, norm in zip(record.alleles, record.normalised):
            key = (record.contig, *norm)
            fate = ""
            if record.filter != "PASS":
                fate = "filter"
            elif key in seen:
                fate = "duplicate"
            elif record.tumour_dp < counting["min_depth"]:
                fate = "depth"
            elif allele.tumour_alt < counting["min_alt_reads"]:
                fate = "alt_reads"
            elif written_vaf(record, allele) < counting["min_vaf"]:
                fate = "vaf"
            elif tumor_only and max(float(allele.af_1000g or 0), float(allele.af_gnomad or 0)) > counting["max_population_af"]:
                fate = "population"
            else:
                consequence = most_severe(allele.csq)
                if consequence in NON_CODING:
                    fate = "not_coding"
                elif consequence not in COUNTED_CONSEQUENCES:
                    fate = "synonymous"
                elif not (record.callable_tumor_only if tumor_only else record.callable_paired):
                    fate = "not_callable"
            if record.filter == "PASS":
                seen.add(key)
            out.append((record, allele, fate))
    return out


def _header(contigs: list[tuple[str, int]], tumour: str, normal: str | None, reference: str) -> str:
    lines = [
        "##fileformat=VCFv4.2",
        '##FILTER=<ID=PASS,Description="All filters passed">',
        *[f'##FILTER=<ID={k},Description="{v}">' for k, v in FILTER_REASONS.items()],
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths for the ref and alt alleles in the order listed">',
        '##FORMAT=<ID=AF,Number=A,Type=Float,Description="Allele fractions of alternate alleles in the tumor">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Approximate read depth (reads with MQ=255 or with bad mates are filtered)">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##GATKCommandLine=<ID=Mutect2,CommandLine="Mutect2 (simulated by biomarkers simulate)",Version="4.5.0.0">',
        '##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from Ensembl VEP. Format: '
        + "|".join(CSQ_FIELDS) + '">',
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="Approximate read depth; some reads may have been filtered">',
        '##INFO=<ID=TLOD,Number=A,Type=Float,Description="Log 10 likelihood ratio score of variant existing versus not existing">',
        '##VEP="v110" cache="simulated" assembly="SIMULATED"',
        *[f"##contig=<ID={name},length={length}>" for name, length in contigs],
        "##source=Mutect2",
        f"##reference=file://{reference}",
        f"##tumor_sample={tumour}",
    ]
    if normal:
        lines.append(f"##normal_sample={normal}")
    samples = ([normal] if normal else []) + [tumour]  # normal first, as Mutect2 often writes it
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]))
    return "\n".join(lines) + "\n"


def _csq_text(entries: list[dict]) -> str:
    return ",".join("|".join(str(e.get(k, "")) for k in CSQ_FIELDS) for e in entries)


def write_vcf(path, records: list[Record], *, contigs, tumour: str, normal: str | None, reference: str) -> None:
    """Write ``path`` (.vcf.gz) bgzipped with its tabix index."""
    plain = str(path)[:-3]
    with open(plain, "w") as out:
        out.write(_header(contigs, tumour, normal, reference))
        for r in records:
            alts = ",".join(a.alt for a in r.alleles)
            n_alt = len(r.alleles)
            gt_t = "0/" + "/".join(str(i + 1) for i in range(n_alt))
            ad_t = ",".join(map(str, [r.tumour_dp - sum(a.tumour_alt for a in r.alleles)] + [a.tumour_alt for a in r.alleles]))
            af_t = ",".join(_af_text(_tumour_af(a, r)) for a in r.alleles)
            fmt = "GT:AD:AF:DP" if r.write_af else "GT:AD:DP"
            tumour_cell = f"{gt_t}:{ad_t}:{af_t}:{r.tumour_dp}" if r.write_af else f"{gt_t}:{ad_t}:{r.tumour_dp}"
            cells = [tumour_cell]
            if normal:
                ad_n = ",".join(map(str, [r.normal_dp - sum(a.normal_alt for a in r.alleles)] + [a.normal_alt for a in r.alleles]))
                af_n = ",".join(_af_text(a.normal_alt / r.normal_dp if r.normal_dp else 0.0) for a in r.alleles)
                gt_n = "0/0"
                cells.insert(0, f"{gt_n}:{ad_n}:{af_n}:{r.normal_dp}" if r.write_af else f"{gt_n}:{ad_n}:{r.normal_dp}")
            tlod = ",".join(f"{3.2 * a.tumour_alt:.2f}" for a in r.alleles)
            info = f"DP={r.tumour_dp + r.normal_dp};TLOD={tlod};CSQ={_csq_text([e for a in r.alleles for e in a.csq])}"
            out.write("\t".join([r.contig, str(r.pos), ".", r.ref, alts, ".", r.filter, info, fmt, *cells]) + "\n")
    pysam.tabix_index(plain, preset="vcf", force=True)


def normalise(genome_seq: np.ndarray, pos0: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Trim shared bases and left-align an indel against the contig sequence; returns (1-based POS, REF, ALT)."""
    # trim common suffix then prefix (keeping one anchor base for indels)
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos0 = ref[1:], alt[1:], pos0 + 1
    if len(ref) != len(alt) and (len(ref) == 1 or len(alt) == 1):
        # left-align: while the last bases agree, shift left by one
        while pos0 > 0 and ref[-1] == alt[-1]:
            base = chr(genome_seq[pos0 - 1])
            ref, alt, pos0 = base + ref[:-1], base + alt[:-1], pos0 - 1
    return pos0 + 1, ref, alt
