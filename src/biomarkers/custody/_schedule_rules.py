"""Rules against the protocol's schedule and the samplesheet; the completeness rows.

* UNKNOWN_SUBJECT: events of a subject the randomization list does not have.
* MISSED_COLLECTION, and one completeness row per (subject, due timepoint, type) expected
  or collected, plus rows for what was collected at timepoints that are not due.
* UNEXPECTED_SPECIMEN_TYPE and OUT_OF_WINDOW for every primary specimen (visit windows
  are compared on the local date of collection).
* ASSAY_WITHOUT_CONSUMPTION: every assay file of the samplesheet was consumed by that assay.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd

from .. import names as N
from ..protocol import DueTimepoint, Protocol
from ._effective import local_time
from ._findings import Findings
from ._specimens import SpecimenIndex

__all__ = ["unknown_subjects", "duplicate_specimens", "events_after_cutoff", "schedule", "assays_without_consumption"]

_CREATIONS = ("COLLECTED", "ALIQUOTED", "DERIVED")


def duplicate_specimens(live: list[dict], found: Findings) -> None:
    """DUPLICATE_SPECIMEN: every creation event of a specimen after its first (import refuses them; old or
    hand-edited ledgers, or a race before validation and append were one transaction, may hold them)."""
    first: dict[str, dict] = {}
    for e in live:
        sid = e.get("specimen_id")
        if e["event_type"] not in _CREATIONS or not sid:
            continue
        if sid in first:
            found.add("DUPLICATE_SPECIMEN", f"specimen created twice: {e['event_type']} event {e['event_id']} after "
                      f"{first[sid]['event_type']} event {first[sid]['event_id']}", subject=e["subject_id"], specimen=sid,
                      timepoint=e.get("timepoint"), event=e["event_id"])
        else:
            first[sid] = e


def events_after_cutoff(live: list[dict], cutoff: dt.date | None, found: Findings) -> None:
    """EVENT_AFTER_CUTOFF: an event whose local date of occurrence or of recording is after the cut-off."""
    if cutoff is None:
        return
    for e in live:
        late = [(what, local_time(e, key).date()) for what, key in (("happened", "occurred"), ("was recorded", "recorded"))
                if local_time(e, key).date() > cutoff]
        if late:
            what, day = late[0]
            found.add("EVENT_AFTER_CUTOFF", f"{e['event_type']} event {what} on {day}, after the data cut-off {cutoff}",
                      subject=e["subject_id"], specimen=e.get("specimen_id"), timepoint=e.get("timepoint"), event=e["event_id"])


def unknown_subjects(live: list[dict], known: set[str], found: Findings) -> None:
    """UNKNOWN_SUBJECT, once per subject, raised by the subject's first live event."""
    for subj in sorted({e["subject_id"] for e in live} - known):
        first = next(e for e in live if e["subject_id"] == subj)
        found.add("UNKNOWN_SUBJECT", f"subject {subj} is not in the randomization list ({first['event_type']} event)",
                  subject=subj, specimen=first.get("specimen_id"), event=first["event_id"])


