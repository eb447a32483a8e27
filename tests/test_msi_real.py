"""MSI on real public BAMs: HCC1954 tumour/normal (GRCh37 slice) paired and tumour-only; the hg38 panel BAM tumour-only."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest

from biomarkers.errors import InputError
from biomarkers.genomics import msi

pytestmark = pytest.mark.real_data

HCC_REGIONS = "8\t107652800\t107654200\n11\t94975000\t94988500\n"  # where the Manta demo BAMs have reads


@pytest.fixture
def hcc(real_data, tmp_path):
    bed = tmp_path / "hcc.bed"
    bed.write_text(HCC_REGIONS)
    fasta = real_data("ref/grch37_COST16011_region.fa.gz")
    sites = msi.scan_sites(fasta, bed)
    msi.write_sites(sites, tmp_path / "sites.tsv.gz")
    return {"fasta": fasta, "sites": msi.read_sites(tmp_path / "sites.tsv.gz"),
            "tumour": real_data("bam/hcc1954_tumor.COST16011_region.bam"),
            "normal": real_data("bam/hcc1954_normal.COST16011_region.bam")}


def test_hcc1954_paired_is_evaluable_and_mss(hcc):
    sites = hcc["sites"]
    assert len(sites) == 40  # 26 homopolymers and 14 di/trinucleotide repeats in the 14.9 kb with reads
    assert sites["SITE_ID"].iloc[[0, -1]].tolist() == ["8:107653041:T", "11:94988278:T"]
    summary, calls = msi.call_specimen(sites, hcc["tumour"], hcc["fasta"], normal_bam=hcc["normal"], studyid="NCT07007182", subject="NCT07007182-01-001",
                                  specimen="HCC1954-T", timepoint="BASELINE", normal_specimen="HCC1954-N")
    row = summary.iloc[0]
    # the ~30x normal spans 27 of the 40 repeats with >= 20 reads; none differs from the tumour. All 27 are short
    # repeats (the slice's two long ones, T8 and TC x13, have 15 and 6 normal reads): no scored site, no status
    assert (row["SITES_SCANNED"], row["SITES_EVALUATED"], row["SITES_UNSTABLE"], row["SCORE_ALL_SITES"]) == (40, 27, 0, 0.0)
    assert (row["SCORE_SITES"], row["MSI_STATUS"]) == (0, "NOT_EVALUABLE") and pd.isna(row["MSI_SCORE"])
    assert row["SCORE_BY_CLASS"] == "di long 0/0, di short 0/9, mono long 0/0, mono short 0/17, tri short 0/1"
    site = calls.set_index("SITE_ID").loc["8:107653363:T"]  # T6: tumour 497 x 6 bases and one stutter read
    assert (site["TUMOR_LENGTHS"], site["REFERENCE_LENGTHS"], site["CALL"]) == ("5:1,6:497", "6:21", "STABLE")


def test_hcc1954_tumour_only_with_the_normal_as_baseline(hcc, tmp_path):
    baseline = msi.baseline_from_bams(hcc["sites"], [hcc["normal"]], hcc["fasta"])
    # one normal: nothing can be found unstable in the normals; sites it covers < 20 times are excluded
    assert (baseline["EXCLUDED"] == (baseline["POOLED_DEPTH"] < 20)).all()
    msi.write_baseline(baseline, hcc["sites"], tmp_path / "b.tsv.gz", n_normals=1)
    loaded = msi.read_baseline(tmp_path / "b.tsv.gz", hcc["sites"])
    summary, _ = msi.call_specimen(hcc["sites"], hcc["tumour"], hcc["fasta"], baseline=loaded, studyid="NCT07007182", subject="NCT07007182-01-001",
                              specimen="HCC1954-T", timepoint="BASELINE")
    row = summary.iloc[0]
    assert (row["MODE"], row["SITES_EVALUATED"], row["SITES_EXCLUDED"], row["SITES_UNSTABLE"], row["MSI_STATUS"]) == \
        ("tumor_only", 27, 13, 0, "NOT_EVALUABLE")
    assert "could not calibrate" not in row["RULE_SOURCE"] and row["RULE_SOURCE"].startswith("assets/msi.yaml defaults")


def test_panel_bam_against_the_grch37_reference_names_the_chr_mismatch(hcc, real_data):
    panel = real_data("bam/panel_tumor_only.chr22.hg38.bam")
    with pytest.raises(InputError, match="'chr' prefix"):
        msi.count_lengths_file(panel, hcc["sites"], hcc["fasta"], msi.load_settings())


def test_panel_bam_tumour_only_reports_not_evaluable(real_data, tool, tmp_path):
    """No hg38 normal exists here: a baseline whose normal has no reads at the panel's repeats -> NOT_EVALUABLE, not MSS.

    The panel BAM comes without its reference slice; the test rebuilds chr22 at the covered bases from the reads'
    consensus (samtools consensus), N elsewhere, at hg38's chr22 length.
    """
    samtools = tool("samtools")
    panel = real_data("bam/panel_tumor_only.chr22.hg38.bam")
    region_start = 29_286_000
    subprocess.run([samtools, "consensus", "-a", "--show-ins", "no", "--show-del", "yes", "-r", f"chr22:{region_start}-30386000",
                    "-f", "fasta", "-o", str(tmp_path / "cons.fa"), str(panel)], check=True)
    lines = (tmp_path / "cons.fa").read_text().splitlines()
    consensus = "".join(line.strip() for line in lines if not line.startswith(">")).replace("*", "N")
    length = 50_818_468
    fasta = tmp_path / "chr22.fa"
    with open(fasta, "w") as out:
        out.write(">chr22\n" + "N" * (region_start - 1) + consensus + "N" * (length - region_start + 1 - len(consensus)) + "\n")
    bed = tmp_path / "panel.bed"
    bed.write_text(f"chr22\t{region_start}\t30386000\n")
    sites = msi.scan_sites(fasta, bed)
    assert len(sites) == 14 and "chr22:29655716:T" in set(sites["SITE_ID"])  # a T16 homopolymer among them
    counts = msi.count_lengths_file(panel, sites, fasta, msi.load_settings())
    depth = dict(zip(sites["SITE_ID"], (sum(c.values()) for c in counts)))
    assert sum(d >= 20 for d in depth.values()) == 7 and depth["chr22:29655716:T"] == 77
    # a normal without reads at these repeats (header only): no site can enter the baseline
    import pysam

    with pysam.AlignmentFile(str(panel)) as src, pysam.AlignmentFile(str(tmp_path / "empty.bam"), "wb", header=src.header):
        pass
    pysam.index(str(tmp_path / "empty.bam"))
    msi.write_sites(sites, tmp_path / "sites.tsv.gz")
    sites = msi.read_sites(tmp_path / "sites.tsv.gz")
    baseline = msi.baseline_from_bams(sites, [tmp_path / "empty.bam"], fasta)
    assert baseline["EXCLUDED"].all()
    summary, calls = msi.call_specimen(sites, panel, fasta, baseline=baseline, subject="NCT07007182-01-002", specimen="PANEL-T",
                                  timepoint="BASELINE", studyid="NCT07007182")
    row = summary.iloc[0]
    assert (row["MSI_STATUS"], row["QC"], row["SITES_EVALUATED"], row["SITES_EXCLUDED"]) == ("NOT_EVALUABLE", "NOT_EVALUABLE", 0, 14)
    assert pd.isna(row["MSI_SCORE"])
    assert set(calls["CALL"]) == {"EXCLUDED"}
