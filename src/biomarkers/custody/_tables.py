"""The custody tables (declared in :mod:`biomarkers.schemas`) from the checked specimens and events.

``specimens``: one row per specimen with its state, location and SPREC code;
``lineage``: parent-child links (CDISC-style REFID/SPEC/PARENT/LEVEL);
``events``: every effective event in biospecimen-event terms (BE domain variables);
``issues`` and ``completeness``: the findings and the schedule rows, sorted.
"""

from __future__ import annotations

import json

import pandas as pd

from .. import names as N
from ..protocol import Protocol
from ._effective import local_time
from ._findings import ISSUE_COLUMNS
from ._specimens import POSITION, SpecimenIndex
from ._sprec import sprec_code

__all__ = ["specimen_tables", "events_table", "issues_table", "completeness_table"]

_BECAT = {
    "COLLECTED": "COLLECTION", "RECEIVED": "TRANSPORT", "SHIPPED": "TRANSPORT", "PROCESSED": "PREPARATION",
    "ALIQUOTED": "PREPARATION", "DERIVED": "PREPARATION", "STORED": "STORAGE", "MOVED": "STORAGE",
    "FROZEN": "STORAGE", "THAWED": "STORAGE", "CONSUMED": "USE", "DISPOSED": "DISPOSITION",
    "CONSENT_WITHDRAWN": "CONSENT",
}
_STATUS = {
    "COLLECTED": "COLLECTED", "RECEIVED": "IN_PROCESSING", "PROCESSED": "IN_PROCESSING", "ALIQUOTED": "IN_PROCESSING",
    "DERIVED": "IN_PROCESSING", "THAWED": "IN_PROCESSING", "STORED": "STORED", "MOVED": "STORED", "FROZEN": "STORED",
    "SHIPPED": "IN_TRANSIT", "CONSUMED": "CONSUMED", "DISPOSED": "DISPOSED",
}
# Columns that are part of the event's identity or have their own column in events.parquet.
_NOT_DETAILS = {"event_id", "event_type", "subject_id", "specimen_id", "occurred_at", "recorded_at", "occurred_offset",
                "recorded_offset", "actor_id", "site", "seq", "hash", "_t", "_r"}
_SPECIMEN_COLUMNS = [N.STUDYID, N.USUBJID, N.SPECIMEN_ID, N.PARENT_SPECIMEN_ID, "LEVEL", N.SPECIMEN_TYPE, "SPECIMEN_CATEGORY",
                     N.TIMEPOINT, N.ARMCD, "COLLECTED_AT", "STATUS", "SITE", "LOCATION", "VOLUME_ML", "FREEZE_THAW_COUNT",
                     "SPREC", "CONSENT_STATUS", "N_EVENTS", "N_ISSUES"]
_LINEAGE_COLUMNS = [N.STUDYID, N.USUBJID, "REFID", "SPEC", "PARENT", "LEVEL"]
_EVENT_COLUMNS = [N.STUDYID, N.USUBJID, "BESEQ", "BEREFID", "BETERM", "BEDECOD", "BECAT", "BESTDTC", "BEDTC", "BELOC",
                  "BEPARTY", "BEPRTYID", "EVENT_ID", "VOIDED", "CORRECTED_BY", "DETAILS", "HASH"]
_COMPLETENESS_COLUMNS = [N.USUBJID, N.ARMCD, N.TIMEPOINT, N.SPECIMEN_TYPE, "EXPECTED", "COLLECTED", "N_SPECIMENS"]


def issues_table(rows: list[dict]) -> pd.DataFrame:
    """Findings by subject, specimen, rule and event (subject- and visit-level findings first)."""
    issues = pd.DataFrame(rows, columns=ISSUE_COLUMNS)
    return issues.sort_values([N.USUBJID, N.SPECIMEN_ID, "RULE", "EVENT_ID"], kind="stable", na_position="first").reset_index(drop=True)


