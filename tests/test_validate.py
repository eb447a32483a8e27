"""One set of input checks: `biomarkers validate` (Nextflow's first process) and
`biomarkers run` refuse exactly the same inputs, with the same one-line messages, and
validate writes the tumour/normal/VCF pairing that Nextflow reads."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from biomarkers.cli import main as cli_main
from biomarkers.samplesheet import read_samplesheet, tumor_inputs

HEADER = "subject,specimen,timepoint,specimen_type,assay,file,index,normal_specimen,sample_name"
SUBJECT = "NCT07007182-01-001"
TUMOR, NORMAL = f"{SUBJECT}-BX01-DNA", f"{SUBJECT}-BC01-DNA"
GOOD = [
    f"{SUBJECT},{TUMOR},BASELINE,DNA,wes_tumor,tumor.bam,tumor.bam.bai,{NORMAL},",
    f"{SUBJECT},{NORMAL},BASELINE,DNA,wes_normal,normal.bam,normal.bam.bai,,",
    f"{SUBJECT},{TUMOR},BASELINE,DNA,vcf_somatic,tumor.vcf.gz,,{NORMAL},TUMOR",
]
# name -> (samplesheet rows, extra parameters, the message's gist): each is refused by both checkers.
BAD = {
    "unknown timepoint": ([GOOD[0].replace(",BASELINE,", ",WEEK_99,"), *GOOD[1:]], {}, "unknown timepoint (not in the protocol)"),
    "unknown specimen type": ([GOOD[0], GOOD[1].replace(",DNA,", ",SALIVA,"), GOOD[2]], {}, "unknown specimen type"),
    "USUBJID format": ([r.replace(f"{SUBJECT},", "NCT07007182-1-1,", 1) for r in GOOD], {}, "USUBJID pattern"),
    "normal not in the samplesheet": ([GOOD[0], GOOD[2].replace(NORMAL, f"{SUBJECT}-BC09-DNA")], {}, "is not a specimen of this samplesheet"),
    "VCF and BAM name different normals": ([*GOOD[:2], GOOD[2].replace(NORMAL, TUMOR)], {}, "name different normal specimens"),
    "unknown assay": ([GOOD[0].replace("wes_tumor", "wgs_tumor"), *GOOD[1:]], {}, "assay must be one of"),
    "empty required value": ([GOOD[0].replace(",BASELINE,", ",,"), *GOOD[1:]], {}, "required value is empty"),
    "duplicate specimen and assay": ([*GOOD, GOOD[1]], {}, "duplicate entry for specimen, assay"),
    "missing file": ([GOOD[0].replace("tumor.bam,", "tumour.bam,"), *GOOD[1:]], {}, "file does not exist"),
    "bad specimen ID": ([GOOD[0], GOOD[1].replace(NORMAL, "bc01 dna"), GOOD[2]], {}, "must be a study specimen ID"),
    "custody exports match nothing": (GOOD, {"custody_exports": "lims/*.csv"}, "field 'custody_exports': no file matches"),
    "panel of normals matches nothing": (GOOD, {"pon": "pon/*.bam"}, "field 'pon': no file matches"),
}


def trial(folder: Path, rows: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("tumor.bam", "tumor.bam.bai", "normal.bam", "normal.bam.bai", "tumor.vcf.gz"):
        (folder / name).write_bytes(b"")
    sheet = folder / "samplesheet.csv"
    sheet.write_text("\n".join([HEADER, *rows]) + "\n")
    return sheet


def one_line(capsys, argv: list[str]) -> tuple[int, str]:
    code = cli_main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    return code, err[-1] if err else ""


@pytest.mark.parametrize("case", sorted(BAD))
def test_validate_and_run_refuse_the_same(case, tmp_path, capsys):
    rows, extra, gist = BAD[case]
    sheet = trial(tmp_path / "trial", rows)
    argv = ["--input", str(sheet), *[x for k, v in extra.items() for x in (f"--{k}", str(tmp_path / "trial" / v))]]
    run_code, run_msg = one_line(capsys, ["run", "--cpus", "1", "--outdir", str(tmp_path / "run"), *argv])
    val_code, val_msg = one_line(capsys, ["validate", "--outdir", str(tmp_path / "val"), *argv])
    assert run_code == val_code == 2, (run_msg, val_msg)
    assert run_msg.startswith("biomarkers run: error: ") and val_msg.startswith("biomarkers validate: error: ")
    assert run_msg.removeprefix("biomarkers run: error: ") == val_msg.removeprefix("biomarkers validate: error: ")
    assert gist in val_msg, val_msg
    assert not (tmp_path / "val" / "validation").exists(), "nothing written on bad input"


def test_validate_writes_the_pairing_run_uses(tmp_path, capsys):
    sheet = trial(tmp_path / "trial", GOOD)
    code, msg = one_line(capsys, ["validate", "--input", str(sheet), "--outdir", str(tmp_path / "val")])
    assert code == 0, msg
    with open(tmp_path / "val" / "validation" / "tumors.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = tumor_inputs(read_samplesheet(sheet))
    assert len(rows) == len(expected) == 1
    row, t = rows[0], expected[0]
    assert row["mode"] == "paired" and row["specimen"] == TUMOR and row["normal_specimen"] == NORMAL
    assert row["tumor_bam"] == t.tumor_bam == str((tmp_path / "trial" / "tumor.bam").resolve())
    assert row["normal_bam"] == t.normal_bam and row["vcf"] == t.vcf and row["tumor_sample"] == "TUMOR"
    assert row["vcf_index"] == "" and t.vcf_index is None


def test_skip_file_checks_checks_contents_only(tmp_path, capsys):
    """Under Nextflow the files are not visible to the task (nf-schema checked them):
    the contents are still checked."""
    sheet = trial(tmp_path / "trial", [GOOD[0].replace("tumor.bam,", "elsewhere/tumor.bam,"), *GOOD[1:]])
    code, msg = one_line(capsys, ["validate", "--skip-file-checks", "--input", str(sheet), "--outdir", str(tmp_path / "v1")])
    assert code == 0, msg
    bad = trial(tmp_path / "bad", BAD["unknown timepoint"][0])
    code, msg = one_line(capsys, ["validate", "--skip-file-checks", "--input", str(bad), "--outdir", str(tmp_path / "v2")])
    assert code == 2 and "unknown timepoint (not in the protocol)" in msg


def test_validate_names_the_samplesheet_the_user_gave(tmp_path, capsys):
    """Nextflow's VALIDATE checks a staged copy (run/samplesheet.csv) and names the user's file,
    at the same row: the module passes --input-name, the path given to --input."""
    from nextflow_sources import task_script

    user_sheet = trial(tmp_path / "trial", BAD["unknown timepoint"][0])
    staged = tmp_path / "task" / "run" / "samplesheet.csv"
    staged.parent.mkdir(parents=True)
    staged.write_bytes(user_sheet.read_bytes())
    _, run_msg = one_line(capsys, ["run", "--cpus", "1", "--input", str(user_sheet), "--outdir", str(tmp_path / "r")])
    code, msg = one_line(capsys, ["validate", "--skip-file-checks", "--input", str(staged), "--input-name", str(user_sheet),
                                  "--outdir", str(tmp_path / "v")])
    assert code == 2 and msg.removeprefix("biomarkers validate: error: ") == run_msg.removeprefix("biomarkers run: error: ")
    assert msg.startswith(f"biomarkers validate: error: {user_sheet}, line 2,") and "run/samplesheet.csv" not in msg
    # the module's command line passes the name it is given
    shell, _ = task_script("VALIDATE", {"run_params": "run/params.json", "samplesheet": "run/samplesheet.csv",
                                        "protocol": "", "input_name": str(user_sheet)})
    assert f"--input run/samplesheet.csv --input-name '{user_sheet}'" in " ".join(shell.split())


def test_nextflow_refuses_an_empty_glob_with_the_same_line(tmp_path, capsys):
    """Globs are expanded where the files are: at the Nextflow launch, not in VALIDATE.
    The launch check prints the line `biomarkers run` prints."""
    from conftest import ROOT

    sheet = trial(tmp_path / "trial", GOOD)
    pattern = str(tmp_path / "pon" / "*.bam")
    code, msg = one_line(capsys, ["validate", "--input", str(sheet), "--pon", pattern, "--outdir", str(tmp_path / "v")])
    assert code == 2 and msg == f"biomarkers validate: error: field 'pon': no file matches (got '{pattern}')"
    groovy = (ROOT / "subworkflows" / "local" / "utils_biomarkers" / "main.nf").read_text()
    assert "error(\"field '${name}': no file matches (got '${pattern}')\")" in groovy
    assert "['custody_exports', 'pon'].each" in groovy
    from biomarkers.pipeline._validate import GLOB_PARAMS
    assert GLOB_PARAMS == ("custody_exports", "pon")
