"""Custody violations injected into the simulated specimens: one injector per custody rule.

:data:`INJECTORS` maps each rule of ``assets/custody_rules.yaml`` that the simulator
exercises to a function ``inject(ctx, collection) -> bool``. An injector changes the
events of one (subject, timepoint) collection so that ``biomarkers custody check``
must raise that rule on the named specimen, records the truth row, and returns True;
it returns False, without drawing, when the collection offers no suitable specimen
(the next collection is then tried). Two violations can only be made after the DNA
exists; their truth row carries an ``_apply_after_dna(builder)`` callable that the
custody stage calls once DNA is extracted.

Injectors only edit specimens nobody else touched (a violation's specimen, its
relatives and any specimen it names), so each truth row is the only finding there.
The random draws happen in a fixed order (the kinds, the collections, then each
injector's picks), so the same seed gives the same trial.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np

from .. import names as N
from ..protocol import Protocol

__all__ = ["INJECTORS", "VIOLATION_KINDS", "inject_violations"]


def _events_of(sp, kind: str, site: str | None = None) -> list[dict]:
    return [e for e in sp.events if e["event_type"] == kind and (site is None or e["site"] == site)]


def _descendants(sp) -> list:
    out = [sp]
    for child in sp.children:
        out.extend(_descendants(child))
    return out


class _Injection:
    """What the injectors share: the custody stage's builder (specimens, events, collections), the
    specimens already touched, the subjects who withdrew consent, and the truth rows."""

    def __init__(self, builder, protocol: Protocol, cutoff: dt.date, rng: np.random.Generator,
                 site_tz: Callable[[str], dt.tzinfo]):
        self.builder = builder
        self.protocol = protocol
        self.cutoff = cutoff
        self.rng = rng
        self.site_tz = site_tz
        self.bank = protocol.central_biobank
        self.touched: set[str] = set()
        self.withdrawn: set[str] = set()
        self.rows: list[dict] = []

    def free(self, sp) -> bool:
        return all(d.sid not in self.touched for d in _descendants(sp)) and (sp.parent is None or sp.parent.sid not in self.touched)

    def leaves(self, coll, types=None, stored_cold: bool = False) -> list:
        """Untouched leaf specimens of the collection (no DNA sources), optionally of ``types`` or stored below 0 C."""
        found = []
        for root in coll.roots:
            for sp in _descendants(root):
                if "leaf" in sp.tags and "dna_source" not in sp.tags and self.free(sp) and (types is None or sp.stype in types):
                    if not stored_cold or self.protocol.specimen_types[sp.stype].storage_celsius[1] < 0:
                        found.append(sp)
        return found

    def record(self, rule: str, coll, sp=None, stype: str | None = None, text: str = "") -> dict:
        """The truth row; the specimen's family (from its parent down) is touched from now on."""
        row = {"RULE": rule, N.USUBJID: coll.subject, N.TIMEPOINT: coll.due.id, N.SPECIMEN_ID: sp.sid if sp else None,
               N.SPECIMEN_TYPE: stype or (sp.stype if sp else None), "DESCRIPTION": text}
        if sp is not None:
            for d in _descendants(sp.parent or sp):
                self.touched.add(d.sid)
        self.rows.append(row)
        return row

    def pick(self, items: list):
        """One of ``items`` at random (no draw when there is none)."""
        return items[int(self.rng.integers(len(items)))] if items else None

    def is_tissue(self, sp, ffpe_only: bool = False) -> bool:
        st = self.protocol.specimen_types[sp.stype]
        return st.category == "tissue" and (not ffpe_only or st.preservation == "FFPE")


# --- one injector per rule ------------------------------------------------------

def _chronology(ctx: _Injection, coll) -> bool:
    sp = ctx.pick(ctx.leaves(coll))
    if sp is None:
        return False
    shipped, received = _events_of(sp, "SHIPPED")[0], _events_of(sp, "RECEIVED", ctx.bank)[0]
    received["_t"] = shipped["_t"] - dt.timedelta(hours=3)
    received["_lag"] = dt.timedelta(days=1, hours=4)  # recorded after the shipment, as it would be
    ctx.record("CHRONOLOGY", coll, sp, text="receipt dated 3 h before the shipment")
    return True


