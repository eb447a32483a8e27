"""The checks that read input files, under Nextflow (issue 12, "one set of input checks").

`biomarkers run` checks, before its first step, what is inside the input files: the sample
names of each BAM/CRAM (read groups' SM) and VCF against its samplesheet row (a sample swap),
the flow counts CSV (read whole) and the FlowJo workspace's samples. Nextflow's VALIDATE task
sees no data file (`--skip-file-checks`); each INPUT_FILE task stages one input and runs those
checks on it (`biomarkers validate --staged`) before hashing it. Here the Nextflow path is run
as the workflow runs it, without Nextflow (VALIDATE's script, then one INPUT_FILE script per
input VALIDATE lists, see nextflow_sources.py), on a shared set of bad inputs: each is refused
by both engines with the same one-line message, naming the samplesheet the user gave and the
file as given (not the staged copies).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from biomarkers.cli import main as cli_main
from conftest import ROOT
from nextflow_sources import run_task, stage, task_script
from tmb_fixtures import CONTIGS, make_read, write_bam

SUBJECT = "NCT07007182-01-001"
TUMOR, NORMAL, BLOOD = f"{SUBJECT}-BX01-DNA", f"{SUBJECT}-BC01-DNA", f"{SUBJECT}-PB01-PBMC"
HEADER = "subject,specimen,timepoint,specimen_type,assay,file,index,normal_specimen,sample_name,panel"


def _vcf(path: Path, samples: tuple[str, ...]) -> Path:
    path.write_text("##fileformat=VCFv4.2\n" + "".join(f"##contig=<ID={c},length={n}>\n" for c, n in CONTIGS.items())
                    + '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
                    + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n")
    return path


def trial(d: Path, *, tumor_sm: str = TUMOR, normal_sm: str = NORMAL, vcf_samples: tuple[str, ...] = (TUMOR, NORMAL),
          counts: str | None = None) -> tuple[Path, dict[str, str]]:
    """A paired tumour (BAM, VCF) and its normal (BAM), a flow_fcs row; the names inside the files as given.
    Returns the samplesheet and the extra parameters (the flow counts CSV when ``counts``)."""
    d.mkdir(parents=True, exist_ok=True)
    reads = [make_read("r1", 0, 150, "50M")]
    write_bam(d / "tumor.bam", reads, sample=tumor_sm)
    write_bam(d / "normal.bam", reads, sample=normal_sm)
    _vcf(d / "tumor.vcf", vcf_samples)
    (d / "blood.fcs").write_bytes(b"")  # not read by the checks: the FLOW task gates it
    rows = [f"{SUBJECT},{TUMOR},BASELINE,DNA,wes_tumor,tumor.bam,tumor.bam.bai,{NORMAL},,",
            f"{SUBJECT},{NORMAL},BASELINE,DNA,wes_normal,normal.bam,normal.bam.bai,,,",
            f"{SUBJECT},{TUMOR},BASELINE,DNA,vcf_somatic,tumor.vcf,,{NORMAL},,",
            f"{SUBJECT},{BLOOD},BASELINE,PBMC,flow_fcs,blood.fcs,,,,PBMC16"]
    sheet = d / "samplesheet.csv"
    sheet.write_text("\n".join([HEADER, *rows]) + "\n")
    extra = {}
    if counts is not None:
        (d / "counts.csv").write_text(counts)
        extra["flow_counts"] = str(d / "counts.csv")
    return sheet, extra


MAP_IT = "a sample swap? if the names differ by design, give the file's sample name in the samplesheet's sample_name column"
# name -> (trial builder, the message after "biomarkers <command>: error: " with {d} the folder)
BAD: dict[str, tuple[Callable[[Path], tuple[Path, dict]], str]] = {
    "tumour BAM whose read groups are the normal's": (
        lambda d: trial(d, tumor_sm=NORMAL),
        f"{{d}}/samplesheet.csv, line 2, field 'sample_name': the BAM's read groups name sample '{NORMAL}', "
        f"not '{TUMOR}' (tumor.bam): {MAP_IT}"),
    "normal BAM of another subject": (
        lambda d: trial(d, normal_sm="NCT07007182-02-007-BC01-DNA"),
        f"{{d}}/samplesheet.csv, line 3, field 'sample_name': the BAM's read groups name sample "
        f"'NCT07007182-02-007-BC01-DNA', not '{NORMAL}' (normal.bam): {MAP_IT}"),
    "VCF without the tumour's sample": (
        lambda d: trial(d, vcf_samples=("NCT07007182-02-007-BX01-DNA", NORMAL)),
        f"{{d}}/samplesheet.csv, line 4, field 'sample_name': the VCF has no sample '{TUMOR}' "
        f"(samples: NCT07007182-02-007-BX01-DNA, {NORMAL}; tumor.vcf): {MAP_IT}"),
    "VCF whose normal is another specimen": (
        lambda d: trial(d, vcf_samples=(TUMOR, "NCT07007182-02-007-BC01-DNA")),
        f"{{d}}/samplesheet.csv, line 4, field 'normal_specimen': the VCF's other sample is "
        f"'NCT07007182-02-007-BC01-DNA', not the normal '{NORMAL}' (tumor.vcf): {MAP_IT}"),
    "flow counts listing a specimen twice": (
        lambda d: trial(d, counts=f"specimen,lymphocytes_per_ul\n{BLOOD},1500\n{BLOOD},1600\n"),
        f"{{d}}/counts.csv, line 3, field 'specimen': specimen listed twice (got '{BLOOD}')"),
}


def run_line(capsys, sheet: Path, extra: dict[str, str], outdir: Path) -> tuple[int, str]:
    """`biomarkers run`'s exit code and last stderr line (it stops before its first step)."""
    argv = ["run", "--cpus", "1", "--input", str(sheet), "--outdir", str(outdir),
            *[x for k, v in extra.items() for x in (f"--{k}", v)]]
    code = cli_main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    return code, err[-1] if err else ""


