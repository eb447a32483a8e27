"""On a simulated trial: ADaM written by the simulator read back exactly, and the known
TMB-high effect on PFS recovered through the generic biomarker path.

The biomarker table here is registered by the test (not a real modality): the analysis
must find it only through its ``schemas.Biomarker`` declaration.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from biomarkers import names as N
from biomarkers import schemas
from biomarkers.errors import InputError
from biomarkers.outcomes import run_analysis
from biomarkers.protocol import load_protocol
from biomarkers.simulate import SimulatedTrial, stage_rng
from biomarkers.simulate._clinical import simulate_clinical
from biomarkers.simulate._trial import simulate_subjects

N_SUBJECTS = 300
TABLE = "testfixture.tmb_like"


def simulate_outcomes(outdir, n_subjects: int, seed: int) -> SimulatedTrial:
    """Only the stages this capability needs (trial, clinical), so the test stays fast."""
    protocol = load_protocol()
    trial = SimulatedTrial(outdir=outdir, seed=seed, n_subjects=n_subjects)
    simulate_subjects(trial, protocol, stage_rng(seed, "trial"))
    simulate_clinical(trial, protocol, stage_rng(seed, "clinical"))
    return trial


def register_tmb_like() -> schemas.Table:
    tbl = schemas.Table(
        name=TABLE,
        path="testfixture/tmb_like.parquet",
        description="TMB-like biomarker table registered by a test",
        key=(N.SPECIMEN_ID,),
        columns=(
            schemas.Column(N.STUDYID, pa.string(), "study"),
            schemas.Column(N.USUBJID, pa.string(), "subject"),
            schemas.Column(N.SPECIMEN_ID, pa.string(), "specimen"),
            schemas.Column(N.TIMEPOINT, pa.string(), "timepoint"),
            schemas.Column("BURDEN", pa.float64(), "mutations per megabase", unit="mut/Mb"),
            schemas.Column("QC", pa.string(), "QC status"),
            schemas.Column("INSTABILITY", pa.string(), "MSI-like status (categorical)"),
            schemas.Column("HIGH_FLAG", pa.bool_(), "burden >= 10 (a boolean group column)"),
        ),
        biomarkers=(schemas.Biomarker(column="BURDEN", name="TMB_LIKE", modality="fixture", unit="mut/Mb",
                                      cutoff=10.0, qc_column="QC"),
                    schemas.Biomarker(column="INSTABILITY", name="MSI like", modality="fixture", cutoff="INSTABILITY",
                                      qc_column="QC"),
                    schemas.Biomarker(column="HIGH_FLAG", name="TMB-like high", modality="fixture", cutoff="HIGH_FLAG")),
    )
    schemas.TABLES[TABLE] = tbl
    schemas.refresh_analysis_wide()
    return tbl


def write_tmb_like(trial: SimulatedTrial, results, extra_subject: str | None = None) -> pd.DataFrame:
    truth = pd.read_csv(trial.truth_dir / "subjects.csv")
    rows = pd.DataFrame({N.STUDYID: "NCT07007182", N.USUBJID: truth[N.USUBJID],
                         N.SPECIMEN_ID: [f"SP{i:04d}B" for i in range(len(truth))], N.TIMEPOINT: "BASELINE",
                         "BURDEN": truth["TMB_TARGET"], "QC": "PASS", "INSTABILITY": truth["MSI_STATUS"],
                         "HIGH_FLAG": truth["TMB_TARGET"] >= 10})
    # every tenth subject measured again at surgery (a change from baseline), and one failing-QC value
    again = rows.iloc[::10].assign(SPECIMEN_ID=lambda f: f[N.SPECIMEN_ID].str.replace("B", "S"), TIMEPOINT="SURGERY",
                                   BURDEN=lambda f: f["BURDEN"] + 1.5)
    failed = rows.iloc[[1]].assign(SPECIMEN_ID="SPFAIL", TIMEPOINT="SURGERY", BURDEN=999.0, QC="FAIL_COVERAGE")
    frames = [rows, again, failed]
    if extra_subject:
        frames.append(rows.iloc[[0]].assign(USUBJID=extra_subject, SPECIMEN_ID="SPX"))
    table = pd.concat(frames, ignore_index=True)
    schemas.write_table(table, TABLE, results)
    return table


@pytest.fixture(scope="module")
def registered():
    register_tmb_like()
    yield
    del schemas.TABLES[TABLE]
    schemas.refresh_analysis_wide()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory, registered):
    root = tmp_path_factory.mktemp("sim")
    trial = simulate_outcomes(root / "trial", N_SUBJECTS, seed=1)
    results = root / "results"
    table = write_tmb_like(trial, results)
    out = run_analysis(results, adsl=trial.outdir / trial.params["adsl"], adtte=trial.outdir / trial.params["adtte"],
                       adrs=trial.outdir / trial.params["adrs"], allow_incomplete=True)  # tables written by hand: no run manifest
    return trial, results, table, out


def test_simulated_adam_reads_back_as_the_simulated_outcomes(simulated):
    trial, _, _, out = simulated
    truth = pd.read_csv(trial.truth_dir / "subjects.csv").set_index(N.USUBJID)
    subjects = out["subjects"].set_index(N.USUBJID).loc[truth.index]
    assert (subjects[N.ARMCD] == truth[N.ARMCD]).all() and (subjects[N.STRATUM] == truth[N.STRATUM]).all()
    np.testing.assert_allclose(subjects["PFS_MONTHS"], truth["PFS_DAYS"] / 30.4375, rtol=1e-12)
    np.testing.assert_allclose(subjects["OS_MONTHS"], truth["OS_DAYS"] / 30.4375, rtol=1e-12)
    assert (subjects["PFS_EVENT"].astype(int) == truth["PFS_EVENT"]).all()
    assert (subjects["OS_EVENT"].astype(int) == truth["OS_EVENT"]).all()
    # the ADRS BOR record is the simulator's designed truth (not the package's derivation)
    best = pd.read_csv(trial.truth_dir / "best_response.csv").set_index(N.USUBJID).loc[truth.index]
    assert set(subjects["BOR_SOURCE"]) == {"BOR"}
    assert (subjects["BOR"] == best["BOR"]).all()
    assert (subjects["RESPONDER"] == best["BOR"].isin(["CR", "PR"])).all()


# Every (latent best response, pattern) the simulator designs (simulate/_responses.py).
DESIGNED_COURSES = {
    ("CR", "constant"), ("CR", "late response"), ("CR", "NE between"), ("CR", "CR unconfirmed"),
    ("PR", "constant"), ("PR", "late response"), ("PR", "NE between"),
    ("SD", "constant"), ("SD", "PR unconfirmed"), ("NE", "constant"), ("PD", "progression"),
}


def test_bor_derived_from_ovr_equals_the_designed_truth(simulated, tmp_path):
    """The pipeline's RECIST derivation from the OVR records (not the BOR record) gives, for
    every subject, the best response the simulator designed; three trials cover every pattern.
    With confirmation switched off it must disagree exactly where the design left a response
    unconfirmed, so the comparison is sensitive to the confirmation rule."""
    from biomarkers.outcomes import derive_subjects, load_outcomes_config, read_adam

    confirmed = load_outcomes_config()
    confirmed["adrs"]["bor_source"] = "derive"
    unconfirmed = load_outcomes_config()
    unconfirmed["adrs"].update(bor_source="derive", confirmation=False)
    trials = [simulated[0]] + [simulate_outcomes(tmp_path / f"t{seed}", N_SUBJECTS, seed=seed) for seed in (2, 3)]
    courses = set()
    for trial in trials:
        truth = pd.read_csv(trial.truth_dir / "best_response.csv").set_index(N.USUBJID)
        adam = {k: read_adam(trial.outdir / trial.params[k]) for k in ("adsl", "adtte", "adrs")}
        derived = derive_subjects(adam["adsl"], adam["adtte"], adam["adrs"], confirmed).set_index(N.USUBJID).loc[truth.index]
        assert set(derived["BOR_SOURCE"]) == {"DERIVED:OVR (confirmed)"}
        wrong = derived.index[derived["BOR"] != truth["BOR"]]
        assert wrong.empty, pd.concat([truth.loc[wrong], derived.loc[wrong, "BOR"].rename("DERIVED")], axis=1)
        loose = derive_subjects(adam["adsl"], adam["adtte"], adam["adrs"], unconfirmed).set_index(N.USUBJID).loc[truth.index]
        left_unconfirmed = (truth["PATTERN"].isin(["CR unconfirmed", "PR unconfirmed"])
                            | (truth["LATENT_BOR"].isin(["CR", "PR"]) & (truth["N_ASSESSMENTS"] == 1)))
        assert left_unconfirmed.any()
        assert ((loose["BOR"] != truth["BOR"]) == left_unconfirmed).all()
        assert (truth["BOR"] != truth["LATENT_BOR"]).any()  # the truth is the design's, not the latent draw
        courses |= set(zip(truth["LATENT_BOR"], truth["PATTERN"]))
    assert courses == DESIGNED_COURSES


def _truth_cox(truth: pd.DataFrame):
    """Cox fit straight on the simulator's truth table (no package code), for comparison."""
    from lifelines import CoxPHFitter

    design = pd.DataFrame({"T": truth["PFS_DAYS"], "E": truth["PFS_EVENT"], "H": truth["TMB_HIGH"].astype(float),
                           "A": (truth[N.ARMCD] == "EXP").astype(float)})
    return CoxPHFitter().fit(design, "T", "E").summary.loc["H"]


