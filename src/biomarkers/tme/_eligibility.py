"""Per-subject eligibility and consistency checks: pathology, MSI and randomization side by side.

Every randomized subject gets one row per check (``assets/eligibility.yaml`` names the
checks, their severity and the protocol facts: the HER2 rule, the CPS cut-off and
strata, the MMR proteins, how PD-1 exposure is known). A row says FLAGGED, PASSED or
NOT_EVALUABLE, with the evidence in words and the tables it came from, so a data manager
can act on it without opening the inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import names as N
from ..assets import load_config

__all__ = ["EligibilityRules", "load_eligibility_rules", "check_eligibility", "ELIGIBILITY_COLUMNS",
           "FLAGGED", "PASSED", "NOT_EVALUABLE", "CHECKS"]

FLAGGED, PASSED, NOT_EVALUABLE = "FLAGGED", "PASSED", "NOT_EVALUABLE"
CHECKS = ("HER2_POSITIVE", "DMMR_OR_MSI_H", "MMR_MSI_DISCORDANCE", "CPS_STRATUM_MISMATCH", "PD1_CPS_MISMATCH")
ELIGIBILITY_COLUMNS = [N.USUBJID, N.ARMCD, N.STRATUM, "CHECK", "SEVERITY", "RESULT", "FLAGGED", "EVIDENCE", "SOURCE"]
_DEFAULT_SOURCES = {"pathology": "pathology/results.parquet", "msi": "genomics/msi.parquet",
                    "subjects": "randomization list"}


@dataclass(frozen=True)
class EligibilityRules:
    her2_ihc_positive: frozenset[str]
    her2_ihc_equivocal: frozenset[str]
    her2_ish_ratio_positive: float
    cps_cutoff: float
    strata: Mapping[str, bool]
    baseline_timepoints: tuple[str, ...]
    mmr_proteins: tuple[str, ...]
    msi_high: str
    msi_stable: str
    pd1_exposure_variable: str | None
    pd1_arms: frozenset[str]
    checks: Mapping[str, Mapping[str, str]]


def load_eligibility_rules(path: str | Path | None = None) -> EligibilityRules:
    raw = load_config(path or "eligibility.yaml", "eligibility.schema.json")
    return EligibilityRules(
        her2_ihc_positive=frozenset(raw["her2"]["ihc_positive"]), her2_ihc_equivocal=frozenset(raw["her2"]["ihc_equivocal"]),
        her2_ish_ratio_positive=float(raw["her2"]["ish_ratio_positive"]), cps_cutoff=float(raw["cps"]["cutoff"]),
        strata=dict(raw["cps"]["strata"]), baseline_timepoints=tuple(raw["cps"]["baseline_timepoints"]),
        mmr_proteins=tuple(raw["mmr"]["proteins"]), msi_high=raw["msi"]["high"], msi_stable=raw["msi"]["stable"],
        pd1_exposure_variable=raw["pd1"]["adsl_exposure_variable"], pd1_arms=frozenset(raw["pd1"]["arms"]),
        checks=raw["checks"],
    )


def _fmt(value: float) -> str:
    return f"{value:g}"


def check_eligibility(pathology: pd.DataFrame, *, subjects: pd.DataFrame, msi: pd.DataFrame | None = None,
                      rules: EligibilityRules | None = None, sources: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per randomized subject and check (:data:`ELIGIBILITY_COLUMNS`).

    ``pathology`` is :func:`read_pathology`'s long frame (or ``pathology/results.parquet``),
    ``subjects`` the randomization list or ADSL (USUBJID, ARMCD, STRATUM, and the PD-1
    exposure flag when ``assets/eligibility.yaml`` names one), ``msi`` the MSI table
    (USUBJID, SPECIMEN_ID, TIMEPOINT, MSI_STATUS) when the MSI step ran.
    """
    rules = rules or load_eligibility_rules()
    src = {**_DEFAULT_SOURCES, **(sources or {})}
    by_subject = {s: g for s, g in pathology.groupby(N.USUBJID)} if len(pathology) else {}
    msi_by_subject = {s: g for s, g in msi.groupby(N.USUBJID)} if msi is not None and len(msi) else {}
    rows = []
    for subj in subjects.sort_values(N.USUBJID).to_dict("records"):
        usubjid = subj[N.USUBJID]
        path = by_subject.get(usubjid, pathology.iloc[0:0])
        msi_rows = msi_by_subject.get(usubjid)
        results = {
            "HER2_POSITIVE": _her2(path, rules, src),
            **_mmr_msi(path, msi_rows, rules, src, msi_available=msi is not None),
            **_cps(path, subj, rules, src),
        }
        for check in CHECKS:
            result, evidence, source = results[check]
            rows.append({N.USUBJID: usubjid, N.ARMCD: subj.get(N.ARMCD), N.STRATUM: subj.get(N.STRATUM), "CHECK": check,
                         "SEVERITY": rules.checks[check]["severity"], "RESULT": result,
                         "FLAGGED": None if result == NOT_EVALUABLE else result == FLAGGED,
                         "EVIDENCE": evidence, "SOURCE": source})
    frame = pd.DataFrame(rows, columns=ELIGIBILITY_COLUMNS)
    frame["FLAGGED"] = frame["FLAGGED"].astype("boolean")
    return frame


