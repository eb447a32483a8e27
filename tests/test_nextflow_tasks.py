"""Each module's script run as Nextflow would run it for one task, without Nextflow.

Not a run of main.nf: each module's ``script:`` (or ``stub:``) block is rendered the
way Nextflow renders it for one task (inputs linked under their staged names, Groovy
interpolations and the script's ``def``s evaluated, indentation stripped) and run with
bash in a fresh folder, with the pipeline's bin/ on PATH as Nextflow puts it. Tasks
are chained as the workflow feeds them, and what they publish is compared with what
``biomarkers run`` writes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from nextflow_sources import EXPECTED_COMMANDS, VALUES, publish, run_task, schema_params, stage, task_script


@pytest.mark.parametrize("process", sorted(EXPECTED_COMMANDS))
def test_stub_writes_the_declared_outputs(process, tmp_path):
    """`-stub-run` runs the stub: blocks; they must create what the process declares."""
    shell, outputs = task_script(process, VALUES, block="stub")
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", shell], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for out in outputs:
        assert sorted(tmp_path.glob(out)), f"the stub of {process} does not create {out}"


def test_simulate_task_writes_the_trial_and_versions(tmp_path):
    found = run_task("SIMULATE", {"n_subjects": "3", "seed": "7"}, tmp_path / "task")
    trial = tmp_path / "task" / "simulated_trial"
    assert trial in found and (trial / "params.yaml").is_file() and (trial / "truth").is_dir()
    import yaml

    from biomarkers import __version__

    versions = yaml.safe_load((tmp_path / "task" / "versions.yml").read_text())
    assert versions == {"BIOMARKERS:SIMULATE": {"biomarkers": __version__}}
    # The pipeline reads the trial's parameters as biomarkers run does.
    params = yaml.safe_load((trial / "params.yaml").read_text())
    assert set(params) <= set(schema_params())


@pytest.fixture(scope="module")
def simulated_trial(tmp_path_factory):
    task = tmp_path_factory.mktemp("simulate")
    run_task("SIMULATE", {"n_subjects": "3", "seed": "3"}, task)
    return task / "simulated_trial"


def test_process_tasks_publish_what_biomarkers_run_writes(simulated_trial, tmp_path):
    """The custody, analysis and report tasks, chained as the workflow chains them on
    the simulated trial, publish the same files and the same tables as
    `biomarkers run --params-file simulated_trial/params.yaml`."""
    import pandas as pd
    import yaml

    params = yaml.safe_load((simulated_trial / "params.yaml").read_text())
    runner_out = tmp_path / "runner"
    result = subprocess.run([sys.executable, "-m", "biomarkers", "run", "--params-file", str(simulated_trial / "params.yaml"),
                             "--outdir", str(runner_out), "--only", "custody", "analysis", "report"],
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert result.returncode == 0, result.stderr[-3000:]

    nf_out = tmp_path / "nextflow"
    custody = tmp_path / "work" / "custody"
    custody.mkdir(parents=True)
    run_task("CUSTODY", {
        "exports": stage(custody, sorted(simulated_trial.glob(params["custody_exports"])), "exports"),
        "ledger": "",
        "subjects": stage(custody, [simulated_trial / params["subjects"]]),
        "milestones": stage(custody, [simulated_trial / params["milestones"]]),
        "samplesheet": stage(custody, [simulated_trial / params["input"]], "samplesheet") if params.get("input") else "",
        "data_cutoff": params.get("data_cutoff", ""),
        "protocol": "",
    }, custody)
    custody_tables = publish("CUSTODY", custody, nf_out)

    analysis = tmp_path / "work" / "analysis"
    analysis.mkdir(parents=True)
    run_task("ANALYSIS", {
        "custody_tables": stage(analysis, custody_tables, "custody"),
        "genomics_tables": "",
        **{key: stage(analysis, [simulated_trial / params[key]]) for key in ("adsl", "adtte", "adrs")},
        "config": "",
    }, analysis)
    analysis_tables = publish("ANALYSIS", analysis, nf_out)

    report = tmp_path / "work" / "report"
    report.mkdir(parents=True)
    run_task("REPORT", {
        "custody_tables": stage(report, custody_tables, "custody"),
        "genomics_tables": "",
        "analysis_tables": stage(report, analysis_tables, "analysis"),
    }, report)
    publish("REPORT", report, nf_out)

    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.is_relative_to(root / "pipeline_info")}

    assert files(nf_out) == files(runner_out)
    assert {"custody/issues.parquet", "analysis/analysis_wide.parquet", "report/index.html"} <= files(nf_out)
    for rel in sorted(files(nf_out)):
        if rel.endswith(".parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(nf_out / rel), pd.read_parquet(runner_out / rel), obj=rel)


def test_genomics_tasks_publish_what_biomarkers_run_writes(simulated_trial, tmp_path):
    """TMB and MSI tasks, fed as TUMOUR_INPUTS and the subworkflows feed them, on a
    reduced samplesheet of the simulated trial (one paired tumour, one made
    tumour-only by leaving out its normal, so MSI_BASELINE runs from the panel of
    normals), publish the same tables as `biomarkers run` on that samplesheet."""
    import csv

    import pandas as pd
    import yaml

    params = yaml.safe_load((simulated_trial / "params.yaml").read_text())
    if not params.get("input") or not params.get("fasta"):
        pytest.skip("the simulated trial has no sequencing data yet (genome stage)")
    with open(simulated_trial / params["input"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for col in ("file", "index"):
            if row.get(col):
                row[col] = str((simulated_trial / row[col]).resolve())
    tumours = sorted((r for r in rows if r["assay"] in ("wes_tumor", "panel_tumor")), key=lambda r: r["specimen"])
    vcf_of = {r["specimen"]: r for r in rows if r["assay"] == "vcf_somatic"}
    normal_of = {r["specimen"]: r for r in rows if r["assay"] == "wes_normal"}
    paired = next(t for t in tumours if t["specimen"] in vcf_of and t.get("normal_specimen") in normal_of)
    alone = next(t for t in tumours if t["specimen"] in vcf_of and t["subject"] != paired["subject"])
    # The tumour-only one names no normal (the samplesheet schema wants a named normal listed).
    alone, alone_vcf = {**alone, "normal_specimen": ""}, {**vcf_of[alone["specimen"]], "normal_specimen": ""}
    keep = [paired, alone, vcf_of[paired["specimen"]], alone_vcf, normal_of[paired["normal_specimen"]]]
    sheet = tmp_path / "samplesheet.csv"
    with open(sheet, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(keep)
    run_params = {k: (str((simulated_trial / v).resolve()) if k in {"fasta", "targets", "coding_bed", "subjects"} and v else v)
                  for k, v in params.items() if k in {"fasta", "targets", "coding_bed", "subjects", "seed"}}
    # Two normals of the panel keep the baseline quick; the glob is the runner's --pon.
    run_params["pon"] = str(simulated_trial / params["pon"]).replace("*", "[12]")
    run_params["input"] = str(sheet)
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(run_params))
    runner_out = tmp_path / "runner"
    result = subprocess.run([sys.executable, "-m", "biomarkers", "run", "--params-file", str(params_file),
                             "--outdir", str(runner_out), "--only", "tmb", "msi"],
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert result.returncode == 0, result.stderr[-3000:]

    work, nf_out = tmp_path / "work", tmp_path / "nextflow"
    fasta = Path(run_params["fasta"])
    fasta_files = [fasta, *[p for p in (Path(f"{fasta}.fai"), Path(f"{fasta}.gzi")) if p.exists()]]

    def task_dir(name: str) -> Path:
        path = work / name
        path.mkdir(parents=True)
        return path

    def files_of(row):
        return [Path(row["file"]), *([Path(row["index"])] if row.get("index") else [])]

    # TMB: one task per tumour with a VCF, then TMB_COLLECT
    tmb_parts = []
    for tumour in (paired, alone):
        normal = normal_of[tumour["normal_specimen"]] if tumour is paired else None
        t = task_dir(f"tmb_{tumour['specimen']}")
        names = {
            "vcf": stage(t, files_of(vcf_of[tumour["specimen"]])).split()[0],
            "tumor_bam": stage(t, files_of(tumour)).split()[0],
            "normal_bam": stage(t, files_of(normal)).split()[0] if normal else "",
            "fasta": stage(t, fasta_files).split()[0],
            "targets": stage(t, [Path(run_params["targets"])]),
            "coding_bed": stage(t, [Path(run_params["coding_bed"])]) if run_params.get("coding_bed") else "",
            "meta.subject": tumour["subject"], "meta.id": tumour["specimen"], "meta.timepoint": tumour["timepoint"],
            "meta.sample_name": vcf_of[tumour["specimen"]].get("sample_name", ""),
            "meta.callable_mb": "", "config": "", "hotspots": "", "tumor_only": "",
        }
        tmb_parts += [t / f"{tumour['specimen']}.tmb.parquet", t / f"{tumour['specimen']}.tmb_variants.parquet"]
        run_task("TMB", names, t)
    t = task_dir("tmb_collect")
    run_task("TMB_COLLECT", {"parts": stage(t, sorted(tmb_parts, key=lambda p: p.name), "parts"),
                             "subjects": stage(t, [Path(run_params["subjects"])])}, t)
    publish("TMB_COLLECT", t, nf_out)

    # MSI: scan once, baseline from the panel of normals for the tumour-only one, a call each, merge
    t = task_dir("msi_scan")
    run_task("MSI_SCAN", {"fasta": stage(t, fasta_files).split()[0], "targets": stage(t, [Path(run_params["targets"])]), "config": ""}, t)
    publish("MSI_SCAN", t, nf_out)
    sites = t / "genomics" / "msi" / "sites.tsv.gz"
    pon = sorted(Path(p) for p in __import__("glob").glob(run_params["pon"]))
    t = task_dir("msi_baseline")
    stage(t, [Path(f"{p}.bai") for p in pon if Path(f"{p}.bai").exists()], "pon")
    run_task("MSI_BASELINE", {"sites": stage(t, [sites], "sites"), "fasta": stage(t, fasta_files).split()[0],
                              "normal_bams": stage(t, pon, "pon"), "config": ""}, t)
    publish("MSI_BASELINE", t, nf_out)
    baseline = t / "genomics" / "msi" / "baseline.tsv.gz"
    msi_parts = []
    for tumour in (paired, alone):
        normal = normal_of[tumour["normal_specimen"]] if tumour is paired else None
        t = task_dir(f"msi_{tumour['specimen']}")
        run_task("MSI", {
            "sites": stage(t, [sites], "sites"),
            "tumor_bam": stage(t, files_of(tumour)).split()[0],
            "normal_bam": stage(t, files_of(normal)).split()[0] if normal else "",
            "baseline": "" if normal else stage(t, [baseline], "baseline"),
            "fasta": stage(t, fasta_files).split()[0], "config": "",
            "meta.subject": tumour["subject"], "meta.id": tumour["specimen"], "meta.timepoint": tumour["timepoint"],
            "meta.normal_specimen": tumour.get("normal_specimen", ""),
        }, t)
        msi_parts += [t / f"{tumour['specimen']}.msi.parquet", t / f"{tumour['specimen']}.msi_sites.parquet"]
    t = task_dir("msi_merge")
    run_task("MSI_MERGE", {"parts": stage(t, sorted(msi_parts, key=lambda p: p.name), "parts")}, t)
    publish("MSI_MERGE", t, nf_out)

    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.is_relative_to(root / "pipeline_info")}

    assert files(nf_out) == files(runner_out)
    assert {"genomics/tmb.parquet", "genomics/msi.parquet", "genomics/msi/baseline.tsv.gz"} <= files(nf_out)
    for rel in sorted(files(nf_out)):
        if rel.endswith(".parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(nf_out / rel), pd.read_parquet(runner_out / rel), obj=rel)
    msi = pd.read_parquet(nf_out / "genomics" / "msi.parquet").set_index("SPECIMEN_ID")
    assert msi.loc[alone["specimen"], "MODE"] != msi.loc[paired["specimen"], "MODE"]
