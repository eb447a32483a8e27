"""Flow cytometry as a user runs it: `biomarkers flow gate/collect`, the `flow` step of `biomarkers run`,
the samplesheet's flow_fcs rows, the tables the analysis step reads, and every bad input at the command line.

The simulated trial of ``flow_helpers`` is shared: its files are gated once in-process
there; here a handful of them go through the CLI and the engine and must give the same
numbers.
"""

from __future__ import annotations

import csv
import os

import numpy as np
import pandas as pd
import pytest
import yaml

from biomarkers import schemas
from biomarkers.outcomes import biomarkers_long
from biomarkers.pipeline import run_pipeline
from flow_helpers import rewrite_fcs, shared_flow_trial

COLUMNS = ["subject", "specimen", "timepoint", "specimen_type", "assay", "file", "panel", "batch", "control"]


@pytest.fixture(scope="session")
def flow_trial(tmp_path_factory):
    return shared_flow_trial(tmp_path_factory)


def _picked(trial) -> pd.DataFrame:
    """Two clean specimens, the uncovered-channel and the low-viability ones, and one reference control."""
    s = trial.specimens
    clean = s[s["QC_PROBLEM"].isna() & ~s["CONTROL"]].head(2)
    problems = s[s["QC_PROBLEM"].isin(["UNCOVERED_CHANNEL", "LOW_VIABILITY"])]
    control = s[s["CONTROL"]].head(1)
    return pd.concat([clean, problems, control]).reset_index(drop=True)


def _write_sheet(path, trial, specimens: pd.DataFrame, **overrides) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for r in specimens.itertuples(index=False):
            row = {"subject": "" if r.CONTROL else r.USUBJID, "specimen": r.SPECIMEN_ID,
                   "timepoint": "" if r.CONTROL else r.TIMEPOINT, "specimen_type": "PBMC", "assay": "flow_fcs",
                   "file": str(trial.dir / r.FILE), "panel": "PBMC16", "batch": str(r.BATCH),
                   "control": "true" if r.CONTROL else ""}
            row.update(overrides)
            writer.writerow(row)


@pytest.fixture(scope="session")
def engine_runs(flow_trial, tmp_path_factory):
    """The flow step on five specimens, once with one process and once with two."""
    base = tmp_path_factory.mktemp("flow_engine")
    picked = _picked(flow_trial)
    sheet = base / "samplesheet.csv"
    _write_sheet(sheet, flow_trial, picked)
    outs = {}
    for cpus in (1, 2):
        out = base / f"out{cpus}"
        params = {"input": str(sheet), "outdir": str(out), "flow_counts": str(flow_trial.dir / "flow" / "counts.csv")}
        status = run_pipeline(params, only=["flow"], cpus=cpus)
        assert status["flow"] == "done"
        outs[cpus] = out
    return picked, outs


@pytest.fixture(scope="session")
def trial_run(flow_trial, tmp_path_factory):
    """`biomarkers run` (the flow step) on the simulated trial as `biomarkers simulate` wrote it:
    its samplesheet's flow_fcs rows and its counts file, named by its params.yaml."""
    params = yaml.safe_load((flow_trial.dir / "params.yaml").read_text())
    out = tmp_path_factory.mktemp("flow_trial_run")
    status = run_pipeline({"input": str(flow_trial.dir / params["input"]), "outdir": str(out),
                           "flow_counts": str(flow_trial.dir / params["flow_counts"])}, only=["flow"], cpus=2)
    assert status["flow"] == "done"
    return out


