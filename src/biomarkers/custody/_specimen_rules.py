"""Rules about one specimen's own events (and its parent's), and storage positions shared between specimens.

Each rule is a function ``rule(s, st, index, found)`` of a specimen dict ``s`` (see
``_specimens``), its protocol specimen type ``st``, the :class:`SpecimenIndex` and the
:class:`Findings` it adds to. :data:`SPECIMEN_RULES` lists them in the order they
run for each specimen, which is the order of their findings in the issues table.
Limits come from the protocol's specimen types (``assets/protocol.yaml``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable

from ._effective import local_time
from ._effective import minute_text as _m
from ._findings import Findings
from ._specimens import POSITION, SpecimenIndex

__all__ = ["SPECIMEN_RULES", "storage_intervals", "storage_position_conflicts"]

_TERMINAL = ("CONSUMED", "DISPOSED")
_USE_EVENTS = ("COLLECTED", "ALIQUOTED", "DERIVED", "PROCESSED", "SHIPPED", "THAWED", "CONSUMED")


def _terminal(s: dict) -> dict | None:
    return next((e for e in s["events"] if e["event_type"] in _TERMINAL), None)


def chronology(s: dict, st, index: SpecimenIndex, found: Findings) -> None:
    """CHRONOLOGY: no event before the specimen's creation; none recorded before it happened."""
    created = s["created"]
    for e in s["events"]:
        if e["_t"] < created["_t"]:
            found.on_specimen(s, "CHRONOLOGY", f"{e['event_type']} at {_m(local_time(e))} is before the specimen's "
                              f"{created['event_type']} at {_m(local_time(created))}", event=e["event_id"])
        if e["_r"] < e["_t"]:
            found.on_specimen(s, "CHRONOLOGY", f"{e['event_type']} was recorded ({_m(local_time(e, 'recorded'))}) "
                              f"before it happened ({_m(local_time(e))})", event=e["event_id"])


def derivation(s: dict, st, index: SpecimenIndex, found: Findings) -> None:
    """CHRONOLOGY and EVENT_AFTER_TERMINAL of a derivative against its parent (the latter reported on the parent)."""
    parent = index.parent(s)
    if parent is None:
        return
    created = s["created"]
    if created["_t"] < parent["created"]["_t"]:
        found.on_specimen(s, "CHRONOLOGY", f"{s['type']} created at {_m(local_time(created))}, before its parent "
                          f"{parent['sid']} was ({_m(local_time(parent['created']))})", event=created["event_id"])
    terminal = _terminal(parent)
    if terminal is not None and created["_t"] > terminal["_t"]:
        found.add("EVENT_AFTER_TERMINAL", f"{s['type']} {s['sid']} was derived from it at {_m(local_time(created))}, "
                  f"after it was {terminal['event_type'].lower()} at {_m(local_time(terminal))}",
                  subject=s["subject"], specimen=parent["sid"], timepoint=parent["timepoint"], event=created["event_id"])


def after_terminal(s: dict, st, index: SpecimenIndex, found: Findings) -> None:
    """EVENT_AFTER_TERMINAL: nothing happens to a specimen after it was consumed or disposed of."""
    terminal = _terminal(s)
    if terminal is None:
        return
    for e in s["events"]:
        if e["_t"] > terminal["_t"]:
            found.on_specimen(s, "EVENT_AFTER_TERMINAL", f"{e['event_type']} at {_m(local_time(e))} after the specimen was "
                              f"{terminal['event_type'].lower()} at {_m(local_time(terminal))}", event=e["event_id"])