def nextflow_path(sheet: Path, extra: dict[str, str], work: Path, *,
                  data_only: bool = False) -> list[tuple[str, int, str, list[Path]]]:
    """VALIDATE (must pass: it checks contents only), then an INPUT_FILE task per input it lists, as
    the workflow runs them: (path as given, exit code, last stderr line, the task's outputs) of each.
    ``data_only``: the tasks of the rows' files and the flow parameters only (not of the indexes, the
    samplesheet, the protocol: nothing inside them is checked; it keeps the test short)."""
    validate = work / "validate"
    (validate / "in").mkdir(parents=True)
    (validate / "in" / "params.json").write_text(json.dumps({"input": str(sheet), **extra, "outdir": str(work / "out")}))
    run_task("VALIDATE", {"run_params": stage(validate, [validate / "in" / "params.json"], "run"),
                          "samplesheet": stage(validate, [sheet], "run"), "protocol": "", "input_name": str(sheet),
                          "protocol_name": ""}, validate)
    with open(validate / "validation" / "inputs.csv", newline="") as handle:
        given = [row["path"] for row in csv.DictReader(handle) if Path(row["path"]).is_file() and not (data_only and (
            row["role"] in ("protocol", "input", "samplesheet") or row["role"].endswith(":index")))]
    path = os.pathsep.join([str(ROOT / "bin"), str(Path(sys.executable).parent), os.environ["PATH"]])
    env = {**os.environ, "PATH": path, "PYTHONPATH": str(ROOT / "src")}
    results = []
    for n, file in enumerate(dict.fromkeys(given)):
        t = work / f"input_file_{n}"
        t.mkdir()
        shell, _ = task_script("INPUT_FILE", {
            "given": file, "staged": stage(t, [Path(file)], "input"), "staged.name": Path(file).name,
            "run_params": stage(t, [validate / "in" / "params.json"], "run"), "samplesheet": stage(t, [sheet], "run"),
            "input_name": str(sheet), "protocol": ""})
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", shell], cwd=t, env=env, capture_output=True, text=True)
        lines = done.stderr.strip().splitlines()
        results.append((file, done.returncode, lines[-1] if lines else "", sorted(t.glob("*.sha256.tsv"))))
    return results


@pytest.mark.parametrize("case", sorted(BAD))
def test_nextflow_refuses_what_run_refuses_with_the_same_line(case, tmp_path, capsys):
    build, message = BAD[case]
    sheet, extra = build(tmp_path / "trial")
    expected = message.format(d=tmp_path / "trial")
    code, line = run_line(capsys, sheet, extra, tmp_path / "run")
    assert (code, line) == (2, f"biomarkers run: error: {expected}")
    assert not (tmp_path / "run").exists(), "biomarkers run wrote something"
    tasks = nextflow_path(sheet, extra, tmp_path / "work", data_only=True)
    assert len(tasks) == 4 + bool(extra)
    failed = [(file, rc, err, out) for file, rc, err, out in tasks if rc != 0]
    # exactly the task of the bad file fails, exit 2, with run's line; it hashes nothing
    assert len(failed) == 1, [(f, rc, err) for f, rc, err, _ in tasks]
    file, rc, err, out = failed[0]
    assert (rc, err) == (2, f"biomarkers validate: error: {expected}")
    assert Path(file).name in expected and not out
    assert all(out for f, rc, _, out in tasks if rc == 0)


def test_nextflow_checks_and_hashes_every_file_of_a_good_trial(tmp_path, capsys):
    """The same trial with the right names passes both engines' checks; every input file's task
    passes and writes its line (the SHA-256 of the file as given)."""
    import hashlib

    sheet, extra = trial(tmp_path / "trial", counts=f"specimen,lymphocytes_per_ul\n{BLOOD},1500\n")
    assert cli_main(["validate", "--input", str(sheet), "--outdir", str(tmp_path / "v"),
                     *[x for k, v in extra.items() for x in (f"--{k}", v)]]) == 0, capsys.readouterr().err
    tasks = nextflow_path(sheet, extra, tmp_path / "work")
    names = {Path(file).name for file, *_ in tasks}
    assert {"samplesheet.csv", "tumor.bam", "tumor.bam.bai", "normal.bam", "tumor.vcf", "blood.fcs", "counts.csv"} <= names
    for file, rc, err, out in tasks:
        assert rc == 0, err
        data = Path(file).read_bytes()
        assert out[0].read_text() == f"{file}\t{len(data)}\t{hashlib.sha256(data).hexdigest()}\n"