def _tmb_cox_row(assoc: pd.DataFrame) -> pd.Series:
    cox = assoc[(assoc.BIOMARKER == "TMB_LIKE") & (assoc.ENDPOINT == "PFS") & (assoc.POPULATION == "ALL") & (assoc.TEST == "Cox")]
    assert len(cox) == 1
    return cox.iloc[0]


def test_known_tmb_high_hazard_ratio_is_recovered(simulated):
    trial, _, _, out = simulated
    model = json.loads((trial.truth_dir / "outcome_model.json").read_text())
    truth_hr = model["pfs_hr_tmb_high"]
    assert truth_hr < 1 and model["adjusted_for"] == ["ARMCD"]
    row = _tmb_cox_row(out["associations"])
    assert row.GROUP == "HIGH vs LOW" and row.ADJUSTED_FOR == "ARMCD"
    assert row.CUTOFF == ">= 10" and row.N == N_SUBJECTS and row.EXPLORATORY
    assert row.ESTIMATE < 1 and row.CI_UPPER < 1, row          # right direction, clearly
    # the pipeline (ADaM written as SAS transport, read back, biomarker found through its
    # declaration) gives exactly the fit made directly on the simulator's truth table
    direct = _truth_cox(pd.read_csv(trial.truth_dir / "subjects.csv"))
    assert row.ESTIMATE == pytest.approx(direct["exp(coef)"], rel=1e-6)
    assert row.CI_LOWER == pytest.approx(direct["exp(coef) lower 95%"], rel=1e-6)
    # within-arm rows exist, unadjusted, each with its n
    assoc = out["associations"]
    within = assoc[(assoc.BIOMARKER == "TMB_LIKE") & (assoc.TEST == "Cox") & (assoc.POPULATION != "ALL") & (assoc.ENDPOINT == "PFS")]
    assert sorted(within.POPULATION) == ["ARMCD=CTRL", "ARMCD=EXP"] and set(within.ADJUSTED_FOR) == {"none"}
    assert within.N.sum() == N_SUBJECTS
    comparisons = assoc[assoc.ROW_TYPE == "COMPARISON"]
    assert comparisons.loc[comparisons.P_VALUE.notna(), "N"].gt(0).all()