def _event_after_terminal(ctx: _Injection, coll) -> bool:
    sp = ctx.pick([r for r in coll.roots if ctx.protocol.specimen_types[r.stype].category == "fluid" and ctx.free(r)])
    if sp is None:
        return False
    disposed = _events_of(sp, "DISPOSED")[-1]
    ctx.builder.event(sp, "PROCESSED", disposed["_t"] + dt.timedelta(hours=1), disposed["site"], process="CENTRIFUGED")
    ctx.record("EVENT_AFTER_TERMINAL", coll, sp, text="processed 1 h after disposal")
    return True


def _shipment_not_received(ctx: _Injection, coll) -> bool:
    sp = ctx.pick(ctx.leaves(coll))
    if sp is None:
        return False
    received = _events_of(sp, "RECEIVED", ctx.bank)[0]
    sp.events = sp.events[:sp.events.index(received)]
    sp.position = None
    ctx.record("SHIPMENT_NOT_RECEIVED", coll, sp, text="shipped to the biobank, never received")
    return True


def _received_at_wrong_site(ctx: _Injection, coll) -> bool:
    sp = ctx.pick(ctx.leaves(coll))
    if sp is None:
        return False
    received = _events_of(sp, "RECEIVED", ctx.bank)[0]
    received["site"] = next(s for s in ctx.protocol.clinical_sites if s != sp.root_site)
    ctx.record("RECEIVED_AT_WRONG_SITE", coll, sp, text=f"shipped to {ctx.bank}, received at {received['site']}")
    return True


def _processing_delay(ctx: _Injection, coll) -> bool:
    tube = ctx.pick([r for r in coll.roots if r.stype in ("WB_EDTA", "WB_SST") and ctx.free(r)])
    if tube is None:
        return False
    collected = _events_of(tube, "COLLECTED")[0]
    collected["_t"] = collected["_t"] - dt.timedelta(hours=5)
    first = next(c for c in tube.children if c.stype in ("PLASMA", "SERUM"))
    ctx.record("PROCESSING_DELAY", coll, first, text=f"{first.stype} separated more than 6 h after collection")
    for d in _descendants(tube):
        ctx.touched.add(d.sid)
    return True


def _cold_ischaemia(ctx: _Injection, coll) -> bool:
    sp = ctx.pick([r for r in coll.roots if ctx.is_tissue(r) and ctx.free(r)])
    if sp is None:
        return False
    t0 = _events_of(sp, "COLLECTED")[0]["_t"]
    first = next(e for e in sp.events if e["event_type"] in ("PROCESSED", "FROZEN"))
    first["_t"] = t0 + dt.timedelta(minutes=95)
    ctx.record("COLD_ISCHAEMIA", coll, sp, text="fixed or frozen 95 min after removal")
    return True


def _fixation_time(ctx: _Injection, coll) -> bool:
    sp = ctx.pick([r for r in coll.roots if ctx.is_tissue(r, ffpe_only=True) and ctx.free(r)])
    if sp is None:
        return False
    fixed, embedded = [e for e in sp.events if e.get("process") in ("FIXED", "EMBEDDED")]
    embedded["_t"] = fixed["_t"] + dt.timedelta(hours=80)
    _events_of(sp, "STORED", sp.root_site)[0]["_t"] = embedded["_t"] + dt.timedelta(hours=2)
    ctx.record("FIXATION_TIME", coll, sp, text="80 h in formalin")
    return True


def _storage_temperature(ctx: _Injection, coll) -> bool:
    sp = ctx.pick([s for s in ctx.leaves(coll, stored_cold=True) if s.position])
    if sp is None:
        return False
    _events_of(sp, "STORED", ctx.bank)[0]["temperature_c"] = -20.0
    ctx.record("STORAGE_TEMPERATURE", coll, sp, text="stored at -20 C")
    return True


