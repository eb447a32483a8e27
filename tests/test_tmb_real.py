"""TMB on real public data: counts against bcftools, depth against samtools and mosdepth."""

from __future__ import annotations

import gzip
import io
import subprocess

import numpy as np
import pandas as pd
import pytest

from biomarkers.genomics import tmb
from tmb_fixtures import write_bed

pytestmark = [pytest.mark.real_data, pytest.mark.tools]

VCFS = ["vcf/hcc1395_mutect2_vep.chr1-2.vcf.gz", "vcf/hcc1395_somatic_vep.vcf.gz"]
BAMS = {"tumour": "bam/hcc1954_tumor.COST16011_region.bam", "normal": "bam/hcc1954_normal.COST16011_region.bam"}
# Targets over the reads of the demo region, with overlapping intervals (merged once).
HCC1954_TARGETS = [("8", 107651000, 107655000), ("8", 107654000, 107662000), ("11", 94960000, 94975000),
                   ("11", 94974000, 94992000), ("11", 94995000, 94996000)]


def _bcftools_severity(bcftools: str) -> list[str]:
    """bcftools +split-vep's own severity scale (ascending), one list of substrings per level."""
    text = subprocess.run([bcftools, "+split-vep", "-S", "?"], capture_output=True, text=True).stdout + \
        subprocess.run([bcftools, "+split-vep", "-S", "?"], capture_output=True, text=True).stderr
    return [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _whole_contig_bed(path, vcf):
    import pysam

    with pysam.VariantFile(str(vcf)) as fh:
        rows = [(c, 0, fh.header.contigs[c].length) for c in fh.header.contigs]
    return write_bed(path, rows)


@pytest.mark.parametrize("relative", VCFS)
def test_counts_equal_bcftools_filter_expression_and_vep_consequence(relative, real_data, tool, tmp_path):
    bcftools = tool("bcftools")
    vcf = real_data(relative)
    rules = tmb.load_rules()
    v = rules.variants
    # These VCFs have no FORMAT DP: depth is the sum of AD, as the rules say.
    expression = (f'FILTER="PASS" && SUM(FMT/AD)>={v.min_depth} && FMT/AD[0:1]>={v.min_alt_reads} '
                  f'&& FMT/AF>={v.min_vaf}')
    view = subprocess.run([bcftools, "view", "-Ou", "-i", expression, str(vcf)], capture_output=True, check=True)
    split = subprocess.run([bcftools, "+split-vep", "-s", "worst", "-f", "%CHROM\t%POS\t%REF\t%ALT\t%Consequence\n", "-"],
                           input=view.stdout, capture_output=True, check=True)
    scale = _bcftools_severity(bcftools)

    def worst_term(consequences: str) -> str:
        def level(term):
            return max((i for i, subs in enumerate(scale) if any(s.lower() in term.lower() for s in subs)), default=-1)
        return max(consequences.split("&"), key=level)

    passed = [line.split("\t") for line in split.stdout.decode().splitlines()]
    nonsyn = set(rules.consequences.nonsynonymous)
    syn = set(rules.consequences.synonymous)
    expected_counted = {(c, int(p), r, a) for c, p, r, a, csq in passed if worst_term(csq) in nonsyn}
    expected_syn = sum(1 for *_, csq in passed if worst_term(csq) in syn)

    bed = _whole_contig_bed(tmp_path / "contigs.bed", vcf)
    summary, variants = tmb.count_specimen(vcf, targets=bed, studyid="NCT07007182", subject="HCC1395", specimen="HCC1395-T", timepoint="BASELINE")
    counted = variants[variants["COUNTED"]]
    assert len(variants) == int(subprocess.run(f"{bcftools} view -H {vcf} | wc -l", shell=True, capture_output=True, text=True).stdout)
    # no multi-allelic record and no repeated record in these files, so rows map 1:1 onto records
    assert {(r.CHROM, int(r.POS), r.REF, r.ALT) for r in counted.itertuples()} <= {(c, int(p), r, a) for c, p, r, a, _ in passed} | expected_counted
    assert len(counted) == len(expected_counted) > 0
    assert summary["N_SYNONYMOUS"].item() == expected_syn
    assert summary["N_DEPTH"].item() + summary["N_ALT_READS"].item() + summary["N_VAF"].item() == len(variants) - len(passed)
    assert summary["MODE"].item() == "tumor_only"


def _samtools_depth(samtools, bam, regions, *, baseq):
    """samtools depth -a -s per merged interval (-r: with -b, samtools -a walks whole chromosomes)."""
    frames = []
    for contig, (starts, ends) in regions.intervals.items():
        for s, e in zip(starts.tolist(), ends.tolist()):
            out = subprocess.run([samtools, "depth", "-a", "-s", "-Q", "20", "-q", str(baseq), "-G", "SUPPLEMENTARY",
                                  "-r", f"{contig}:{s + 1}-{e}", str(bam)], capture_output=True, text=True, check=True).stdout
            frames.append(pd.read_csv(io.StringIO(out), sep="\t", header=None, names=["chrom", "pos", "depth"], dtype={"chrom": str}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("which", ["tumour", "normal"])
def test_depth_equals_samtools_depth_base_for_base(which, real_data, tool, tmp_path):
    samtools = tool("samtools")
    bam = real_data(BAMS[which])
    bed = write_bed(tmp_path / "targets.bed", HCC1954_TARGETS)
    regions = tmb.read_bed(bed)
    depth = tmb.target_depth(bam, regions, min_mapq=20, min_baseq=20)
    st = _samtools_depth(samtools, bam, regions, baseq=20)
    mine = np.concatenate([depth.depth[c] for c in regions.contigs])
    positions = np.concatenate([depth.positions(c) + 1 for c in regions.contigs])
    assert len(st) == regions.total_bases == len(mine)  # overlapping target intervals merged once
    assert np.array_equal(st["pos"].to_numpy(), positions)
    assert np.array_equal(st["depth"].to_numpy(), mine)
    assert mine.max() > 40  # the comparison covers real depth, not an empty region


def test_callable_territory_equals_samtools_paired(real_data, tool, tmp_path):
    samtools = tool("samtools")
    bed = write_bed(tmp_path / "targets.bed", HCC1954_TARGETS)
    regions = tmb.read_bed(bed)
    callable_ = tmb.callable_territory(regions, real_data(BAMS["tumour"]), real_data(BAMS["normal"]), min_depth=20)
    t = _samtools_depth(samtools, real_data(BAMS["tumour"]), regions, baseq=20)
    n = _samtools_depth(samtools, real_data(BAMS["normal"]), regions, baseq=20)
    expected = int(((t["depth"] >= 20) & (n["depth"] >= 20)).sum())
    assert callable_.total_bases == expected > 0


def _non_proper_overlap_excess(bam, regions):
    """Per target base: how many second mates of non-proper pairs have a base inside their first
    mate's span (pysam, slow): samtools -s and we drop those bases, mosdepth keeps them."""
    import pysam

    excess = {c: np.zeros(int((e - s).sum()), dtype=np.int64) for c, (s, e) in regions.intervals.items()}
    first: dict[str, set[int]] = {}
    with pysam.AlignmentFile(str(bam)) as fh:
        for r in fh.fetch(until_eof=True):
            if r.flag & 0xF04 or r.mapping_quality < 20 or not r.is_paired or r.is_proper_pair or r.mate_is_unmapped:
                continue
            if r.reference_name not in regions.intervals or r.next_reference_id != r.reference_id:
                continue
            aligned = {p for _, p in r.get_aligned_pairs(matches_only=True)}
            if r.query_name in first:
                both = first.pop(r.query_name) & aligned
                starts, ends = regions.intervals[r.reference_name]
                offsets = np.concatenate([[0], np.cumsum(ends - starts)[:-1]])
                for p in both:
                    i = np.searchsorted(starts, p, side="right") - 1
                    if i >= 0 and p < ends[i]:
                        excess[r.reference_name][offsets[i] + p - starts[i]] += 1
            elif r.reference_start <= r.next_reference_start < r.reference_end:
                first[r.query_name] = set(range(r.reference_start, r.reference_end))
    return excess


@pytest.mark.parametrize("which", ["tumour", "normal"])
def test_depth_equals_mosdepth_without_base_quality_except_non_proper_overlaps(which, real_data, tool, tmp_path):
    """mosdepth has no base-quality filter; with ours off, depths agree base for base except where
    both mates of a pair WITHOUT the proper-pair flag overlap: mosdepth counts those bases twice,
    samtools depth -s (and we) once. The test finds those pairs independently and expects exactly that."""
    mosdepth = tool("mosdepth")
    bam = real_data(BAMS[which])
    bed = write_bed(tmp_path / "targets.bed", HCC1954_TARGETS)
    regions = tmb.read_bed(bed)
    prefix = tmp_path / "md"
    subprocess.run([mosdepth, "-Q", "20", "-F", str(0x4 | 0x100 | 0x200 | 0x400 | 0x800), "-b", str(bed), "--thresholds", "20",
                    str(prefix), str(bam)], check=True, capture_output=True)
    per_base = pd.read_csv(f"{prefix}.per-base.bed.gz", sep="\t", header=None, names=["chrom", "start", "end", "depth"], dtype={"chrom": str})
    depth = tmb.target_depth(bam, regions, min_mapq=20, min_baseq=0)
    excess = _non_proper_overlap_excess(bam, regions)
    for contig in regions.contigs:
        sub = per_base[per_base["chrom"] == contig]
        positions = depth.positions(contig)
        md = sub["depth"].to_numpy()[np.searchsorted(sub["end"].to_numpy(), positions, side="right")]
        assert np.array_equal(md, depth.depth[contig] + excess[contig])
    # --thresholds counts per BED line, so bases of overlapping lines twice (as pyTMB does); per line
    # it equals our depth (plus the non-proper overlaps), and our merged territory counts each base once
    with gzip.open(f"{prefix}.thresholds.bed.gz", "rt") as fh:
        thresholds = pd.read_csv(fh, sep="\t")
    per_line = []
    for contig, start, end in HCC1954_TARGETS:
        positions = depth.positions(contig)
        sel = (positions >= start) & (positions < end)
        per_line.append(int(((depth.depth[contig] + excess[contig])[sel] >= 20).sum()))
    assert thresholds["20X"].tolist() == per_line
    merged_callable = sum(int((depth.depth[c] + excess[c] >= 20).sum()) for c in regions.contigs)
    assert merged_callable <= sum(per_line)
    if which == "normal":
        assert sum(int(e.sum()) for e in excess.values()) > 0  # the difference is real in this file


@pytest.mark.parametrize("relative", VCFS)
def test_vectorized_reader_equals_the_per_record_reader_on_real_vcfs(relative, real_data, tmp_path):
    vcf = real_data(relative)
    regions = tmb.read_bed(_whole_contig_bed(tmp_path / "contigs.bed", vcf))
    frames = []
    for vectorized in (True, False):
        with tmb.open_vcf(vcf) as fh:
            frames.append(tmb.count_variants(fh, tmb.load_rules(), tumor_sample=list(fh.header.samples)[0], tumor_only=True,
                                             targets=regions, callable_regions=regions, vectorized=vectorized))
    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=True)  # floats bit for bit
