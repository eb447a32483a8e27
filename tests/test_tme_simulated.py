"""The simulated trial's tumour microenvironment: known truth recovered.

The expression and pathology stages run with the stages they need (trial, custody); the
immune component of every RNA-seq specimen is known, and so is every inconsistency
injected into the pathology table.
"""

from __future__ import annotations

import hashlib
import re

import pandas as pd
import pytest
from scipy.stats import spearmanr

from biomarkers import names as N
from biomarkers.custody import check_ledger, import_exports
from biomarkers.simulate import simulate_trial
from biomarkers.tme import check_eligibility, read_expression, read_pathology, score_signatures


def _digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def tme_trial(tmp_path_factory):
    """The registered stages, with what they need (trial, custody); and the custody stages alone, to compare."""
    base = tmp_path_factory.mktemp("tme_sim")
    trial = simulate_trial(base / "trial", n_subjects=54, seed=1, violation_rate=0.1, stages=("expression", "pathology"))
    alone = simulate_trial(base / "alone", n_subjects=54, seed=1, violation_rate=0.1, stages=("custody",))
    return trial, alone


@pytest.fixture(scope="session")
def msi_from_truth(tme_trial):
    """What the MSI step reports for the sequenced tumours (the genome stage's MSI truth)."""
    trial, _ = tme_trial
    plan = trial.assay_plan[trial.assay_plan[N.ASSAY] == "wes_tumor"]
    status = trial.truth["subjects"].set_index(N.USUBJID)["MSI_STATUS"]
    return plan.assign(MSI_STATUS=plan[N.USUBJID].map(status))[[N.USUBJID, N.SPECIMEN_ID, N.TIMEPOINT, "MSI_STATUS"]]


def test_known_immune_component_is_recovered(tme_trial):
    trial, _ = tme_trial
    out = trial.outdir
    truth = pd.read_csv(out / "truth" / "expression.csv").set_index("SAMPLE_NAME")
    assert len(truth) >= 60 and set(truth[N.TIMEPOINT]) == {"BASELINE", "SURGERY"}
    adata = read_expression(out / "rnaseq" / "counts.tsv.gz", values="counts", gene_lengths=out / "rnaseq" / "gene_lengths.tsv")
    scores = score_signatures(adata)
    assert (scores["STATUS"] == "SCORED").all()
    wide = scores.pivot(index="SAMPLE", columns="SIGNATURE", values="SCORE").loc[truth.index]
    rho = {sig: spearmanr(wide[sig], truth["IMMUNE_COMPONENT"]).statistic for sig in wide.columns}
    assert rho["GEP"] >= 0.9
    assert min(rho[s] for s in ("IFNG6", "CD8_TEFF", "DANAHER_CYTOTOXIC", "DANAHER_T_CELLS")) >= 0.85
    # log-CPM (no lengths) ranks the specimens the same way
    cpm = score_signatures(read_expression(out / "rnaseq" / "counts.tsv.gz", values="counts"))
    gep = cpm[cpm["SIGNATURE"] == "GEP"].set_index("SAMPLE")["SCORE"].loc[truth.index]
    assert spearmanr(gep, truth["IMMUNE_COMPONENT"]).statistic >= 0.9