def test_tmb_high_hazard_ratio_ci_covers_the_truth_across_trials(registered, tmp_path):
    """A 95% CI covers the truth in about 95% of trials, not in every one (seed 1's draw is
    extreme: HR 0.19, CI 0.10-0.34 directly on the truth table). So: ten independent trials
    through the package API; the CI must cover the true HR in at least 8 (P(<8) = 1.2% for
    95% intervals) and the estimates must centre on the truth."""
    from biomarkers.outcomes import analysis_wide, associations, biomarkers_long, derive_subjects, load_outcomes_config, read_adam
    from biomarkers.outcomes._associations import groupings
    from biomarkers.outcomes._tables import biomarker_cutoffs

    config = load_outcomes_config()
    config["associations"]["populations"] = ["ALL"]
    protocol = load_protocol()
    covered, log_hrs = 0, []
    for seed in range(1, 11):
        trial = simulate_outcomes(tmp_path / f"t{seed}", N_SUBJECTS, seed=seed)
        truth_hr = json.loads((trial.truth_dir / "outcome_model.json").read_text())["pfs_hr_tmb_high"]
        results = tmp_path / f"r{seed}"
        write_tmb_like(trial, results)
        adam = {k: read_adam(trial.outdir / trial.params[k]) for k in ("adsl", "adtte", "adrs")}
        subjects = derive_subjects(adam["adsl"], adam["adtte"], adam["adrs"], config)
        wide, described = analysis_wide(subjects, biomarkers_long(results, subjects), results, protocol, config)
        stems = {name: stem for name, (stem, _) in biomarker_cutoffs(config).items()}
        groups = [g for g in groupings(wide, described, stems) if g[0] == "TMB_LIKE"]
        row = _tmb_cox_row(associations(wide, groups, config))
        covered += row.CI_LOWER <= truth_hr <= row.CI_UPPER
        log_hrs.append(math.log(row.ESTIMATE))
        assert row.ESTIMATE < 1, (seed, row.ESTIMATE)
    print(f"TMB-high PFS HR over 10 trials: covered {covered}/10, geometric mean {np.exp(np.mean(log_hrs)):.3f} (truth {truth_hr})")
    assert covered >= 8, covered
    assert abs(np.mean(log_hrs) - math.log(truth_hr)) < 0.2, np.exp(np.mean(log_hrs))