def test_simulated_trial_subsets_recovered_and_qc_problems_flagged_by_the_step(flow_trial, trial_run):
    """The done-when on the simulated trial, through the samplesheet and the step: every subset of at
    least 1% of CD45+ within 1 percentage point of the truth; every injected QC problem flagged, no
    clean file flagged."""
    sheet = pd.read_csv(flow_trial.dir / "samplesheet.csv", dtype=str)
    flow_rows = sheet[sheet["assay"] == "flow_fcs"]
    assert sorted(flow_rows["specimen"]) == sorted(flow_trial.specimens["SPECIMEN_ID"])
    assert set(flow_rows.loc[flow_rows["control"].eq("true"), "specimen"]) == \
        set(flow_trial.specimens.loc[flow_trial.specimens["CONTROL"], "SPECIMEN_ID"])
    subsets = pd.read_parquet(trial_run / "immune" / "flow_subsets.parquet")
    qc = pd.read_parquet(trial_run / "immune" / "flow_qc.parquet")
    status = qc[qc["CHECK"] == "specimen"].set_index("SPECIMEN_ID")["STATUS"]
    problems = set(flow_trial.problems["SPECIMEN_ID"])
    assert len(problems) == 5 and all(status[s] == "FAIL" for s in problems)
    assert (status.drop(sorted(problems)) == "PASS").all()
    truth = flow_trial.truth_subsets.set_index(["SPECIMEN_ID", "SUBSET"])["TRUE_PCT_CD45"]
    clean = subsets[~subsets["SPECIMEN_ID"].isin(problems) & subsets["PCT_CD45"].notna()]
    clean = clean.assign(TRUTH=[truth.get((s, x)) for s, x in zip(clean["SPECIMEN_ID"], clean["SUBSET"])])
    reported = clean[clean["TRUTH"] >= 1.0]
    worst = (reported["PCT_CD45"] - reported["TRUTH"]).abs().max()
    assert worst <= 1.0, reported.assign(ERR=reported["PCT_CD45"] - reported["TRUTH"]).sort_values("ERR").tail(3)
    assert len(reported) >= 15 * clean["SPECIMEN_ID"].nunique()


def test_step_tables_equal_the_specimens_gated_in_process(flow_trial, engine_runs):
    picked, outs = engine_runs
    subsets = pd.read_parquet(outs[1] / "immune" / "flow_subsets.parquet")
    assert schemas.table_metadata(outs[1] / "immune" / "flow_subsets.parquet")["table"] == "immune.flow_subsets"
    assert sorted(subsets["SPECIMEN_ID"].unique()) == sorted(picked["SPECIMEN_ID"])
    for specimen in picked["SPECIMEN_ID"]:
        expected = flow_trial.results[specimen].subsets.set_index("SUBSET")
        got = subsets[subsets["SPECIMEN_ID"] == specimen].set_index("SUBSET")
        assert got["EVENTS"].astype("Int64").equals(expected["EVENTS"].astype("Int64"))
        np.testing.assert_allclose(got["PCT_CD45"].astype(float), expected["PCT_CD45"].astype(float))
        np.testing.assert_allclose(got["CELLS_PER_UL"].astype(float), expected["CELLS_PER_UL"].astype(float))
        assert set(got["QC_STATUS"]) - {"LOW_EVENTS"} == {flow_trial.results[specimen].status}
    control = subsets[subsets["CONTROL"]]
    assert control["USUBJID"].isna().all() and control["TIMEPOINT"].isna().all() and len(control)
    qc = pd.read_parquet(outs[1] / "immune" / "flow_qc.parquet")
    status = qc[qc["CHECK"] == "specimen"].set_index("SPECIMEN_ID")["STATUS"]
    for r in picked.itertuples(index=False):
        assert (status[r.SPECIMEN_ID] == "FAIL") == isinstance(r.QC_PROBLEM, str), r.SPECIMEN_ID
    for specimen in picked["SPECIMEN_ID"]:
        assert (outs[1] / "immune" / "flow" / f"{specimen}.PBMC16.h5ad").is_file()
    figures = sorted(p.name for p in (outs[1] / "immune" / "flow").glob("gating_*.png"))
    failing = picked.loc[picked["QC_PROBLEM"].notna(), "SPECIMEN_ID"]
    assert {f"gating_PBMC16_{s}.png" for s in failing} <= set(figures) and len(figures) == len(failing) + 1


