"""MSI on tiny synthetic BAMs with known repeat lengths: scan, read lengths, paired and tumour-only calls, CLI, bad input."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pysam
import pytest
from msi_helpers import design, site_reads, stutter_lengths, write_bam, write_fasta

from biomarkers.errors import InputError
from biomarkers.genomics import msi

SPECS = [("A", 12), ("T", 8), ("AC", 10), ("CAG", 6), ("AAAG", 4), ("ACGTT", 3), ("G", 5)]


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    rng = np.random.default_rng(1)
    # 40 sites for the statistics: homopolymers and dinucleotides of various lengths
    specs = SPECS + [("A", 10 + i % 6) if i % 2 else ("CA", 6 + i % 5) for i in range(33)]
    seq, sites = design(rng, specs)
    d = tmp_path_factory.mktemp("msi_ref")
    fasta = write_fasta(d / "ref.fa", {"chr1": seq})
    table = msi.scan_sites(fasta)
    msi.write_sites(table, d / "sites.tsv.gz")
    return {"seq": seq, "sites": sites, "fasta": fasta, "dir": d, "table": msi.read_sites(d / "sites.tsv.gz")}


def _sample(ref, path, rng, *, depth=60, unstable=(), fraction=0.5, shift=-2, stutter=0.08, extra=None, contig="chr1"):
    reads = []
    for i, site in enumerate(ref["sites"]):
        n = depth(i) if callable(depth) else depth
        lengths = stutter_lengths(rng, site["END"] - site["START"], len(site["UNIT"]), n, stutter=stutter,
                                  shifted_fraction=fraction if i in unstable else 0.0, shift_units=shift)
        reads += site_reads(ref["seq"], {**site, "CHROM": contig}, lengths, rng, prefix=path.stem)
    reads += extra or []
    return write_bam(path, {contig: len(ref["seq"])}, reads)


# --- scan ----------------------------------------------------------------------

def test_scan_finds_exactly_the_designed_microsatellites(ref):
    table = ref["table"]
    got = list(zip(table["START"], table["END"], table["UNIT"], table["REF_REPEATS"]))
    want = [(s["START"], s["END"], s["UNIT"], s["REPEATS"]) for s in ref["sites"]]
    assert got == want
    row = table.iloc[0]
    assert row["LEFT_FLANK"] == ref["seq"][row["START"] - 5:row["START"]]
    assert row["RIGHT_FLANK"] == ref["seq"][row["END"]:row["END"] + 5]
    assert row["SITE_ID"] == f"chr1:{row['START']}:A"


def test_scan_thresholds_targets_and_bgzip(ref, tmp_path):
    from dataclasses import replace

    settings = msi.load_settings()
    strict = replace(settings, scan=replace(settings.scan, min_homopolymer=9, min_repeats=5))
    table = msi.scan_sites(ref["fasta"], settings=strict)
    # A12, AC10, A10.. homopolymers >= 9 and CA/AC units with >= 5 repeats only
    assert all((r.UNIT_LEN == 1 and r.REF_REPEATS >= 9) or (r.UNIT_LEN > 1 and r.REF_REPEATS >= 5) for r in table.itertuples())
    assert "CAG" in set(table["UNIT"]) and "AAAG" not in set(table["UNIT"]) and "ACGTT" not in set(table["UNIT"])
    s = ref["sites"]
    bed = tmp_path / "t.bed"
    bed.write_text(f"chr1\t{s[2]['START'] + 3}\t{s[3]['END'] - 2}\n")  # overlaps the AC and CAG tracts only
    assert list(msi.scan_sites(ref["fasta"], bed)["UNIT"]) == ["AC", "CAG"]
    # streamed to the file as found (memory independent of genome size): the same bytes as the frame written
    for targets in (bed, None):
        assert msi.scan_sites_to_file(ref["fasta"], tmp_path / "streamed.tsv.gz", targets) == (2 if targets else 40)
        msi.write_sites(msi.scan_sites(ref["fasta"], targets), tmp_path / "frame.tsv.gz")
        assert (tmp_path / "streamed.tsv.gz").read_bytes() == (tmp_path / "frame.tsv.gz").read_bytes()
    gz = write_fasta(tmp_path / "ref.fa", {"chr1": ref["seq"]}, bgzip=True)
    pd.testing.assert_frame_equal(msi.scan_sites(gz), msi.scan_sites(ref["fasta"]))


def test_site_table_names_its_reference_and_refuses_another(ref, tmp_path):
    with gzip.open(ref["dir"] / "sites.tsv.gz", "rt") as handle:
        header = [line for line in handle if line.startswith("##")]
    assert f"##contig=<ID=chr1,length={len(ref['seq'])}>\n" in header
    assert any(line.startswith("##reference_digest=") for line in header)
    other = write_fasta(tmp_path / "other.fa", {"chr1": ref["seq"] + "ACGT"})
    with pysam.FastaFile(str(other)) as fa, pytest.raises(InputError, match="another reference.*contig chr1 differs"):
        msi.check_reference(ref["table"], fa, fasta=other)
    # the same contigs in another order are the same build
    reordered = write_fasta(tmp_path / "reordered.fa", {"chrM": "ACGT" * 10, "chr1": ref["seq"]})
    shuffled = write_fasta(tmp_path / "shuffled.fa", {"chr1": ref["seq"], "chrM": "ACGT" * 10})
    table = msi.scan_sites(reordered)
    with pysam.FastaFile(str(shuffled)) as fa:
        msi.check_reference(table, fa, fasta=shuffled)
    renamed = write_fasta(tmp_path / "nochr.fa", {"1": ref["seq"]})
    with pysam.FastaFile(str(renamed)) as fa, pytest.raises(InputError, match="chr prefix differs"):
        msi.check_reference(ref["table"], fa, fasta=renamed)


# --- reads ---------------------------------------------------------------------

def test_lengths_are_read_exactly_and_bad_reads_are_skipped(ref, tmp_path):
    rng = np.random.default_rng(2)
    site = ref["sites"][2]  # AC x 10 = 20 bases
    lengths = [20] * 10 + [18] * 5 + [22] * 3 + [19] * 2  # 19: a partial unit (1-base deletion)
    reads = site_reads(ref["seq"], site, lengths, rng)
    bad = site_reads(ref["seq"], site, [16] * 5, rng, prefix="bad")
    for read, flag in zip(bad, (0x400, 0x100, 0x800, 0x200, 0)):  # duplicate, secondary, supplementary, QC fail
        read["flag"] = flag
    bad[4]["mapq"] = 5
    reads[0]["flag"] = 0x40 | 0x1  # first read of a pair ...
    mate = dict(reads[0], flag=0x80 | 0x1)  # ... and its second read, spanning the same repeat: the fragment counts once
    short = dict(site_reads(ref["seq"], site, [20], rng, prefix="short")[0])
    short["seq"], short["cigar"] = short["seq"][:-80], [(0, 20)]  # ends inside the repeat: no right flank
    bam = write_bam(tmp_path / "x.bam", {"chr1": len(ref["seq"])}, reads + bad + [mate, short])
    counts = msi.count_lengths_file(bam, ref["table"], ref["fasta"], msi.load_settings())
    assert counts[2] == {18: 5, 19: 2, 20: 10, 22: 3}
    assert all(c == {} for i, c in enumerate(counts) if i != 2)
    # a site on a contig the BAM's header lacks (e.g. an alt contig of the reference) is simply not covered
    extra = ref["table"].iloc[[2, 3]].copy()
    extra.loc[extra.index[1], "CHROM"] = "chrUn_alt"
    extra.attrs = dict(ref["table"].attrs)
    with pysam.AlignmentFile(str(bam)) as handle:
        assert msi.count_lengths(handle, extra) == [{18: 5, 19: 2, 20: 10, 22: 3}, {}]


# --- calls ---------------------------------------------------------------------

def test_paired_mss_and_msi_h(ref, tmp_path):
    rng = np.random.default_rng(3)
    normal = _sample(ref, tmp_path / "normal.bam", rng)
    mss = _sample(ref, tmp_path / "mss.bam", rng)
    unstable = set(range(0, 40, 3))  # 14 of 40 sites shifted by -2 units in half the fragments (purity 50 %)
    msih = _sample(ref, tmp_path / "msih.bam", rng, unstable=unstable)
    sites = ref["table"]
    s_mss, c_mss = msi.call_specimen(sites, mss, ref["fasta"], normal_bam=normal, subject="S1", specimen="T-MSS", timepoint="BASELINE",
                                studyid="NCT07007182")
    s_h, c_h = msi.call_specimen(sites, msih, ref["fasta"], normal_bam=normal, subject="S2", specimen="T-MSIH", timepoint="BASELINE",
                            studyid="NCT07007182")
    assert s_mss.iloc[0][["SITES_SCANNED", "SITES_EVALUATED", "SITES_UNSTABLE", "MSI_STATUS"]].tolist() == [40, 40, 0, "MSS"]
    assert s_mss.iloc[0]["MSI_H_EXCLUSION"] is False or s_mss.iloc[0]["MSI_H_EXCLUSION"] == False  # noqa: E712
    row = s_h.iloc[0]
    assert (row["SITES_EVALUATED"], row["SITES_UNSTABLE"], row["MSI_STATUS"], bool(row["MSI_H_EXCLUSION"])) == (40, 14, "MSI-H", True)
    # the score counts scored (long) sites only: 13 of the 37; the G5, AAAG4 and ACGTT3 sites are called but not scored
    assert (row["SCORE_UNSTABLE"], row["SCORE_SITES"]) == (13, 37)
    assert row["MSI_SCORE"] == pytest.approx(100 * 13 / 37) and row["SCORE_ALL_SITES"] == pytest.approx(35.0)
    assert row["SCORE_BY_CLASS"] == "di long 6/18, mono long 6/18, mono short 1/1, penta short 0/1, tetra short 0/1, tri long 1/1"
    assert row["RULE_SOURCE"].startswith("assets/msi.yaml defaults") and "WARNING" not in row["RULE_SOURCE"]
    called = set(np.flatnonzero(c_h["CALL"].to_numpy() == "UNSTABLE"))
    assert called == unstable
    # the per-site evidence: shifted sites lost about 2 units x 50 % of their length on average
    shifted = c_h.iloc[sorted(unstable)]
    assert np.all(shifted["MEAN_LENGTH_DIFF"] < 0) and np.all(shifted["SHIFT"] > 0.3)
    assert c_h["Q_VALUE"].between(0, 1).all()


def test_not_evaluable_is_not_mss(ref, tmp_path):
    rng = np.random.default_rng(4)
    thin = _sample(ref, tmp_path / "thin.bam", rng, depth=8)
    normal = _sample(ref, tmp_path / "normal.bam", rng)
    summary, calls = msi.call_specimen(ref["table"], thin, ref["fasta"], normal_bam=normal, subject="S", specimen="T-THIN",
                                  timepoint="BASELINE", studyid="X")
    row = summary.iloc[0]
    assert row["MSI_STATUS"] == "NOT_EVALUABLE" and row["QC"] == "NOT_EVALUABLE" and row["SITES_EVALUATED"] == 0
    assert pd.isna(row["MSI_SCORE"]) and pd.isna(row["MSI_H_EXCLUSION"])
    assert set(calls["CALL"]) == {"LOW_COVERAGE"} and (calls["TUMOR_DEPTH"] == 8).all()


def test_tumour_only_baseline_excludes_sites_unstable_in_normals(ref, tmp_path):
    rng = np.random.default_rng(5)
    noisy = {7}  # one normal carries a germline-like length change at site 7
    normals = [_sample(ref, tmp_path / f"pon{j}.bam", rng, unstable=noisy if j == 0 else (), fraction=0.5, shift=2)
               for j in range(4)]
    sites = ref["table"]
    baseline = msi.baseline_from_bams(sites, normals, ref["fasta"])
    assert baseline["EXCLUDED"].tolist() == [i in noisy for i in range(40)]
    assert baseline.loc[7, "REASON"] == "unstable in normals"
    assert (baseline["N_NORMALS"] == 4).all() and (baseline["POOLED_DEPTH"] == 240).all()
    msi.write_baseline(baseline, sites, tmp_path / "baseline.tsv.gz", n_normals=4)
    loaded = msi.read_baseline(tmp_path / "baseline.tsv.gz", sites)
    assert loaded["EXCLUDED"].tolist() == baseline["EXCLUDED"].tolist()
    # the status rule calibrated on the 4 normals is in the header, and read back
    with gzip.open(tmp_path / "baseline.tsv.gz", "rt") as handle:
        header = [line for line in handle if line.startswith("##rule_")]
    assert [line.split("=")[0] for line in header] == ["##rule_paired", "##rule_tumor_only"]
    rule = loaded.attrs["rules"]["tumor_only"]
    assert rule == msi.Rule.from_header(header[1].split("=", 1)[1].rstrip("\n"), "tumor_only").__class__(
        **{**rule.__dict__, "source": rule.source})
    assert (rule.comparisons, rule.null_sites) == (4, 4 * 36) and rule.source == "baseline.tsv.gz: calibrated on 4 normals (each against the others)"
    assert rule.null_site_rate == pytest.approx(msi.upper_rate(rule.null_unstable, rule.null_sites), rel=1e-6)
    unstable = set(range(1, 40, 4))  # 10 sites
    tumour = _sample(ref, tmp_path / "tumour.bam", rng, unstable=unstable, fraction=0.4)
    summary, calls = msi.call_specimen(sites, tumour, ref["fasta"], baseline=loaded, subject="S", specimen="T1", timepoint="BASELINE",
                                  studyid="X")
    row = summary.iloc[0]
    assert (row["MODE"], row["SITES_EVALUATED"], row["SITES_EXCLUDED"]) == ("tumor_only", 39, 1)
    called = set(np.flatnonzero(calls["CALL"].to_numpy() == "UNSTABLE"))
    # every shifted site found, and no other (a stable site that drew 10/60 stutter reads, 2.5 sd, moved 10 %:
    # below the 15 % minimum shift)
    assert called == unstable
    assert row["MSI_STATUS"] == "MSI-H" and row["RULE_SOURCE"] == rule.source
    mss = _sample(ref, tmp_path / "mss.bam", rng)
    assert msi.call_specimen(sites, mss, ref["fasta"], baseline=loaded, subject="S", specimen="T2", timepoint="BASELINE",
                        studyid="X")[0].iloc[0]["MSI_STATUS"] == "MSS"
    other = sites.iloc[:-1].copy()
    other.attrs = dict(sites.attrs)
    with pytest.raises(InputError, match="another site table"):
        msi.read_baseline(tmp_path / "baseline.tsv.gz", other)


def test_statistics_match_scipy():
    from scipy.stats import chi2_contingency

    a, b = {10: 30, 11: 15, 12: 10}, {10: 20, 11: 20, 12: 14}
    x2, df = msi.chi_square(a, b)
    ref_x2, _, ref_df, _ = chi2_contingency(np.array([[30, 15, 10], [20, 20, 14]]), correction=False)
    assert (x2, df) == (pytest.approx(ref_x2), ref_df)
    # sparse lengths (expected < 5) are pooled into their more populous neighbour first
    x2, df = msi.chi_square({10: 30, 11: 5, 12: 1}, {10: 20, 11: 20, 9: 4}, min_expected=5)
    ref_x2, _, ref_df, _ = chi2_contingency(np.array([[30, 6], [24, 20]]), correction=False)
    assert (x2, df) == (pytest.approx(ref_x2), ref_df)
    from scipy.stats import false_discovery_control

    p = np.array([0.01, 0.04, 0.03, 0.2, np.nan, 0.001])
    q = msi.benjamini_hochberg(p)
    assert np.isnan(q[4])
    np.testing.assert_allclose(q[~np.isnan(p)], false_discovery_control(p[~np.isnan(p)], method="bh"))
    assert msi.total_variation({10: 50, 8: 50}, {10: 100}) == pytest.approx(0.5)


# --- command line and bad input -------------------------------------------------

def test_cli_scan_baseline_call_merge(ref, tmp_path, cli):
    rng = np.random.default_rng(6)
    normals = [_sample(ref, tmp_path / f"n{j}.bam", rng) for j in range(2)]
    tumour = _sample(ref, tmp_path / "t.bam", rng, unstable=set(range(0, 40, 2)))
    sites = tmp_path / "sites.tsv.gz"
    r = cli("msi", "scan", "--fasta", str(ref["fasta"]), "--output", str(sites))
    assert r.returncode == 0, r.stderr
    assert "40 microsatellites" in r.stdout
    r = cli("msi", "baseline", "--sites", str(sites), "--fasta", str(ref["fasta"]), "--output", str(tmp_path / "b.tsv.gz"),
            *map(str, normals))
    assert r.returncode == 0, r.stderr
    parts = tmp_path / "parts"
    common = ["--sites", str(sites), "--tumor-bam", str(tumour), "--fasta", str(ref["fasta"]), "--subject", "NCT07007182-01-001",
              "--timepoint", "BASELINE", "--outdir", str(parts)]
    r = cli("msi", "call", *common, "--specimen", "SP-PAIRED", "--normal-bam", str(normals[0]), "--normal-specimen", "SP-N")
    assert r.returncode == 0, r.stderr
    assert "SP-PAIRED: MSI-H (paired; score 48.65%; 18/37 scored sites unstable" in r.stdout
    r = cli("msi", "call", *common, "--specimen", "SP-TONLY", "--baseline", str(tmp_path / "b.tsv.gz"))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "results"
    r = cli("msi", "collect", "--outdir", str(out), *map(str, sorted(parts.glob("*.parquet"))))
    assert r.returncode == 0, r.stderr
    table = pd.read_parquet(out / "genomics" / "msi.parquet")
    assert table["SPECIMEN_ID"].tolist() == ["SP-PAIRED", "SP-TONLY"]
    assert table["MODE"].tolist() == ["paired", "tumor_only"] and table["NORMAL_SPECIMEN_ID"].tolist() == ["SP-N", None]
    assert table["MSI_STATUS"].tolist() == ["MSI-H", "MSI-H"]
    # the site table: a dataset of one file per specimen, read as one table
    assert sorted(p.name for p in (out / "genomics" / "msi_sites").iterdir()) == [
        "SP-PAIRED.parquet", "SP-TONLY.parquet", "_common_metadata"]
    sites_table = pd.read_parquet(out / "genomics" / "msi_sites")
    assert len(sites_table) == 80 and (sites_table["CALL"] == "UNSTABLE").sum() == 40
    assert sites_table["SPECIMEN_ID"].value_counts().to_dict() == {"SP-PAIRED": 40, "SP-TONLY": 40}
    # each file is the specimen's part, byte for byte
    assert (out / "genomics" / "msi_sites" / "SP-PAIRED.parquet").read_bytes() == (
        parts / "SP-PAIRED.msi_sites.parquet").read_bytes()
    assert (out / "genomics" / "msi_scores.png").stat().st_size > 1000
    assert (out / "genomics" / "msi_sites_SP-PAIRED.png").exists()


def test_bad_input_is_one_clear_line(ref, tmp_path, capsys):
    from biomarkers.cli import main as cli_main

    rng = np.random.default_rng(7)
    sites = tmp_path / "sites.tsv.gz"
    msi.write_sites(ref["table"], sites)
    bam = _sample(ref, tmp_path / "t.bam", rng, depth=3)
    base = ["msi", "call", "--sites", str(sites), "--subject", "S", "--specimen", "SP", "--timepoint", "BASELINE",
            "--outdir", str(tmp_path / "out")]

    def fails(*args, match):
        capsys.readouterr()
        code = cli_main([*base, *args])  # in-process: the same path as the command line, without 5 interpreter starts
        err = capsys.readouterr().err
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1 and match in err, err
        assert not (tmp_path / "out").exists()

    # contig names: the BAM says '1', the reference 'chr1'
    nochr = _sample(ref, tmp_path / "nochr.bam", rng, depth=3, contig="1")
    fails("--tumor-bam", str(nochr), "--normal-bam", str(bam), "--fasta", str(ref["fasta"]), match="'chr' prefix")
    # CRAM whose reference is missing
    cram = tmp_path / "t.cram"
    pysam.view("-C", "-T", str(ref["fasta"]), "-o", str(cram), str(bam), catch_stdout=False)
    pysam.index(str(cram))
    fails("--tumor-bam", str(cram), "--normal-bam", str(bam), "--fasta", str(tmp_path / "missing.fa"), match="reference FASTA not found")
    # a site table scanned on another reference
    other = write_fasta(tmp_path / "other.fa", {"chr1": ref["seq"][:-10]})
    fails("--tumor-bam", str(bam), "--normal-bam", str(bam), "--fasta", str(other), match="another reference")
    # an unsorted BAM without index
    unsorted = write_bam(tmp_path / "u.bam", {"chr1": len(ref["seq"])},
                         site_reads(ref["seq"], ref["sites"][3], [18, 18], rng)[::-1] + site_reads(ref["seq"], ref["sites"][0], [12], rng),
                         sort=False)
    fails("--tumor-bam", str(unsorted), "--normal-bam", str(bam), "--fasta", str(ref["fasta"]), match="not by coordinate")
    # a truncated BAM (its index intact)
    truncated = tmp_path / "trunc.bam"
    big = _sample(ref, tmp_path / "big.bam", rng, depth=60)
    truncated.write_bytes(big.read_bytes()[:len(big.read_bytes()) // 2])
    (tmp_path / "trunc.bam.bai").write_bytes((tmp_path / "big.bam.bai").read_bytes())
    fails("--tumor-bam", str(truncated), "--normal-bam", str(bam), "--fasta", str(ref["fasta"]), match="truncated")
    # neither normal nor baseline
    fails("--tumor-bam", str(bam), "--fasta", str(ref["fasta"]), match="give a matched normal (--normal-bam) or a baseline")
    # CRAM with its reference works: same counts as the BAM
    assert msi.count_lengths_file(cram, ref["table"], ref["fasta"], msi.load_settings()) == \
        msi.count_lengths_file(bam, ref["table"], ref["fasta"], msi.load_settings())
    # a BAM without index but sorted gets one (the folder is writable)
    (tmp_path / "t.bam.bai").unlink()
    assert msi.count_lengths_file(bam, ref["table"], ref["fasta"], msi.load_settings())[0] == {12: 3}
    assert (tmp_path / "t.bam.bai").exists()


def test_chr_hint_only_when_stripping_the_prefix_makes_names_match(ref, tmp_path):
    from biomarkers.genomics import check_contigs

    rng = np.random.default_rng(8)
    other = write_fasta(tmp_path / "ctg.fa", {"ctg1": ref["seq"]})
    bam = _sample(ref, tmp_path / "chrA.bam", rng, depth=2, contig="chrA")
    with pysam.AlignmentFile(str(bam)) as handle, pysam.FastaFile(str(other)) as fa, \
            pytest.raises(InputError, match="no name in common") as info:
        check_contigs(handle, fa, file=bam)
    assert "'chr' prefix" not in str(info.value)
    renamed = write_fasta(tmp_path / "a.fa", {"A": ref["seq"]})  # chrA vs A: the prefix is the difference
    with pysam.AlignmentFile(str(bam)) as handle, pysam.FastaFile(str(renamed)) as fa, pytest.raises(InputError, match="'chr' prefix"):
        check_contigs(handle, fa, file=bam)
    table = msi.scan_sites(other)
    with pysam.FastaFile(str(ref["fasta"])) as fa, pytest.raises(InputError, match=r"another reference .*contig ctg1 differs"):
        msi.check_reference(table, fa, fasta=ref["fasta"])


@pytest.mark.parametrize("lacking", ["normal", "tumour"])
def test_paired_call_over_the_contigs_both_samples_have(ref, tmp_path, caplog, lacking):
    """A tumour whose normal lacks a contig of the reference (or the reverse) is a valid paired call over the contigs
    both have: the other contig's sites are not evaluated, counted in SITES_NO_CONTIG, and a warning says why."""
    import logging

    rng = np.random.default_rng(9)
    fasta = write_fasta(tmp_path / "two.fa", {"chr1": ref["seq"], "chr2": ref["seq"]})
    sites = msi.scan_sites(fasta)
    assert len(sites) == 80

    def sample(path, contigs, unstable=()):
        reads = []
        for contig in contigs:
            for i, site in enumerate(ref["sites"]):
                lengths = stutter_lengths(rng, site["END"] - site["START"], len(site["UNIT"]), 40,
                                          shifted_fraction=0.5 if i in unstable else 0.0)
                reads += site_reads(ref["seq"], {**site, "CHROM": contig}, lengths, rng, prefix=f"{path.stem}{contig}")
        return write_bam(path, {c: len(ref["seq"]) for c in contigs}, reads)

    both, one = ("chr1", "chr2"), ("chr1",)
    tumour = sample(tmp_path / "t.bam", one if lacking == "tumour" else both, unstable=set(range(0, 40, 2)))
    normal = sample(tmp_path / "n.bam", one if lacking == "normal" else both)
    with caplog.at_level(logging.WARNING, logger="biomarkers"):
        summary, calls = msi.call_specimen(sites, tumour, fasta, normal_bam=normal, studyid="X", subject="S", specimen="T",
                                           timepoint="BASELINE")
    row = summary.iloc[0]
    assert (row["SITES_EVALUATED"], row["SITES_NO_CONTIG"], row["MSI_STATUS"]) == (40, 40, "MSI-H")
    chr1 = calls[calls["CHROM"] == "chr1"].reset_index(drop=True)
    assert (chr1.loc[list(range(0, 40, 2)), "CALL"] == "UNSTABLE").all() and row["SITES_UNSTABLE"] <= 21
    only = "the tumour's: chr2" if lacking == "normal" else "the normal's: chr2"
    assert any(only in r.getMessage() for r in caplog.records)
    assert set(calls.loc[calls["CHROM"] == "chr2", "CALL"]) == {"LOW_COVERAGE"}
