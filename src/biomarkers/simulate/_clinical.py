"""Stage "clinical" of the simulated trial: ADaM ADSL, ADTTE and ADRS (SAS transport v5).

Everything follows the outcomes the trial stage drew (``trial.subjects``): PFS and
OS in days with CNSR = 1 - event, and RECIST 1.1 per-visit overall responses (OVR)
every 6 weeks (jittered) until progression or censoring. The ADRS BOR record is the
best overall response those visits give under the bundled ``assets/outcomes.yaml``
rules, so ADRS is self-consistent; the latent response drawn by the trial stage
stays in ``truth/subjects.csv``. The known TMB-high dependence of PFS is in
``truth/outcome_model.json``.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

from .. import names as N
from ..protocol import Protocol
from ._container import SimulatedTrial

__all__ = ["simulate_clinical"]

ASSESSMENT_EVERY_DAYS = 42


_XPT_STAMP = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")


def _write_xpt(frame: pd.DataFrame, path, label: str, created: dt.date) -> None:
    import pyreadstat

    path.parent.mkdir(parents=True, exist_ok=True)
    pyreadstat.write_xport(frame, str(path), table_name=label, file_format_version=5,
                           column_labels=None)
    # pyreadstat stamps the header records with the wall-clock time; the simulated
    # trial must be byte-identical for a seed, so stamp them with the data cut-off.
    raw = path.read_bytes()
    header_end = raw.index(b"HEADER RECORD*******OBS     HEADER RECORD")
    stamp = created.strftime("%d%b%y").upper().encode() + b":00:00:00"
    path.write_bytes(_XPT_STAMP.sub(stamp, raw[:header_end]) + raw[header_end:])


def _visits(subj, rng: np.random.Generator, stop: int) -> list[tuple[int, str]]:
    """(study day, OVR) pairs of one subject."""
    pre = {"CR": "CR", "PR": "PR", "SD": "SD", "NE": "NE", "PD": None}[subj.BOR]
    visits = []
    day = ASSESSMENT_EVERY_DAYS
    while pre is not None and day < stop:
        visits.append((day + int(rng.integers(-3, 4)), pre))
        day += ASSESSMENT_EVERY_DAYS
    visits = [(d, r) for d, r in visits if d < stop]
    if subj.PFS_EVENT:
        visits.append((int(subj.PFS_DAYS), "PD"))
    return visits


def simulate_clinical(trial: SimulatedTrial, protocol: Protocol, rng: np.random.Generator) -> None:
    from ..outcomes import derive_bor, load_outcomes_config

    cfg = load_outcomes_config()["adrs"]
    windows = {k: cfg[k] for k in ("confirmation", "confirmation_min_days", "max_ne_between", "sd_min_days")}
    subjects = trial.subjects
    studyid = protocol.studyid
    randdt = pd.to_datetime(subjects["RANDDT"]).dt.date
    adsl = pd.DataFrame({
        N.STUDYID: studyid,
        N.USUBJID: subjects[N.USUBJID],
        "SUBJID": subjects[N.USUBJID].str.split("-").str[-1],
        "SITEID": subjects["SITEID"],
        "ARM": [protocol.arms[a].label[:200] for a in subjects[N.ARMCD]],
        N.ARMCD: subjects[N.ARMCD],
        "ACTARMCD": subjects[N.ARMCD],
        "STRATA1": subjects[N.STRATUM],
        "RANDDT": randdt,
        "ITTFL": "Y",
    })
    tte_rows, rs_rows = [], []
    for subj, start in zip(subjects.itertuples(index=False), randdt):
        for paramcd, param, days, event, what in (
            ("PFS", "Progression-Free Survival", subj.PFS_DAYS, subj.PFS_EVENT, "Disease progression or death"),
            ("OS", "Overall Survival", subj.OS_DAYS, subj.OS_EVENT, "Death"),
        ):
            tte_rows.append({N.STUDYID: studyid, N.USUBJID: subj.USUBJID, "PARAMCD": paramcd, "PARAM": param,
                             "AVAL": float(days), "AVALU": "DAYS", "CNSR": float(1 - int(event)), "STARTDT": start,
                             "ADT": start + dt.timedelta(days=int(days)),
                             "EVNTDESC": what if event else "Censored at last assessment or cut-off"})
        stop = int(subj.PFS_DAYS) + (0 if subj.PFS_EVENT else 1)
        visits = _visits(subj, rng, stop)
        for i, (day, resp) in enumerate(visits, 1):
            rs_rows.append({N.STUDYID: studyid, N.USUBJID: subj.USUBJID, "PARAMCD": "OVR",
                            "PARAM": "Overall Response by Investigator", "AVALC": resp,
                            "ADT": start + dt.timedelta(days=day), "AVISIT": f"WEEK {day // 7}", "AVISITN": float(i),
                            "ANL01FL": "Y"})
        bor = derive_bor(visits, **windows)
        rs_rows.append({N.STUDYID: studyid, N.USUBJID: subj.USUBJID, "PARAMCD": "BOR",
                        "PARAM": "Best Confirmed Overall Response by Investigator (RECIST 1.1)", "AVALC": bor,
                        "ADT": start + dt.timedelta(days=visits[-1][0]) if visits else None,
                        "AVISIT": "", "AVISITN": np.nan, "ANL01FL": "Y"})
    adtte = pd.DataFrame(tte_rows)
    adrs = pd.DataFrame(rs_rows)
    adam = trial.outdir / "adam"
    created = dt.date.fromisoformat(trial.data_cutoff)
    _write_xpt(adsl, adam / "adsl.xpt", "ADSL", created)
    _write_xpt(adtte, adam / "adtte.xpt", "ADTTE", created)
    _write_xpt(adrs, adam / "adrs.xpt", "ADRS", created)
    trial.params.update({"adsl": "adam/adsl.xpt", "adtte": "adam/adtte.xpt", "adrs": "adam/adrs.xpt"})
    trial.truth["adam"] = {"adsl": adsl, "adtte": adtte, "adrs": adrs}