def test_step_outputs_do_not_depend_on_cpus(engine_runs):
    _, outs = engine_runs
    for name in ("flow_subsets.parquet", "flow_qc.parquet", "flow_drift.parquet"):
        assert (outs[1] / "immune" / name).read_bytes() == (outs[2] / "immune" / name).read_bytes(), name
    assert not list(outs[1].glob(".flow-parts.*"))


def test_analysis_reads_flow_biomarkers_and_leaves_failing_specimens_out(flow_trial, engine_runs):
    picked, outs = engine_runs
    subjects = pd.read_csv(flow_trial.dir / "subjects.csv")[["USUBJID"]].assign(STUDYID="NCT07007182")
    long = biomarkers_long(outs[1], subjects)
    cd8 = long[long["BIOMARKER"] == "Flow CD8 T of CD45"].set_index("SPECIMEN_ID")
    subsets = pd.read_parquet(outs[1] / "immune" / "flow_subsets.parquet")
    truth = subsets[subsets["SUBSET"] == "CD8_T"].set_index("SPECIMEN_ID")
    trial_specimens = picked.loc[~picked["CONTROL"], "SPECIMEN_ID"]
    assert sorted(cd8.index) == sorted(trial_specimens)  # the control has no subject: no row
    for specimen in trial_specimens:
        assert cd8.loc[specimen, "VALUE"] == pytest.approx(truth.loc[specimen, "PCT_CD45"])
        failing = isinstance(picked.set_index("SPECIMEN_ID").loc[specimen, "QC_PROBLEM"], str)
        assert bool(cd8.loc[specimen, "QC_PASS"]) is not failing
    ratio = long[long["BIOMARKER"] == "Flow CD8/Treg ratio"].set_index("SPECIMEN_ID")["VALUE"]
    ratios = subsets[subsets["SUBSET"] == "CD8_Treg_ratio"].set_index("SPECIMEN_ID")["RATIO"]
    assert ratio.to_dict() == pytest.approx(ratios.loc[ratio.index].to_dict())


def test_gate_and_collect_commands(flow_trial, cli, tmp_path):
    row = flow_trial.specimens.query("QC_PROBLEM.isna() and not CONTROL").iloc[0]
    parts = tmp_path / "parts"
    done = cli("flow", "gate", "--fcs", str(flow_trial.dir / row.FILE), "--specimen", row.SPECIMEN_ID,
               "--subject", row.USUBJID, "--timepoint", row.TIMEPOINT, "--batch", str(row.BATCH),
               "--counts", str(flow_trial.dir / "flow" / "counts.csv"), "--outdir", str(parts))
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in parts.iterdir())
    assert names == [f"{row.SPECIMEN_ID}.PBMC16{s}" for s in (".flow.h5ad", ".flow_qc.parquet", ".flow_subsets.parquet")]
    done = cli("flow", "collect", "--outdir", str(tmp_path / "out"), *map(str, parts.glob("*.flow_subsets.parquet")))
    assert done.returncode == 0, done.stderr
    got = pd.read_parquet(tmp_path / "out" / "immune" / "flow_subsets.parquet").set_index("SUBSET")
    expected = flow_trial.results[row.SPECIMEN_ID].subsets.set_index("SUBSET")
    np.testing.assert_allclose(got["PCT_PARENT"].astype(float), expected["PCT_PARENT"].astype(float))
    assert got["STUDYID"].eq("NCT07007182").all()


# --- bad input: one line naming the file (and gate or channel), exit 2, nothing written -------------



