"""Stage "clinical" of the simulated trial: ADaM ADSL, ADTTE and ADRS (SAS transport v5).

Everything follows the outcomes the trial stage drew (``trial.subjects``): PFS and
OS in days with CNSR = 1 - event, and RECIST 1.1 per-visit overall responses (OVR)
every 6 weeks (jittered) until progression or censoring, in a course designed from
the subject's latent best response (``_responses``). The ADRS BOR record is the true
best overall response of that design, also in ``truth/best_response.csv`` (with the
latent response, the number of assessments and the pattern); it is not derived by
the package, so the pipeline's derivation from OVR can be tested against it. The
known TMB-high dependence of PFS is in ``truth/outcome_model.json``.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

from .. import names as N
from ..assets import load_config
from ..protocol import Protocol
from ._container import SimulatedTrial, stage_rng
from ._responses import assessment_days, check_windows, design_course

__all__ = ["simulate_clinical"]

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


def simulate_clinical(trial: SimulatedTrial, protocol: Protocol, rng: np.random.Generator) -> None:
    # the RECIST windows the pipeline applies (the same trial facts file)
    check_windows(load_config("outcomes.yaml", schema="outcomes.schema.json")["adrs"])
    pattern_rng = stage_rng(trial.seed, "clinical:response")  # its own stream: the assessment days stay as drawn
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
    tte_rows, rs_rows, best = [], [], []
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
        assessed = [] if subj.BOR == "PD" else assessment_days(rng, stop)
        course = design_course(subj.BOR, assessed, progression_day=int(subj.PFS_DAYS) if subj.PFS_EVENT else None,
                               u=float(pattern_rng.random()))
        visits = course.visits
        best.append({N.USUBJID: subj.USUBJID, "LATENT_BOR": subj.BOR, "N_ASSESSMENTS": len(assessed), "PATTERN": course.pattern,
                     "BOR": course.bor})
        for i, (day, resp) in enumerate(visits, 1):
            rs_rows.append({N.STUDYID: studyid, N.USUBJID: subj.USUBJID, "PARAMCD": "OVR",
                            "PARAM": "Overall Response by Investigator", "AVALC": resp,
                            "ADT": start + dt.timedelta(days=day), "AVISIT": f"WEEK {day // 7}", "AVISITN": float(i),
                            "ANL01FL": "Y"})
        rs_rows.append({N.STUDYID: studyid, N.USUBJID: subj.USUBJID, "PARAMCD": "BOR",
                        "PARAM": "Best Confirmed Overall Response by Investigator (RECIST 1.1)", "AVALC": course.bor,
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
    trial.truth["best_response"] = pd.DataFrame(best)
    trial.truth_dir.mkdir(parents=True, exist_ok=True)
    trial.truth["best_response"].to_csv(trial.truth_dir / "best_response.csv", index=False)