def _freeze_thaw_limit(ctx: _Injection, coll) -> bool:
    types = ctx.protocol.specimen_types
    sp = ctx.pick([s for s in ctx.leaves(coll, stored_cold=True) if s.position and (types[s.stype].max_freeze_thaw or 99) <= 2])
    if sp is None:
        return False
    limit = types[sp.stype].max_freeze_thaw
    t = _events_of(sp, "STORED", ctx.bank)[0]["_t"]
    refreeze = -180.0 if sp.stype == "PBMC" else -80.0
    for i in range(limit + 1):
        ctx.builder.event(sp, "THAWED", t + dt.timedelta(days=30 * (i + 1)), ctx.bank, temperature_c=4.0)
        ctx.builder.event(sp, "FROZEN", t + dt.timedelta(days=30 * (i + 1), hours=2), ctx.bank, temperature_c=refreeze)
    ctx.record("FREEZE_THAW_LIMIT", coll, sp, text=f"{limit + 1} thaws, limit {limit}")
    return True


def _child_volume_exceeds_parent(ctx: _Injection, coll) -> bool:
    # derivatives split into aliquots (plasma, serum): the first aliquot grows to 3.5 mL
    sp = ctx.pick([c for r in coll.roots for c in r.children
                   if any(_events_of(a, "ALIQUOTED") for a in c.children) and ctx.free(c)])
    if sp is None:
        return False
    _events_of(sp.children[0], "ALIQUOTED")[0]["volume_ml"] = 3.5
    ctx.record("CHILD_VOLUME_EXCEEDS_PARENT", coll, sp, text="aliquots hold 5.3 mL of a 4 mL parent")
    return True


def _storage_position_conflict(ctx: _Injection, coll) -> bool:
    sp = ctx.pick([s for s in ctx.leaves(coll) if s.position])
    if sp is None:
        return False
    my_t = _events_of(sp, "STORED", ctx.bank)[0]["_t"]

    def stored_long_before(o) -> bool:
        stored = _events_of(o, "STORED", ctx.bank)
        return bool(stored) and stored[0]["_t"] < my_t - dt.timedelta(days=1)

    other = ctx.pick([o for o in ctx.builder.specimens.values() if o.position and o.position[0] == sp.position[0]
                      and o.sid not in ctx.touched and "leaf" in o.tags and "dna_source" not in o.tags
                      and o.subject != sp.subject and stored_long_before(o)])
    if other is None:
        return False
    stored = _events_of(sp, "STORED", ctx.bank)[0]
    stored.update(rack=other.position[1], box=other.position[2], position_row=other.position[3], position_col=other.position[4])
    sp.position = other.position
    ctx.touched.add(other.sid)
    ctx.record("STORAGE_POSITION_CONFLICT", coll, sp, text=f"stored in the position {other.sid} occupies")
    return True


def _missed_collection(ctx: _Injection, coll) -> bool:
    if coll.due.window_end > ctx.cutoff:
        return False
    root = ctx.pick([r for r in coll.roots if r.stype in ("STOOL", "WB_SST") and ctx.free(r)])
    if root is None:
        return False
    for d in _descendants(root):
        del ctx.builder.specimens[d.sid]
    coll.roots.remove(root)
    missing = "SERUM" if root.stype == "WB_SST" else root.stype
    ctx.record("MISSED_COLLECTION", coll, None, stype=missing, text=f"{missing} not collected")
    return True


def _out_of_window(ctx: _Injection, coll) -> bool:
    root = ctx.pick([r for r in coll.roots if r.stype == "STOOL" and ctx.free(r)])
    if root is None:
        return False
    local = _events_of(root, "COLLECTED")[0]["_t"].astimezone(ctx.site_tz(root.root_site)).date()
    shift = dt.timedelta(days=(coll.due.window_start - local).days - 2)
    for e in root.events:
        e["_t"] = e["_t"] + shift
    ctx.record("OUT_OF_WINDOW", coll, root, text="collected 2 days before the visit window opens")
    return True


def _unexpected_specimen_type(ctx: _Injection, coll) -> bool:
    required, optional = ctx.protocol.expected_types(coll.arm, coll.due.id)
    if "BIOPSY_FF" in required | optional:
        return False
    site = coll.roots[0].root_site if coll.roots else ctx.protocol.clinical_sites[0]
    sp = ctx.builder.collect(coll, "BIOPSY_FF", [], site)
    ctx.record("UNEXPECTED_SPECIMEN_TYPE", coll, sp, text="fresh-frozen biopsy not expected at this timepoint")
    return True