def _bad_case(case: str, trial, tmp_path) -> tuple[list[str], list[str]]:
    """(extra arguments, words the error line must hold) for one bad input."""
    row = trial.specimens.query("QC_PROBLEM.isna() and not CONTROL").iloc[0]
    fcs = trial.dir / row.FILE
    if case == "corrupted":
        bad = tmp_path / "corrupted.fcs"
        bad.write_bytes(fcs.read_bytes()[:10])
        return ["--fcs", str(bad)], ["corrupted.fcs", "truncated"]
    if case == "truncated_data":
        bad = tmp_path / "short.fcs"
        bad.write_bytes(fcs.read_bytes()[:-5000])
        return ["--fcs", str(bad)], ["short.fcs"]
    if case == "missing_channel":
        bad = tmp_path / "nocd8.fcs"
        rewrite_fcs(fcs, bad, channels={"BUV496-A": "BUV498-A"})
        return ["--fcs", str(bad)], ["nocd8.fcs", "BUV496-A", "CD8"]
    if case == "other_marker":
        bad = tmp_path / "pd1.fcs"
        rewrite_fcs(fcs, bad, markers={"PD-1": "PD1"})
        return ["--fcs", str(bad)], ["pd1.fcs", "PE-CF594-A", "PD1"]
    if case == "compensation":
        matrix = tmp_path / "comp.csv"
        detectors = ["BUV395-A", "BUV496-A"]
        matrix.write_text(",".join(detectors) + "\n1,0.1\n0,1\n")
        return ["--fcs", str(fcs), "--compensation", str(matrix)], ["comp.csv", "BUV737-A"]
    if case == "gating_ml_channel":
        xml = tmp_path / "strategy.xml"
        from biomarkers.immune import flow
        source = flow.load_flow_settings().panel("PBMC16").strategy.read_text()
        xml.write_text(source.replace('data-type:name="BV510-A"', 'data-type:name="BV515-A"'))
        return ["--fcs", str(fcs), "--gating-ml", str(xml)], ["strategy.xml", "BV515-A"]
    if case == "gating_ml_gate":
        xml = tmp_path / "strategy.xml"
        from biomarkers.immune import flow
        source = flow.load_flow_settings().panel("PBMC16").strategy.read_text()
        xml.write_text(source.replace('gating:id="Treg"', 'gating:id="Tregs"'))
        return ["--fcs", str(fcs), "--gating-ml", str(xml)], ["strategy.xml", "Treg"]
    if case == "workspace_sample":
        from conftest import real_data_path
        wsp = real_data_path("fcs/flowjo/test_data_diamond_biex_rect.wsp")
        return ["--fcs", str(fcs), "--workspace", str(wsp), "--workspace-sample", "SP01001-0009.fcs"], \
            [wsp.name, "SP01001-0009.fcs"]
    if case == "zero_beads":
        counts = tmp_path / "counts.csv"
        counts.write_text(f"specimen,beads_per_test,beads_acquired,volume_ul\n{row.SPECIMEN_ID},50000,0,50\n")
        return ["--fcs", str(fcs), "--counts", str(counts)], ["counts.csv", "line 2", "beads_acquired"]
    if case == "unknown_panel":
        return ["--fcs", str(fcs), "--panel", "PBMC99"], ["panel", "PBMC99"]
    if case == "specimen_as_path":  # an ID that would name a file outside the output folder
        return ["--fcs", str(fcs), "--specimen", "../../x"], ["'--specimen'", "not a study specimen ID", "refused"]
    if case == "subject_as_formula":
        return ["--fcs", str(fcs), "--subject", "=cmd|' /C calc'!A0"], ["'--subject'", "not a study USUBJID", "refused"]
    raise AssertionError(case)


BAD = ["corrupted", "truncated_data", "missing_channel", "other_marker", "compensation", "gating_ml_channel",
       "gating_ml_gate", "workspace_sample", "zero_beads", "unknown_panel", "specimen_as_path", "subject_as_formula"]