def _state(s: dict) -> tuple[str, str, str | None]:
    """(STATUS, SITE, LOCATION) of a specimen after its last event."""
    evs = s["events"]
    last = evs[-1]
    status = _STATUS.get(last["event_type"], "IN_PROCESSING")
    location = None
    place = next((e for e in reversed(evs) if e["event_type"] in ("STORED", "MOVED")), None)
    if status == "STORED" and place is not None:
        location = "/".join(str(place[k]) for k in POSITION if place.get(k))
    site = last.get("destination_site") if status == "IN_TRANSIT" else last["site"]
    return status, site, location


def specimen_tables(index: SpecimenIndex, protocol: Protocol, arm_of: dict[str, str],
                    issues: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(specimens, lineage), one row each per specimen, by specimen id."""
    n_issues = issues[N.SPECIMEN_ID].value_counts().to_dict()
    studyid = protocol.studyid
    spec = index.spec
    spec_rows, lineage_rows = [], []
    for sid in sorted(spec):
        s = spec[sid]
        status, site, location = _state(s)
        lvl = index.level(s)
        spec_rows.append({
            N.STUDYID: studyid, N.USUBJID: s["subject"], N.SPECIMEN_ID: sid, N.PARENT_SPECIMEN_ID: s["parent"],
            "LEVEL": lvl, N.SPECIMEN_TYPE: s["type"], "SPECIMEN_CATEGORY": protocol.specimen_types[s["type"]].category,
            N.TIMEPOINT: s["timepoint"], N.ARMCD: arm_of.get(s["subject"]), "COLLECTED_AT": pd.Timestamp(s["created"]["_t"]),
            "STATUS": status, "SITE": site, "LOCATION": location, "VOLUME_ML": s["created"].get("volume_ml"),
            "FREEZE_THAW_COUNT": s["thaws"], "SPREC": sprec_code(s, spec, protocol),
            "CONSENT_STATUS": "WITHDRAWN" if s["subject"] in index.withdrawals else "CONSENTED",
            "N_EVENTS": len(s["events"]), "N_ISSUES": int(n_issues.get(sid, 0)),
        })
        lineage_rows.append({N.STUDYID: studyid, N.USUBJID: s["subject"], "REFID": sid, "SPEC": s["type"], "PARENT": s["parent"],
                             "LEVEL": lvl + 1})
    specimens = pd.DataFrame(spec_rows) if spec_rows else pd.DataFrame(columns=_SPECIMEN_COLUMNS)
    return specimens, pd.DataFrame(lineage_rows, columns=_LINEAGE_COLUMNS)


def events_table(events: list[dict], studyid: str) -> pd.DataFrame:
    """Every effective event (voided ones too, flagged), in ledger order."""
    rows = []
    for e in events:
        loc = [e["site"]] + [str(e[k]) for k in POSITION if e.get(k)]
        details = {k: v for k, v in e.items() if k not in _NOT_DETAILS and not k.startswith("_")}
        rows.append({
            N.STUDYID: studyid, N.USUBJID: e["subject_id"], "BESEQ": e["seq"], "BEREFID": e.get("specimen_id"),
            "BETERM": e["event_type"], "BEDECOD": "DERIVED" if e["event_type"] == "ALIQUOTED" else e["event_type"],
            "BECAT": _BECAT.get(e["event_type"]), "BESTDTC": local_time(e).isoformat(), "BEDTC": local_time(e, "recorded").isoformat(),
            "BELOC": "/".join(loc), "BEPARTY": e["site"], "BEPRTYID": e["actor_id"], "EVENT_ID": e["event_id"],
            "VOIDED": e["_voided"], "CORRECTED_BY": e["_corrected_by"],
            "DETAILS": json.dumps(details, sort_keys=True, separators=(",", ":")) if details else None, "HASH": e["hash"],
        })
    return pd.DataFrame(rows, columns=_EVENT_COLUMNS)


def completeness_table(rows: list[dict], studyid: str) -> pd.DataFrame:
    comp = pd.DataFrame(rows, columns=_COMPLETENESS_COLUMNS)
    comp = comp.astype({"EXPECTED": bool, "COLLECTED": bool, "N_SPECIMENS": "int32"})
    comp.insert(0, N.STUDYID, studyid)
    return comp.sort_values([N.USUBJID, N.TIMEPOINT, N.SPECIMEN_TYPE]).reset_index(drop=True)