def shipments(s: dict, st, index: SpecimenIndex, found: Findings) -> None:
    """SHIPMENT_NOT_RECEIVED, RECEIVED_AT_WRONG_SITE, CHRONOLOGY: each shipment paired with the next receipt in ledger order."""
    pending = None
    for e in sorted(s["events"], key=lambda e: e["seq"]):
        if e["event_type"] == "SHIPPED":
            if pending is not None:
                found.on_specimen(s, "SHIPMENT_NOT_RECEIVED", f"shipped to {pending['destination_site']} at "
                                  f"{_m(local_time(pending))}, shipped again before any receipt", event=pending["event_id"])
            pending = e
        elif e["event_type"] == "RECEIVED" and pending is not None:
            if e["site"] != pending["destination_site"]:
                found.on_specimen(s, "RECEIVED_AT_WRONG_SITE", f"shipped to {pending['destination_site']}, received at {e['site']}",
                                  event=e["event_id"])
            if e["_t"] < pending["_t"]:
                found.on_specimen(s, "CHRONOLOGY", f"received at {_m(local_time(e))}, before it was shipped at "
                                  f"{_m(local_time(pending))}", event=e["event_id"])
            pending = None
    if pending is not None and _terminal(s) is None:
        found.on_specimen(s, "SHIPMENT_NOT_RECEIVED", f"shipped to {pending['destination_site']} at {_m(local_time(pending))}, "
                          "no receipt recorded", event=pending["event_id"])


def processing_delay(s: dict, st, index: SpecimenIndex, found: Findings) -> None:
    """PROCESSING_DELAY: a primary specimen processed or frozen, or a derivative of another type separated, too late."""
    limit = st.max_processing_delay_hours
    if limit is None:
        return
    parent = index.parent(s)
    if parent is None:
        start, what = s["created"], "processed or frozen"
        end = next((e for e in s["events"] if e["event_type"] in ("PROCESSED", "FROZEN")), None)
    elif parent["type"] != s["type"]:
        start, end, what = index.root(s)["created"], s["created"], f"{s['type']} separated"
    else:
        return  # an aliquot: its parent's separation is what counts
    if end is None:
        return
    hours = (end["_t"] - start["_t"]).total_seconds() / 3600
    if hours > limit:
        found.on_specimen(s, "PROCESSING_DELAY", f"{what} {hours:.1f} h after collection (limit {limit:g} h)", event=end["event_id"])


def cold_ischaemia(s: dict, st, index: SpecimenIndex, found: Findings) -> None:
    """COLD_ISCHAEMIA: removed tissue fixed or frozen too late."""
    limit = st.max_cold_ischaemia_minutes
    if limit is None or index.parent(s) is not None:
        return
    end = next((e for e in s["events"] if e["event_type"] == "FROZEN" or (e["event_type"] == "PROCESSED" and e.get("process") == "FIXED")), None)
    if end is None:
        return
    minutes = (end["_t"] - s["created"]["_t"]).total_seconds() / 60
    if minutes > limit:
        how = "fixed" if end["event_type"] == "PROCESSED" else "frozen"
        found.on_specimen(s, "COLD_ISCHAEMIA", f"{how} {minutes:.0f} min after removal (limit {limit:g} min)", event=end["event_id"])


def fixation_time(s: dict, st, index: SpecimenIndex, found: Findings) -> None:
    """FIXATION_TIME: hours in fixative (fixed to embedded) outside the protocol's range."""
    if st.fixation_hours is None:
        return
    fixed = next((e for e in s["events"] if e["event_type"] == "PROCESSED" and e.get("process") == "FIXED"), None)
    embedded = next((e for e in s["events"] if e["event_type"] == "PROCESSED" and e.get("process") == "EMBEDDED"), None)
    if fixed is None or embedded is None:
        return
    hours = (embedded["_t"] - fixed["_t"]).total_seconds() / 3600
    lo, hi = st.fixation_hours
    if not lo <= hours <= hi:
        found.on_specimen(s, "FIXATION_TIME", f"{hours:.1f} h in fixative (protocol {lo:g}-{hi:g} h)", event=embedded["event_id"])


def storage_temperature(s: dict, st, index: SpecimenIndex, found: Findings) -> None:
    """STORAGE_TEMPERATURE: stored, frozen or moved outside the type's storage range."""
    lo, hi = st.storage_celsius
    for e in s["events"]:
        if e["event_type"] in ("STORED", "FROZEN", "MOVED") and "temperature_c" in e and not lo <= e["temperature_c"] <= hi:
            found.on_specimen(s, "STORAGE_TEMPERATURE", f"{e['event_type'].lower()} at {e['temperature_c']:g} C "
                              f"(protocol {lo:g} to {hi:g} C for {s['type']})", event=e["event_id"])