def test_every_injected_inconsistency_is_flagged_and_nothing_else(tme_trial, msi_from_truth):
    trial, _ = tme_trial
    out = trial.outdir
    results = read_pathology(out / "pathology" / "central_lab.csv")
    subjects = pd.read_csv(out / "subjects.csv")
    checks = check_eligibility(results, subjects=subjects, msi=msi_from_truth)
    assert len(checks) == 5 * len(subjects)
    expected = pd.read_csv(out / "truth" / "eligibility_expected.csv")
    flagged = checks[checks["RESULT"] == "FLAGGED"]
    assert set(zip(flagged[N.USUBJID], flagged["CHECK"])) == set(zip(expected[N.USUBJID], expected["CHECK"]))
    kinds = expected["CHECK"].value_counts()
    assert kinds["CPS_STRATUM_MISMATCH"] == 3 and kinds["PD1_CPS_MISMATCH"] == 3
    assert kinds["HER2_POSITIVE"] == 1 and kinds["MMR_MSI_DISCORDANCE"] == 1 and kinds["DMMR_OR_MSI_H"] >= 2
    # both directions of a CPS mismatch are injected
    truth = pd.read_csv(out / "truth" / "pathology.csv")
    mismatched = truth[truth["CPS_MISMATCH"]]
    assert set(mismatched[N.STRATUM]) == {"CPS>=1", "CPS<1"}
    # evidence names the specimen and the values
    her2 = flagged[flagged["CHECK"] == "HER2_POSITIVE"].iloc[0]
    assert "HER2 IHC 2+ with ISH POSITIVE" in her2["EVIDENCE"] and "pathology/results.parquet" in her2["SOURCE"]
    discordant = flagged[flagged["CHECK"] == "MMR_MSI_DISCORDANCE"].iloc[0]
    assert "MSH6 lost" in discordant["EVIDENCE"] and "MSS" in discordant["EVIDENCE"]


def test_rna_is_in_the_ledger_and_adds_no_custody_finding(tme_trial, tmp_path):
    trial, _ = tme_trial
    out = trial.outdir
    ledger = tmp_path / "ledger.sqlite"
    import_exports(ledger, sorted((out / "custody").glob("export_*.csv")), subjects=set(trial.subjects[N.USUBJID]))
    check_ledger(ledger, subjects=out / "subjects.csv", milestones=out / "milestones.csv", samplesheet=out / "samplesheet.csv",
                 data_cutoff=pd.Timestamp(trial.data_cutoff).date(), outdir=tmp_path / "out")
    issues = pd.read_parquet(tmp_path / "out" / "custody" / "issues.parquet")
    truth = pd.read_csv(out / "truth" / "custody_violations.csv")
    rna = set(pd.read_csv(out / "truth" / "expression.csv")[N.SPECIMEN_ID])
    assert not set(issues[N.SPECIMEN_ID].dropna()) & rna
    # every finding is an injected violation (checked rule by rule in the custody tests); the samplesheet has no
    # WES rows without the genome stage, so the DNA ASSAY_WITHOUT_CONSUMPTION cannot show, and the RNA rows add none
    expected = truth[truth["RULE"] != "ASSAY_WITHOUT_CONSUMPTION"]
    assert len(issues) == len(expected) and "ASSAY_WITHOUT_CONSUMPTION" not in set(issues["RULE"])
    specimens = pd.read_parquet(tmp_path / "out" / "custody" / "specimens.parquet").set_index(N.SPECIMEN_ID)
    assert (specimens.loc[sorted(rna), "STATUS"] == "CONSUMED").all()
    assert (specimens.loc[sorted(rna), N.SPECIMEN_TYPE] == "RNA").all()


def test_stages_change_no_other_stage_and_are_reproducible(tme_trial, tmp_path):
    trial, alone = tme_trial
    ours, theirs = _digests(trial.outdir), _digests(alone.outdir)
    shared = set(theirs) - {"samplesheet.csv", "params.yaml"}
    assert all(ours[name] == theirs[name] for name in shared)
    added = sorted(set(ours) - set(theirs))
    assert added == ["pathology/central_lab.csv", "rnaseq/counts.tsv.gz", "rnaseq/gene_lengths.tsv", "samplesheet.csv",
                     "truth/eligibility_expected.csv", "truth/expression.csv", "truth/expression_model.json",
                     "truth/pathology.csv"]
    again = simulate_trial(tmp_path / "again", n_subjects=54, seed=1, violation_rate=0.1, stages=("expression", "pathology"))
    assert _digests(again.outdir) == ours
    sheet = pd.read_csv(trial.outdir / "samplesheet.csv")
    rows = sheet[sheet["assay"] == "rnaseq_tumor"]
    assert len(rows) == len(pd.read_csv(trial.outdir / "truth" / "expression.csv"))
    assert set(rows["sample_name"]) == set(pd.read_csv(trial.outdir / "rnaseq" / "counts.tsv.gz", sep="\t", nrows=1).columns[1:])


