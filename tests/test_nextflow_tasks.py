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
from nextflow_sources import (EXPECTED_COMMANDS, VALUES, publish, run_task, schema_params, stage, stage_numbered,
                              task_script)


@pytest.mark.parametrize("process", sorted(EXPECTED_COMMANDS))
def test_stub_writes_the_declared_outputs(process, tmp_path):
    """`-stub-run` runs the stub: blocks; they must create what the process declares."""
    shell, outputs = task_script(process, VALUES, block="stub")
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", shell], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for out in outputs:
        assert sorted(tmp_path.glob(out)), f"the stub of {process} does not create {out}"


@pytest.fixture(scope="module")
def simulated_trial(tmp_path_factory):
    """The SIMULATE task's trial (3 subjects), shared by the tests below."""
    task = tmp_path_factory.mktemp("simulate")
    found = run_task("SIMULATE", {"n_subjects": "3", "seed": "3"}, task)
    assert task / "simulated_trial" in found and task / "versions.yml" in found
    return task / "simulated_trial"


def test_simulate_task_writes_the_trial_and_versions(simulated_trial):
    import yaml

    from biomarkers import __version__

    assert (simulated_trial / "params.yaml").is_file() and (simulated_trial / "truth").is_dir()
    versions = yaml.safe_load((simulated_trial.parent / "versions.yml").read_text())
    assert versions == {"BIOMARKERS:SIMULATE": {"biomarkers": __version__}}
    # The pipeline reads the trial's parameters as biomarkers run does: all declared.
    params = yaml.safe_load((simulated_trial / "params.yaml").read_text())
    assert set(params) <= set(schema_params())


