"""`biomarkers tmb count|collect` as a user runs them, and every bad input the issue names."""

from __future__ import annotations

import pysam
import pytest

from biomarkers.errors import InputError
from biomarkers.genomics import tmb
from biomarkers.schemas import read_table, table_metadata
from test_tmb import RECORDS, _lines
from tmb_fixtures import make_read, write_bam, write_bed, write_reference, write_vcf


@pytest.fixture
def inputs(tmp_path):
    ref = write_reference(tmp_path)
    targets = write_bed(tmp_path / "targets.bed", [("chr1", 100, 1300), ("chr1", 1250, 2800), ("chr2", 100, 400)])
    vcf = write_vcf(tmp_path / "SP-T1.vcf.gz", _lines(), samples=("SP-T1", "SP-N1"), extra_header=["##normal_sample=SP-N1"])
    tumour = write_bam(tmp_path / "SP-T1.bam", [make_read(f"t{k}", 0, 150, "200M") for k in range(30)])
    normal = write_bam(tmp_path / "SP-N1.bam", [make_read(f"n{k}", 0, 100, "150M") for k in range(30)])
    return {"ref": ref, "targets": targets, "vcf": vcf, "tumour": tumour, "normal": normal, "dir": tmp_path}


def _count_args(inputs, outdir, **override):
    args = {"--vcf": inputs["vcf"], "--tumor-bam": inputs["tumour"], "--normal-bam": inputs["normal"], "--fasta": inputs["ref"],
            "--targets": inputs["targets"], "--subject": "NCT07007182-001", "--specimen": "SP-T1", "--timepoint": "BASELINE",
            "--outdir": outdir}
    args.update(override)
    out = ["--log-level", "WARNING", "tmb", "count"]
    for key, value in args.items():
        if value is not None:
            out += [key, str(value)]
    return out


