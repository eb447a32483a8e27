"""Eligibility and consistency checks on small hand-made cases, one rule at a time."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from biomarkers import names as N
from biomarkers.tme import PATHOLOGY_COLUMNS, check_eligibility, load_eligibility_rules

S1, S2, S3, S4 = (f"NCT07007182-01-00{i}" for i in range(1, 5))


def _results(*rows) -> pd.DataFrame:
    out = []
    for subject, test, value, *rest in rows:
        timepoint = rest[0] if rest else "BASELINE"
        numeric = isinstance(value, (int, float))
        out.append({N.USUBJID: subject, N.SPECIMEN_ID: f"SP{subject[-3:]}-{timepoint[:3]}", N.TIMEPOINT: timepoint,
                    "TEST": test, "RESULT_NAME": test, "VALUE": float(value) if numeric else float("nan"),
                    "VALUE_TEXT": None if numeric else value, "UNIT": None, "METHOD": "22C3" if test == "CPS" else None,
                    "RESULT_DATE": "2025-03-01", "LAB": None, "SOURCE_LINE": len(out) + 2, "SOURCE_COLUMN": "result"})
    return pd.DataFrame(out, columns=PATHOLOGY_COLUMNS)


def _subjects(*rows):
    return pd.DataFrame([{N.USUBJID: s, N.ARMCD: arm, N.STRATUM: stratum, **extra} for s, arm, stratum, *more in rows
                         for extra in [more[0] if more else {}]])


def _result(checks, subject, check):
    row = checks[(checks[N.USUBJID] == subject) & (checks["CHECK"] == check)].iloc[0]
    return row["RESULT"], row["EVIDENCE"]


def test_her2_rule():
    results = _results((S1, "HER2_IHC", "3+"), (S2, "HER2_IHC", "2+"), (S2, "HER2_ISH_RATIO", 2.0),
                       (S3, "HER2_IHC", "2+"), (S3, "HER2_ISH", "NEGATIVE"), (S3, "HER2_ISH_RATIO", 1.4),
                       (S4, "HER2_IHC", "2+"))
    checks = check_eligibility(results, subjects=_subjects(*((s, "EXP", "CPS>=1") for s in (S1, S2, S3, S4))))
    assert _result(checks, S1, "HER2_POSITIVE")[0] == "FLAGGED"
    result, evidence = _result(checks, S2, "HER2_POSITIVE")     # the ratio alone decides (>= 2.0)
    assert result == "FLAGGED" and "HER2/CEP17 ratio 2" in evidence
    assert _result(checks, S3, "HER2_POSITIVE")[0] == "PASSED"
    result, evidence = _result(checks, S4, "HER2_POSITIVE")
    assert result == "NOT_EVALUABLE" and "without ISH" in evidence


def test_mmr_and_msi():
    proteins = ("MMR_MLH1", "MMR_PMS2", "MMR_MSH2", "MMR_MSH6")
    results = _results(*((S1, p, "RETAINED") for p in proteins), *((S2, p, "RETAINED") for p in proteins),
                       (S3, "MMR_MLH1", "RETAINED"), (S4, "MMR_PMS2", "LOST"))
    msi = pd.DataFrame({N.USUBJID: [S1, S2, S4], N.SPECIMEN_ID: ["D1", "D2", "D4"], N.TIMEPOINT: "BASELINE",
                        "MSI_STATUS": ["MSI-H", "MSS", "NOT_EVALUABLE"]})
    checks = check_eligibility(results, subjects=_subjects(*((s, "CTRL", "CPS<1") for s in (S1, S2, S3, S4))), msi=msi)
    assert _result(checks, S1, "DMMR_OR_MSI_H")[0] == "FLAGGED"          # MSI-H alone
    assert _result(checks, S1, "MMR_MSI_DISCORDANCE")[0] == "FLAGGED"    # pMMR with MSI-H
    assert _result(checks, S2, "DMMR_OR_MSI_H")[0] == "PASSED"
    assert _result(checks, S2, "MMR_MSI_DISCORDANCE")[0] == "PASSED"
    assert _result(checks, S3, "DMMR_OR_MSI_H")[0] == "PASSED"           # incomplete panel, nothing lost, no MSI
    assert _result(checks, S3, "MMR_MSI_DISCORDANCE")[0] == "NOT_EVALUABLE"
    result, evidence = _result(checks, S4, "DMMR_OR_MSI_H")
    assert result == "FLAGGED" and "PMS2 lost" in evidence and "MSI not evaluable" in evidence
    assert _result(checks, S4, "MMR_MSI_DISCORDANCE")[0] == "NOT_EVALUABLE"
    no_msi = check_eligibility(results, subjects=_subjects((S2, "CTRL", "CPS<1")))
    assert "MSI step not run" in _result(no_msi, S2, "DMMR_OR_MSI_H")[1]


def test_indeterminate_msi_without_mmr_is_not_evaluable():
    """MSI-L / indeterminate is neither MSS nor MSI-H: without MMR IHC the exclusion cannot be decided."""
    msi = pd.DataFrame({N.USUBJID: [S1], N.SPECIMEN_ID: ["D1"], N.TIMEPOINT: "BASELINE", "MSI_STATUS": ["INDETERMINATE"]})
    checks = check_eligibility(_results((S2, "CPS", 1)), subjects=_subjects((S1, "CTRL", "CPS<1")), msi=msi)
    result, evidence = _result(checks, S1, "DMMR_OR_MSI_H")
    assert result == "NOT_EVALUABLE" and "MSI indeterminate on" in evidence


def test_cps_stratum_and_pd1_exposure():
    results = _results((S1, "CPS", 0), (S1, "CPS", 12, "SURGERY"), (S2, "CPS", 1), (S3, "CPS", 4), (S4, "CPS", 0, "SURGERY"))
    subjects = _subjects((S1, "EXP", "CPS>=1"), (S2, "CTRL", "CPS>=1"), (S3, "EXP", "CPS<1"), (S4, "EXP", "CPS<1"))
    checks = check_eligibility(results, subjects=subjects)
    result, evidence = _result(checks, S1, "CPS_STRATUM_MISMATCH")   # baseline decides, not the resection
    assert result == "FLAGGED" and "baseline CPS 0" in evidence and "stratum CPS>=1" in evidence
    assert _result(checks, S1, "PD1_CPS_MISMATCH")[0] == "FLAGGED"
    assert _result(checks, S2, "CPS_STRATUM_MISMATCH")[0] == "PASSED"  # CPS 1 is >= 1
    assert _result(checks, S3, "CPS_STRATUM_MISMATCH")[0] == "FLAGGED"
    result, evidence = _result(checks, S3, "PD1_CPS_MISMATCH")
    assert result == "FLAGGED" and "not given" in evidence
    assert _result(checks, S4, "CPS_STRATUM_MISMATCH")[0] == "NOT_EVALUABLE"
    # an ADSL exposure flag, when configured, is the evidence instead of the stratum
    rules = dataclasses.replace(load_eligibility_rules(), pd1_exposure_variable="PD1FL")
    flagged = _subjects((S1, "EXP", "CPS>=1", {"PD1FL": "N"}), (S3, "EXP", "CPS<1", {"PD1FL": "Y"}))
    checks = check_eligibility(results, subjects=flagged, rules=rules)
    assert _result(checks, S1, "PD1_CPS_MISMATCH")[0] == "PASSED"      # not exposed, CPS 0
    result, evidence = _result(checks, S3, "PD1_CPS_MISMATCH")
    assert result == "PASSED" and evidence.startswith("ADSL PD1FL=Y")


def test_subjects_without_results_are_not_evaluable_and_only_randomized_subjects_are_checked():
    results = _results(("NCT07007182-09-999", "HER2_IHC", "3+"))
    checks = check_eligibility(results, subjects=_subjects((S1, "EXP", "CPS>=1")))
    assert set(checks[N.USUBJID]) == {S1}
    assert set(checks["RESULT"]) == {"NOT_EVALUABLE"} and checks["FLAGGED"].isna().all()
    assert list(checks["CHECK"]) == ["HER2_POSITIVE", "DMMR_OR_MSI_H", "MMR_MSI_DISCORDANCE", "CPS_STRATUM_MISMATCH",
                                     "PD1_CPS_MISMATCH"]
    assert set(checks["SEVERITY"]) == {"DEVIATION", "REVIEW"}


@pytest.mark.parametrize("stratum", ["CPS>=5", None])
def test_unknown_stratum(stratum):
    checks = check_eligibility(_results((S1, "CPS", 3)), subjects=_subjects((S1, "EXP", stratum)))
    assert _result(checks, S1, "CPS_STRATUM_MISMATCH")[0] == "NOT_EVALUABLE"
    assert _result(checks, S1, "PD1_CPS_MISMATCH")[0] == "NOT_EVALUABLE"
