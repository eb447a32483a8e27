"""Check the ledger against the protocol: effective events, specimens, lineage, rule findings, completeness.

Rules (ids and severities in ``assets/custody_rules.yaml``; every limit comes from
``assets/protocol.yaml``) are evaluated on *effective* events: a VOIDED event is
ignored, a CORRECTED event's new value replaces the old one. Times are compared as
UTC instants; visit windows are compared on the local date of collection.

The pieces, in the order :func:`check_custody` runs them:

* ``_effective``: corrections and voids applied, times parsed;
* ``_specimens``: specimens from their creation events, with parents and children;
* ``_specimen_rules``: the rules on each specimen's events, then storage positions;
* ``_schedule_rules``: unknown subjects, the collection schedule, the samplesheet;
* ``_tables``: the custody tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from .. import names as N
from ..assets import load_config
from ..protocol import Protocol
from ._effective import effective_events
from ._findings import Findings
from ._schedule_rules import assays_without_consumption, duplicate_specimens, events_after_cutoff, schedule, unknown_subjects
from ._specimen_rules import SPECIMEN_RULES, storage_position_conflicts
from ._specimens import index_specimens
from ._tables import completeness_table, events_table, issues_table, specimen_tables

__all__ = ["CustodyResult", "check_custody", "load_rules"]


def load_rules() -> dict[str, dict]:
    return load_config("custody_rules.yaml")["rules"]


@dataclass
class CustodyResult:
    specimens: pd.DataFrame
    events: pd.DataFrame
    lineage: pd.DataFrame
    issues: pd.DataFrame
    completeness: pd.DataFrame
    data_cutoff: dt.date | None = None
    extra: dict = field(default_factory=dict)
    data_cutoff_source: str = "given"


def check_custody(raw_events: list[dict], protocol: Protocol, subjects: pd.DataFrame,
                  milestones: dict[str, dict[str, dt.date]], *, samplesheet: pd.DataFrame | None = None,
                  data_cutoff: dt.date | None = None, today: dt.date | None = None) -> CustodyResult:
    """Every rule of ``assets/custody_rules.yaml`` over the ledger's events; the custody tables.

    Without ``data_cutoff`` the check is as of ``today`` (default: the UTC date now):
    visits are due if their window closed by today, and events dated after today are
    flagged (EVENT_AFTER_CUTOFF). The cut-off is never taken from the events
    themselves, where one mistyped future date would make every later visit "due".
    ``CustodyResult.data_cutoff_source`` says which it was.
    """
    found = Findings(load_rules())
    events = effective_events(raw_events)
    live = [e for e in events if not e["_voided"]]
    arm_of = dict(zip(subjects[N.USUBJID], subjects[N.ARMCD]))
    source = "given"
    if data_cutoff is None:
        data_cutoff = today or dt.datetime.now(dt.timezone.utc).date()
        source = "none given: the day of the check"
    index = index_specimens(live)
    specimens = [index.spec[sid] for sid in sorted(index.spec)]

    unknown_subjects(live, set(arm_of), found)
    duplicate_specimens(live, found)
    events_after_cutoff(live, data_cutoff, found)
    for s in specimens:
        st = protocol.specimen_types[s["type"]]
        for rule in SPECIMEN_RULES:
            rule(s, st, index, found)
    storage_position_conflicts(specimens, index, found)
    completeness = schedule(index, protocol, arm_of, milestones, data_cutoff, found)
    assays_without_consumption(samplesheet, live, index, protocol, found)

    issues = issues_table(found.rows)
    specimen_table, lineage = specimen_tables(index, protocol, arm_of, issues)
    return CustodyResult(specimens=specimen_table, events=events_table(events, protocol.studyid), lineage=lineage, issues=issues,
                         completeness=completeness_table(completeness, protocol.studyid), data_cutoff=data_cutoff,
                         data_cutoff_source=source)