def test_pipeline_tasks_publish_what_biomarkers_run_writes(simulated_trial, tmp_path):
    """Every step's tasks, chained as the workflow chains them, on the simulated trial
    with a reduced samplesheet (one paired tumour; one made tumour-only by leaving out
    its normal, so MSI_BASELINE runs from the panel of normals), publish the same
    files and the same tables as `biomarkers run` with the same parameters:
    CUSTODY; TMB per VCF and TMB_COLLECT; MSI_SCAN, MSI_BASELINE, MSI per tumour and
    MSI_COLLECT; ANALYSIS over the custody and genomics tables; REPORT."""
    import csv
    import glob
    import json

    import pandas as pd
    import yaml

    params = yaml.safe_load((simulated_trial / "params.yaml").read_text())
    for key in ("input", "fasta", "pon", "custody_exports", "adsl"):
        assert params.get(key), f"the simulated trial's params.yaml has no {key}"
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

    def trial_path(key: str) -> Path:
        return (simulated_trial / params[key]).resolve()

    run_params = {key: str(trial_path(key)) for key in
                  ("fasta", "targets", "coding_bed", "subjects", "milestones", "adsl", "adtte", "adrs")}
    run_params.update({
        "input": str(sheet), "seed": params.get("seed", 1), "data_cutoff": params["data_cutoff"],
        "custody_exports": str(simulated_trial / params["custody_exports"]),
        # No --ledger: the runner imports into custody/ledger.sqlite, which the CUSTODY
        # task publishes too (the shared trial stays untouched).
        # Two normals of the panel keep the baseline quick; the glob is the runner's --pon.
        "pon": str(simulated_trial / params["pon"]).replace("*", "[12]"),
    })
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(run_params))
    runner_out = tmp_path / "runner"
    result = subprocess.run([sys.executable, "-m", "biomarkers", "run", "--params-file", str(params_file),
                             "--outdir", str(runner_out)],
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert result.returncode == 0, result.stderr[-3000:]

    work, nf_out = tmp_path / "work", tmp_path / "nextflow"
    fasta = Path(run_params["fasta"])
    fasta_files = [fasta, *[p for p in (Path(f"{fasta}.fai"), Path(f"{fasta}.gzi")) if p.exists()]]

    def task_dir(name: str) -> Path:
        path = work / name
        path.mkdir(parents=True)
        return path

    # VALIDATE: the run's checks, and the pairing every TMB and MSI task below takes its files from
    t = task_dir("validate")
    (t / "in").mkdir()
    (t / "in" / "params.json").write_text(json.dumps({**run_params, "outdir": str(nf_out)}))
    run_task("VALIDATE", {"run_params": stage(t, [t / "in" / "params.json"], "run"),
                          "samplesheet": stage(t, [sheet], "run"), "protocol": "", "input_name": str(sheet)}, t)
    with open(t / "validation" / "tumors.csv", newline="") as handle:
        pairing = {row["specimen"]: row for row in csv.DictReader(handle)}
    assert sorted(pairing) == sorted([paired["specimen"], alone["specimen"]])
    assert pairing[paired["specimen"]]["mode"] == "paired" and pairing[alone["specimen"]]["mode"] == "tumor_only"

    def task_files(specimen: str, which: str) -> list[Path]:
        """The file (tumor_bam, normal_bam, vcf) VALIDATE paired with the specimen, and its index."""
        row, index = pairing[specimen], {"tumor_bam": "tumor_index", "normal_bam": "normal_index", "vcf": "vcf_index"}[which]
        return [Path(row[which]), *([Path(row[index])] if row[index] else [])] if row[which] else []

    # CUSTODY: the exports imported into a new ledger, checked with the samplesheet as metadata
    t = task_dir("custody")
    run_task("CUSTODY", {
        "exports": stage_numbered(t, sorted(Path(p) for p in glob.glob(run_params["custody_exports"])), "exports"),
        "ledger": "",
        "subjects": stage(t, [Path(run_params["subjects"])]),
        "milestones": stage(t, [Path(run_params["milestones"])]),
        "samplesheet": stage(t, [sheet], "samplesheet"),
        "data_cutoff": run_params["data_cutoff"],
        "protocol": "",
        "anchor_log": "",
        "key_env": "",
    }, t)
    custody_tables = publish("CUSTODY", t, nf_out)

    # TMB: one task per somatic VCF, then TMB_COLLECT
    tmb_parts = []
    for tumour in (paired, alone):
        spec = tumour["specimen"]
        t = task_dir(f"tmb_{spec}")
        run_task("TMB", {
            "vcf": stage(t, task_files(spec, "vcf"), "vcf").split()[0],
            "tumor_bam": stage(t, task_files(spec, "tumor_bam"), "tumor").split()[0],
            "normal_bam": stage(t, task_files(spec, "normal_bam"), "normal").split()[0] if task_files(spec, "normal_bam") else "",
            "fasta": stage(t, fasta_files).split()[0],
            "targets": stage(t, [Path(run_params["targets"])]),
            "coding_bed": stage(t, [Path(run_params["coding_bed"])]),
            "meta.subject": tumour["subject"], "meta.id": tumour["specimen"], "meta.timepoint": tumour["timepoint"],
            "meta.sample_name": pairing[spec]["tumor_sample"],
            "meta.callable_mb": "", "config": "", "hotspots": "", "tumor_only": "",
        }, t)
        tmb_parts += [t / f"{tumour['specimen']}.tmb.parquet", t / f"{tumour['specimen']}.tmb_variants.parquet"]
    t = task_dir("tmb_collect")
    run_task("TMB_COLLECT", {"parts": stage(t, sorted(tmb_parts, key=lambda p: p.name), "parts"),
                             "subjects": stage(t, [Path(run_params["subjects"])])}, t)
    genomics_tables = publish("TMB_COLLECT", t, nf_out)

    # MSI: scan once, baseline from the panel of normals for the tumour-only one, a call each, collect
    t = task_dir("msi_scan")
    run_task("MSI_SCAN", {"fasta": stage(t, fasta_files).split()[0], "targets": stage(t, [Path(run_params["targets"])]),
                          "config": ""}, t)
    publish("MSI_SCAN", t, nf_out)
    sites = t / "genomics" / "msi" / "sites.tsv.gz"
    pon = sorted(Path(p) for p in glob.glob(run_params["pon"]))
    t = task_dir("msi_baseline")
    pon_indices = [Path(f"{p}.bai") for p in pon]
    assert all(i.exists() for i in pon_indices)
    stage_numbered(t, pon_indices, "pon")
    run_task("MSI_BASELINE", {"sites": stage(t, [sites], "sites"), "fasta": stage(t, fasta_files).split()[0],
                              "normal_bams": stage_numbered(t, pon, "pon"), "config": ""}, t)
    publish("MSI_BASELINE", t, nf_out)
    baseline = t / "genomics" / "msi" / "baseline.tsv.gz"
    msi_parts = []
    for tumour in (paired, alone):
        spec = tumour["specimen"]
        normal = task_files(spec, "normal_bam")
        t = task_dir(f"msi_{spec}")
        run_task("MSI", {
            "sites": stage(t, [sites], "sites"),
            "tumor_bam": stage(t, task_files(spec, "tumor_bam"), "tumor").split()[0],
            "normal_bam": stage(t, normal, "normal").split()[0] if normal else "",
            # the tumour-only call's reference; the paired call's status rule (one matched normal: no cohort baseline)
            "baseline": stage(t, [baseline], "baseline"),
            "fasta": stage(t, fasta_files).split()[0], "config": "",
            "meta.subject": tumour["subject"], "meta.id": tumour["specimen"], "meta.timepoint": tumour["timepoint"],
            "meta.normal_specimen": pairing[spec]["normal_specimen"],
        }, t)
        msi_parts += [t / f"{tumour['specimen']}.msi.parquet", t / f"{tumour['specimen']}.msi_sites.parquet"]
    t = task_dir("msi_collect")
    run_task("MSI_COLLECT", {"parts": stage(t, sorted(msi_parts, key=lambda p: p.name), "parts")}, t)
    genomics_tables += publish("MSI_COLLECT", t, nf_out)

    # ANALYSIS over every table so far, then REPORT
    t = task_dir("analysis")
    run_task("ANALYSIS", {
        "custody_tables": stage(t, custody_tables, "custody"),
        "genomics_tables": stage(t, genomics_tables, "genomics"),
        "tme_tables": "", "pathology_tables": "", "immune_tables": "",
        **{key: stage(t, [Path(run_params[key])]) for key in ("adsl", "adtte", "adrs")},
        "config": "",
    }, t)
    analysis_tables = publish("ANALYSIS", t, nf_out)
    t = task_dir("report")
    run_task("REPORT", {
        "custody_tables": stage(t, custody_tables, "custody"),
        "genomics_tables": stage(t, genomics_tables, "genomics"),
        "tme_tables": "", "pathology_tables": "", "immune_tables": "",
        "analysis_tables": stage(t, analysis_tables, "analysis"),
    }, t)
    publish("REPORT", t, nf_out)

    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.is_relative_to(root / "pipeline_info")}

    assert files(nf_out) == files(runner_out)
    assert {"custody/issues.parquet", "genomics/tmb.parquet", "genomics/msi.parquet", "genomics/msi/baseline.tsv.gz",
            "analysis/analysis_wide.parquet", "report/index.html"} <= files(nf_out)
    for rel in sorted(files(nf_out)):
        if rel.endswith(".parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(nf_out / rel), pd.read_parquet(runner_out / rel), obj=rel)
    msi = pd.read_parquet(nf_out / "genomics" / "msi.parquet").set_index("SPECIMEN_ID")
    assert msi.loc[alone["specimen"], "MODE"] != msi.loc[paired["specimen"], "MODE"]
    # The analysis saw the genomics tables, as the runner's did.
    long = pd.read_parquet(nf_out / "analysis" / "biomarkers_long.parquet")
    assert {"TMB", "MSI_STATUS"} & set(long["BIOMARKER"]) and "genomics" in set(long["MODALITY"])


def test_custody_task_verifies_the_site_key_and_the_anchor_log_as_the_run_does(simulated_trial, tmp_path, monkeypatch):
    """-profile custody_key: the ledger signed with the site key (a Nextflow secret, i.e. an
    environment variable of the task) and its anchor log are verified in the CUSTODY task, the
    anchor log is published beside the task's ledger, and a wrong key or a foreign anchor fails the task."""
    import glob
    import json

    import yaml

    params = yaml.safe_load((simulated_trial / "params.yaml").read_text())
    exports = sorted(Path(p) for p in glob.glob(str(simulated_trial / params["custody_exports"])))
    subjects, milestones = simulated_trial / params["subjects"], simulated_trial / params["milestones"]
    monkeypatch.setenv("BIOMARKERS_CUSTODY_KEY", "site-key-of-the-trial-0123456789")
    ledger = tmp_path / "master" / "custody.sqlite"
    ledger.parent.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    imported = subprocess.run([sys.executable, "-m", "biomarkers", "custody", "import", "--ledger", str(ledger),
                               "--subjects", str(subjects), "--key-env", "BIOMARKERS_CUSTODY_KEY",
                               *map(str, exports)], capture_output=True, text=True, env=env)
    assert imported.returncode == 0, imported.stderr
    anchors = Path(f"{ledger}.anchors.jsonl")
    assert len(anchors.read_text().splitlines()) == 1

    def custody_task(name: str, key_env: str) -> subprocess.CompletedProcess:
        t = tmp_path / name
        shell, _ = task_script("CUSTODY", {
            "exports": "", "ledger": stage(t, [ledger], "ledger_in"),
            "subjects": stage(t, [subjects]), "milestones": stage(t, [milestones]), "samplesheet": "",
            "data_cutoff": params["data_cutoff"], "protocol": "", "anchor_log": stage(t, [anchors], "anchors_in"),
            "key_env": key_env})
        path = os.pathsep.join([str(ROOT / "bin"), str(Path(sys.executable).parent), os.environ["PATH"]])
        return subprocess.run(["bash", "-euo", "pipefail", "-c", shell], cwd=t, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "PATH": path})  # the key as now set

    done = custody_task("signed", "BIOMARKERS_CUSTODY_KEY")
    assert done.returncode == 0, done.stderr
    published = publish("CUSTODY", tmp_path / "signed", tmp_path / "out")
    copied = tmp_path / "out" / "custody" / "ledger.sqlite.anchors.jsonl"
    assert copied in published
    assert copied.read_text() == anchors.read_text()  # verified against, published with the task's ledger
    assert "site-key-of-the-trial" not in done.stdout + done.stderr
    # the same task with another key: the MACs do not verify, the task fails naming the event
    monkeypatch.setenv("BIOMARKERS_CUSTODY_KEY", "not-the-site-key-9876543210")
    wrong = custody_task("wrong_key", "BIOMARKERS_CUSTODY_KEY")
    assert wrong.returncode != 0
    assert "MAC" in wrong.stderr and "not-the-site-key" not in wrong.stdout + wrong.stderr
    # the right key, but an anchor log naming a head this ledger never had (e.g. a ledger truncated and re-grown)
    monkeypatch.setenv("BIOMARKERS_CUSTODY_KEY", "site-key-of-the-trial-0123456789")
    record = json.loads(anchors.read_text().splitlines()[0])
    anchors.write_text(json.dumps({**record, "head": "0" * 64}) + "\n")
    foreign = custody_task("foreign_anchor", "BIOMARKERS_CUSTODY_KEY")
    assert foreign.returncode != 0 and "anchor" in foreign.stderr