def _use_after_consent_withdrawal(ctx: _Injection, coll) -> bool:
    if coll.subject in ctx.withdrawn:
        return False
    sp = ctx.pick([s for s in ctx.leaves(coll, types=("SERUM", "PLASMA")) if s.position])
    if sp is None:
        return False
    ctx.withdrawn.add(coll.subject)
    row = ctx.record("USE_AFTER_CONSENT_WITHDRAWAL", coll, sp, text="thawed the day after consent was withdrawn")
    bank = ctx.bank

    def withdraw(builder, sp=sp, subject=coll.subject):
        # after every other event of the subject (DNA extraction included), then one use
        last = max(e["_t"] for s in builder.specimens.values() if s.subject == subject for e in s.events)
        builder.event(None, "CONSENT_WITHDRAWN", last + dt.timedelta(days=1), sp.root_site, subject=subject,
                      reason="subject withdrew consent for specimen use")
        builder.event(sp, "THAWED", last + dt.timedelta(days=2), bank, temperature_c=4.0)
    row["_apply_after_dna"] = withdraw
    return True


def _assay_without_consumption(ctx: _Injection, coll) -> bool:
    src = ctx.pick([r for r in coll.roots if "dna_source" in r.tags and r.stype != "BUFFY_COAT" and ctx.free(r)])
    if src is None:
        return False
    row = ctx.record("ASSAY_WITHOUT_CONSUMPTION", coll, src, text="sequenced (in the samplesheet) but no CONSUMED event in the ledger")

    def drop_consumption(builder, src=src, row=row):
        dna = next(c for c in src.children if c.stype == "DNA")
        dna.events = [e for e in dna.events if e["event_type"] != "CONSUMED"]
        row[N.SPECIMEN_ID], row[N.SPECIMEN_TYPE] = dna.sid, "DNA"
    row["_apply_after_dna"] = drop_consumption
    return True


Injector = Callable[[_Injection, object], bool]

# The order is part of the simulation: the kinds are shuffled from it.
INJECTORS: dict[str, Injector] = {
    "CHRONOLOGY": _chronology,
    "EVENT_AFTER_TERMINAL": _event_after_terminal,
    "SHIPMENT_NOT_RECEIVED": _shipment_not_received,
    "RECEIVED_AT_WRONG_SITE": _received_at_wrong_site,
    "PROCESSING_DELAY": _processing_delay,
    "COLD_ISCHAEMIA": _cold_ischaemia,
    "FIXATION_TIME": _fixation_time,
    "STORAGE_TEMPERATURE": _storage_temperature,
    "FREEZE_THAW_LIMIT": _freeze_thaw_limit,
    "CHILD_VOLUME_EXCEEDS_PARENT": _child_volume_exceeds_parent,
    "STORAGE_POSITION_CONFLICT": _storage_position_conflict,
    "MISSED_COLLECTION": _missed_collection,
    "OUT_OF_WINDOW": _out_of_window,
    "UNEXPECTED_SPECIMEN_TYPE": _unexpected_specimen_type,
    "USE_AFTER_CONSENT_WITHDRAWAL": _use_after_consent_withdrawal,
    "ASSAY_WITHOUT_CONSUMPTION": _assay_without_consumption,
}
VIOLATION_KINDS = list(INJECTORS)


def inject_violations(builder, collections: list, protocol: Protocol, *, rate: float, cutoff: dt.date,
                      rng: np.random.Generator, site_tz: Callable[[str], dt.tzinfo]) -> list[dict]:
    """Make ``rate`` of the collections carry one violation each; return the truth rows.

    ``builder`` is the custody stage's specimen builder (``specimens``, ``event``,
    ``collect``); ``site_tz`` gives a site's time zone. Kinds take turns, so every rule
    is represented once there are at least as many violations as kinds; each goes to
    the first unused collection (in a random order) where it can apply.
    """
    if rate <= 0:
        return []
    n = min(int(round(rate * len(collections))), len(collections))
    kinds = list(VIOLATION_KINDS)
    rng.shuffle(kinds)
    ctx = _Injection(builder, protocol, cutoff, rng, site_tz)
    order = rng.permutation(len(collections)).tolist()
    used: set[int] = set()
    for i in range(n):
        inject = INJECTORS[kinds[i % len(kinds)]]
        start = int(rng.integers(len(order)))
        for index in order[start:] + order[:start]:
            if index not in used and inject(ctx, collections[index]):
                used.add(index)
                break
    return ctx.rows