@dataclass
class _Held:
    """What the ledger holds: specimen ids by (subject, timepoint) and type; timepoints and primaries by subject."""

    by_visit: dict[tuple[str, str], dict[str, list[str]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    timepoints: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    primaries: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def of(cls, index: SpecimenIndex) -> _Held:
        held = cls()
        for s in index.spec.values():
            held.by_visit[(s["subject"], s["timepoint"])][s["type"]].append(s["sid"])
            held.timepoints[s["subject"]].add(s["timepoint"])
            if s["parent"] is None:
                held.primaries[s["subject"]].append(s["sid"])
        return held


def _row(subj: str, arm: str, tp_id: str, stype: str, expected: bool, have: dict[str, list[str]]) -> dict:
    return {N.USUBJID: subj, N.ARMCD: arm, N.TIMEPOINT: tp_id, N.SPECIMEN_TYPE: stype,
            "EXPECTED": expected, "COLLECTED": stype in have, "N_SPECIMENS": len(have.get(stype, []))}


def _due_collections(subj: str, arm: str, due_now: dict[str, DueTimepoint], held: _Held, withdrawn: dt.datetime | None,
                     protocol: Protocol, found: Findings) -> list[dict]:
    """Completeness rows of the timepoints due by the cut-off (not those after a consent withdrawal); MISSED_COLLECTION."""
    rows = []
    for tp_id, due in due_now.items():
        if withdrawn is not None and due.window_start > withdrawn.date():
            continue
        required, _optional = protocol.expected_types(arm, tp_id)
        have = held.by_visit.get((subj, tp_id), {})
        for stype in sorted(required | set(have)):
            rows.append(_row(subj, arm, tp_id, stype, stype in required, have))
            if stype in required and stype not in have:
                found.add("MISSED_COLLECTION", f"{stype} expected at {tp_id} (window {due.window_start} to {due.window_end}) was not collected",
                          subject=subj, timepoint=tp_id)
    return rows


def _not_due_collections(subj: str, arm: str, due_now: dict[str, DueTimepoint], held: _Held) -> list[dict]:
    """Completeness rows (not expected, collected) of the timepoints that are not due."""
    rows = []
    for tp_id in sorted(held.timepoints.get(subj, ())):
        if tp_id in due_now:
            continue
        have = held.by_visit[(subj, tp_id)]
        rows.extend(_row(subj, arm, tp_id, stype, False, have) for stype in sorted(have))
    return rows


def _primary_timing(s: dict, arm: str, every: dict[str, DueTimepoint], protocol: Protocol, found: Findings) -> None:
    """UNEXPECTED_SPECIMEN_TYPE and OUT_OF_WINDOW of one primary specimen."""
    tp_id, created = s["timepoint"], s["created"]
    event = created["event_id"]
    definition = protocol.timepoint(arm, tp_id)
    if definition is None:
        found.on_specimen(s, "UNEXPECTED_SPECIMEN_TYPE", f"{tp_id} is not a timepoint of arm {arm}", event=event)
        return
    required, optional = protocol.expected_types(arm, tp_id)
    allowed = set(required) | set(optional)
    allowed |= {p for t in allowed for p in protocol.specimen_types[t].derived_from}
    if s["type"] not in allowed:
        found.on_specimen(s, "UNEXPECTED_SPECIMEN_TYPE", f"{s['type']} is not expected at {tp_id} for arm {arm}", event=event)
    day = local_time(created).date()
    due = every.get(tp_id)
    if due is None:
        found.on_specimen(s, "OUT_OF_WINDOW", f"collected on {day} for {tp_id}, which is not due: its anchor milestone "
                          f"{definition.anchor} has no date", event=event)
    elif not due.contains(day):
        found.on_specimen(s, "OUT_OF_WINDOW", f"collected on {day}, outside the {tp_id} window {due.window_start} to {due.window_end}",
                          event=event)


def schedule(index: SpecimenIndex, protocol: Protocol, arm_of: dict[str, str], milestones: dict[str, dict[str, dt.date]],
             data_cutoff: dt.date | None, found: Findings) -> list[dict]:
    """The schedule rules for every randomized subject; returns the completeness rows."""
    held = _Held.of(index)
    completeness = []
    for subj, arm in sorted(arm_of.items()):
        ms = milestones.get(subj, {})
        due_now = {d.id: d for d in protocol.due_timepoints(arm, ms, cutoff=data_cutoff)} if data_cutoff else {}
        every = {d.id: d for d in protocol.due_timepoints(arm, ms)}
        completeness += _due_collections(subj, arm, due_now, held, index.withdrawals.get(subj), protocol, found)
        completeness += _not_due_collections(subj, arm, due_now, held)
        for sid in sorted(held.primaries.get(subj, ())):
            _primary_timing(index.spec[sid], arm, every, protocol, found)
    return completeness


def assays_without_consumption(samplesheet: pd.DataFrame | None, live: list[dict], index: SpecimenIndex, protocol: Protocol,
                               found: Findings) -> None:
    """ASSAY_WITHOUT_CONSUMPTION, once per specimen and ledger assay (a WES BAM and its somatic VCF are both WES)."""
    if samplesheet is None or not len(samplesheet):
        return
    consumed = {(e["specimen_id"], e.get("assay")) for e in live if e["event_type"] == "CONSUMED"}
    unconsumed: dict[tuple[str, str], dict] = {}
    for row in samplesheet.itertuples(index=False):
        if getattr(row, N.SS_CONTROL, None) is True:
            continue  # a flow reference control is donor material, not a trial specimen
        assay = getattr(row, N.SS_ASSAY)
        event_assay = protocol.assays.get(assay, {}).get("event_assay")
        specimen = getattr(row, N.SS_SPECIMEN)
        if (specimen, event_assay) not in consumed:
            entry = unconsumed.setdefault((specimen, event_assay), {"assays": [], "subject": getattr(row, N.SS_SUBJECT),
                                                                    "timepoint": getattr(row, N.SS_TIMEPOINT)})
            entry["assays"].append(assay)
    for (specimen, event_assay), entry in sorted(unconsumed.items()):
        where = "is not in the ledger" if specimen not in index.spec else f"has no CONSUMED event for {event_assay}"
        found.add("ASSAY_WITHOUT_CONSUMPTION", f"samplesheet lists {', '.join(sorted(entry['assays']))} file(s) for {specimen}, which {where}",
                  subject=entry["subject"], specimen=specimen, timepoint=entry["timepoint"])
