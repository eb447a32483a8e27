"""Per-subject outcomes from ADSL, ADTTE and ADRS: arm, stratum, PFS, OS, BOR, ORR, DCR."""

from __future__ import annotations

import pandas as pd

from .. import names as N
from ..errors import InputError
from ._adam import RECIST_TERMS, TIME_UNITS_IN_DAYS, check_subjects_known, require_variables, row_of
from ._recist import best_overall_response

__all__ = ["derive_subjects", "subject_frame", "time_to_event", "check_study"]

RESPONSE = {"CR", "PR"}
DISEASE_CONTROL = {"CR", "PR", "SD", "NON-CR/NON-PD"}


def subject_frame(adsl: pd.DataFrame, config: dict) -> pd.DataFrame:
    """STUDYID, USUBJID, ARMCD, STRATUM (and the reference date) of each ADSL subject."""
    cfg = config["adsl"]
    path = adsl.attrs.get("path", "ADSL")
    needed = [N.STUDYID, N.USUBJID, cfg["arm_variable"]]
    if cfg.get("stratum_variable"):
        needed.append(cfg["stratum_variable"])
    if cfg.get("population_flag"):
        needed.append(cfg["population_flag"])
    require_variables(adsl, needed, what="ADSL")
    for idx, value in adsl[N.USUBJID].items():
        if value is None or pd.isna(value):
            raise InputError("USUBJID is missing", file=path, row=row_of(adsl, idx), field=N.USUBJID)
    dup = adsl[N.USUBJID].duplicated()
    if dup.any():
        idx = dup[dup].index[0]
        raise InputError(f"duplicate USUBJID {adsl.at[idx, N.USUBJID]!s} (one row per subject expected)",
                         file=path, row=row_of(adsl, idx), field=N.USUBJID)
    frame = adsl
    if cfg.get("population_flag"):
        frame = adsl[adsl[cfg["population_flag"]].astype(str).str.upper() == "Y"]
    for idx, value in frame[cfg["arm_variable"]].items():
        if value is None or pd.isna(value):
            raise InputError("arm is missing", file=path, row=row_of(adsl, idx), field=cfg["arm_variable"])
    out = pd.DataFrame({
        N.STUDYID: frame[N.STUDYID].astype(str),
        N.USUBJID: frame[N.USUBJID].astype(str),
        N.ARMCD: frame[cfg["arm_variable"]].astype(str),
    })
    if cfg.get("stratum_variable"):
        raw = frame[cfg["stratum_variable"]]
        mapping = cfg.get("stratum_map") or {}
        out[N.STRATUM] = [None if v is None or pd.isna(v) else mapping.get(str(v), str(v)) for v in raw]
    else:
        out[N.STRATUM] = None
    ref = cfg.get("reference_date")
    out["_REFDT"] = pd.to_datetime(frame[ref], errors="coerce") if ref and ref in frame.columns else pd.NaT
    return out.reset_index(drop=True)


def time_to_event(adtte: pd.DataFrame, paramcd: str, config: dict) -> pd.DataFrame:
    """USUBJID, <months>, <event> of one ADTTE parameter, every used row checked."""
    path = adtte.attrs.get("path", "ADTTE")
    unit_default = config["adtte"].get("unit_if_missing")
    required = [N.USUBJID, "PARAMCD", "AVAL", "CNSR"] + ([] if unit_default else ["AVALU"])
    require_variables(adtte, required, what="ADTTE")
    rows = adtte[adtte["PARAMCD"].astype(str) == paramcd]
    if rows.empty:
        # Otherwise every comparison of this endpoint silently has n=0.
        found = ", ".join(sorted(adtte["PARAMCD"].dropna().astype(str).unique())[:10]) or "none"
        raise InputError(f"no {paramcd} record (PARAMCD values: {found}); name the parameter in the outcomes "
                         "config (adtte.pfs_paramcd / os_paramcd)", file=path, field="PARAMCD")
    dup = rows[N.USUBJID].duplicated()
    if dup.any():
        idx = dup[dup].index[0]
        raise InputError(f"two {paramcd} records for subject {rows.at[idx, N.USUBJID]}", file=path, row=row_of(adtte, idx), field="PARAMCD")
    months, events = [], []
    max_days = float(config["adtte"].get("max_days", 7305))
    has_unit = "AVALU" in adtte.columns
    for idx, rec in rows.iterrows():
        row = row_of(adtte, idx)
        aval = pd.to_numeric(pd.Series([rec["AVAL"]]), errors="coerce").iloc[0]
        if pd.isna(aval):
            raise InputError(f"{paramcd} AVAL is missing or not a number", file=path, row=row, field="AVAL", value=rec["AVAL"])
        if aval < 0:
            raise InputError(f"{paramcd} AVAL is negative", file=path, row=row, field="AVAL", value=float(aval))
        unit = rec["AVALU"] if has_unit and rec["AVALU"] is not None and not pd.isna(rec["AVALU"]) else unit_default
        key = str(unit).upper() if unit is not None else None
        if key not in TIME_UNITS_IN_DAYS:
            raise InputError(f"unknown time unit (expected one of DAYS, WEEKS, MONTHS, YEARS)", file=path, row=row, field="AVALU", value=unit)
        factor = TIME_UNITS_IN_DAYS[key]
        days = float(aval) * (factor if factor is not None else config["days_per_month"])
        if days > max_days:
            raise InputError(f"{paramcd} AVAL is {days:,.0f} days, beyond any possible follow-up "
                             f"(outcomes config adtte.max_days: {max_days:,.0f})", file=path, row=row, field="AVAL",
                             value=rec["AVAL"])
        months.append(float(aval) if factor is None else float(aval) * factor / config["days_per_month"])
        cnsr = pd.to_numeric(pd.Series([rec["CNSR"]]), errors="coerce").iloc[0]
        if cnsr not in (0, 1):
            raise InputError("CNSR must be 0 (event) or 1 (censored)", file=path, row=row, field="CNSR", value=rec["CNSR"])
        events.append(1 - int(cnsr))
    return pd.DataFrame({N.USUBJID: rows[N.USUBJID].astype(str).to_numpy(), "MONTHS": months, "EVENT": events})


