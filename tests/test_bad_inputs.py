"""The bad-input corpus (issue 15): each case is a hostile-but-fair input, the exact one-line
error it must get, its exit code, and a check that nothing was written.

Every case runs the command in-process (``biomarkers.cli.main``) on tiny inputs in a fresh
folder; "nothing written" means the folder's files (names, sizes, modification times) are
exactly what they were before the command. Bad inputs handled by earlier work are tested
where that work lives (listed in docs/reliability.md with their tests); the cases here are
the ones issue 15 found giving a plausible wrong answer (exit 0) or an internal error (exit 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyreadstat
import pysam
import pytest

from test_outcomes import _set, _tiny
from tmb_fixtures import make_read, write_bam, write_bed, write_reference

STUDY = "NCT07007182"


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Path], list[str]]   # writes the inputs under the folder, returns the command line
    message: str                          # the whole error line; {d} is the folder
    code: int = 2


# --- builders --------------------------------------------------------------------------

def _analysis(d: Path, paths: dict, results: Path | None = None) -> list[str]:
    return ["analysis", "--results", str(results or d / "results"), "--adsl", str(paths["adsl"]),
            "--adtte", str(paths["adtte"]), "--adrs", str(paths["adrs"])]


def _xpt(d: Path, name: str, frame: pd.DataFrame, keep_bytes: int | None = None, *, version: int = 5) -> Path:
    path = d / f"{name}.xpt"
    pyreadstat.write_xport(frame, str(path), table_name=name.upper(), file_format_version=version)
    if keep_bytes is not None:
        data = path.read_bytes()
        path.write_bytes(data[:keep_bytes if keep_bytes > 0 else len(data) + keep_bytes])
    return path


def truncated_adsl(d: Path) -> list[str]:
    paths = _tiny(d)
    paths["adsl"] = _xpt(d, "adsl", pd.read_csv(paths["adsl"]), -80)  # one 80-byte record short
    return _analysis(d, paths)


def truncated_adrs_v8(d: Path) -> list[str]:
    paths = _tiny(d)
    frame = pd.concat([pd.read_csv(paths["adrs"])] * 20, ignore_index=True)  # 60 records, so half a file is whole records
    paths["adrs"] = _xpt(d, "adrs", frame, -400, version=8)  # five 80-byte records short
    return _analysis(d, paths)


def adtte_without_pfs(d: Path) -> list[str]:
    return _analysis(d, _tiny(d, adtte=lambda f: f[f["PARAMCD"] != "PFS"]))


def adsl_of_another_study(d: Path) -> list[str]:
    return _analysis(d, _tiny(d, adsl=lambda f: f.assign(STUDYID="NCT00000001")))


def absurd_pfs(d: Path) -> list[str]:
    return _analysis(d, _tiny(d, adtte=_set(2, "AVAL", 1e9)))


def arm_not_in_protocol(d: Path) -> list[str]:
    return _analysis(d, _tiny(d, adsl=_set(1, "ARMCD", "PLACEBO")))


def _results_with(d: Path, relative: str, content: bytes, *, status: str | None = "complete") -> Path:
    """A results folder holding one file (damaged after a run completed, unless ``status`` says otherwise)."""
    import json

    results = d / "results"
    (results / relative).parent.mkdir(parents=True)
    (results / relative).write_bytes(content)
    if status is not None:
        (results / "pipeline_info").mkdir()
        (results / "pipeline_info" / "run.json").write_text(json.dumps({"status": status, "outputs": {relative: "0" * 64}}))
    return results


def _tmb_table_bytes(d: Path) -> bytes:
    from biomarkers.schemas import TABLES, write_table

    frame = pd.DataFrame({c.name: pd.Series([], dtype=object) for c in TABLES["genomics.msi"].columns})
    path = write_table(frame, "genomics.msi", d / "scratch")
    data = path.read_bytes()
    import shutil

    shutil.rmtree(d / "scratch")
    return data


def truncated_parquet_for_analysis(d: Path) -> list[str]:
    data = _tmb_table_bytes(d)
    results = _results_with(d, "genomics/msi.parquet", data[: len(data) // 2])
    return _analysis(d, _tiny(d), results)


def wrong_table_for_report(d: Path) -> list[str]:
    results = _results_with(d, "genomics/tmb.parquet", _tmb_table_bytes(d))  # an MSI table where TMB belongs
    return ["report", "--results", str(results)]


def results_of_a_killed_run(d: Path) -> list[str]:
    results = _results_with(d, "genomics/msi.parquet", _tmb_table_bytes(d), status="running")
    return _analysis(d, _tiny(d), results)


def results_without_manifest(d: Path) -> list[str]:
    results = _results_with(d, "genomics/msi.parquet", _tmb_table_bytes(d), status=None)
    return ["report", "--results", str(results)]


def truncated_fasta_with_old_fai(d: Path) -> list[str]:
    ref = write_reference(d)
    data = ref.read_bytes()
    ref.write_bytes(data[: len(data) - 500])  # the .fai still describes the whole file
    return ["msi", "scan", "--fasta", str(ref), "--output", str(d / "sites.tsv.gz")]


def impossible_date_in_params_file(d: Path) -> list[str]:
    params = d / "params.yaml"
    params.write_text(f"outdir: {d / 'out'}\ndata_cutoff: 2025-02-30\n")
    return ["run", "--params-file", str(params)]


def outdir_is_a_file(d: Path) -> list[str]:
    (d / "results.txt").write_text("not a folder\n")
    return ["run", "--outdir", str(d / "results.txt")]


def only_unknown_step(d: Path) -> list[str]:
    return ["run", "--outdir", str(d / "out"), "--only", "nosuchstep"]


def bam_with_another_bams_index(d: Path) -> list[str]:
    ref = write_reference(d)
    targets = write_bed(d / "targets.bed", [("chr1", 100, 1300)])
    tumour = write_bam(d / "SP-T1.bam", [make_read(f"t{k}", 0, 150 + 7 * k, "100M") for k in range(40)])
    normal = write_bam(d / "SP-N1.bam", [make_read(f"n{k}", 1, 100, "100M") for k in range(3)])
    Path(str(tumour) + ".bai").write_bytes(Path(str(normal) + ".bai").read_bytes())
    vcf = d / "SP-T1.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=3000>\n##contig=<ID=chr2,length=1500>\n"
                   '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="x">\n'
                   f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tSP-T1\n")
    return ["tmb", "count", "--vcf", str(vcf), "--tumor-bam", str(tumour), "--fasta", str(ref), "--targets", str(targets),
            "--coding-bed", str(targets), "--subject", f"{STUDY}-01-001", "--specimen", "SP-T1", "--timepoint", "BASELINE",
            "--outdir", str(d / "parts")]


def _vcf(d: Path, record: str, *, samples=("SP-T1",), header=("##contig=<ID=chr1,length=3000>",)) -> Path:
    path = d / "SP-T1.vcf"
    path.write_text("##fileformat=VCFv4.2\n" + "".join(f"{h}\n" for h in header)
                    + '##FORMAT=<ID=GT,Number=1,Type=String,Description="x">\n'
                    + '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="x">\n'
                    + '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="x">\n'
                    + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n"
                    + (record + "\n" if record else ""))
    return path


def _count(d: Path, vcf: Path, *, fasta: Path | None = None, subject: str = f"{STUDY}-01-001",
           specimen: str = "SP-T1") -> list[str]:
    targets = write_bed(d / "targets.bed", [("chr1", 100, 2900)])
    return ["tmb", "count", "--vcf", str(vcf), "--targets", str(targets), "--coding-bed", str(targets),
            *(["--fasta", str(fasta)] if fasta else []), "--subject", subject, "--specimen", specimen,
            "--timepoint", "BASELINE", "--outdir", str(d / "parts")]


def non_numeric_ad(d: Path) -> list[str]:
    return _count(d, _vcf(d, "chr1\t200\t.\tA\tC\t.\tPASS\t.\tGT:AD:DP\t0/1:x,y:70"))


def negative_ad(d: Path) -> list[str]:
    return _count(d, _vcf(d, "chr1\t200\t.\tA\tC\t.\tPASS\t.\tGT:AD:DP\t0/1:-5,-3:70"))


def negative_dp(d: Path) -> list[str]:
    return _count(d, _vcf(d, "chr1\t200\t.\tA\tC\t.\tPASS\t.\tGT:AD:DP\t0/1:50,20:-5"))


def position_beyond_contig(d: Path) -> list[str]:
    return _count(d, _vcf(d, "chr1\t3500\t.\tA\tC\t.\tPASS\t.\tGT:AD:DP\t0/1:50,20:70"))


def ref_not_the_fasta(d: Path) -> list[str]:
    fasta = write_reference(d, plant=[("chr1", 200, "G")])
    return _count(d, _vcf(d, "chr1\t200\t.\tA\tC\t.\tPASS\t.\tGT:AD:DP\t0/1:50,20:70"), fasta=fasta)


def specimen_as_path(d: Path) -> list[str]:
    return _count(d, _vcf(d, "chr1\t200\t.\tA\tC\t.\tPASS\t.\tGT:AD:DP\t0/1:50,20:70"), specimen="../../x")


def subject_as_formula(d: Path) -> list[str]:
    return _count(d, _vcf(d, "chr1\t200\t.\tA\tC\t.\tPASS\t.\tGT:AD:DP\t0/1:50,20:70"),
                  subject="=cmd|' /C calc'!A0")


_SHEET = "subject,specimen,timepoint,specimen_type,assay,file,sample_name\n"


def _validate(d: Path, rows: list[str]) -> list[str]:
    sheet = d / "samplesheet.csv"
    sheet.write_text(_SHEET + "".join(f"{STUDY}-01-001,{r}\n" for r in rows))
    return ["validate", "--input", str(sheet), "--outdir", str(d / "out")]


def bam_of_another_sample(d: Path) -> list[str]:
    write_bam(d / "SP-T1.bam", [make_read("r1", 0, 150, "50M")])  # read group SM: TUMOUR
    return _validate(d, ["SP-T1,BASELINE,BIOPSY_FFPE,wes_tumor,SP-T1.bam,"])


def vcf_of_another_sample(d: Path) -> list[str]:
    _vcf(d, "", samples=("SP-T9",))
    return _validate(d, ["SP-T1,BASELINE,BIOPSY_FFPE,vcf_somatic,SP-T1.vcf,"])


CASES = [
    Case("truncated ADSL (XPT v5)", truncated_adsl,
         "biomarkers analysis: error: {d}/adsl.xpt: ends inside an observation (6 of 37 bytes): "
         "the file is truncated (cut short) or damaged; export it again"),
    Case("truncated ADRS (XPT v8, cut at a record boundary)", truncated_adrs_v8,
         "biomarkers analysis: error: {d}/adrs.xpt: holds 30 of the 60 observations its header states: "
         "the file is truncated (cut short) or damaged; export it again"),
    Case("ADTTE without the PFS parameter", adtte_without_pfs,
         "biomarkers analysis: error: {d}/adtte.csv, field 'PARAMCD': no PFS record (PARAMCD values: OS); "
         "name the parameter in the outcomes config (adtte.pfs_paramcd / os_paramcd)"),
    Case("ADSL of another study (STUDYID)", adsl_of_another_study,
         "biomarkers analysis: error: {d}/adsl.csv, row 1, field 'STUDYID': STUDYID is not the protocol's "
         "NCT07007182: an ADSL of another study (got 'NCT00000001')"),
    Case("PFS of 1e9 days", absurd_pfs,
         "biomarkers analysis: error: {d}/adtte.csv, row 3, field 'AVAL': PFS AVAL is 1,000,000,000 days, beyond any "
         "possible follow-up (outcomes config adtte.max_days: 7,305) (got 1000000000.0)"),
    Case("ARMCD not in the protocol", arm_not_in_protocol,
         "biomarkers analysis: error: {d}/adsl.csv, row 2, field 'ARMCD': arm is not one of the protocol's arms "
         "(CTRL, EXP) (got 'PLACEBO')"),
    Case("truncated Parquet table in the results folder (analysis)", truncated_parquet_for_analysis,
         "biomarkers analysis: error: {d}/results/genomics/msi.parquet: not a readable Parquet file (truncated or "
         "damaged?): Parquet magic bytes not found in footer. Either the file is corrupted or this is not a parquet file."),
    Case("another table at a table's path (report)", wrong_table_for_report,
         "biomarkers report: error: {d}/results/genomics/tmb.parquet: holds table 'genomics.msi', not the genomics.tmb "
         "table expected at this path"),
    Case("results folder of a run that did not finish (manifest 'running')", results_of_a_killed_run,
         "biomarkers analysis: error: {d}/results: the run that wrote this results folder did not finish "
         "(pipeline_info/run.json status 'running'); rerun the pipeline into it, or pass --allow-incomplete to read it anyway"),
    Case("results folder without a run manifest", results_without_manifest,
         "biomarkers report: error: {d}/results: results folder has no run manifest (pipeline_info/run.json): the run "
         "that wrote it did not finish; rerun the pipeline into it, or pass --allow-incomplete to read it anyway"),
    Case("truncated FASTA with its old .fai", truncated_fasta_with_old_fai,
         "biomarkers msi: error: {d}/ref.fa: the FASTA is 4,087 bytes but its .fai places contig chr2 up to byte "
         "4,586: the FASTA is truncated or the .fai is stale; re-run `samtools faidx`"),
    Case("impossible date in a params file", impossible_date_in_params_file,
         "biomarkers run: error: {d}/params.yaml, line 2: not valid YAML: impossible date '2025-02-30': "
         "day is out of range for month"),
    Case("--outdir is an existing file", outdir_is_a_file,
         "biomarkers run: error: command line, field 'outdir': exists and is not a folder (got '{d}/results.txt')"),
    Case("run --only with an unknown step", only_unknown_step,
         "biomarkers run: error: field '--only': no such step (steps: {steps}) (got 'nosuchstep')"),
    Case("non-numeric FORMAT/AD", non_numeric_ad,
         "biomarkers tmb: error: {d}/SP-T1.vcf, record chr1:200, field 'FORMAT/AD': read counts must be non-negative "
         "integers or '.' (got 'x,y')"),
    Case("negative FORMAT/AD", negative_ad,
         "biomarkers tmb: error: {d}/SP-T1.vcf, record chr1:200, field 'FORMAT/AD': read counts must be non-negative "
         "integers or '.' (got '-5,-3')"),
    Case("negative FORMAT/DP", negative_dp,
         "biomarkers tmb: error: {d}/SP-T1.vcf, record chr1:200, field 'FORMAT/DP': read depth must be a non-negative "
         "integer or '.' (got '-5')"),
    Case("variant beyond the end of its contig", position_beyond_contig,
         "biomarkers tmb: error: {d}/SP-T1.vcf, record chr1:3500, field 'POS': position is beyond the end of contig "
         "chr1 (3,000 bp in the VCF header) (got 3500)"),
    Case("REF not the reference FASTA's", ref_not_the_fasta,
         "biomarkers tmb: error: {d}/SP-T1.vcf, record chr1:200, field 'REF': REF 'A' does not match the reference "
         "FASTA ('G' at chr1:200): a VCF of another build, or positions shifted"),
    Case("--specimen ../../x (an ID used as a file name)", specimen_as_path,
         "biomarkers tmb: error: field '--specimen': not a study specimen ID (pattern ^[A-Z0-9][A-Z0-9-]{{3,39}}$); "
         "refused before it names a file"),
    Case("--subject a spreadsheet formula", subject_as_formula,
         "biomarkers tmb: error: field '--subject': not a study USUBJID (pattern ^NCT07007182-[0-9]{{2}}-[0-9]{{3}}$); "
         "refused before it names a file"),
    Case("BAM read groups of another sample (swap)", bam_of_another_sample,
         "biomarkers validate: error: {d}/samplesheet.csv, line 2, field 'sample_name': the BAM's read groups name "
         "sample 'TUMOUR', not 'SP-T1' (SP-T1.bam): a sample swap? if the names differ by design, give the file's "
         "sample name in the samplesheet's sample_name column"),
    Case("VCF samples of another specimen (swap)", vcf_of_another_sample,
         "biomarkers validate: error: {d}/samplesheet.csv, line 2, field 'sample_name': the VCF has no sample 'SP-T1' "
         "(samples: SP-T9; SP-T1.vcf): a sample swap? if the names differ by design, give the file's sample name in "
         "the samplesheet's sample_name column"),
    Case("BAM carrying another BAM's index", bam_with_another_bams_index,
         "biomarkers tmb: error: {d}/SP-T1.bam: the index SP-T1.bam.bai does not belong to this BAM "
         "(another file's index?); run `samtools index`"),
]


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file() or p.is_dir()}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_exact_line_its_exit_code_and_nothing_written(case: Case, tmp_path, capsys, monkeypatch):
    from biomarkers.cli import main

    monkeypatch.chdir(tmp_path)
    argv = case.build(tmp_path)
    before = _snapshot(tmp_path)
    capsys.readouterr()
    code = main(["--log-level", "WARNING", *argv])
    err = capsys.readouterr().err
    from biomarkers.pipeline import STEPS

    steps = ", ".join(step.name for step in STEPS)  # every step, in order: custody, tmb, ..., report
    assert (code, err) == (case.code, case.message.format(d=tmp_path, steps=steps) + "\n")
    assert _snapshot(tmp_path) == before, "the command wrote or changed files"


def test_a_sample_name_maps_a_file_whose_names_differ_by_design(tmp_path, capsys):
    from biomarkers.cli import main

    write_bam(tmp_path / "SP-T1.bam", [make_read("r1", 0, 150, "50M")])
    _vcf(tmp_path, "", samples=("TUMOUR", "NORMAL"))
    argv = _validate(tmp_path, ["SP-T1,BASELINE,BIOPSY_FFPE,wes_tumor,SP-T1.bam,TUMOUR",
                                "SP-T1,BASELINE,BIOPSY_FFPE,vcf_somatic,SP-T1.vcf,TUMOUR"])
    assert main(argv) == 0, capsys.readouterr().err
    assert (tmp_path / "out" / "validation" / "tumors.csv").is_file()
