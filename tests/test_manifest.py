"""The run manifest (pipeline_info/run.json), provenance, and what a killed run leaves (issue 15 §6, issue 12)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from biomarkers.errors import InputError
from biomarkers.manifest import check_complete, clean_stale_staging, output_hashes, start_run
from test_outcomes import _set, _tiny


def _run(*argv: str) -> int:
    from biomarkers.cli import main

    return main(["--log-level", "WARNING", "run", *argv])


def test_a_finished_run_writes_the_manifest_last_with_the_hash_of_every_output(tmp_path):
    paths = _tiny(tmp_path)
    out = tmp_path / "out"
    assert _run("--outdir", str(out), *(f"--{k}={v}" for k, v in paths.items())) == 0
    manifest = json.loads((out / "pipeline_info" / "run.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["steps"]["analysis"] == "done" and manifest["steps"]["report"] == "done"
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    files.remove("pipeline_info/run.json")
    assert sorted(manifest["outputs"]) == files
    assert "analysis/plots/km_ARMCD.png" in files  # files inside folders are covered
    for rel, digest in manifest["outputs"].items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest, rel
    # issue 12's provenance: every library's version, the parameters, every input's SHA-256
    versions = dict(line.split(": ", 1) for line in (out / "pipeline_info" / "software_versions.yml").read_text().splitlines())
    assert {"biomarkers", "python", "pandas", "pyarrow", "pysam", "pyreadstat", "jsonschema"} <= set(versions)
    assert len(versions) > 40  # every installed distribution, not a chosen few
    params = json.loads((out / "pipeline_info" / "params.json").read_text())
    assert params["adsl"] == str(paths["adsl"]) and params["outdir"] == str(out)
    inputs = pd.read_parquet(out / "pipeline_info" / "inputs.parquet").set_index("ROLE")
    for role in ("adsl", "adtte", "adrs"):
        assert inputs.loc[role, "SHA256"] == hashlib.sha256(paths[role].read_bytes()).hexdigest()
    assert "protocol" in inputs.index
    html = (out / "report" / "index.html").read_text()
    assert 'id="provenance"' in html and inputs.loc["adsl", "SHA256"] in html and f"<td>{versions['pyarrow']}</td>" in html


def test_a_run_that_stops_leaves_its_manifest_running_and_analysis_and_report_refuse_the_folder(tmp_path, capsys):
    from biomarkers.cli import main

    good = _tiny(tmp_path)
    out = tmp_path / "out"
    assert _run("--outdir", str(out), *(f"--{k}={v}" for k, v in good.items())) == 0
    (tmp_path / "bad").mkdir()
    bad = _tiny(tmp_path / "bad", adtte=_set(3, "CNSR", 2))
    assert _run("--outdir", str(out), *(f"--{k}={v}" for k, v in bad.items())) == 2  # stops in the analysis step
    assert json.loads((out / "pipeline_info" / "run.json").read_text())["status"] == "running"
    capsys.readouterr()
    assert main(["report", "--results", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"biomarkers report: error: {out}: the run that wrote this results folder did not finish "
        "(pipeline_info/run.json status 'running'); rerun the pipeline into it, or pass --allow-incomplete to read it anyway\n")
    args = ["analysis", "--results", str(out), *(f"--{k}={v}" for k, v in good.items())]
    assert main(args) == 2
    assert "did not finish" in capsys.readouterr().err
    assert main([*args, "--allow-incomplete"]) == 0
    assert main(["report", "--results", str(out), "--allow-incomplete"]) == 0
    # the next complete run makes it complete again
    assert _run("--outdir", str(out), *(f"--{k}={v}" for k, v in good.items())) == 0
    check_complete(out)


def test_a_folder_without_manifest_is_refused_unless_it_holds_no_run_output(tmp_path):
    check_complete(tmp_path / "absent")
    (tmp_path / "r" / "analysis").mkdir(parents=True)
    (tmp_path / "r" / "outcomes.yaml").write_text("adsl: {}\n")
    check_complete(tmp_path / "r")  # only what analysis writes itself, and a file of the user's
    from biomarkers.schemas import TABLES

    dataset = tmp_path / "r" / TABLES["genomics.msi_sites"].path  # a partitioned dataset (a folder) counts
    dataset.mkdir(parents=True)
    (dataset / "part-0.parquet").write_bytes(b"x")
    with pytest.raises(InputError, match="has no run manifest"):
        check_complete(tmp_path / "r")
    check_complete(tmp_path / "r", allow_incomplete=True)
    start_run(tmp_path / "r", "test")
    with pytest.raises(InputError, match="status 'running'"):
        check_complete(tmp_path / "r")
    (tmp_path / "r" / "pipeline_info" / "run.json").write_text(json.dumps({"status": "complete", "outputs": {}}))
    check_complete(tmp_path / "r")


def test_stale_staging_of_a_killed_run_is_removed_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    leftovers = [out / ".tmb-parts.k2j3h" / "SP-T1.tmb.parquet", out / ".msi-parts.x81" / "SP-T1.msi.parquet",
                 out / ".analysis.staging.abc" / "subjects.parquet", out / "genomics" / ".genomics.staging.q" / "tmb.parquet",
                 out / "custody" / ".events.parquet.8d7s.tmp"]
    kept = [out / "genomics" / "msi.parquet", out / ".nextflow" / "cache.db", out / "notes" / "my.tmp"]
    for path in leftovers + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"complete-looking")
    assert _run("--outdir", str(out), "--only", "custody") == 0
    assert not any(p.exists() for p in leftovers)
    assert all(p.exists() for p in kept)
    assert not list(out.rglob("*staging*")) and not list(out.rglob("*-parts*"))
    assert clean_stale_staging(out) == []


def test_output_hashes_cover_partitioned_datasets_and_skip_hidden_files(tmp_path):
    (tmp_path / "genomics" / "msi_sites" / "SPECIMEN_ID=SP-T1").mkdir(parents=True)
    (tmp_path / "genomics" / "msi_sites" / "SPECIMEN_ID=SP-T1" / "part-0.parquet").write_bytes(b"a")
    (tmp_path / ".hidden").write_bytes(b"b")
    (tmp_path / "pipeline_info").mkdir()
    (tmp_path / "pipeline_info" / "run.json").write_text("{}")
    (tmp_path / "custody").mkdir()
    (tmp_path / "custody" / "ledger.sqlite").write_bytes(b"an input the run appends to")
    (tmp_path / "simulated_trial" / "truth").mkdir(parents=True)  # a demo's inputs, in the output folder
    (tmp_path / "simulated_trial" / "params.yaml").write_text("input: samplesheet.csv\n")
    (tmp_path / "simulated_trial" / "truth" / "cells.csv.gz").write_bytes(b"not read by the run")
    inputs = [tmp_path / "custody" / "ledger.sqlite", tmp_path / "simulated_trial" / "params.yaml"]
    assert output_hashes(tmp_path, inputs=inputs) == {
        "genomics/msi_sites/SPECIMEN_ID=SP-T1/part-0.parquet": hashlib.sha256(b"a").hexdigest()}


def test_software_versions_option_prints_every_library(capsys):
    """What the Nextflow VALIDATE task adds to its versions.yml (pipeline_info/software_versions.yml)."""
    from importlib.metadata import version

    from biomarkers.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--software-versions"])
    assert done.value.code == 0
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert lines["pyarrow"] == version("pyarrow") and lines["pysam"] == version("pysam") and "python" in lines
    assert len(lines) > 40


def test_a_second_run_into_a_folder_being_written_is_refused_before_it_touches_it(tmp_path, capsys):
    import fcntl
    import os

    from biomarkers.cli import main

    paths = _tiny(tmp_path)
    out = tmp_path / "out"
    assert _run("--outdir", str(out), *(f"--{k}={v}" for k, v in paths.items())) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    staging = out / ".analysis.staging.live"  # the first run's staging: not a killed run's, must survive
    staging.mkdir()
    fd = os.open(out, os.O_RDONLY)  # another run holds the folder (the lock is per open description)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        capsys.readouterr()
        assert main(["run", "--outdir", str(out), *(f"--{k}={v}" for k, v in paths.items())]) == 2
        assert capsys.readouterr().err == (f"biomarkers run: error: {out}: another biomarkers run is writing to this "
                                           "folder; wait for it to finish or choose another --outdir\n")
        assert staging.is_dir()
        assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    finally:
        os.close(fd)
    # once it has finished, the next run goes ahead (and removes what it takes for stale staging)
    assert _run("--outdir", str(out), *(f"--{k}={v}" for k, v in paths.items())) == 0
    assert not staging.exists()
