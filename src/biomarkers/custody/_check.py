"""Check the ledger against the protocol: effective events, specimens, lineage, rule findings, completeness.

Rules (ids and severities in ``assets/custody_rules.yaml``; every limit comes from
``assets/protocol.yaml``) are evaluated on *effective* events: a VOIDED event is
ignored, a CORRECTED event's new value replaces the old one. Times are compared as
UTC instants; visit windows are compared on the local date of collection.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd

from .. import names as N
from ..assets import load_config
from ..protocol import Protocol
from ._events import CREATION_EVENTS, _parse_time, _validator
from ._sprec import sprec_code

__all__ = ["CustodyResult", "effective_events", "check_custody", "load_rules"]

_TERMINAL = ("CONSUMED", "DISPOSED")
_USE_EVENTS = ("COLLECTED", "ALIQUOTED", "DERIVED", "PROCESSED", "SHIPPED", "THAWED", "CONSUMED")
_POSITION = ("storage_unit", "rack", "box", "position_row", "position_col")
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


_TZ_CACHE: dict[str, dt.timezone] = {}


def _tz(offset: str | None) -> dt.timezone:
    offset = offset or "+00:00"
    if offset not in _TZ_CACHE:
        sign = -1 if offset[0] == "-" else 1
        hours, minutes = offset[1:].split(":")
        _TZ_CACHE[offset] = dt.timezone(sign * dt.timedelta(hours=int(hours), minutes=int(minutes)))
    return _TZ_CACHE[offset]


def _parse_utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _local(e: dict, key: str = "occurred") -> dt.datetime:
    return e["_t" if key == "occurred" else "_r"].astimezone(_tz(e.get(f"{key}_offset")))


def effective_events(raw: list[dict]) -> list[dict]:
    """Apply CORRECTED and VOIDED events to the ledger's events (copies; the input is untouched).

    Returned events exclude the CORRECTED/VOIDED events themselves and carry
    ``_voided`` and ``_corrected_by``; times are parsed into ``_t``/``_r`` (UTC).
    """
    props = _validator().props
    by_id = {e["event_id"]: dict(e) for e in raw if e["event_type"] not in ("CORRECTED", "VOIDED")}
    for e in by_id.values():
        e["_voided"] = False
        e["_corrected_by"] = None
    for e in raw:
        target = by_id.get(e.get("target_event_id", ""))
        if target is None:
            continue
        if e["event_type"] == "VOIDED":
            target["_voided"] = True
        elif e["event_type"] == "CORRECTED":
            fld, value = e["corrected_field"], e["corrected_value"]
            if fld in ("occurred_at", "recorded_at"):
                target[fld], target[fld.replace("_at", "_offset")] = _parse_time(value, fld, {})
            else:
                kind = props[fld].get("type")
                target[fld] = float(value) if kind == "number" else (value.lower() in {"true", "yes", "1"} if kind == "boolean" else value)
            target["_corrected_by"] = e["event_id"]
    out = []
    for e in by_id.values():
        e["_t"] = _parse_utc(e["occurred_at"])
        e["_r"] = _parse_utc(e["recorded_at"])
        out.append(e)
    out.sort(key=lambda e: e["seq"])
    return out


class _Findings:
    def __init__(self, rules: dict[str, dict]):
        self.rules = rules
        self.rows: list[dict] = []

    def add(self, rule: str, message: str, *, subject=None, specimen=None, timepoint=None, event=None) -> None:
        self.rows.append({"RULE": rule, "SEVERITY": self.rules[rule]["severity"], N.USUBJID: subject,
                          N.SPECIMEN_ID: specimen, N.TIMEPOINT: timepoint, "EVENT_ID": event, "MESSAGE": message})


def _fmt(t: dt.datetime) -> str:
    return t.isoformat(timespec="minutes")


def check_custody(raw_events: list[dict], protocol: Protocol, subjects: pd.DataFrame,
                  milestones: dict[str, dict[str, dt.date]], *, samplesheet: pd.DataFrame | None = None,
                  data_cutoff: dt.date | None = None) -> CustodyResult:
    """Every rule of ``assets/custody_rules.yaml`` over the ledger's events; the custody tables."""
    rules = load_rules()
    found = _Findings(rules)
    events = effective_events(raw_events)
    live = [e for e in events if not e["_voided"]]
    arm_of = dict(zip(subjects[N.USUBJID], subjects[N.ARMCD]))
    if data_cutoff is None:  # deterministic default: the day of the last event
        data_cutoff = max((_local(e).date() for e in live), default=None)

    # -- specimens from their creation events ------------------------------------
    spec: dict[str, dict] = {}
    by_specimen: dict[str, list[dict]] = defaultdict(list)
    withdrawals: dict[str, dt.datetime] = {}
    for e in live:
        sid = e.get("specimen_id")
        if sid:
            by_specimen[sid].append(e)
            if e["event_type"] in CREATION_EVENTS and sid not in spec:
                spec[sid] = {"sid": sid, "subject": e["subject_id"], "type": e["specimen_type"], "parent": e.get("parent_specimen_id"),
                             "timepoint": e.get("timepoint"), "created": e, "children": []}
        elif e["event_type"] == "CONSENT_WITHDRAWN":
            withdrawals[e["subject_id"]] = min(withdrawals.get(e["subject_id"], e["_t"]), e["_t"])
    for s in spec.values():
        if s["parent"] in spec:
            spec[s["parent"]]["children"].append(s)

    def root(s):
        while s["parent"] in spec:
            s = spec[s["parent"]]
        return s

    def level(s):
        n = 0
        while s["parent"] in spec:
            s, n = spec[s["parent"]], n + 1
        return n

    for s in spec.values():
        if s["timepoint"] is None:
            s["timepoint"] = root(s)["timepoint"]
        evs = sorted(by_specimen[s["sid"]], key=lambda e: (e["_t"], e["seq"]))
        s["events"] = evs

    # -- subject-level ------------------------------------------------------------
    for subj in sorted({e["subject_id"] for e in live} - set(arm_of)):
        first = next(e for e in live if e["subject_id"] == subj)
        found.add("UNKNOWN_SUBJECT", f"subject {subj} is not in the randomization list ({first['event_type']} event)",
                  subject=subj, specimen=first.get("specimen_id"), event=first["event_id"])

    # -- per-specimen rules ---------------------------------------------------------
    positions: dict[tuple, list[tuple]] = defaultdict(list)
    for sid in sorted(spec):
        s = spec[sid]
        st = protocol.specimen_types[s["type"]]
        subj, tp = s["subject"], s["timepoint"]
        evs = s["events"]
        created = s["created"]
        kw = {"subject": subj, "specimen": sid, "timepoint": tp}
        # CHRONOLOGY
        for e in evs:
            if e["_t"] < created["_t"]:
                found.add("CHRONOLOGY", f"{e['event_type']} at {_fmt(_local(e))} is before the specimen's {created['event_type']} at {_fmt(_local(created))}", event=e["event_id"], **kw)
            if e["_r"] < e["_t"]:
                found.add("CHRONOLOGY", f"{e['event_type']} was recorded ({_fmt(_local(e, 'recorded'))}) before it happened ({_fmt(_local(e))})", event=e["event_id"], **kw)
        parent = spec.get(s["parent"]) if s["parent"] else None
        if parent is not None:
            if created["_t"] < parent["created"]["_t"]:
                found.add("CHRONOLOGY", f"{s['type']} created at {_fmt(_local(created))}, before its parent {parent['sid']} was ({_fmt(_local(parent['created']))})", event=created["event_id"], **kw)
            terminal = next((e for e in parent["events"] if e["event_type"] in _TERMINAL), None)
            if terminal is not None and created["_t"] > terminal["_t"]:
                found.add("EVENT_AFTER_TERMINAL", f"{s['type']} {sid} was derived from it at {_fmt(_local(created))}, after it was {terminal['event_type'].lower()} at {_fmt(_local(terminal))}",
                          subject=subj, specimen=parent["sid"], timepoint=parent["timepoint"], event=created["event_id"])
        # EVENT_AFTER_TERMINAL
        terminal = next((e for e in evs if e["event_type"] in _TERMINAL), None)
        if terminal is not None:
            for e in evs:
                if e["_t"] > terminal["_t"]:
                    found.add("EVENT_AFTER_TERMINAL", f"{e['event_type']} at {_fmt(_local(e))} after the specimen was {terminal['event_type'].lower()} at {_fmt(_local(terminal))}", event=e["event_id"], **kw)
        # shipments, paired with the next receipt in ledger order
        pending = None
        for e in sorted(evs, key=lambda e: e["seq"]):
            if e["event_type"] == "SHIPPED":
                if pending is not None:
                    found.add("SHIPMENT_NOT_RECEIVED", f"shipped to {pending['destination_site']} at {_fmt(_local(pending))}, shipped again before any receipt", event=pending["event_id"], **kw)
                pending = e
            elif e["event_type"] == "RECEIVED" and pending is not None:
                if e["site"] != pending["destination_site"]:
                    found.add("RECEIVED_AT_WRONG_SITE", f"shipped to {pending['destination_site']}, received at {e['site']}", event=e["event_id"], **kw)
                if e["_t"] < pending["_t"]:
                    found.add("CHRONOLOGY", f"received at {_fmt(_local(e))}, before it was shipped at {_fmt(_local(pending))}", event=e["event_id"], **kw)
                pending = None
        if pending is not None and not any(x["event_type"] in _TERMINAL for x in evs):
            found.add("SHIPMENT_NOT_RECEIVED", f"shipped to {pending['destination_site']} at {_fmt(_local(pending))}, no receipt recorded", event=pending["event_id"], **kw)
        # PROCESSING_DELAY
        limit = st.max_processing_delay_hours
        if limit is not None:
            if parent is not None and parent["type"] != s["type"]:
                start, end, what = root(s)["created"], created, f"{s['type']} separated"
            elif parent is None:
                end = next((e for e in evs if e["event_type"] in ("PROCESSED", "FROZEN")), None)
                start, what = created, "processed or frozen"
            else:
                end = None
            if end is not None:
                hours = (end["_t"] - start["_t"]).total_seconds() / 3600
                if hours > limit:
                    found.add("PROCESSING_DELAY", f"{what} {hours:.1f} h after collection (limit {limit:g} h)", event=end["event_id"], **kw)
        # COLD_ISCHAEMIA and FIXATION_TIME
        if st.max_cold_ischaemia_minutes is not None and parent is None:
            end = next((e for e in evs if e["event_type"] == "FROZEN" or (e["event_type"] == "PROCESSED" and e.get("process") == "FIXED")), None)
            if end is not None:
                minutes = (end["_t"] - created["_t"]).total_seconds() / 60
                if minutes > st.max_cold_ischaemia_minutes:
                    found.add("COLD_ISCHAEMIA", f"{'fixed' if end['event_type'] == 'PROCESSED' else 'frozen'} {minutes:.0f} min after removal (limit {st.max_cold_ischaemia_minutes:g} min)", event=end["event_id"], **kw)
        if st.fixation_hours is not None:
            fixed = next((e for e in evs if e["event_type"] == "PROCESSED" and e.get("process") == "FIXED"), None)
            embedded = next((e for e in evs if e["event_type"] == "PROCESSED" and e.get("process") == "EMBEDDED"), None)
            if fixed is not None and embedded is not None:
                hours = (embedded["_t"] - fixed["_t"]).total_seconds() / 3600
                lo, hi = st.fixation_hours
                if not lo <= hours <= hi:
                    found.add("FIXATION_TIME", f"{hours:.1f} h in fixative (protocol {lo:g}-{hi:g} h)", event=embedded["event_id"], **kw)
        # STORAGE_TEMPERATURE
        lo, hi = st.storage_celsius
        for e in evs:
            if e["event_type"] in ("STORED", "FROZEN", "MOVED") and "temperature_c" in e and not lo <= e["temperature_c"] <= hi:
                found.add("STORAGE_TEMPERATURE", f"{e['event_type'].lower()} at {e['temperature_c']:g} C (protocol {lo:g} to {hi:g} C for {s['type']})", event=e["event_id"], **kw)
        # FREEZE_THAW_LIMIT
        thaws = [e for e in evs if e["event_type"] == "THAWED"]
        s["thaws"] = len(thaws)
        if st.max_freeze_thaw is not None and len(thaws) > st.max_freeze_thaw:
            found.add("FREEZE_THAW_LIMIT", f"{len(thaws)} freeze-thaw cycles (limit {st.max_freeze_thaw})", event=thaws[st.max_freeze_thaw]["event_id"], **kw)
        # CHILD_VOLUME_EXCEEDS_PARENT
        volume = created.get("volume_ml")
        child_volumes = [c["created"].get("volume_ml") for c in s["children"]]
        if volume is not None and child_volumes and all(v is not None for v in child_volumes) and sum(child_volumes) > volume + 1e-9:
            last = max((c["created"] for c in s["children"]), key=lambda e: (e["_t"], e["seq"]))
            found.add("CHILD_VOLUME_EXCEEDS_PARENT", f"{len(child_volumes)} children hold {sum(child_volumes):g} mL of a {volume:g} mL specimen", event=last["event_id"], **kw)
        # USE_AFTER_CONSENT_WITHDRAWAL
        withdrawn = withdrawals.get(subj)
        if withdrawn is not None:
            for e in evs:
                if e["event_type"] in _USE_EVENTS and e["_t"] > withdrawn:
                    found.add("USE_AFTER_CONSENT_WITHDRAWAL", f"{e['event_type'].lower()} at {_fmt(_local(e))}, after consent was withdrawn", event=e["event_id"], **kw)
        # storage occupancy intervals
        start = None
        for e in evs:
            if start is not None and e["event_type"] in ("STORED", "MOVED", "SHIPPED", "CONSUMED", "DISPOSED"):
                positions[start[0]].append((start[1]["_t"], e["_t"], sid, start[1]))
                start = None
            if e["event_type"] in ("STORED", "MOVED") and all(e.get(k) for k in _POSITION):
                start = (tuple(e[k] for k in _POSITION), e)
        if start is not None:
            positions[start[0]].append((start[1]["_t"], dt.datetime.max.replace(tzinfo=dt.timezone.utc), sid, start[1]))

    # STORAGE_POSITION_CONFLICT: a specimen stored where another still is
    for pos, intervals in sorted(positions.items()):
        intervals.sort(key=lambda x: (x[0], x[3]["seq"]))
        for i, (t_in, _t_out, sid, ev) in enumerate(intervals):
            for o_in, o_out, osid, oev in intervals[:i]:
                if osid != sid and o_in <= t_in < o_out:
                    s = spec[sid]
                    found.add("STORAGE_POSITION_CONFLICT", f"stored in {'/'.join(pos)}, where {osid} has been since {_fmt(_local(oev))}",
                              subject=s["subject"], specimen=sid, timepoint=s["timepoint"], event=ev["event_id"])
                    break

    # -- schedule: missed, out of window, unexpected ---------------------------------
    collected: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    timepoints_of: dict[str, set[str]] = defaultdict(set)
    primaries_of: dict[str, list[str]] = defaultdict(list)
    for s in spec.values():
        collected[(s["subject"], s["timepoint"])][s["type"]].append(s["sid"])
        timepoints_of[s["subject"]].add(s["timepoint"])
        if s["parent"] is None:
            primaries_of[s["subject"]].append(s["sid"])
    completeness = []
    for subj, arm in sorted(arm_of.items()):
        ms = milestones.get(subj, {})
        due_now = {d.id: d for d in protocol.due_timepoints(arm, ms, cutoff=data_cutoff)} if data_cutoff else {}
        every = {d.id: d for d in protocol.due_timepoints(arm, ms)}
        withdrawn = withdrawals.get(subj)
        for tp_id, due in due_now.items():
            if withdrawn is not None and due.window_start > withdrawn.date():
                continue
            required, _optional = protocol.expected_types(arm, tp_id)
            have = collected.get((subj, tp_id), {})
            for stype in sorted(required | set(have)):
                completeness.append({N.USUBJID: subj, N.ARMCD: arm, N.TIMEPOINT: tp_id, N.SPECIMEN_TYPE: stype,
                                     "EXPECTED": stype in required, "COLLECTED": stype in have, "N_SPECIMENS": len(have.get(stype, []))})
                if stype in required and stype not in have:
                    found.add("MISSED_COLLECTION", f"{stype} expected at {tp_id} (window {due.window_start} to {due.window_end}) was not collected",
                              subject=subj, timepoint=tp_id)
        for tp_id in sorted(timepoints_of.get(subj, ())):
            if tp_id in due_now:
                continue
            have = collected[(subj, tp_id)]
            for stype in sorted(have):
                completeness.append({N.USUBJID: subj, N.ARMCD: arm, N.TIMEPOINT: tp_id, N.SPECIMEN_TYPE: stype,
                                     "EXPECTED": False, "COLLECTED": True, "N_SPECIMENS": len(have[stype])})
        for sid in sorted(primaries_of.get(subj, ())):
            s = spec[sid]
            tp_id, created = s["timepoint"], s["created"]
            kw = {"subject": subj, "specimen": sid, "timepoint": tp_id, "event": created["event_id"]}
            definition = protocol.timepoint(arm, tp_id)
            if definition is None:
                found.add("UNEXPECTED_SPECIMEN_TYPE", f"{tp_id} is not a timepoint of arm {arm}", **kw)
                continue
            required, optional = protocol.expected_types(arm, tp_id)
            allowed = set(required) | set(optional)
            allowed |= {p for t in allowed for p in protocol.specimen_types[t].derived_from}
            if s["type"] not in allowed:
                found.add("UNEXPECTED_SPECIMEN_TYPE", f"{s['type']} is not expected at {tp_id} for arm {arm}", **kw)
            day = _local(created).date()
            due = every.get(tp_id)
            if due is None:
                found.add("OUT_OF_WINDOW", f"collected on {day} for {tp_id}, which is not due: its anchor milestone {definition.anchor} has no date", **kw)
            elif not due.contains(day):
                found.add("OUT_OF_WINDOW", f"collected on {day}, outside the {tp_id} window {due.window_start} to {due.window_end}", **kw)

    # -- samplesheet: every assay file's specimen was consumed by that assay -----------
    if samplesheet is not None and len(samplesheet):
        consumed = {(e["specimen_id"], e.get("assay")) for e in live if e["event_type"] == "CONSUMED"}
        # one finding per specimen and ledger assay (wes_tumor BAM and vcf_somatic VCF are both WES)
        unconsumed: dict[tuple[str, str], dict] = {}
        for row in samplesheet.itertuples(index=False):
            assay = getattr(row, N.SS_ASSAY)
            event_assay = protocol.assays.get(assay, {}).get("event_assay")
            specimen = getattr(row, N.SS_SPECIMEN)
            if (specimen, event_assay) not in consumed:
                entry = unconsumed.setdefault((specimen, event_assay), {"assays": [], "subject": getattr(row, N.SS_SUBJECT),
                                                                        "timepoint": getattr(row, N.SS_TIMEPOINT)})
                entry["assays"].append(assay)
        for (specimen, event_assay), entry in sorted(unconsumed.items()):
            where = "is not in the ledger" if specimen not in spec else f"has no CONSUMED event for {event_assay}"
            found.add("ASSAY_WITHOUT_CONSUMPTION", f"samplesheet lists {', '.join(sorted(entry['assays']))} file(s) for {specimen}, which {where}",
                      subject=entry["subject"], specimen=specimen, timepoint=entry["timepoint"])

    issues = pd.DataFrame(found.rows, columns=["RULE", "SEVERITY", N.USUBJID, N.SPECIMEN_ID, N.TIMEPOINT, "EVENT_ID", "MESSAGE"])
    issues = issues.sort_values([N.USUBJID, N.SPECIMEN_ID, "RULE", "EVENT_ID"], kind="stable", na_position="first").reset_index(drop=True)
    n_issues = issues[N.SPECIMEN_ID].value_counts().to_dict()
    studyid = protocol.studyid

    # -- tables ------------------------------------------------------------------
    spec_rows, lineage_rows = [], []
    for sid in sorted(spec):
        s = spec[sid]
        st = protocol.specimen_types[s["type"]]
        evs = s["events"]
        last = evs[-1]
        status = _STATUS.get(last["event_type"], "IN_PROCESSING")
        location = None
        place = next((e for e in reversed(evs) if e["event_type"] in ("STORED", "MOVED")), None)
        if status == "STORED" and place is not None:
            location = "/".join(str(place[k]) for k in _POSITION if place.get(k))
        site = last.get("destination_site") if status == "IN_TRANSIT" else last["site"]
        lvl = level(s)
        spec_rows.append({
            N.STUDYID: studyid, N.USUBJID: s["subject"], N.SPECIMEN_ID: sid, N.PARENT_SPECIMEN_ID: s["parent"],
            "LEVEL": lvl, N.SPECIMEN_TYPE: s["type"], "SPECIMEN_CATEGORY": st.category, N.TIMEPOINT: s["timepoint"],
            N.ARMCD: arm_of.get(s["subject"]), "COLLECTED_AT": pd.Timestamp(s["created"]["_t"]), "STATUS": status,
            "SITE": site, "LOCATION": location, "VOLUME_ML": s["created"].get("volume_ml"),
            "FREEZE_THAW_COUNT": s["thaws"], "SPREC": sprec_code(s, spec, protocol),
            "CONSENT_STATUS": "WITHDRAWN" if s["subject"] in withdrawals else "CONSENTED",
            "N_EVENTS": len(evs), "N_ISSUES": int(n_issues.get(sid, 0)),
        })
        lineage_rows.append({N.STUDYID: studyid, N.USUBJID: s["subject"], "REFID": sid, "SPEC": s["type"], "PARENT": s["parent"], "LEVEL": lvl + 1})
    specimens = pd.DataFrame(spec_rows)
    if specimens.empty:
        specimens = pd.DataFrame(columns=[N.STUDYID, N.USUBJID, N.SPECIMEN_ID, N.PARENT_SPECIMEN_ID, "LEVEL", N.SPECIMEN_TYPE,
                                          "SPECIMEN_CATEGORY", N.TIMEPOINT, N.ARMCD, "COLLECTED_AT", "STATUS", "SITE", "LOCATION",
                                          "VOLUME_ML", "FREEZE_THAW_COUNT", "SPREC", "CONSENT_STATUS", "N_EVENTS", "N_ISSUES"])
    lineage = pd.DataFrame(lineage_rows, columns=[N.STUDYID, N.USUBJID, "REFID", "SPEC", "PARENT", "LEVEL"])

    event_rows = []
    for e in events:
        loc = [e["site"]] + [str(e[k]) for k in _POSITION if e.get(k)]
        details = {k: v for k, v in e.items() if k not in _NOT_DETAILS and not k.startswith("_")}
        event_rows.append({
            N.STUDYID: studyid, N.USUBJID: e["subject_id"], "BESEQ": e["seq"], "BEREFID": e.get("specimen_id"),
            "BETERM": e["event_type"], "BEDECOD": "DERIVED" if e["event_type"] == "ALIQUOTED" else e["event_type"],
            "BECAT": _BECAT.get(e["event_type"]), "BESTDTC": _local(e).isoformat(), "BEDTC": _local(e, "recorded").isoformat(),
            "BELOC": "/".join(loc), "BEPARTY": e["site"], "BEPRTYID": e["actor_id"], "EVENT_ID": e["event_id"],
            "VOIDED": e["_voided"], "CORRECTED_BY": e["_corrected_by"],
            "DETAILS": json.dumps(details, sort_keys=True, separators=(",", ":")) if details else None, "HASH": e["hash"],
        })
    events_df = pd.DataFrame(event_rows, columns=[N.STUDYID, N.USUBJID, "BESEQ", "BEREFID", "BETERM", "BEDECOD", "BECAT", "BESTDTC",
                                                  "BEDTC", "BELOC", "BEPARTY", "BEPRTYID", "EVENT_ID", "VOIDED", "CORRECTED_BY", "DETAILS", "HASH"])
    comp = pd.DataFrame(completeness, columns=[N.USUBJID, N.ARMCD, N.TIMEPOINT, N.SPECIMEN_TYPE, "EXPECTED", "COLLECTED", "N_SPECIMENS"])
    comp = comp.astype({"EXPECTED": bool, "COLLECTED": bool, "N_SPECIMENS": "int32"})
    comp.insert(0, N.STUDYID, studyid)
    comp = comp.sort_values([N.USUBJID, N.TIMEPOINT, N.SPECIMEN_TYPE]).reset_index(drop=True)
    issues_out = issues.copy()
    return CustodyResult(specimens=specimens, events=events_df, lineage=lineage, issues=issues_out, completeness=comp, data_cutoff=data_cutoff)