def _where(row) -> str:
    return f"{row[N.SPECIMEN_ID]} ({row[N.TIMEPOINT]})"


# --- HER2 --------------------------------------------------------------------------

def _her2(path: pd.DataFrame, rules: EligibilityRules, src) -> tuple[str, str, str]:
    source = src["pathology"]
    ihc = path[path["TEST"] == "HER2_IHC"]
    if ihc.empty:
        return NOT_EVALUABLE, "no HER2 IHC result", source
    positives, equivocal_open, seen = [], [], []
    for row in ihc.to_dict("records"):
        specimen = path[path[N.SPECIMEN_ID] == row[N.SPECIMEN_ID]]
        score = row["VALUE_TEXT"]
        seen.append(f"IHC {score} on {_where(row)}")
        if score in rules.her2_ihc_positive:
            positives.append(f"HER2 IHC {score} on {_where(row)}")
        elif score in rules.her2_ihc_equivocal:
            ish = specimen.loc[specimen["TEST"] == "HER2_ISH", "VALUE_TEXT"]
            ratio = specimen.loc[specimen["TEST"] == "HER2_ISH_RATIO", "VALUE"]
            by_ratio = bool(len(ratio)) and float(ratio.iloc[0]) >= rules.her2_ish_ratio_positive
            by_call = bool(len(ish)) and ish.iloc[0] == "POSITIVE"
            if by_ratio or by_call:
                detail = ", ".join(filter(None, [f"ISH {ish.iloc[0]}" if len(ish) else "",
                                                 f"HER2/CEP17 ratio {_fmt(ratio.iloc[0])}" if len(ratio) else ""]))
                positives.append(f"HER2 IHC {score} with {detail} on {_where(row)}")
            elif not len(ish) and not len(ratio):
                equivocal_open.append(f"HER2 IHC {score} without ISH on {_where(row)}")
    if positives:
        return FLAGGED, "; ".join(positives) + " (HER2-positive by protocol) while randomized", source
    if equivocal_open:
        return NOT_EVALUABLE, "; ".join(equivocal_open) + ": ISH needed to decide", source
    return PASSED, "HER2-negative: " + "; ".join(seen), source


# --- MMR and MSI -----------------------------------------------------------------------

def _mmr_status(path: pd.DataFrame, rules: EligibilityRules) -> tuple[str | None, str]:
    mmr = path[path["TEST"].isin(rules.mmr_proteins)]
    if mmr.empty:
        return None, "no MMR IHC result"
    lost = mmr[mmr["VALUE_TEXT"] == "LOST"]
    if len(lost):
        proteins = ", ".join(f"{t.removeprefix('MMR_')} lost on {_where(r)}" for t, r in
                             zip(lost["TEST"], lost.to_dict("records")))
        return "dMMR", f"dMMR ({proteins})"
    for specimen, group in mmr.groupby(N.SPECIMEN_ID):
        if set(group["TEST"]) >= set(rules.mmr_proteins):
            return "pMMR", f"pMMR (all {len(rules.mmr_proteins)} proteins retained on {_where(group.iloc[0])})"
    reported = sorted({t.removeprefix("MMR_") for t in mmr["TEST"]})
    return "INCOMPLETE", f"MMR panel incomplete ({', '.join(reported)} retained)"


def _msi_status(msi_rows: pd.DataFrame | None, rules: EligibilityRules) -> tuple[str | None, str]:
    if msi_rows is None or msi_rows.empty:
        return None, "no MSI result"
    calls = msi_rows[msi_rows["MSI_STATUS"].isin([rules.msi_high, rules.msi_stable])]
    if calls.empty:
        indeterminate = msi_rows[msi_rows["MSI_STATUS"] == "INDETERMINATE"]
        if len(indeterminate):  # MSI-L: between MSS and MSI-H, MMR immunohistochemistry decides
            return None, "MSI indeterminate on " + ", ".join(_where(r) for r in indeterminate.to_dict("records"))
        return None, "MSI not evaluable"
    high = calls[calls["MSI_STATUS"] == rules.msi_high]
    if len(high):
        return rules.msi_high, f"{rules.msi_high} on " + ", ".join(_where(r) for r in high.to_dict("records"))
    return rules.msi_stable, f"{rules.msi_stable} on " + ", ".join(_where(r) for r in calls.to_dict("records"))


