"""Best overall response (RECIST 1.1) from ADRS: read from the BOR parameter or derived from OVR.

Derivation from the per-visit overall responses (OVR), in date order, up to and
including the first PD:

- confirmed mode: CR needs a later CR at least ``confirmation_min_days`` after it
  with only CR or NE in between; PR needs a later CR or PR that far apart with
  only CR, PR or NE in between; at most ``max_ne_between`` NE in between. An
  unconfirmed CR or PR counts as SD.
- SD (or NON-CR/NON-PD, for subjects without measurable disease) counts only at
  least ``sd_min_days`` after the reference date; an earlier one does not make
  the best response SD.
- then PD, then NE (assessed but nothing better qualifies); MISSING when the
  subject has no assessment.

These are the rules of RECIST 1.1 section 4.4 and of admiral's
``derive_param_bor``/``derive_param_confirmed_bor`` with the windows configurable.
"""

from __future__ import annotations

import pandas as pd

from .. import names as N
from ..errors import InputError
from ._adam import RECIST_TERMS, require_variables, row_of

__all__ = ["best_overall_response", "derive_bor"]


def _check_terms(rows: pd.DataFrame, adrs: pd.DataFrame, missing_terms: set[str]) -> pd.Series:
    path = adrs.attrs.get("path", "ADRS")
    values = []
    for idx, value in rows["AVALC"].items():
        text = "" if value is None or pd.isna(value) else str(value).strip().upper()
        if text in missing_terms or text == "":
            values.append("MISSING")
        elif text in RECIST_TERMS:
            values.append(text)
        else:
            raise InputError(f"response {value!r} is not a RECIST 1.1 term ({', '.join(RECIST_TERMS)})",
                             file=path, row=row_of(adrs, idx), field="AVALC")
    return pd.Series(values, index=rows.index)


def derive_bor(visits: list[tuple[int, str]], *, confirmation: bool, confirmation_min_days: int,
               max_ne_between: int, sd_min_days: int) -> str:
    """BOR of one subject from ``(study day from reference, OVR)`` pairs."""
    visits = sorted((d, r) for d, r in visits if r != "MISSING")
    if not visits:
        return "MISSING"
    cut = next((i for i, (_, r) in enumerate(visits) if r == "PD"), None)
    upto = visits if cut is None else visits[: cut + 1]

    def confirmed(i: int, confirming: set[str], between: set[str]) -> bool:
        day0 = upto[i][0]
        n_ne = 0
        for day, resp in upto[i + 1:]:
            if day - day0 >= confirmation_min_days and resp in confirming:
                return True
            if resp == "NE":
                n_ne += 1
                if n_ne > max_ne_between:
                    return False
            elif resp not in between:
                return False
        return False

    responses = [r for _, r in upto]
    if confirmation:
        if any(r == "CR" and confirmed(i, {"CR"}, {"CR"}) for i, r in enumerate(responses)):
            return "CR"
        if any(r in ("CR", "PR") and confirmed(i, {"CR", "PR"}, {"CR", "PR"}) for i, r in enumerate(responses)):
            return "PR"
    else:
        if "CR" in responses:
            return "CR"
        if "PR" in responses:
            return "PR"
    late = {r for d, r in upto if d >= sd_min_days}
    if late & {"CR", "PR", "SD"}:
        return "SD"
    if "NON-CR/NON-PD" in late:
        return "NON-CR/NON-PD"
    if "PD" in responses:
        return "PD"
    return "NE"


def best_overall_response(adrs: pd.DataFrame, refs: pd.DataFrame, cfg: dict) -> tuple[dict[str, str], str]:
    """``({USUBJID: BOR}, source)`` for the subjects of ``refs`` (USUBJID, _REFDT)."""
    require_variables(adrs, [N.USUBJID, "PARAMCD", "AVALC"], what="ADRS")
    missing_terms = {t.upper() for t in cfg.get("missing_terms", [])}
    paramcd = adrs["PARAMCD"].astype(str)
    bor_rows = adrs[paramcd == cfg["bor_paramcd"]]
    source = cfg.get("bor_source", "auto")
    if source == "paramcd" or (source == "auto" and len(bor_rows)):
        if not len(bor_rows):
            raise InputError(f"no {cfg['bor_paramcd']} records (adrs.bor_source is paramcd)", file=adrs.attrs.get("path", "ADRS"), field="PARAMCD")
        dup = bor_rows[N.USUBJID].duplicated()
        if dup.any():
            idx = dup[dup].index[0]
            raise InputError(f"two {cfg['bor_paramcd']} records for one subject", file=adrs.attrs.get("path", "ADRS"),
                             row=row_of(adrs, idx), field=N.USUBJID, value=adrs.at[idx, N.USUBJID])
        terms = _check_terms(bor_rows, adrs, missing_terms)
        return dict(zip(bor_rows[N.USUBJID].astype(str), terms)), cfg["bor_paramcd"]

    ovr = adrs[paramcd == cfg["ovr_paramcd"]]
    flag = cfg.get("analysis_flag")
    if flag and flag in ovr.columns:
        ovr = ovr[ovr[flag].astype(str).str.upper() == "Y"]
    label = f"DERIVED:{cfg['ovr_paramcd']} ({'confirmed' if cfg['confirmation'] else 'unconfirmed'})"
    if not len(ovr):
        return {}, "none (no BOR or OVR records)"
    require_variables(adrs, ["ADT"], what="ADRS")
    terms = _check_terms(ovr, adrs, missing_terms)
    dates = pd.to_datetime(ovr["ADT"], errors="coerce")
    refdt = dict(zip(refs[N.USUBJID], refs["_REFDT"]))
    path = adrs.attrs.get("path", "ADRS")
    visits: dict[str, list[tuple[int, str]]] = {}
    for idx in ovr.index:
        subject = str(ovr.at[idx, N.USUBJID])
        if subject not in refdt:  # outside the analysis population
            continue
        if pd.isna(dates[idx]):
            raise InputError("assessment date is missing or not a date", file=path, row=row_of(adrs, idx), field="ADT", value=ovr.at[idx, "ADT"])
        ref = refdt[subject]
        if pd.isna(ref):
            raise InputError("reference date (adsl.reference_date) is missing for a subject with response assessments",
                             file="ADSL", field="reference_date", value=subject)
        visits.setdefault(subject, []).append(((dates[idx] - ref).days, terms[idx]))
    windows = {k: cfg[k] for k in ("confirmation", "confirmation_min_days", "max_ne_between", "sd_min_days")}
    return {s: derive_bor(v, **windows) for s, v in visits.items()}, label