def test_long_and_wide_tables_from_the_registered_declaration(simulated):
    trial, results, table, out = simulated
    truth = pd.read_csv(trial.truth_dir / "subjects.csv").set_index(N.USUBJID)
    long = schemas.read_table(results / "analysis" / "biomarkers_long.parquet")
    assert len(long) == 3 * len(table) and set(long.SOURCE_TABLE) == {TABLE} and set(long.MODALITY) == {"fixture"}
    assert long.loc[long.SPECIMEN_ID == "SPFAIL", "QC_PASS"].tolist() == [False, True, False]  # the flag has no QC column
    wide = schemas.read_table(results / "analysis" / "analysis_wide.parquet").set_index(N.USUBJID)
    assert len(wide) == N_SUBJECTS
    np.testing.assert_allclose(wide.loc[truth.index, "TMB_LIKE_BL"], truth["TMB_TARGET"])
    remeasured = table.loc[table.TIMEPOINT.eq("SURGERY") & table.QC.eq("PASS"), N.USUBJID]
    np.testing.assert_allclose(wide.loc[remeasured, "TMB_LIKE_CHG"], 1.5)
    assert wide.drop(index=remeasured)["TMB_LIKE_CHG"].isna().all()    # the failing-QC value is not a change
    assert (wide["TMB_LIKE_GROUP"] == np.where(wide["TMB_LIKE_BL"] >= 10, "HIGH", "LOW")).all()
    assert (wide.loc[truth.index, "TMB_LIKE_GROUP"].eq("HIGH") == truth["TMB_HIGH"]).all()
    # a categorical biomarker: its values are the groups
    assert (wide.loc[truth.index, "MSI_LIKE_BL_TEXT"] == truth["MSI_STATUS"]).all()
    assert (wide.loc[truth.index, "MSI_LIKE_GROUP"] == truth["MSI_STATUS"]).all() and wide["MSI_LIKE_BL"].isna().all()
    assoc = out["associations"]
    msi = assoc[(assoc.BIOMARKER == "MSI like") & (assoc.POPULATION == "ALL") & (assoc.ENDPOINT == "ORR")]
    assert set(msi.GROUP) == {"MSI-H", "MSS", "MSI-H vs MSS"} and set(msi.CUTOFF) == {"categories"}
    assert msi.loc[msi.GROUP == "MSI-H", "N"].item() == int((truth["MSI_STATUS"] == "MSI-H").sum())
    # a boolean group column: TRUE/FALSE groups, the same subjects as the numeric cut-off
    assert (wide["TMB_LIKE_HIGH_GROUP"].eq("TRUE") == wide["TMB_LIKE_GROUP"].eq("HIGH")).all()
    # ... so its associations are not repeated under a second name
    assert "TMB-like high" not in set(assoc.BIOMARKER) and "TMB_LIKE" in set(assoc.BIOMARKER)
    meta = schemas.table_metadata(results / "analysis" / "analysis_wide.parquet")
    assert {"TMB_LIKE_BL", "TMB_LIKE_CHG", "TMB_LIKE_GROUP"} <= {c["name"] for c in meta["columns"]}