def _mmr_msi(path, msi_rows, rules: EligibilityRules, src, *, msi_available: bool) -> dict:
    mmr, mmr_text = _mmr_status(path, rules)
    msi, msi_text = _msi_status(msi_rows, rules)
    if not msi_available:
        msi_text = "MSI step not run"
    both = f"{src['pathology']}; {src['msi']}"
    evidence = f"{mmr_text}; {msi_text}"
    if mmr == "dMMR" or msi == rules.msi_high:
        exclusion = (FLAGGED, evidence + " while randomized", both)
    elif mmr is None and msi is None:
        exclusion = (NOT_EVALUABLE, evidence, both)
    else:
        exclusion = (PASSED, evidence, both)
    if mmr in ("dMMR", "pMMR") and msi is not None:
        discordant = (mmr == "dMMR") != (msi == rules.msi_high)
        discordance = (FLAGGED if discordant else PASSED, evidence + (": discordant, review" if discordant else ""), both)
    else:
        discordance = (NOT_EVALUABLE, evidence + ": both a complete MMR panel and an MSI call are needed", both)
    return {"DMMR_OR_MSI_H": exclusion, "MMR_MSI_DISCORDANCE": discordance}


# --- CPS and PD-1 -------------------------------------------------------------------------

def _baseline_cps(path: pd.DataFrame, rules: EligibilityRules) -> dict | None:
    cps = path[path["TEST"] == "CPS"]
    for timepoint in rules.baseline_timepoints:
        at = cps[cps[N.TIMEPOINT] == timepoint]
        if len(at):
            at = at.assign(_date=at["RESULT_DATE"].fillna("9999-12-31")).sort_values(["_date", N.SPECIMEN_ID])
            return at.iloc[0].to_dict()
    return None


def _cps(path: pd.DataFrame, subj: dict, rules: EligibilityRules, src) -> dict:
    stratum = subj.get(N.STRATUM)
    stratum_high = rules.strata.get(stratum) if isinstance(stratum, str) else None
    baseline = _baseline_cps(path, rules)
    cut = _fmt(rules.cps_cutoff)
    both = f"{src['pathology']}; {src['subjects']}"
    measured = None
    if baseline is not None:
        measured = (f"baseline CPS {_fmt(baseline['VALUE'])} ({baseline['METHOD'] or 'clone not given'}, "
                    f"{baseline['RESULT_DATE'] or 'date not given'}) on {_where(baseline)}")
    if baseline is None:
        stratum_check = (NOT_EVALUABLE, f"no CPS on a {'/'.join(rules.baseline_timepoints)} specimen", both)
    elif stratum_high is None:
        stratum_check = (NOT_EVALUABLE, f"stratum {stratum!r} is not a CPS stratum of assets/eligibility.yaml", both)
    else:
        high = float(baseline["VALUE"]) >= rules.cps_cutoff
        result = FLAGGED if high != stratum_high else PASSED
        stratum_check = (result, f"randomized in stratum {stratum}; {measured}", both)

    # PD-1 exposure: an ADSL flag when configured and present, else the protocol's rule
    variable = rules.pd1_exposure_variable
    if variable and variable in subj and isinstance(subj[variable], str) and subj[variable].strip():
        exposed = subj[variable].strip().upper() == "Y"
        how = f"ADSL {variable}={subj[variable].strip()}"
        source = f"{src['pathology']}; ADSL"
    elif stratum_high is not None:
        arm = subj.get(N.ARMCD)
        exposed = bool(stratum_high) and arm in rules.pd1_arms
        how = (f"PD-1 inhibitor {'given' if exposed else 'not given'} per protocol (arm {arm}, stratum {stratum})")
        source = both
    else:
        return {"CPS_STRATUM_MISMATCH": stratum_check,
                "PD1_CPS_MISMATCH": (NOT_EVALUABLE, "PD-1 exposure unknown (no ADSL flag, no CPS stratum)", both)}
    if baseline is None:
        pd1_check = (NOT_EVALUABLE, f"{how}; no baseline CPS", source)
    else:
        high = float(baseline["VALUE"]) >= rules.cps_cutoff
        if exposed and not high:
            pd1_check = (FLAGGED, f"{how} but {measured} is below {cut}", source)
        elif not exposed and high:
            pd1_check = (FLAGGED, f"{how} although {measured} is at least {cut}", source)
        else:
            pd1_check = (PASSED, f"{how}; {measured}", source)
    return {"CPS_STRATUM_MISMATCH": stratum_check, "PD1_CPS_MISMATCH": pd1_check}