def check_study(adsl: pd.DataFrame, protocol, config: dict) -> None:
    """ADSL belongs to this trial: its STUDYID is the protocol's and every ARMCD one of the protocol's arms.

    An ADSL from another study would otherwise join to nothing, or join by coincidence of
    USUBJIDs; an unknown arm would form a group no comparison expects. ``adsl.protocol_checks:
    false`` in the outcomes config turns this off (another study's data, e.g. public test sets).
    """
    if not config["adsl"].get("protocol_checks", True):
        return
    path = adsl.attrs.get("path", "ADSL")
    arm_variable = config["adsl"]["arm_variable"]
    require_variables(adsl, [N.STUDYID, arm_variable], what="ADSL")
    for idx, value in adsl[N.STUDYID].items():
        if str(value) != protocol.studyid:
            raise InputError(f"STUDYID is not the protocol's {protocol.studyid}: an ADSL of another study",
                             file=path, row=row_of(adsl, idx), field=N.STUDYID, value=value)
    arms = sorted(protocol.arms)
    for idx, value in adsl[arm_variable].items():
        if value is not None and not pd.isna(value) and str(value) not in arms:
            raise InputError(f"arm is not one of the protocol's arms ({', '.join(arms)})", file=path,
                             row=row_of(adsl, idx), field=arm_variable, value=value)


def derive_subjects(adsl: pd.DataFrame, adtte: pd.DataFrame, adrs: pd.DataFrame, config: dict) -> pd.DataFrame:
    """One row per ADSL subject (``analysis.subjects`` columns)."""
    subjects = subject_frame(adsl, config)
    known = set(adsl[N.USUBJID].astype(str))
    for frame, what in ((adtte, "ADTTE"), (adrs, "ADRS")):
        require_variables(frame, [N.USUBJID], what=what)
        check_subjects_known(frame, known, what=what)
    for endpoint, key in (("PFS", "pfs_paramcd"), ("OS", "os_paramcd")):
        tte = time_to_event(adtte, config["adtte"][key], config)
        tte = tte.rename(columns={"MONTHS": f"{endpoint}_MONTHS", "EVENT": f"{endpoint}_EVENT"})
        subjects = subjects.merge(tte, on=N.USUBJID, how="left")
        subjects[f"{endpoint}_EVENT"] = subjects[f"{endpoint}_EVENT"].astype("Int32")
    bor, source = best_overall_response(adrs, subjects[[N.USUBJID, "_REFDT"]], config["adrs"])
    subjects["BOR"] = subjects[N.USUBJID].map(bor).fillna("MISSING")
    subjects["BOR_SOURCE"] = source
    subjects["RESPONDER"] = subjects["BOR"].isin(RESPONSE)
    subjects["DISEASE_CONTROL"] = subjects["BOR"].isin(DISEASE_CONTROL)
    assert set(subjects["BOR"]) <= set(RECIST_TERMS) | {"MISSING"}
    return subjects.drop(columns=["_REFDT"]).sort_values(N.USUBJID, kind="stable").reset_index(drop=True)