def test_commands_write_the_declared_tables(tme_trial, msi_from_truth, cli, tmp_path):
    trial, _ = tme_trial
    out, results = trial.outdir, tmp_path / "results"
    sheet = pd.read_csv(out / "samplesheet.csv")
    rows = sheet[sheet["assay"] == "rnaseq_tumor"]
    samples = tmp_path / "samples.csv"
    rows.rename(columns={"sample_name": "sample"})[["sample", "subject", "specimen", "timepoint"]].to_csv(samples, index=False)
    done = cli("tme", "score", "--file", str(out / "rnaseq" / "counts.tsv.gz"), "--values", "counts", "--gene-lengths",
               str(out / "rnaseq" / "gene_lengths.tsv"), "--samples", str(samples), "--outdir", str(tmp_path / "parts"))
    assert done.returncode == 0, done.stderr
    parts = sorted((tmp_path / "parts").glob("*.signatures.parquet"))
    assert len(parts) == len(rows)
    assert cli("tme", "collect", "--outdir", str(results), *map(str, parts)).returncode == 0
    scores = pd.read_parquet(results / "tme" / "signatures.parquet")
    assert set(scores[N.SPECIMEN_ID]) == set(rows["specimen"]) and scores["SIGNATURE"].nunique() == 18
    assert (results / "tme" / "signatures_heatmap.png").stat().st_size > 10_000
    assert cli("tme", "pathology", "--pathology", str(out / "pathology" / "central_lab.csv"), "--subjects",
               str(out / "subjects.csv"), "--outdir", str(results)).returncode == 0
    msi_from_truth.assign(STUDYID="NCT07007182").to_parquet(tmp_path / "msi.parquet")
    done = cli("tme", "eligibility", "--results", str(results / "pathology" / "results.parquet"), "--subjects",
               str(out / "subjects.csv"), "--msi", str(tmp_path / "msi.parquet"), "--outdir", str(results))
    assert done.returncode == 0, done.stderr
    checks = pd.read_parquet(results / "tme" / "eligibility.parquet")
    expected = pd.read_csv(out / "truth" / "eligibility_expected.csv")
    flagged = checks[checks["FLAGGED"] == True]  # noqa: E712 - nullable boolean
    assert set(zip(flagged[N.USUBJID], flagged["CHECK"])) == set(zip(expected[N.USUBJID], expected["CHECK"]))
    assert {p.name for p in (results / "tme").glob("*.png")} == {"signatures_heatmap.png", "cps_by_stratum.png",
                                                                 "eligibility_checks.png"}


def test_bad_input_is_one_line_and_writes_nothing(tme_trial, cli, tmp_path):
    trial, _ = tme_trial
    out = trial.outdir
    bad = tmp_path / "bad.csv"
    bad.write_text(re.sub(r",HER2_IHC,,[0-3]\+?,", ",HER2_IHC,,4+,", (out / "pathology" / "central_lab.csv").read_text(), count=1))
    done = cli("tme", "pathology", "--pathology", str(bad), "--outdir", str(tmp_path / "results"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "field 'result': HER2 IHC must be one of 0, 1+, 2+, 3+ (got '4+')" in done.stderr
    matrix = tmp_path / "m.tsv"
    matrix.write_text("gene_id\tA\tB\nCD8A\t1\t2\n")
    done = cli("tme", "score", "--file", str(matrix), "--values", "counts", "--sample", "A,NCT07007182-01-001,SP01001-0001,BASELINE",
               "--outdir", str(tmp_path / "parts"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert f"{matrix}, field 'B': sample matches no specimen of the samplesheet (1 of 2 columns)" in done.stderr
    assert not (tmp_path / "results").exists() and not list((tmp_path / "parts").glob("*.parquet"))
