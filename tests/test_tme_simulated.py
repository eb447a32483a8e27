"""The simulated trial's tumour microenvironment: known truth recovered.

The expression and pathology stages are called directly on a trial made by the first
stages (trial, custody); the immune component of every RNA-seq specimen is known, and so
is every inconsistency injected into the pathology table.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest
from scipy.stats import spearmanr

from biomarkers import names as N
from biomarkers.custody import check_ledger, import_exports
from biomarkers.protocol import load_protocol
from biomarkers.simulate import simulate_trial, stage_rng
from biomarkers.simulate._expression import simulate_expression
from biomarkers.simulate._pathology import simulate_pathology
from biomarkers.tme import check_eligibility, read_expression, read_pathology, score_signatures


def _digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def tme_trial(tmp_path_factory):
    base = tmp_path_factory.mktemp("tme_sim")
    trial = simulate_trial(base / "trial", n_subjects=54, seed=1, violation_rate=0.1, stages=("trial", "custody"))
    before = _digests(trial.outdir)
    protocol = load_protocol()
    simulate_expression(trial, protocol, stage_rng(1, "expression"))
    simulate_pathology(trial, protocol, stage_rng(1, "pathology"))
    return trial, before


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


def test_rna_custody_events_add_no_custody_finding(tme_trial, tmp_path):
    trial, _ = tme_trial
    out = trial.outdir
    ledger = tmp_path / "ledger.sqlite"
    import_exports(ledger, sorted((out / "custody").glob("export_*.csv")), subjects=set(trial.subjects[N.USUBJID]))
    check_ledger(ledger, subjects=out / "subjects.csv", milestones=out / "milestones.csv",
                 data_cutoff=pd.Timestamp(trial.data_cutoff).date(), outdir=tmp_path / "out")
    issues = pd.read_parquet(tmp_path / "out" / "custody" / "issues.parquet")
    truth = pd.read_csv(out / "truth" / "custody_violations.csv")
    rna = set(pd.read_csv(out / "truth" / "expression.csv")[N.SPECIMEN_ID])
    assert not set(issues[N.SPECIMEN_ID].dropna()) & rna
    # without a samplesheet the ASSAY_WITHOUT_CONSUMPTION findings cannot appear; all others match the truth
    expected = truth[truth["RULE"] != "ASSAY_WITHOUT_CONSUMPTION"]
    assert len(issues) == len(expected)
    specimens = pd.read_parquet(tmp_path / "out" / "custody" / "specimens.parquet").set_index(N.SPECIMEN_ID)
    assert (specimens.loc[sorted(rna), "STATUS"] == "CONSUMED").all()


def test_stages_add_files_and_change_none(tme_trial, tmp_path):
    trial, before = tme_trial
    after = _digests(trial.outdir)
    assert all(after[name] == digest for name, digest in before.items())
    added = sorted(set(after) - set(before))
    assert added == ["custody/export_RNASEQ.csv", "pathology/central_lab.csv", "rnaseq/counts.tsv.gz",
                     "rnaseq/gene_lengths.tsv", "truth/eligibility_expected.csv", "truth/expression.csv",
                     "truth/expression_model.json", "truth/pathology.csv"]
    # same seed, same bytes
    again = simulate_trial(tmp_path / "again", n_subjects=54, seed=1, violation_rate=0.1, stages=("trial", "custody"))
    protocol = load_protocol()
    simulate_expression(again, protocol, stage_rng(1, "expression"))
    simulate_pathology(again, protocol, stage_rng(1, "pathology"))
    assert _digests(again.outdir) == after
    rows = [r for r in trial.samplesheet_rows if r["assay"] == "rnaseq_tumor"]
    assert len(rows) == len(pd.read_csv(trial.outdir / "truth" / "expression.csv"))
    assert {r["sample_name"] for r in rows} == set(pd.read_csv(trial.outdir / "rnaseq" / "counts.tsv.gz", sep="\t", nrows=1).columns[1:])