def _readme_join_command() -> list[str]:
    """The one-line join shown in README.md (the code block after ``<!-- join-line -->``)."""
    import shlex
    import sys

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("<!-- join-line -->", 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    argv = shlex.split(block.strip())
    assert argv[0] == "python" and argv[1] == "-c", block
    return [sys.executable, *argv[1:]]


def test_duckdb_joins_analysis_wide_to_adsl_in_one_line(simulated, tmp_path):
    """The README's one line, run as written there (ADSL straight from SAS transport, no renaming)."""
    pytest.importorskip("duckdb")
    import subprocess

    trial, results, _, _ = simulated
    (tmp_path / "adam").symlink_to(trial.outdir / "adam")
    (tmp_path / "results").symlink_to(results)
    proc = subprocess.run(_readme_join_command(), cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    joined = pd.read_csv(tmp_path / "joined.csv")
    assert len(joined) == N_SUBJECTS and {"ITTFL", "RANDDT", "PFS_MONTHS", "TMB_LIKE_BL"} <= set(joined.columns)


def test_biomarker_subject_absent_from_adsl_is_listed_not_dropped(simulated, tmp_path):
    trial, _, _, _ = simulated
    results = tmp_path / "results"
    write_tmb_like(trial, results, extra_subject="NCT07007182-99-999")
    with pytest.raises(InputError) as err:
        run_analysis(results, adsl=trial.outdir / "adam/adsl.xpt", adtte=trial.outdir / "adam/adtte.xpt", adrs=trial.outdir / "adam/adrs.xpt",
                     allow_incomplete=True)
    text = str(err.value)
    assert "tmb_like.parquet" in text and "NCT07007182-99-999" in text and "absent from ADSL" in text and "USUBJID" in text
    assert not (results / "analysis").exists()


def test_pipeline_runs_analysis_then_report_from_params(simulated, tmp_path):
    from biomarkers.pipeline import load_params, run_pipeline
    import yaml

    trial, _, _, _ = simulated
    params_file = trial.outdir / "params.yaml"
    params_file.write_text(yaml.safe_dump({k: v for k, v in trial.params.items() if k != "violation_rate"}))
    params = load_params(params_file, {"outdir": str(tmp_path / "results")})
    status = run_pipeline(params, only=["analysis", "report"])
    assert status == {"analysis": "done", "report": "done"}
    assert (tmp_path / "results" / "analysis" / "analysis_wide.parquet").is_file()
    assert (tmp_path / "results" / "report" / "index.html").is_file()
    inputs = schemas.read_table(tmp_path / "results" / "pipeline_info" / "inputs.parquet")
    assert {"adsl", "adtte", "adrs"} <= set(inputs.ROLE)
