"""Stage 2 of the simulated trial: specimens and their chain of custody, as a LIMS would export it.

For every subject and every timepoint the protocol makes due (by the subject's arm
and milestone dates, up to the data cut-off) the stage collects the expected
specimen types: blood tubes are spun and split into derivatives (plasma, aliquoted;
buffy coat; serum, aliquoted; PBMC), tissue is fixed and embedded or snap frozen,
stool is frozen; everything is shipped to the central biobank and stored in
numbered freezer positions. The assays are data (``assay_plan`` in
assets/simulation.yaml): which collected specimen type at which timepoints each assay
uses, and what the biobank derives from it (e.g. DNA from the BASELINE biopsy, the
SURGERY tumour and the BASELINE buffy coat) before it is shipped to the assay's lab
and consumed there. Those specimens form ``trial.assay_plan``, which later stages turn
into assay files (BAM/VCF...).

Custody violations are injected at ``trial.params['violation_rate']``: that
fraction of the (subject, timepoint) collections carries one violation, of a kind
cycling through the custody rules, each listed in ``truth/custody_violations.csv``
with the rule and the specimen ``biomarkers custody check`` must name.

Outputs: ``custody/export_<SITE>.csv`` (one LIMS export per site, rows in
assets/custody_export.schema.json), ``truth/custody_violations.csv``,
``truth/custody_specimens.csv``; params ``ledger`` and ``custody_exports``.
No direct identifier is written: subjects and specimens carry study IDs only.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import names as N
from ..custody import export_columns
from ..protocol import DueTimepoint, Protocol
from ._container import SimulatedTrial
from ._trial import load_model

__all__ = ["simulate_custody", "VIOLATION_KINDS"]

# Local UTC offsets of the sites (hours): the sequencing lab is abroad, so the
# ledger really holds several offsets.
SITE_UTC_OFFSET = {"SITE01": 8, "SITE02": 8, "SITE03": 8, "BIOBANK": 8, "SEQLAB": 1, "FLOWLAB": 8}
SEQ_LAB = "SEQLAB"
# Freezers of the biobank by storage temperature (deg C): unit id and the set point.
_BIOBANK_UNITS = [(-200, -150, "LN2-01", -190.0), (-90, -60, "F80-01", -80.0), (-90, -15, "F20-01", -20.0), (2, 25, "RT-01", 20.0)]
_FLUID_DERIVATIVES = {"PLASMA": 4.0, "BUFFY_COAT": 0.5, "SERUM": 4.0, "PBMC": 1.0}
_ALIQUOTED = {"PLASMA": (2, 1.8), "SERUM": (2, 1.8)}  # type -> (aliquots, mL each)

VIOLATION_KINDS = [
    "CHRONOLOGY", "EVENT_AFTER_TERMINAL", "SHIPMENT_NOT_RECEIVED", "RECEIVED_AT_WRONG_SITE", "PROCESSING_DELAY",
    "COLD_ISCHAEMIA", "FIXATION_TIME", "STORAGE_TEMPERATURE", "FREEZE_THAW_LIMIT", "CHILD_VOLUME_EXCEEDS_PARENT",
    "STORAGE_POSITION_CONFLICT", "MISSED_COLLECTION", "OUT_OF_WINDOW", "UNEXPECTED_SPECIMEN_TYPE",
    "USE_AFTER_CONSENT_WITHDRAWAL", "ASSAY_WITHOUT_CONSUMPTION",
]


def _tz(site: str) -> dt.timezone:
    return dt.timezone(dt.timedelta(hours=SITE_UTC_OFFSET[site]))


@dataclass
class _Specimen:
    sid: str
    subject: str
    stype: str
    timepoint: str
    parent: "_Specimen | None"
    root_site: str
    events: list[dict] = field(default_factory=list)
    children: list["_Specimen"] = field(default_factory=list)
    position: tuple | None = None  # biobank storage position (unit, rack, box, row, col)
    tags: set[str] = field(default_factory=set)  # roles: leaf, wes_tumor, wes_normal, dna_source...


@dataclass
class _Collection:
    subject: str
    arm: str
    due: DueTimepoint
    day: dt.date
    roots: list[_Specimen] = field(default_factory=list)


class _Builder:
    def __init__(self, protocol: Protocol, rng: np.random.Generator):
        self.protocol = protocol
        self.rng = rng
        self.specimens: dict[str, _Specimen] = {}
        self.counters: dict[str, int] = {}
        self.subject_events: list[dict] = []
        self.next_position: dict[str, int] = {}

    # -- helpers ---------------------------------------------------------------
    def minutes(self, lo: float, hi: float) -> dt.timedelta:
        return dt.timedelta(minutes=float(self.rng.uniform(lo, hi)))

    def new_specimen(self, subject: str, stype: str, timepoint: str, parent: _Specimen | None, site: str) -> _Specimen:
        key = subject[-6:].replace("-", "")
        self.counters[key] = self.counters.get(key, 0) + 1
        sp = _Specimen(f"SP{key}-{self.counters[key]:04d}", subject, stype, timepoint, parent, site)
        self.specimens[sp.sid] = sp
        if parent is not None:
            parent.children.append(sp)
        return sp

    def event(self, sp: _Specimen | None, kind: str, when: dt.datetime, site: str, subject: str | None = None, **details) -> dict:
        ev = {"event_type": kind, "subject_id": subject or sp.subject, "_t": when, "site": site,
              "actor_id": f"{site}-STAFF{int(self.rng.integers(1, 9)):02d}", "_lag": self.minutes(2, 90)}
        if sp is not None:
            ev["specimen_id"] = sp.sid
            sp.events.append(ev)
        else:
            self.subject_events.append(ev)
        ev.update({k: v for k, v in details.items() if v is not None})
        return ev

    def allocate(self, stype: str) -> tuple[str, tuple, float]:
        lo, hi = self.protocol.specimen_types[stype].storage_celsius
        for _unit_lo, _unit_hi, unit, setpoint in _BIOBANK_UNITS:
            if lo <= setpoint <= hi:
                n = self.next_position.get(unit, 0)
                self.next_position[unit] = n + 1
                box, cell = divmod(n, 81)
                rack, box = divmod(box, 20)
                return unit, (unit, f"R{rack + 1:02d}", f"B{box + 1:02d}", "ABCDEFGHI"[cell // 9], str(cell % 9 + 1)), setpoint
        raise ValueError(f"no biobank unit for {stype}")

    def store_at_biobank(self, sp: _Specimen, when: dt.datetime) -> dt.datetime:
        unit, pos, setpoint = self.allocate(sp.stype)
        sp.position = pos
        self.event(sp, "STORED", when, self.protocol.central_biobank, temperature_c=setpoint, storage_unit=f"BIOBANK-{unit}",
                   rack=pos[1], box=pos[2], position_row=pos[3], position_col=pos[4], container="CRYOVIAL"
                   if self.protocol.specimen_types[sp.stype].storage_celsius[1] < 0 else "CASSETTE")
        return when

    def ship_to_biobank(self, sp: _Specimen, after: dt.datetime, site: str, transport_c: float) -> dt.datetime:
        """Ship the next morning (10:00 local) from ``site``; received and stored the day after."""
        local = after.astimezone(_tz(site))
        ship = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(10, 0), _tz(site)) + self.minutes(0, 30)
        bank = self.protocol.central_biobank
        self.event(sp, "SHIPPED", ship, site, destination_site=bank, temperature_c=transport_c,
                   tracking_number=f"TRK{site[-2:]}{ship.strftime('%y%m%d')}")
        received = dt.datetime.combine(ship.astimezone(_tz(bank)).date() + dt.timedelta(days=1), dt.time(11, 0), _tz(bank)) + self.minutes(0, 60)
        self.event(sp, "RECEIVED", received, bank, temperature_c=transport_c)
        return self.store_at_biobank(sp, received + self.minutes(20, 60))

    # -- collections -----------------------------------------------------------
    def collect(self, coll: _Collection, primary: str, derivatives: list[str], site: str) -> _Specimen:
        st = self.protocol.specimen_types[primary]
        tz = _tz(site)
        t0 = dt.datetime.combine(coll.day, dt.time(8, 0), tz) + self.minutes(0, 180)
        sp = self.new_specimen(coll.subject, primary, coll.due.id, None, site)
        coll.roots.append(sp)
        if st.category == "fluid":
            self._fluid(sp, st.container, derivatives, t0, site)
        elif st.category == "tissue":
            self._tissue(sp, st, t0, site)
        else:  # stool
            self.event(sp, "COLLECTED", t0, site, specimen_type=primary, timepoint=coll.due.id, container=st.container, volume_ml=5.0)
            received = t0 + self.minutes(60, 600)
            self.event(sp, "RECEIVED", received, site, temperature_c=round(float(self.rng.uniform(18, 24)), 1))
            frozen = received + self.minutes(20, 120)
            self.event(sp, "FROZEN", frozen, site, temperature_c=-80.0)
            sp.tags.add("leaf")
            self.ship_to_biobank(sp, frozen, site, -78.0)
        return sp

    def _fluid(self, tube: _Specimen, container: str, derivatives: list[str], t0: dt.datetime, site: str) -> None:
        self.event(tube, "COLLECTED", t0, site, specimen_type=tube.stype, timepoint=tube.timepoint, container=container, volume_ml=10.0)
        received = t0 + self.minutes(10, 30)
        self.event(tube, "RECEIVED", received, site, temperature_c=round(float(self.rng.uniform(18, 24)), 1))
        spin = received + self.minutes(20, 60)
        if "PBMC" not in derivatives:
            self.event(tube, "PROCESSED", spin, site, process="CENTRIFUGED", centrifuge_g=2000.0, centrifuge_minutes=10.0,
                       centrifuge_celsius=20.0, centrifuge_brake=True)
        else:
            self.event(tube, "PROCESSED", spin, site, process="ISOLATED", centrifuge_g=800.0, centrifuge_minutes=20.0,
                       centrifuge_celsius=20.0, centrifuge_brake=False)
        split = spin + self.minutes(15, 25)
        last = split
        for dtype in derivatives:
            child = self.new_specimen(tube.subject, dtype, tube.timepoint, tube, site)
            self.event(child, "DERIVED", split, site, specimen_type=dtype, parent_specimen_id=tube.sid, volume_ml=_FLUID_DERIVATIVES[dtype])
            leaves = [child]
            t = split
            if dtype == "PLASMA":  # second spin: cell-free plasma for cfDNA
                t = split + self.minutes(5, 15)
                self.event(child, "PROCESSED", t, site, process="CENTRIFUGED", centrifuge_g=16000.0, centrifuge_minutes=10.0,
                           centrifuge_celsius=4.0, centrifuge_brake=True)
            if dtype in _ALIQUOTED:
                n, volume = _ALIQUOTED[dtype]
                t = t + self.minutes(5, 15)
                leaves = []
                for _ in range(n):
                    aliquot = self.new_specimen(tube.subject, dtype, tube.timepoint, child, site)
                    self.event(aliquot, "ALIQUOTED", t, site, specimen_type=dtype, parent_specimen_id=child.sid, volume_ml=volume,
                               container="CRYOVIAL")
                    leaves.append(aliquot)
                self.event(child, "DISPOSED", t + self.minutes(1, 5), site, reason="fully aliquoted")
            for leaf in leaves:
                leaf.tags.add("leaf")
                frozen = t + self.minutes(10, 30)
                temp = -180.0 if dtype == "PBMC" else -80.0
                self.event(leaf, "FROZEN", frozen, site, temperature_c=temp, container="CRYOVIAL")
                self.ship_to_biobank(leaf, frozen, site, -150.0 if dtype == "PBMC" else -78.0)
                last = max(last, frozen)
        self.event(tube, "DISPOSED", split + self.minutes(30, 60), site, reason="processed into derivatives")

    def _tissue(self, sp: _Specimen, st, t0: dt.datetime, site: str) -> None:
        extra = {"warm_ischaemia_minutes": float(self.rng.integers(15, 45))} if st.collection == "surgical" else {}
        self.event(sp, "COLLECTED", t0, site, specimen_type=sp.stype, timepoint=sp.timepoint, **extra)
        if st.preservation == "FFPE":
            fixed = t0 + self.minutes(10, 40)
            self.event(sp, "PROCESSED", fixed, site, process="FIXED", fixative="NBF")
            embedded = fixed + dt.timedelta(hours=float(self.rng.uniform(18, 30)))
            self.event(sp, "PROCESSED", embedded, site, process="EMBEDDED", container="CASSETTE")
            stored = embedded + self.minutes(30, 120)
            self.event(sp, "STORED", stored, site, temperature_c=20.0, storage_unit=f"{site}-RT")
            sp.tags.add("leaf")
            ship_after = t0 + dt.timedelta(days=6)
            self.ship_to_biobank(sp, ship_after, site, 20.0)
        else:
            frozen = t0 + self.minutes(5, 20)
            self.event(sp, "FROZEN", frozen, site, temperature_c=-78.0, container="CRYOVIAL")
            sp.tags.add("leaf")
            self.ship_to_biobank(sp, frozen, site, -78.0)

    # -- DNA for sequencing ----------------------------------------------------
    def extract_dna(self, source: _Specimen, germline: bool) -> _Specimen:
        bank = self.protocol.central_biobank
        stored = [e for e in source.events if e["event_type"] == "STORED" and e["site"] == bank][-1]["_t"]
        day = stored.astimezone(_tz(bank)).date() + dt.timedelta(days=int(self.rng.integers(14, 22)))
        t = dt.datetime.combine(day, dt.time(9, 0), _tz(bank))
        if germline:
            self.event(source, "THAWED", t, bank, temperature_c=4.0)
        dna = self.new_specimen(source.subject, "DNA", source.timepoint, source, bank)
        dna.tags.add("wes_normal" if germline else "wes_tumor")
        derived = t + self.minutes(60, 120)
        self.event(dna, "DERIVED", derived, bank, specimen_type="DNA", parent_specimen_id=source.sid,
                   volume_ml=0.1 if germline else 0.05, container="CRYOVIAL")
        if germline:
            self.event(source, "DISPOSED", derived + self.minutes(10, 30), bank, reason="used up by DNA extraction")
        self.store_at_biobank(dna, derived + self.minutes(30, 60))
        ship = dt.datetime.combine(day + dt.timedelta(days=2), dt.time(9, 0), _tz(bank))
        self.event(dna, "SHIPPED", ship, bank, destination_site=SEQ_LAB, temperature_c=-20.0, tracking_number=f"TRKBB{day.strftime('%y%m%d')}")
        received = dt.datetime.combine(ship.astimezone(_tz(SEQ_LAB)).date() + dt.timedelta(days=1), dt.time(10, 0), _tz(SEQ_LAB))
        self.event(dna, "RECEIVED", received, SEQ_LAB, temperature_c=-20.0)
        self.event(dna, "CONSUMED", received + dt.timedelta(days=3, hours=4), SEQ_LAB, assay="WES", volume_ml=0.03)
        return dna


def _milestone_dates(milestones: pd.DataFrame) -> dict[str, dict[str, dt.date]]:
    out: dict[str, dict[str, dt.date]] = {}
    for row in milestones.itertuples(index=False):
        out.setdefault(row.USUBJID, {})[row.MILESTONE] = dt.date.fromisoformat(row.DATE)
    return out


def _primaries(protocol: Protocol, types: set[str]) -> dict[str, list[str]]:
    """Expected types -> primary collections and the derivatives to make from each."""
    out: dict[str, list[str]] = {}
    for t in sorted(types):
        st = protocol.specimen_types[t]
        if st.is_primary:
            out.setdefault(t, [])
        else:
            if len(st.derived_from) != 1:
                raise ValueError(f"cannot tell which tube {t} comes from")
            out.setdefault(st.derived_from[0], []).append(t)
    return out


def simulate_custody(trial: SimulatedTrial, protocol: Protocol, rng: np.random.Generator) -> None:
    cutoff = dt.date.fromisoformat(trial.data_cutoff)
    dates = _milestone_dates(trial.milestones)
    b = _Builder(protocol, rng)
    collections: list[_Collection] = []
    for subj in trial.subjects.itertuples(index=False):
        ms = dates.get(subj.USUBJID, {})
        for due in protocol.due_timepoints(subj.ARMCD, ms):
            days = [due.window_start + dt.timedelta(days=i) for i in range((due.window_end - due.window_start).days + 1)]
            days = [d for d in days if d <= cutoff]
            if not days:
                continue
            day = due.target if due.target in days and rng.random() < 0.6 else days[int(rng.integers(len(days)))]
            coll = _Collection(subj.USUBJID, subj.ARMCD, due, day)
            required, optional = protocol.expected_types(subj.ARMCD, due.id)
            types = set(required) | {t for t in sorted(optional) if rng.random() < 0.3}
            for primary, derivatives in _primaries(protocol, types).items():
                b.collect(coll, primary, derivatives, subj.SITEID)
            collections.append(coll)
    uses = _tag_assay_sources(collections, load_model()["assay_plan"])
    violations = _inject(b, collections, protocol, trial.params.get("violation_rate", 0.0), cutoff, rng)
    trial.assay_plan = _use_assay_sources(b, uses, violations)
    _write(trial, b, violations, protocol)


def _tag_assay_sources(collections: list[_Collection], plan: list[dict]) -> dict[str, dict]:
    """Tag, in every collection, the first stored specimen of each planned type: ``{specimen ID: plan entry}``."""
    uses: dict[str, dict] = {}
    for coll in collections:
        for entry in plan:
            if coll.due.id not in entry["timepoints"]:
                continue
            found = next((sp for root in coll.roots for sp in _descendants(root) if sp.stype == entry["specimen_type"]), None)
            if found is not None and found.sid not in uses:
                found.tags.add("dna_source" if entry.get("derive") == "DNA" else "assay_source")
                uses[found.sid] = entry
    return uses


def _use_assay_sources(b: _Builder, uses: dict[str, dict], violations: list[dict]) -> pd.DataFrame:
    """Derive and send every tagged specimen to its assay; the assay plan (one row per specimen an assay consumes)."""
    germline: dict[str, str] = {}
    used: list[tuple[_Specimen, dict]] = []
    for sp in list(b.specimens.values()):
        entry = uses.get(sp.sid)
        if entry is None:
            continue
        if entry.get("derive") == "DNA":
            used_sp = b.extract_dna(sp, germline=bool(entry.get("germline")))
        else:
            raise ValueError(f"assay_plan: no simulation of how {entry['assay']} uses {sp.stype} "
                             f"(derive: {entry.get('derive')})")
        if entry.get("germline"):
            germline[sp.subject] = used_sp.sid
        used.append((used_sp, entry))
    for v in violations:  # violations on the derived specimen itself need it to exist first
        if v.get("_apply_after_dna"):
            v.pop("_apply_after_dna")(b)
    plan = [{N.USUBJID: sp.subject, N.SPECIMEN_ID: sp.sid, N.TIMEPOINT: sp.timepoint, N.SPECIMEN_TYPE: sp.stype,
             N.ASSAY: entry["assay"], "NORMAL_SPECIMEN_ID": germline.get(sp.subject) if entry.get("paired") else None}
            for sp, entry in used]
    columns = [N.USUBJID, N.SPECIMEN_ID, N.TIMEPOINT, N.SPECIMEN_TYPE, N.ASSAY, "NORMAL_SPECIMEN_ID"]
    return pd.DataFrame(plan, columns=columns).sort_values([N.USUBJID, N.SPECIMEN_ID]).reset_index(drop=True)


# --- violations ----------------------------------------------------------------

def _events_of(sp: _Specimen, kind: str, site: str | None = None) -> list[dict]:
    return [e for e in sp.events if e["event_type"] == kind and (site is None or e["site"] == site)]


def _descendants(sp: _Specimen) -> list[_Specimen]:
    out = [sp]
    for child in sp.children:
        out.extend(_descendants(child))
    return out


def _inject(b: _Builder, collections: list[_Collection], protocol: Protocol, rate: float, cutoff: dt.date,
            rng: np.random.Generator) -> list[dict]:
    if rate <= 0:
        return []
    n = min(int(round(rate * len(collections))), len(collections))
    kinds = list(VIOLATION_KINDS)
    rng.shuffle(kinds)
    touched: set[str] = set()
    withdrawn: set[str] = set()
    bank = protocol.central_biobank
    out: list[dict] = []

    def free(sp: _Specimen) -> bool:
        return all(d.sid not in touched for d in _descendants(sp)) and (sp.parent is None or sp.parent.sid not in touched)

    def leaves(coll, types=None, stored_cold=False):
        found = []
        for root in coll.roots:
            for sp in _descendants(root):
                if "leaf" in sp.tags and "dna_source" not in sp.tags and free(sp) and (types is None or sp.stype in types):
                    if not stored_cold or protocol.specimen_types[sp.stype].storage_celsius[1] < 0:
                        found.append(sp)
        return found

    def record(rule, coll, sp=None, stype=None, text="", **extra):
        row = {"RULE": rule, N.USUBJID: coll.subject, N.TIMEPOINT: coll.due.id, N.SPECIMEN_ID: sp.sid if sp else None,
               N.SPECIMEN_TYPE: stype or (sp.stype if sp else None), "DESCRIPTION": text, **extra}
        if sp is not None:
            for d in _descendants(sp.parent or sp):
                touched.add(d.sid)
        out.append(row)
        return row

    def pick(items):
        return items[int(rng.integers(len(items)))] if items else None

    def try_kind(kind: str, coll: _Collection) -> bool:
        if kind == "CHRONOLOGY":
            sp = pick(leaves(coll))
            if sp is None:
                return False
            shipped, received = _events_of(sp, "SHIPPED")[0], _events_of(sp, "RECEIVED", bank)[0]
            received["_t"] = shipped["_t"] - dt.timedelta(hours=3)
            received["_lag"] = dt.timedelta(days=1, hours=4)  # recorded after the shipment, as it would be
            record(kind, coll, sp, text="receipt dated 3 h before the shipment")
        elif kind == "EVENT_AFTER_TERMINAL":
            tubes = [r for r in coll.roots if protocol.specimen_types[r.stype].category == "fluid" and free(r)]
            sp = pick(tubes)
            if sp is None:
                return False
            disposed = _events_of(sp, "DISPOSED")[-1]
            b.event(sp, "PROCESSED", disposed["_t"] + dt.timedelta(hours=1), disposed["site"], process="CENTRIFUGED")
            record(kind, coll, sp, text="processed 1 h after disposal")
        elif kind == "SHIPMENT_NOT_RECEIVED":
            sp = pick(leaves(coll))
            if sp is None:
                return False
            received = _events_of(sp, "RECEIVED", bank)[0]
            sp.events = sp.events[:sp.events.index(received)]
            sp.position = None
            record(kind, coll, sp, text="shipped to the biobank, never received")
        elif kind == "RECEIVED_AT_WRONG_SITE":
            sp = pick(leaves(coll))
            if sp is None:
                return False
            received = _events_of(sp, "RECEIVED", bank)[0]
            received["site"] = next(s for s in protocol.clinical_sites if s != sp.root_site)
            record(kind, coll, sp, text=f"shipped to {bank}, received at {received['site']}")
        elif kind == "PROCESSING_DELAY":
            tubes = [r for r in coll.roots if r.stype in ("WB_EDTA", "WB_SST") and free(r)]
            tube = pick(tubes)
            if tube is None:
                return False
            collected = _events_of(tube, "COLLECTED")[0]
            collected["_t"] = collected["_t"] - dt.timedelta(hours=5)
            first = next(c for c in tube.children if c.stype in ("PLASMA", "SERUM"))
            record(kind, coll, first, text=f"{first.stype} separated more than 6 h after collection")
            for d in _descendants(tube):
                touched.add(d.sid)
        elif kind in ("COLD_ISCHAEMIA", "FIXATION_TIME"):
            ffpe_only = kind == "FIXATION_TIME"
            tissue = [r for r in coll.roots if protocol.specimen_types[r.stype].category == "tissue" and free(r)
                      and (not ffpe_only or protocol.specimen_types[r.stype].preservation == "FFPE")]
            sp = pick(tissue)
            if sp is None:
                return False
            t0 = _events_of(sp, "COLLECTED")[0]["_t"]
            if kind == "COLD_ISCHAEMIA":
                first = next(e for e in sp.events if e["event_type"] in ("PROCESSED", "FROZEN"))
                first["_t"] = t0 + dt.timedelta(minutes=95)
                record(kind, coll, sp, text="fixed or frozen 95 min after removal")
            else:
                fixed, embedded = [e for e in sp.events if e.get("process") in ("FIXED", "EMBEDDED")]
                embedded["_t"] = fixed["_t"] + dt.timedelta(hours=80)
                _events_of(sp, "STORED", sp.root_site)[0]["_t"] = embedded["_t"] + dt.timedelta(hours=2)
                record(kind, coll, sp, text="80 h in formalin")
        elif kind == "STORAGE_TEMPERATURE":
            sp = pick([s for s in leaves(coll, stored_cold=True) if s.position])
            if sp is None:
                return False
            _events_of(sp, "STORED", bank)[0]["temperature_c"] = -20.0
            record(kind, coll, sp, text="stored at -20 C")
        elif kind == "FREEZE_THAW_LIMIT":
            sp = pick([s for s in leaves(coll, stored_cold=True) if s.position
                       and (protocol.specimen_types[s.stype].max_freeze_thaw or 99) <= 2])
            if sp is None:
                return False
            limit = protocol.specimen_types[sp.stype].max_freeze_thaw
            t = _events_of(sp, "STORED", bank)[0]["_t"]
            refreeze = -180.0 if sp.stype == "PBMC" else -80.0
            for i in range(limit + 1):
                b.event(sp, "THAWED", t + dt.timedelta(days=30 * (i + 1)), bank, temperature_c=4.0)
                b.event(sp, "FROZEN", t + dt.timedelta(days=30 * (i + 1), hours=2), bank, temperature_c=refreeze)
            record(kind, coll, sp, text=f"{limit + 1} thaws, limit {limit}")
        elif kind == "CHILD_VOLUME_EXCEEDS_PARENT":
            parents = [c for r in coll.roots for c in r.children if c.stype in _ALIQUOTED and free(c)]
            sp = pick(parents)
            if sp is None:
                return False
            _events_of(sp.children[0], "ALIQUOTED")[0]["volume_ml"] = 3.5
            record(kind, coll, sp, text="aliquots hold 5.3 mL of a 4 mL parent")
        elif kind == "STORAGE_POSITION_CONFLICT":
            mine = [s for s in leaves(coll) if s.position]
            sp = pick(mine)
            if sp is None:
                return False
            my_t = _events_of(sp, "STORED", bank)[0]["_t"]
            occupied = [o for o in b.specimens.values() if o.position and o.position[0] == sp.position[0] and o.sid not in touched
                        and "leaf" in o.tags and "dna_source" not in o.tags and o.subject != sp.subject
                        and _events_of(o, "STORED", bank) and _events_of(o, "STORED", bank)[0]["_t"] < my_t - dt.timedelta(days=1)]
            other = pick(occupied)
            if other is None:
                return False
            stored = _events_of(sp, "STORED", bank)[0]
            stored.update(rack=other.position[1], box=other.position[2], position_row=other.position[3], position_col=other.position[4])
            sp.position = other.position
            touched.add(other.sid)
            record(kind, coll, sp, text=f"stored in the position {other.sid} occupies")
        elif kind == "MISSED_COLLECTION":
            if coll.due.window_end > cutoff:
                return False
            roots = [r for r in coll.roots if r.stype in ("STOOL", "WB_SST") and free(r)]
            root = pick(roots)
            if root is None:
                return False
            for d in _descendants(root):
                del b.specimens[d.sid]
            coll.roots.remove(root)
            missing = "SERUM" if root.stype == "WB_SST" else root.stype
            record(kind, coll, None, stype=missing, text=f"{missing} not collected")
        elif kind == "OUT_OF_WINDOW":
            roots = [r for r in coll.roots if r.stype == "STOOL" and free(r)]
            root = pick(roots)
            if root is None:
                return False
            local = _events_of(root, "COLLECTED")[0]["_t"].astimezone(_tz(root.root_site)).date()
            shift = dt.timedelta(days=(coll.due.window_start - local).days - 2)
            for e in root.events:
                e["_t"] = e["_t"] + shift
            record(kind, coll, root, text="collected 2 days before the visit window opens")
        elif kind == "UNEXPECTED_SPECIMEN_TYPE":
            required, optional = protocol.expected_types(coll.arm, coll.due.id)
            if "BIOPSY_FF" in required | optional:
                return False
            sp = b.collect(coll, "BIOPSY_FF", [], sp_site(coll))
            record(kind, coll, sp, text="fresh-frozen biopsy not expected at this timepoint")
        elif kind == "USE_AFTER_CONSENT_WITHDRAWAL":
            if coll.subject in withdrawn:
                return False
            candidates = [s for s in leaves(coll, types=("SERUM", "PLASMA")) if s.position]
            sp = pick(candidates)
            if sp is None:
                return False
            withdrawn.add(coll.subject)
            row = record(kind, coll, sp, text="thawed the day after consent was withdrawn")

            def withdraw(builder, sp=sp, subject=coll.subject):
                # after every other event of the subject (DNA extraction included), then one use
                last = max(e["_t"] for s in builder.specimens.values() if s.subject == subject for e in s.events)
                builder.event(None, "CONSENT_WITHDRAWN", last + dt.timedelta(days=1), sp.root_site, subject=subject,
                              reason="subject withdrew consent for specimen use")
                builder.event(sp, "THAWED", last + dt.timedelta(days=2), bank, temperature_c=4.0)
            row["_apply_after_dna"] = withdraw
        elif kind == "ASSAY_WITHOUT_CONSUMPTION":
            sources = [r for r in coll.roots if "dna_source" in r.tags and r.stype != "BUFFY_COAT" and free(r)]
            src = pick(sources)
            if src is None:
                return False
            row = record(kind, coll, src, text="sequenced (in the samplesheet) but no CONSUMED event in the ledger")

            def drop_consumption(builder, src=src, row=row):
                dna = next(c for c in src.children if c.stype == "DNA")
                dna.events = [e for e in dna.events if e["event_type"] != "CONSUMED"]
                row[N.SPECIMEN_ID], row[N.SPECIMEN_TYPE] = dna.sid, "DNA"
            row["_apply_after_dna"] = drop_consumption
        else:  # pragma: no cover - the kinds list and this function go together
            raise ValueError(kind)
        return True

    def sp_site(coll):
        return coll.roots[0].root_site if coll.roots else protocol.clinical_sites[0]

    # Kinds take turns, so every rule is represented once n >= len(kinds); each goes to
    # the first unused collection (in a random order) where it can apply.
    order = rng.permutation(len(collections)).tolist()
    used: set[int] = set()
    for i in range(n):
        kind = kinds[i % len(kinds)]
        start = int(rng.integers(len(order)))
        for index in order[start:] + order[:start]:
            if index not in used and try_kind(kind, collections[index]):
                used.add(index)
                break
    return out


# --- writing -------------------------------------------------------------------

def _iso(t: dt.datetime, site: str) -> str:
    return t.astimezone(_tz(site)).isoformat(timespec="seconds")


def _write(trial: SimulatedTrial, b: _Builder, violations: list[dict], protocol: Protocol) -> None:
    events = [e for sp in b.specimens.values() for e in sp.events] + b.subject_events
    events.sort(key=lambda e: (e["_t"], e.get("specimen_id", ""), e["event_type"]))
    columns = export_columns()
    by_site: dict[str, list[dict]] = {}
    counters: dict[str, int] = {}
    for e in events:
        counters[e["site"]] = counters.get(e["site"], 0) + 1
        e["event_id"] = f"{e['site']}-{counters[e['site']]:06d}"
        by_site.setdefault(e["site"], []).append(e)
    folder = trial.outdir / "custody"
    folder.mkdir(parents=True, exist_ok=True)
    for site, rows in sorted(by_site.items()):
        with open(folder / f"export_{site}.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            for e in rows:
                out = {k: _cell(v) for k, v in e.items() if not k.startswith("_")}
                out["occurred_at"] = _iso(e["_t"], e["site"])
                out["recorded_at"] = _iso(e["_t"] + e["_lag"], e["site"])
                writer.writerow(out)
    trial.truth_dir.mkdir(parents=True, exist_ok=True)
    vcols = ["RULE", N.USUBJID, N.TIMEPOINT, N.SPECIMEN_ID, N.SPECIMEN_TYPE, "DESCRIPTION"]
    pd.DataFrame(violations, columns=vcols).sort_values(["RULE", N.USUBJID, N.TIMEPOINT], kind="stable").to_csv(
        trial.truth_dir / "custody_violations.csv", index=False)
    spec_rows = [{N.USUBJID: sp.subject, N.SPECIMEN_ID: sp.sid, N.PARENT_SPECIMEN_ID: sp.parent.sid if sp.parent else None,
                  N.SPECIMEN_TYPE: sp.stype, N.TIMEPOINT: sp.timepoint, "N_EVENTS": len(sp.events)} for sp in b.specimens.values()]
    pd.DataFrame(spec_rows).sort_values(N.SPECIMEN_ID).to_csv(trial.truth_dir / "custody_specimens.csv", index=False)
    trial.truth["custody_violations"] = pd.DataFrame(violations, columns=vcols)
    trial.params.update({"ledger": "custody/ledger.sqlite", "custody_exports": "custody/export_*.csv"})


def _cell(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
