"""TMB: counting funnel, consequences, denominator and interval on fixtures with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biomarkers import schemas
from biomarkers.errors import InputError
from biomarkers.genomics import tmb
from tmb_fixtures import (pair, reference_depth, standard_reads, write_bam, write_bed, write_reference,
                          write_vcf)

# (chrom, pos, ref, alt, filter, AD, AF, DP, annotation per ALT, gnomAD_AF) -> expected first failed filter
#   annotation: list of (allele, consequence) CSQ entries
RECORDS = [
    ("chr1", 200, "A", "C", "PASS", "50,20", "0.286", 70, [("C", "missense_variant")], None),
    ("chr1", 200, "A", "C", "PASS", "50,20", "0.286", 70, [("C", "missense_variant")], None),
    ("chr1", 210, "G", "T", "weak_evidence", "50,20", "0.286", 70, [("T", "missense_variant")], None),
    ("chr1", 220, "G", "T", "PASS", "10,10", "0.5", 20, [("T", "missense_variant")], None),
    ("chr1", 230, "G", "T", "PASS", "60,2", "0.032", 62, [("T", "missense_variant")], None),
    ("chr1", 240, "G", "T", "PASS", "100,4", "0.038", 104, [("T", "stop_gained")], None),
    ("chr1", 250, "G", "T", "PASS", "50,20", "0.286", 70, [("T", "missense_variant")], "0.01"),
    ("chr1", 260, "G", "T", "PASS", "50,20", "0.286", 70, [("T", "intron_variant"), ("T", "missense_variant&splice_region_variant")], None),
    ("chr1", 270, "G", "T", "PASS", "50,20", "0.286", 70, [("T", "synonymous_variant")], None),
    ("chr1", 280, "G", "T", "PASS", "50,20", "0.286", 70, [("T", "intron_variant")], None),
    ("chr1", 290, "A", "C,T", "PASS", "50,20,2", "0.278,0.028", 72, [("C", "missense_variant"), ("T", "missense_variant")], None),
    ("chr1", 300, "AC", "GT", "PASS", "50,20", "0.286", 70, [("GT", "missense_variant")], None),
    ("chr1", 310, "ACGT", "A", "PASS", "50,20", "0.286", 70, [("-", "frameshift_variant")], None),
    ("chr1", 320, "A", "AT", "PASS", "50,20", "0.286", 70, [("T", "frameshift_variant"), ("T", "intron_variant")], None),
    ("chr1", 330, "C", "G", "PASS", "50,20", "0.286", 70, [("G", "missense_variant")], None),
    ("chr1", 2500, "C", "G", "PASS", "50,20", "0.286", 70, [("G", "missense_variant")], None),
]
EXPECTED_PAIRED = [None, "duplicate", "filter", "depth", "alt_reads", "vaf", None, None, "synonymous", "not_coding",
                   None, "alt_reads", None, None, None, None, "not_callable"]
EXPECTED_TUMOUR_ONLY = list(EXPECTED_PAIRED)
EXPECTED_TUMOUR_ONLY[6] = "population"
EXPECTED_TUMOUR_ONLY[15] = "hotspot"


def _lines(records=RECORDS, *, paired=True, annotation="CSQ", formats=("GT", "AD", "AF", "DP")):
    out = []
    for chrom, pos, ref, alt, filt, ad, af, dp, ann, gnomad in records:
        info = []
        if annotation == "CSQ":
            info.append("CSQ=" + ",".join(f"{a}|{c}|MODERATE|GENE|ENST{i:05d}|" for i, (a, c) in enumerate(ann)))
        elif annotation == "ANN":
            info.append("ANN=" + ",".join(f"{_snpeff_allele(ref, alt, a)}|{c}|MODERATE|GENE|G1|transcript|T{i}|protein_coding|1/1|c.1A>C|p.X" for i, (a, c) in enumerate(ann)))
        if gnomad:
            info.append(f"gnomAD_AF={gnomad}")
        values = {"GT": "0/1", "AD": ad, "AF": af, "DP": str(dp)}
        fmt = ":".join(formats)
        tumour = ":".join(values[f] for f in formats)
        normal = ":".join({"GT": "0/0", "AD": "40,0", "AF": ",".join(["0"] * len(alt.split(","))), "DP": "40"}[f] for f in formats)
        cols = [chrom, str(pos), ".", ref, alt, ".", filt, ";".join(info) or ".", fmt, tumour] + ([normal] if paired else [])
        out.append("\t".join(cols))
    return out


def _snpeff_allele(ref, alts, vep):
    # SnpEff writes the ALT as in the record
    for alt in alts.split(","):
        if alt == vep or alt[1:] == vep or (vep == "-" and len(alt) == 1):
            return alt
    return vep


@pytest.fixture
def files(tmp_path):
    ref = write_reference(tmp_path)
    targets = write_bed(tmp_path / "targets.bed", [("chr1", 100, 1300), ("chr1", 1250, 2000), ("chr2", 100, 400)])
    paired_vcf = write_vcf(tmp_path / "paired.vcf.gz", _lines(), extra_header=["##tumor_sample=TUMOUR", "##normal_sample=NORMAL"])
    tonly_vcf = write_vcf(tmp_path / "tonly.vcf", _lines(paired=False), samples=("TUMOUR",))
    hotspots = write_vcf(tmp_path / "hotspots.vcf", ["chr1\t330\tCOSV1\tC\tG\t.\tPASS\t.\tGT\t0/1"], samples=("X",), formats=("GT",), annotation=None)
    return {"ref": ref, "targets": targets, "paired": paired_vcf, "tonly": tonly_vcf, "hotspots": hotspots, "dir": tmp_path}


def test_paired_funnel_matches_the_known_first_failed_filters(files):
    summary, variants = tmb.count_specimen(files["paired"], targets=files["targets"], fasta=files["ref"],
                                         studyid="NCT07007182", subject="S-001", specimen="SP-T1", timepoint="BASELINE")
    assert variants["FIRST_FAILED_FILTER"].tolist() == EXPECTED_PAIRED
    row = summary.iloc[0]
    assert row["MODE"] == "paired" and row["TUMOR_SAMPLE"] == "TUMOUR" and row["NORMAL_SAMPLE"] == "NORMAL"
    assert row["N_VARIANTS"] == 17 and row["N_COUNTED"] == 8
    assert (row["N_FILTER"], row["N_DUPLICATE"], row["N_DEPTH"], row["N_ALT_READS"], row["N_VAF"]) == (1, 1, 1, 2, 1)
    assert (row["N_POPULATION"], row["N_HOTSPOT"], row["N_NOT_CODING"], row["N_SYNONYMOUS"], row["N_NOT_CALLABLE"]) == (0, 0, 1, 1, 1)
    # no BAM: the denominator is the merged targets (chr1 100-2000 once, chr2 300 bp)
    assert row["DENOMINATOR_SOURCE"] == "TARGET_BED" and row["CALLABLE_BASES"] == 1900 + 300 == row["TARGET_BASES"]
    assert row["TMB"] == pytest.approx(8 / 0.0022)
    lo, hi = tmb.poisson_interval(8)
    assert (row["TMB_CI_LOWER"], row["TMB_CI_UPPER"]) == pytest.approx((lo / 0.0022, hi / 0.0022))
    # the MNV is one variant, the deletion and insertion are matched to VEP's trimmed alleles
    mnv = variants[variants["POS"] == 300].iloc[0]
    assert (mnv["REF"], mnv["ALT"], mnv["VARIANT_TYPE"], mnv["CONSEQUENCE"]) == ("AC", "GT", "MNV", "missense_variant")
    assert variants.loc[variants["POS"] == 310, "CONSEQUENCE"].item() == "frameshift_variant"
    # the most severe consequence across transcripts decides
    assert variants.loc[variants["POS"] == 260, "CONSEQUENCE"].item() == "missense_variant"
    # multi-allelic split: VAF and alt reads per allele
    split = variants[variants["POS"] == 290]
    assert split["ALT"].tolist() == ["C", "T"] and split["ALT_READS"].tolist() == [20, 2]
    assert split["VAF"].tolist() == pytest.approx([0.278, 0.028])


def test_tumour_only_applies_population_and_hotspot_filters(files):
    summary, variants = tmb.count_specimen(files["tonly"], targets=files["targets"], hotspots=files["hotspots"],
                                         studyid="NCT07007182", subject="S-001", specimen="SP-T1", timepoint="BASELINE")
    assert variants["FIRST_FAILED_FILTER"].tolist() == EXPECTED_TUMOUR_ONLY
    row = summary.iloc[0]
    assert row["MODE"] == "tumor_only" and pd.isna(row["NORMAL_SAMPLE"])
    assert (row["N_POPULATION"], row["N_HOTSPOT"], row["N_COUNTED"]) == (1, 1, 6)


def test_snpeff_annotation_and_synonymous_option(files, tmp_path):
    vcf = write_vcf(tmp_path / "ann.vcf", _lines(annotation="ANN"), extra_header=["##tumor_sample=TUMOUR"], annotation="ANN")
    _, variants = tmb.count_specimen(vcf, targets=files["targets"], studyid="NCT07007182", subject="S", specimen="SP-T1", timepoint="BASELINE")
    assert variants["FIRST_FAILED_FILTER"].tolist() == EXPECTED_PAIRED
    config = tmp_path / "rules.yaml"
    from biomarkers.assets import asset_path

    text = asset_path("tmb.yaml").read_text()
    config.write_text(text.replace("count_synonymous: false", "count_synonymous: true"))
    summary, variants = tmb.count_specimen(vcf, targets=files["targets"], studyid="NCT07007182", subject="S", specimen="SP-T1", timepoint="BASELINE", config=config)
    assert summary["N_COUNTED"].item() == 9 and summary["N_SYNONYMOUS"].item() == 0


def test_unannotated_vcf_uses_the_coding_bed(files, tmp_path):
    vcf = write_vcf(tmp_path / "plain.vcf", _lines(annotation=None), extra_header=["##tumor_sample=TUMOUR"], annotation=None)
    coding = write_bed(tmp_path / "coding.bed", [("chr1", 150, 255), ("chr1", 299, 400)])
    summary, variants = tmb.count_specimen(vcf, targets=files["targets"], coding_bed=coding, studyid="NCT07007182", subject="S", specimen="SP-T1", timepoint="BASELINE")
    expected = [None, "duplicate", "filter", "depth", "alt_reads", "vaf", None, "not_coding", "not_coding", "not_coding",
                "not_coding", "not_coding", None, None, None, None, "not_coding"]
    # pos 290 is outside the coding BED (its second allele fails alt_reads first)
    expected[11] = "alt_reads"
    assert variants["FIRST_FAILED_FILTER"].tolist() == expected
    assert summary["ANNOTATION"].item() == "CODING_BED"
    with pytest.raises(InputError, match="coding-region BED"):
        tmb.count_specimen(vcf, targets=files["targets"], studyid="NCT07007182", subject="S", specimen="SP-T1", timepoint="BASELINE")


def test_depth_from_ad_and_vaf_from_ad_when_dp_and_af_are_absent(files, tmp_path):
    vcf = write_vcf(tmp_path / "ad.vcf", _lines(formats=("GT", "AD")), formats=("GT", "AD"), extra_header=["##tumor_sample=TUMOUR"])
    _, variants = tmb.count_specimen(vcf, targets=files["targets"], studyid="NCT07007182", subject="S", specimen="SP-T1", timepoint="BASELINE")
    first = variants.iloc[0]
    assert first["DEPTH"] == 70 and first["VAF"] == pytest.approx(20 / 70)
    assert variants["FIRST_FAILED_FILTER"].tolist() == EXPECTED_PAIRED


def test_poisson_interval_is_garwood_exact():
    assert tmb.poisson_interval(0) == pytest.approx((0.0, 3.688879), abs=1e-6)
    assert tmb.poisson_interval(10) == pytest.approx((4.795389, 18.390356), abs=1e-6)
    from scipy.stats import chi2

    for k in (1, 3, 57, 400):
        assert tmb.poisson_interval(k, 0.9) == pytest.approx((chi2.ppf(0.05, 2 * k) / 2, chi2.ppf(0.95, 2 * k + 2) / 2))
    est = tmb.tmb_estimate(10, 1_000_000, tmb_high=10)
    assert (est.tmb, est.tmb_high) == (10.0, True)
    assert tmb.tmb_estimate(9, 1_000_000, tmb_high=10).tmb_high is False
    with pytest.raises(InputError, match="callable territory is empty"):
        tmb.tmb_estimate(3, 0, tmb_high=10)


def test_bed_is_merged_once_and_end_before_start_is_refused(tmp_path):
    bed = write_bed(tmp_path / "t.bed", [("chr1", 100, 200), ("chr1", 150, 300), ("chr1", 300, 310), ("chr1", 400, 500), ("chr2", 5, 10)])
    regions = tmb.read_bed(bed)
    assert regions.total_bases == 210 + 100 + 5
    assert regions.contains("chr1", np.array([99, 100, 309, 310, 450])).tolist() == [False, True, True, False, True]
    bad = tmb_path = tmp_path / "bad.bed"
    tmb_path.write_text("chr1\t100\t200\nchr1\t500\t400\n")
    with pytest.raises(InputError, match=r"line 2.*end 400 is before start 500"):
        tmb.read_bed(bad)


def test_target_depth_matches_an_independent_pileup(tmp_path):
    bam = write_bam(tmp_path / "t.bam", standard_reads())
    targets = tmb.read_bed(write_bed(tmp_path / "t.bed", [("chr1", 50, 2150), ("chr2", 150, 350)]))
    for bq in (20, 0):
        depth = tmb.target_depth(bam, targets, min_mapq=20, min_baseq=bq)
        assert np.array_equal(depth.depth["chr1"], reference_depth(bam, "chr1", 50, 2150, min_baseq=bq))
        assert np.array_equal(depth.depth["chr2"], reference_depth(bam, "chr2", 150, 350, min_baseq=bq))
    # hand-checked: an overlapping (here non-proper) pair counts once per base
    depth = tmb.target_depth(bam, targets, min_mapq=20, min_baseq=0).depth["chr1"]
    assert depth[1600 - 50:1620 - 50].tolist() == [1] * 20   # first mate alone
    assert depth[1620 - 50:1680 - 50].tolist() == [1] * 60   # overlap counted once
    assert depth[1700 - 50:1760 - 50].tolist() == [1] * 60   # mates that do not overlap
    assert depth[1900 - 50:1960 - 50].tolist() == [1] * 60
    assert tmb.target_depth(bam, targets, min_baseq=0).depth["chr2"][50:150].tolist() == [25] * 100


def test_callable_territory_needs_depth_in_tumour_and_normal(tmp_path):
    tumour = write_bam(tmp_path / "t.bam", [r for k in range(25) for r in [_single(f"t{k}", 100, 200)]])
    normal = write_bam(tmp_path / "n.bam", [r for k in range(25) for r in [_single(f"n{k}", 150, 200)]])
    targets = tmb.read_bed(write_bed(tmp_path / "t.bed", [("chr1", 0, 1000)]))
    assert tmb.callable_territory(targets, tumour, min_depth=20).total_bases == 200
    both = tmb.callable_territory(targets, tumour, normal, min_depth=20)
    assert both.total_bases == 150 and both.intervals["chr1"][0].tolist() == [150]


def _single(name, pos, length):
    from tmb_fixtures import make_read

    return make_read(name, 0, pos, f"{length}M")


def test_tmb_from_bam_reports_measured_denominator_and_not_callable(files, tmp_path):
    reads = [_single(f"r{k}", 150, 200) for k in range(30)]  # chr1 150-350 at 30x
    tumour = write_bam(tmp_path / "t.bam", reads)
    summary, variants = tmb.count_specimen(files["paired"], targets=files["targets"], tumor_bam=tumour, fasta=files["ref"],
                                         studyid="NCT07007182", subject="S", specimen="SP-T1", timepoint="BASELINE", tumor_only=False)
    assert summary["DENOMINATOR_SOURCE"].item() == "BAM_DEPTH" and summary["CALLABLE_BASES"].item() == 200
    # every counted candidate lies in 150-350, so nothing changes but the denominator; 2500 stays not callable
    assert variants["FIRST_FAILED_FILTER"].tolist() == EXPECTED_PAIRED
    assert summary["TMB"].item() == pytest.approx(8 / 0.0002)


def test_indels_are_left_aligned_with_the_reference_so_respellings_are_duplicates(tmp_path):
    import pysam

    fasta = tmp_path / "r.fa"
    fasta.write_text(">chr1\nACGTTTTGCA\n")
    pysam.faidx(str(fasta))
    with pysam.FastaFile(str(fasta)) as ref:
        # deleting one T of the TTTT run, spelled at its end, is the same as at its start
        assert tmb.normalize(7, "TG", "G", chrom="chr1", reference=ref) == (3, "GT", "G")
        assert tmb.normalize(6, "TTG", "TG", chrom="chr1", reference=ref) == (3, "GT", "G")
        assert tmb.normalize(7, "T", "TT", chrom="chr1", reference=ref) == (3, "G", "GT")
        assert tmb.normalize(2, "CGT", "CAT") == (3, "G", "A")  # trimmed MNV-looking SNV
    assert tmb.normalize(7, "TG", "G") == (7, "TG", "G")  # without the reference: trimmed only


def test_second_mate_is_not_counted_where_the_first_mate_has_a_deletion(tmp_path):
    """samtools depth -s drops the second mate's bases inside the first mate's span, deletions included."""
    from tmb_fixtures import pair

    first, second = pair("p", 0, 100, 130)
    first.cigarstring = "40M3D20M"  # deletion at 140-143, inside the overlap 130-163
    bam = write_bam(tmp_path / "p.bam", [first, second])
    depth = tmb.target_depth(bam, tmb.read_bed(write_bed(tmp_path / "t.bed", [("chr1", 100, 200)])), min_baseq=0).depth["chr1"]
    assert depth[140 - 100:143 - 100].tolist() == [0, 0, 0]
    assert depth[130 - 100:140 - 100].tolist() == [1] * 10 and depth[163 - 100:190 - 100].tolist() == [1] * 27


def _both_readers(vcf, **kwargs):
    rules = tmb.load_rules()
    out = []
    for vectorized in (True, False):
        with tmb.open_vcf(vcf) as fh:
            out.append(tmb.count_variants(fh, rules, vectorized=vectorized, **kwargs))
    return out


@pytest.mark.parametrize("layout", ["paired", "tonly", "ann", "noaf"])
def test_vectorized_reader_equals_the_per_record_reader(files, tmp_path, layout):
    regions = tmb.read_bed(files["targets"])
    kwargs = {"tumor_sample": "TUMOUR", "tumor_only": layout != "paired", "targets": regions, "callable_regions": regions}
    if layout in ("paired", "tonly"):
        vcf = files[layout]
    elif layout == "ann":
        vcf = write_vcf(tmp_path / "ann.vcf.gz", _lines(annotation="ANN"), extra_header=["##tumor_sample=TUMOUR"], annotation="ANN")
    else:
        vcf = write_vcf(tmp_path / "ad.vcf", _lines(formats=("GT", "AD")), formats=("GT", "AD"), extra_header=["##tumor_sample=TUMOUR"])
    fast, reference = _both_readers(vcf, **kwargs)
    pd.testing.assert_frame_equal(fast, reference, check_exact=True)  # floats bit for bit


def test_uncompressed_vcf_counts_the_same_and_plain_gzip_is_refused(files, tmp_path):
    import gzip

    import pysam

    text = tmp_path / "plain.vcf"
    with pysam.BGZFile(str(files["paired"]), "rb") as fh:
        text.write_bytes(fh.read())
    gz = tmp_path / "plain_gzip.vcf.gz"
    gz.write_bytes(gzip.compress(text.read_bytes()))
    results = [tmb.count_specimen(v, targets=files["targets"], studyid="NCT07007182", subject="S", specimen="SP-T1", timepoint="BASELINE")[1]
               for v in (files["paired"], text)]
    pd.testing.assert_frame_equal(results[0], results[1])
    with pytest.raises(InputError, match="not bgzip-compressed"):
        tmb.count_specimen(gz, targets=files["targets"], studyid="NCT07007182", subject="S", specimen="SP-T1", timepoint="BASELINE")


def test_bcf_counts_the_same_as_vcf(files, tmp_path):
    import pysam

    bcf = tmp_path / "paired.bcf"
    with pysam.VariantFile(str(files["paired"])) as src, pysam.VariantFile(str(bcf), "wb", header=src.header) as dst:
        for rec in src:
            dst.write(rec)
    kwargs = {"targets": files["targets"], "studyid": "NCT07007182", "subject": "S", "specimen": "SP-T1", "timepoint": "BASELINE"}
    from_vcf = tmb.count_specimen(files["paired"], **kwargs)[1]
    from_bcf = tmb.count_specimen(bcf, **kwargs)[1]
    pd.testing.assert_frame_equal(from_vcf, from_bcf)


def test_vcf_without_records_gives_tmb_zero_with_its_interval(files, tmp_path):
    vcf = write_vcf(tmp_path / "empty.vcf.gz", [], extra_header=["##tumor_sample=TUMOUR"])
    summary, variants = tmb.count_specimen(vcf, targets=files["targets"], studyid="NCT07007182", subject="S", specimen="SP-T1", timepoint="BASELINE")
    assert variants.empty and summary["N_COUNTED"].item() == 0 and summary["TMB"].item() == 0
    assert summary["TMB_CI_UPPER"].item() == pytest.approx(3.688879 / 0.0022, rel=1e-6)
    parts = tmb.write_parts(summary, variants, tmp_path / "parts", "SP-T1")
    paths = tmb.collect(list(parts), tmp_path / "results")
    # a specimen without variants still has its (empty) file in the dataset
    assert [p.name for p in schemas.dataset_files(paths["tmb_variants"])] == ["SP-T1.parquet"]
    assert pd.read_parquet(paths["tmb_variants"]).empty and len(pd.read_parquet(paths["tmb"])) == 1


@pytest.mark.parametrize("tumor_only", [False, True])
def test_vectorized_reader_equals_the_per_record_reader_on_irregular_fields(tmp_path, tumor_only):
    """Odd FORMAT and INFO values: the column-wise kernels read them as the per-record reader
    does, or hand the record over to it."""
    csq = "T|missense_variant|MODERATE|G|ENST1|0.0001"
    tumour = ["0/1:30,10:0.25:40", "0/1:30,10:1e-1:40", "0/1:30,10:nan:40", "0/1:30,10:.:40", "0/1:30,10::40",
              "0/1:30,10:0.1234567890123456789:40", "0/1:30,10:+.5:40", "0/1:30,10:0.3,0.2:40", "0/1:30,10:-0:40",
              "0/1:.:0.2:40", "0/1:30,:0.2:40", "0/1:a,3:0.2:40", "0/1:30,10,2:0.2:40", "0/1::0.2:40",
              "0/1:30,10:0.2:.", "0/1:30,10:0.2:", "0/1:30,10:0.2:x", "0/1:30,10:0.2:000000000000000040",
              "0/1:30,10", "0/1", "0/1:30,10:0.2:40:9", "0/1:0030,0010:00.20:0040"]
    infos = [f"CSQ={csq}", f"XCSQ=A|stop_gained|||;CSQ={csq}", f"gnomAD_AF=0.01;CSQ={csq}", f"CSQ={csq};CSQ=T|stop_gained|||",
             ".", "gnomAD_AF=.", f"CSQ={csq},T|synonymous_variant&stop_gained|LOW|G|ENST2|0.5", "CSQ=T|missense_variant"]
    lines = []
    pos = 100
    for i, values in enumerate(tumour):
        for j, info in enumerate(infos if i < 3 else infos[:1]):
            pos += 3
            fmt = "GT:AD:AF:DP" if (i + j) % 3 else "GT:AD:AF:DP"
            lines.append(f"chr1\t{pos}\t.\tC\tT\t.\tPASS\t{info}\t{fmt}\t{values}\t0/0:40,0:0:40")
    for k, (fmt, values) in enumerate([("DP:AF:AD:GT", "40:0.2:30,10:0/1"), ("GT:AF", "0/1:0.2"), ("GT:AD", "0/1:30,10"),
                                       ("AD:AD:AF", "30,10:1,2:0.2")]):
        lines.append(f"chr2\t{200 + k}\t.\tC\tT\t.\tPASS\tCSQ={csq}\t{fmt}\t{values}\t0/0:40,0:0:40")
    vcf = write_vcf(tmp_path / "odd.vcf.gz", lines, extra_header=["##tumor_sample=TUMOUR"])
    regions = tmb.read_bed(write_bed(tmp_path / "t.bed", [("chr1", 0, 3000), ("chr2", 0, 1500)]))
    fast, reference = _both_readers(vcf, tumor_sample="TUMOUR", tumor_only=tumor_only, targets=regions,
                                    callable_regions=regions)
    assert len(fast) == len(lines)
    pd.testing.assert_frame_equal(fast, reference, check_exact=True)  # floats bit for bit