def test_a_staged_check_names_the_file_as_given(tmp_path, capsys):
    """`biomarkers validate --staged GIVEN FILE` reads the copy and names GIVEN (and the samplesheet the
    user gave) in its message, as `biomarkers run` names them."""
    sheet, _ = trial(tmp_path / "trial", counts="specimen\nnot an id\n")
    copy = tmp_path / "task" / "input" / "counts.csv"
    copy.parent.mkdir(parents=True)
    copy.write_bytes((tmp_path / "trial" / "counts.csv").read_bytes())
    given = str(tmp_path / "trial" / "counts.csv")
    code = cli_main(["validate", "--input", str(sheet), "--flow_counts", given, "--outdir", str(tmp_path / "out"),
                     "--staged", given, str(copy)])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and err.startswith(f"biomarkers validate: error: {given}, line 2, field 'specimen': ")
    assert str(copy) not in err and not (tmp_path / "out").exists()


def test_a_workspace_of_other_samples_is_refused_by_both_engines_alike(tmp_path, capsys):
    """A FlowJo workspace (real, from FlowKit's examples) whose samples are no flow_fcs row's: the
    INPUT_FILE task of the workspace refuses it with the line `biomarkers run` prints."""
    from conftest import real_data_path

    wsp = real_data_path("fcs/flowjo/test_data_diamond_biex_rect.wsp")
    sheet, _ = trial(tmp_path / "trial")
    extra = {"flow_workspace": str(wsp)}
    code, line = run_line(capsys, sheet, extra, tmp_path / "run")
    assert code == 2 and line.startswith(f"biomarkers run: error: {wsp}: the workspace names sample '")
    assert "which is not a flow_fcs file or specimen of the samplesheet" in line
    tasks = nextflow_path(sheet, extra, tmp_path / "work", data_only=True)
    failed = [(file, rc, err) for file, rc, err, _ in tasks if rc != 0]
    assert failed == [(str(wsp), 2, line.replace("biomarkers run:", "biomarkers validate:", 1))]


def test_a_run_without_a_samplesheet_is_validated_checked_and_hashed(tmp_path):
    """No --input (e.g. custody and outcomes only): the workflow still writes a samplesheet copy (no
    rows), which VALIDATE and INPUT_FILE are not given (their input_name is empty); PROVENANCE lists
    the file parameters and the protocol, as biomarkers run does."""
    import hashlib

    import pandas as pd

    from biomarkers.protocol import load_protocol

    targets = tmp_path / "targets.bed"
    targets.write_text("chr1\t100\t2900\n")
    empty = tmp_path / "samplesheet.csv"
    empty.write_text(HEADER + "\n")
    validate = tmp_path / "validate"
    (validate / "in").mkdir(parents=True)
    params = validate / "in" / "params.json"
    params.write_text(json.dumps({"targets": str(targets), "outdir": str(tmp_path / "out")}))
    run_task("VALIDATE", {"run_params": stage(validate, [params], "run"), "samplesheet": stage(validate, [empty], "run"),
                          "protocol": "", "input_name": "", "protocol_name": ""}, validate)
    with open(validate / "validation" / "inputs.csv", newline="") as handle:
        listed = {row["role"]: row["path"] for row in csv.DictReader(handle)}
    assert listed == {"protocol": str(load_protocol(None).path), "targets": str(targets)}
    t = tmp_path / "input_file"
    found = run_task("INPUT_FILE", {"given": str(targets), "staged": stage(t, [targets], "input"), "staged.name": targets.name,
                                    "run_params": stage(t, [params], "run"), "samplesheet": stage(t, [empty], "run"),
                                    "input_name": "", "protocol": ""}, t)
    digest = hashlib.sha256(targets.read_bytes()).hexdigest()
    assert found[0].read_text() == f"{targets}\t{targets.stat().st_size}\t{digest}\n"
    t = tmp_path / "provenance"
    (t / "in").mkdir(parents=True)
    (t / "in" / "input_hashes.tsv").write_text(found[0].read_text())
    run_task("PROVENANCE", {"run_params": stage(t, [params], "run"), "samplesheet": stage(t, [empty], "run"),
                            "hashes": stage(t, [t / "in" / "input_hashes.tsv"], "hashes")}, t)
    table = pd.read_parquet(t / "pipeline_info" / "inputs.parquet").set_index("ROLE")
    assert list(table.index) == ["protocol", "targets"] and table.loc["targets", "SHA256"] == digest
    # the bundled protocol (inside the image under Nextflow) is hashed by PROVENANCE itself
    assert table.loc["protocol", "SHA256"] == hashlib.sha256(load_protocol(None).path.read_bytes()).hexdigest()