def freeze_thaw(s: dict, st, index: SpecimenIndex, found: Findings) -> None:
    """FREEZE_THAW_LIMIT: more thaws than the type allows (raised by the first thaw too many)."""
    if st.max_freeze_thaw is None or s["thaws"] <= st.max_freeze_thaw:
        return
    thaws = [e for e in s["events"] if e["event_type"] == "THAWED"]
    found.on_specimen(s, "FREEZE_THAW_LIMIT", f"{len(thaws)} freeze-thaw cycles (limit {st.max_freeze_thaw})",
                      event=thaws[st.max_freeze_thaw]["event_id"])


def child_volume(s: dict, st, index: SpecimenIndex, found: Findings) -> None:
    """CHILD_VOLUME_EXCEEDS_PARENT: children (all with a volume) holding more than the parent had."""
    volume = s["created"].get("volume_ml")
    child_volumes = [c["created"].get("volume_ml") for c in s["children"]]
    if volume is None or not child_volumes or any(v is None for v in child_volumes) or sum(child_volumes) <= volume + 1e-9:
        return
    last = max((c["created"] for c in s["children"]), key=lambda e: (e["_t"], e["seq"]))
    found.on_specimen(s, "CHILD_VOLUME_EXCEEDS_PARENT", f"{len(child_volumes)} children hold {sum(child_volumes):g} mL "
                      f"of a {volume:g} mL specimen", event=last["event_id"])


def consent(s: dict, st, index: SpecimenIndex, found: Findings) -> None:
    """USE_AFTER_CONSENT_WITHDRAWAL: any use of the specimen after its subject withdrew consent."""
    withdrawn = index.withdrawals.get(s["subject"])
    if withdrawn is None:
        return
    for e in s["events"]:
        if e["event_type"] in _USE_EVENTS and e["_t"] > withdrawn:
            found.on_specimen(s, "USE_AFTER_CONSENT_WITHDRAWAL", f"{e['event_type'].lower()} at {_m(local_time(e))}, "
                              "after consent was withdrawn", event=e["event_id"])


SpecimenRule = Callable[[dict, object, SpecimenIndex, Findings], None]

SPECIMEN_RULES: tuple[SpecimenRule, ...] = (
    chronology, derivation, after_terminal, shipments, processing_delay, cold_ischaemia, fixation_time,
    storage_temperature, freeze_thaw, child_volume, consent,
)

_FOREVER = dt.datetime.max.replace(tzinfo=dt.timezone.utc)


def storage_intervals(s: dict) -> list[tuple[tuple, tuple]]:
    """(position, (in, out, specimen id, storing event)) for each stay of ``s`` in a fully named position."""
    out = []
    start = None
    for e in s["events"]:
        if start is not None and e["event_type"] in ("STORED", "MOVED", "SHIPPED", "CONSUMED", "DISPOSED"):
            out.append((start[0], (start[1]["_t"], e["_t"], s["sid"], start[1])))
            start = None
        if e["event_type"] in ("STORED", "MOVED") and all(e.get(k) for k in POSITION):
            start = (tuple(e[k] for k in POSITION), e)
    if start is not None:
        out.append((start[0], (start[1]["_t"], _FOREVER, s["sid"], start[1])))
    return out


def storage_position_conflicts(specimens: list[dict], index: SpecimenIndex, found: Findings) -> None:
    """STORAGE_POSITION_CONFLICT: a specimen stored where another still is (once per stay)."""
    positions: dict[tuple, list[tuple]] = defaultdict(list)
    for s in specimens:
        for pos, interval in storage_intervals(s):
            positions[pos].append(interval)
    for pos, intervals in sorted(positions.items()):
        intervals.sort(key=lambda x: (x[0], x[3]["seq"]))
        for i, (t_in, _t_out, sid, ev) in enumerate(intervals):
            for o_in, o_out, osid, oev in intervals[:i]:
                if osid != sid and o_in <= t_in < o_out:
                    found.on_specimen(index.spec[sid], "STORAGE_POSITION_CONFLICT",
                                      f"stored in {'/'.join(pos)}, where {osid} has been since {_m(local_time(oev))}", event=ev["event_id"])
                    break