def _in_process(capsys, *args: str) -> tuple[int, str]:
    """The command line in this process (the subprocess start-up is paid once, in the test above)."""
    from biomarkers.cli import main

    code = main(list(args))
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_exit_2_and_nothing_written(flow_trial, capsys, tmp_path, case):
    if case == "workspace_sample" and not os.environ.get("BIOMARKERS_REAL_DATA"):
        pytest.skip("needs BIOMARKERS_REAL_DATA")
    args, words = _bad_case(case, flow_trial, tmp_path)
    out = tmp_path / "parts"
    code, err = _in_process(capsys, "flow", "gate", "--specimen", "SP01001-0009", "--subject", "NCT07007182-01-001",
                            "--timepoint", "BASELINE", "--outdir", str(out), *args)
    assert code == 2, (case, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], (case, word, lines[0])
    assert "calc" not in lines[0] and "../../x" not in lines[0]  # a refused ID is not echoed
    assert not out.exists() or not any(out.iterdir())


def test_collect_of_no_or_foreign_parts_is_refused(capsys, tmp_path):
    stray = tmp_path / "x.sc_summary.parquet"
    stray.write_bytes(b"PAR1")
    code, err = _in_process(capsys, "flow", "collect", "--outdir", str(tmp_path / "out"), str(stray))
    assert code == 2 and "x.sc_summary.parquet" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


# --- the samplesheet's flow_fcs rows, checked by `biomarkers validate` as by `run` -----------------

@pytest.mark.parametrize("case", ["no_panel", "unknown_panel", "control_not_flow", "duplicate", "workspace"])
def test_validate_refuses_bad_flow_rows(flow_trial, capsys, tmp_path, case):
    picked = _picked(flow_trial).head(2)
    sheet = tmp_path / "samplesheet.csv"
    extra: list[str] = []
    words: list[str]
    if case == "no_panel":
        _write_sheet(sheet, flow_trial, picked, panel="")
        words = ["line 2", "panel"]
    elif case == "unknown_panel":
        _write_sheet(sheet, flow_trial, picked, panel="PBMC99")
        words = ["line 2", "panel", "PBMC99"]
    elif case == "control_not_flow":
        _write_sheet(sheet, flow_trial, picked, control="true", assay="scrna_pbmc")
        words = ["line 2", "assay"]
    elif case == "duplicate":
        _write_sheet(sheet, flow_trial, pd.concat([picked.head(1), picked.head(1)]))
        words = ["line 3", "duplicate"]
    else:
        if not os.environ.get("BIOMARKERS_REAL_DATA"):
            pytest.skip("needs BIOMARKERS_REAL_DATA")
        from conftest import real_data_path
        wsp = real_data_path("fcs/flowjo/test_data_diamond_biex_rect.wsp")
        _write_sheet(sheet, flow_trial, picked)
        extra = ["--flow_workspace", str(wsp)]
        words = [wsp.name, "test_data_diamond_01.fcs", "not a flow_fcs file or specimen of the samplesheet"]
    code, err = _in_process(capsys, "validate", "--input", str(sheet), "--outdir", str(tmp_path / "out"), *extra)
    assert code == 2, err
    line = err.strip()
    assert len(line.splitlines()) == 1
    for word in words:
        assert word in line, (word, line)


def test_validate_accepts_flow_rows_with_a_control_and_a_workspace_sample(flow_trial, capsys, tmp_path, real_data):
    picked = _picked(flow_trial)
    sheet = tmp_path / "samplesheet.csv"
    _write_sheet(sheet, flow_trial, picked)
    diamond = real_data("fcs/flowjo/test_data_diamond_01.fcs")
    with open(sheet, "a", newline="") as handle:
        csv.writer(handle).writerow(["NCT07007182-01-001", "SP01001-0999", "BASELINE", "PBMC", "flow_fcs", str(diamond),
                                     "PBMC16", "1", "false"])
    code, err = _in_process(capsys, "validate", "--input", str(sheet), "--outdir", str(tmp_path / "out"),
                            "--flow_workspace", str(real_data("fcs/flowjo/test_data_diamond_biex_rect.wsp")),
                            "--flow_counts", str(flow_trial.dir / "flow" / "counts.csv"))
    assert code == 0, err
    assert (tmp_path / "out" / "validation" / "params.json").is_file()