def test_count_then_collect(cli, inputs, tmp_path):
    parts = tmp_path / "parts"
    result = cli(*_count_args(inputs, parts))
    assert result.returncode == 0, result.stderr
    assert "SP-T1: TMB" in result.stdout
    summary = read_table(parts / "SP-T1.tmb.parquet")
    row = summary.iloc[0]
    # callable: tumour 150-350 and normal 100-250 at 30x -> 150-250
    assert (row["CALLABLE_BASES"], row["DENOMINATOR_SOURCE"], row["MODE"], row["NORMAL_SAMPLE"]) == (100, "BAM_DEPTH", "paired", "SP-N1")
    variants = read_table(parts / "SP-T1.tmb_variants.parquet")
    # counted candidates at 200-330: those beyond 250 are now not callable
    assert variants.loc[variants["COUNTED"], "POS"].tolist() == [200, 250]
    assert row["N_COUNTED"] == 2 and row["N_NOT_CALLABLE"] == 7
    out = tmp_path / "results"
    result = cli("tmb", "collect", "--outdir", str(out), str(parts / "SP-T1.tmb.parquet"), str(parts / "SP-T1.tmb_variants.parquet"))
    assert result.returncode == 0, result.stderr
    assert table_metadata(out / "genomics" / "tmb.parquet")["table"] == "genomics.tmb"
    assert len(read_table(out / "genomics" / "tmb_variants")) == len(RECORDS) + 1
    assert (out / "genomics" / "tmb_variants" / "SP-T1.parquet").read_bytes() == (parts / "SP-T1.tmb_variants.parquet").read_bytes()
    assert (out / "genomics" / "tmb.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_count_without_bam_says_which_denominator(cli, inputs, tmp_path):
    result = cli(*_count_args(inputs, tmp_path / "a", **{"--tumor-bam": None, "--normal-bam": None}))
    assert result.returncode == 0, result.stderr
    assert read_table(tmp_path / "a" / "SP-T1.tmb.parquet")["DENOMINATOR_SOURCE"].item() == "TARGET_BED"
    result = cli(*_count_args(inputs, tmp_path / "b", **{"--tumor-bam": None, "--normal-bam": None, "--callable-mb": "1.5"}))
    row = read_table(tmp_path / "b" / "SP-T1.tmb.parquet").iloc[0]
    assert (row["DENOMINATOR_SOURCE"], row["CALLABLE_BASES"]) == ("USER_MB", 1_500_000)


def _assert_bad(result, outdir, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not outdir.exists() or not any(p.name.endswith(".parquet") for p in outdir.rglob("*"))


def test_vcf_without_the_tumour_sample(cli, inputs, tmp_path):
    out = tmp_path / "o"
    _assert_bad(cli(*_count_args(inputs, out, **{"--tumor-sample": "SP-XX"})), out, "SP-T1.vcf.gz", "--tumor-sample", "not in the VCF")


def test_vcf_without_af_and_ad(cli, inputs, tmp_path):
    vcf = write_vcf(tmp_path / "noad.vcf", _lines(formats=("GT", "DP")), formats=("GT", "DP"), samples=("SP-T1", "SP-N1"))
    out = tmp_path / "o"
    _assert_bad(cli(*_count_args(inputs, out, **{"--vcf": vcf})), out, "noad.vcf", "FORMAT", "neither FORMAT AF nor FORMAT AD")


def test_vcf_contig_absent_from_reference_or_targets(cli, inputs, tmp_path):
    lines = _lines() + ["chr3\t50\t.\tA\tC\t.\tPASS\t.\tGT:AD:AF:DP\t0/1:10,10:0.5:20\t0/0:20,0:0:20"]
    vcf = write_vcf(tmp_path / "chr3.vcf", lines, samples=("SP-T1", "SP-N1"), extra_header=["##contig=<ID=chr3,length=100>"])
    out = tmp_path / "o"
    _assert_bad(cli(*_count_args(inputs, out, **{"--vcf": vcf})), out, "chr3.vcf", "record chr3:50", "not in the reference")
    narrow = write_bed(tmp_path / "chr2.bed", [("chr2", 0, 100)])
    _assert_bad(cli(*_count_args(inputs, out, **{"--targets": narrow, "--tumor-bam": None, "--normal-bam": None})), out,
                "record chr1:200", "not in the target BED")


def test_bed_end_before_start(cli, inputs, tmp_path):
    bed = tmp_path / "bad.bed"
    bed.write_text("chr1\t100\t200\nchr1\t900\t800\n")
    out = tmp_path / "o"
    _assert_bad(cli(*_count_args(inputs, out, **{"--targets": bed})), out, "bad.bed", "line 2", "before start")


def test_unsorted_bam(cli, inputs, tmp_path):
    reads = [make_read("b", 0, 900, "50M"), make_read("a", 0, 100, "50M")]
    bam = write_bam(tmp_path / "unsorted.bam", reads, sort=False, index=False)
    out = tmp_path / "o"
    _assert_bad(cli(*_count_args(inputs, out, **{"--tumor-bam": bam})), out, "unsorted.bam", "sort")


def test_unindexed_bam_is_indexed_when_writable_else_refused(inputs, tmp_path, monkeypatch):
    bam = write_bam(tmp_path / "noindex.bam", [make_read(f"r{k}", 0, 150, "200M") for k in range(25)], index=False)
    regions = tmb.read_bed(inputs["targets"])
    assert tmb.target_depth(bam, regions).depth["chr1"].max() == 25
    assert (tmp_path / "noindex.bam.bai").exists()
    other = write_bam(tmp_path / "readonly.bam", [make_read("r", 0, 150, "20M")], index=False)
    import biomarkers.genomics._alignments as alignments

    monkeypatch.setattr(alignments.os, "access", lambda path, mode: False)  # tests run as root: simulate a read-only folder
    with pytest.raises(InputError, match="no index and its folder is not writable"):
        tmb.target_depth(other, regions)


def test_cram_needs_its_reference_and_gives_the_bam_answer(cli, inputs, tmp_path):
    cram = tmp_path / "SP-T1.cram"
    pysam.view("-C", "-T", str(inputs["ref"]), "-o", str(cram), str(inputs["tumour"]), catch_stdout=False)
    pysam.index(str(cram))
    out = tmp_path / "o"
    _assert_bad(cli(*_count_args(inputs, out, **{"--tumor-bam": cram, "--fasta": None})), out, "SP-T1.cram", "CRAM needs its reference")
    regions = tmb.read_bed(inputs["targets"])
    from_cram = tmb.target_depth(cram, regions, reference=inputs["ref"])
    from_bam = tmb.target_depth(inputs["tumour"], regions)
    assert all((from_cram.depth[c] == from_bam.depth[c]).all() for c in regions.contigs)


def test_empty_callable_territory(cli, inputs, tmp_path):
    thin = write_bam(tmp_path / "thin.bam", [make_read(f"r{k}", 0, 150, "100M") for k in range(5)])
    out = tmp_path / "o"
    _assert_bad(cli(*_count_args(inputs, out, **{"--tumor-bam": thin, "--normal-bam": None})), out, "thin.bam", "empty callable territory")


def test_collect_refuses_foreign_files(cli, tmp_path):
    bogus = tmp_path / "x.parquet"
    bogus.write_text("not parquet")
    result = cli("tmb", "collect", "--outdir", str(tmp_path / "r"), str(bogus))
    _assert_bad(result, tmp_path / "r", "x.parquet")


def test_pipeline_step_counts_every_tumour_specimen(inputs, tmp_path):
    from biomarkers.pipeline import load_params, run_pipeline

    d = inputs["dir"]
    second = write_vcf(d / "SP-T2.vcf.gz", _lines()[:3], samples=("SP-T2", "SP-N1"), extra_header=["##normal_sample=SP-N1"])
    subject = "NCT07007182-01-001"
    sheet = d / "samplesheet.csv"
    sheet.write_text(
        "subject,specimen,timepoint,specimen_type,assay,file,normal_specimen,sample_name\n"
        f"{subject},SP-T1,BASELINE,DNA,wes_tumor,{inputs['tumour']},SP-N1,\n"
        f"{subject},SP-N1,BASELINE,DNA,wes_normal,{inputs['normal']},,\n"
        f"{subject},SP-T1,BASELINE,DNA,vcf_somatic,{inputs['vcf']},SP-N1,SP-T1\n"
        f"{subject},SP-T2,SURGERY,DNA,vcf_somatic,{second},SP-N1,\n")
    subjects = d / "subjects.csv"
    subjects.write_text(f"USUBJID,SITEID,ARMCD,STRATUM,RANDDT\n{subject},S01,EXP,CPS>=1,2026-01-05\n")
    params = load_params(None, {"input": str(sheet), "outdir": str(tmp_path / "results"), "targets": str(inputs["targets"]),
                                "fasta": str(inputs["ref"]), "subjects": str(subjects)})
    status = run_pipeline(params, only=["tmb"])
    assert status == {"tmb": "done"}
    table = read_table(tmp_path / "results" / "genomics" / "tmb.parquet")
    assert table["SPECIMEN_ID"].tolist() == ["SP-T1", "SP-T2"]
    # SP-T1 has its BAMs (paired callable territory); SP-T2 has none: the merged targets
    assert table["DENOMINATOR_SOURCE"].tolist() == ["BAM_DEPTH", "TARGET_BED"]
    assert table["CALLABLE_BASES"].tolist() == [100, 1200 + 1500 + 300]
    assert table["N_COUNTED"].tolist() == [2, 1]
    assert (tmp_path / "results" / "genomics" / "tmb.png").exists()
    assert not list((tmp_path / "results").glob("tmb-parts-*"))


def test_depth_beyond_int64_names_the_record(cli, inputs, tmp_path):
    """A corrupt read count (21 digits) is one input error naming record and field, not an internal error."""
    records = [(*RECORDS[0][:7], 10**20, *RECORDS[0][8:])]
    vcf = write_vcf(tmp_path / "huge.vcf", _lines(records), samples=("SP-T1", "SP-N1"))
    out = tmp_path / "o"
    _assert_bad(cli(*_count_args(inputs, out, **{"--vcf": vcf})), out, "huge.vcf", "FORMAT/DP", "does not fit a 64-bit integer")
