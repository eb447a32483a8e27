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
from ._violations import VIOLATION_KINDS, _descendants, inject_violations

__all__ = ["simulate_custody", "VIOLATION_KINDS"]

# Local UTC offsets of the sites (hours): the sequencing lab is abroad, so the
# ledger really holds several offsets.
SITE_UTC_OFFSET = {"SITE01": 8, "SITE02": 8, "SITE03": 8, "BIOBANK": 8, "SEQLAB": 1, "FLOWLAB": 8}
SEQ_LAB = "SEQLAB"
# Freezers of the biobank by storage temperature (deg C): unit id and the set point.
_BIOBANK_UNITS = [(-200, -150, "LN2-01", -190.0), (-90, -60, "F80-01", -80.0), (-90, -15, "F20-01", -20.0), (2, 25, "RT-01", 20.0)]
_FLUID_DERIVATIVES = {"PLASMA": 4.0, "BUFFY_COAT": 0.5, "SERUM": 4.0, "PBMC": 1.0}
# type -> (aliquots, mL each). PBMC in two vials so that two assays (flow cytometry and
# single-cell RNA) each consume their own.
_ALIQUOTED = {"PLASMA": (2, 1.8), "SERUM": (2, 1.8), "PBMC": (2, 0.5)}

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
    def _ship_and_consume(self, sp: _Specimen, day: dt.date, lab: str, temperature_c: float, event_assay: str,
                          volume_ml: float, *, thaw: bool) -> None:
        """Ship ``sp`` from the biobank on ``day`` to ``lab``, where it is received and consumed by the assay."""
        bank = self.protocol.central_biobank
        ship = dt.datetime.combine(day, dt.time(9, 0), _tz(bank))
        self.event(sp, "SHIPPED", ship, bank, destination_site=lab, temperature_c=temperature_c,
                   tracking_number=f"TRKBB{day.strftime('%y%m%d')}")
        received = dt.datetime.combine(ship.astimezone(_tz(lab)).date() + dt.timedelta(days=1), dt.time(10, 0), _tz(lab))
        self.event(sp, "RECEIVED", received, lab, temperature_c=temperature_c)
        used = received + dt.timedelta(days=3, hours=int(self.rng.integers(1, 6)))
        if thaw:
            self.event(sp, "THAWED", used - self.minutes(30, 90), lab, temperature_c=37.0)
        self.event(sp, "CONSUMED", used, lab, assay=event_assay, volume_ml=volume_ml)

    def _stored_at_bank(self, sp: _Specimen) -> dt.datetime:
        bank = self.protocol.central_biobank
        return [e for e in sp.events if e["event_type"] == "STORED" and e["site"] == bank][-1]["_t"]

    def derive_for_assay(self, source: _Specimen, kind: str, event_assay: str, lab: str, *, germline: bool) -> _Specimen:
        """DNA or RNA extracted from ``source`` at the biobank, stored, then shipped to ``lab`` and consumed there.

        A germline source (buffy coat) is thawed and used up; a tissue is cut frozen or from
        its block and stays stored for later uses.
        """
        bank = self.protocol.central_biobank
        day = self._stored_at_bank(source).astimezone(_tz(bank)).date() + dt.timedelta(days=int(self.rng.integers(14, 22)))
        t = dt.datetime.combine(day, dt.time(9, 0), _tz(bank))
        if germline:
            self.event(source, "THAWED", t, bank, temperature_c=4.0)
        child = self.new_specimen(source.subject, kind, source.timepoint, source, bank)
        derived = t + self.minutes(60, 120)
        volume = {"DNA": 0.1 if germline else 0.05, "RNA": 0.03}[kind]
        extra = {"process": "EXTRACTED"} if kind == "RNA" else {}
        self.event(child, "DERIVED", derived, bank, specimen_type=kind, parent_specimen_id=source.sid, volume_ml=volume,
                   container="CRYOVIAL", **extra)
        if germline:
            self.event(source, "DISPOSED", derived + self.minutes(10, 30), bank, reason=f"used up by {kind} extraction")
        self.store_at_biobank(child, derived + self.minutes(30, 60))
        self._ship_and_consume(child, day + dt.timedelta(days=2), lab, -20.0 if kind == "DNA" else -78.0, event_assay,
                               0.03, thaw=False)
        return child

    def send_for_assay(self, sp: _Specimen, event_assay: str, lab: str) -> _Specimen:
        """The stored specimen itself shipped to ``lab`` (after anything else done to it) and consumed by the assay."""
        bank = self.protocol.central_biobank
        derivations = [e for child in sp.children for e in child.events if e["event_type"] == "DERIVED"]
        last = max(e["_t"] for e in sp.events + derivations)
        day = last.astimezone(_tz(bank)).date() + dt.timedelta(days=int(self.rng.integers(7, 21)))
        frozen = self.protocol.specimen_types[sp.stype].preservation != "FFPE"
        temperature = -150.0 if sp.stype == "PBMC" else (-78.0 if frozen else 20.0)
        volume = _ALIQUOTED.get(sp.stype, (1, 0.05))[1]
        self._ship_and_consume(sp, day, lab, temperature, event_assay, volume, thaw=frozen)
        return sp


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
    violations = inject_violations(b, collections, protocol, rate=trial.params.get("violation_rate", 0.0), cutoff=cutoff,
                                   rng=rng, site_tz=_tz)
    trial.assay_plan = _use_assay_sources(b, uses, violations)
    _write(trial, b, violations, protocol)


def _chosen_subjects(collections: list[_Collection], entry: dict) -> set[str] | None:
    """Subjects an entry with ``max_subjects`` profiles: in USUBJID order, alternating arms so both are represented."""
    limit = entry.get("max_subjects")
    if limit is None:
        return None
    by_arm: dict[str, list[str]] = {}
    for coll in sorted(collections, key=lambda c: c.subject):
        if coll.due.id in entry["timepoints"] and coll.subject not in by_arm.get(coll.arm, []) \
                and any(sp.stype == entry["specimen_type"] and "leaf" in sp.tags for root in coll.roots for sp in _descendants(root)):
            by_arm.setdefault(coll.arm, []).append(coll.subject)
    queues = [list(by_arm[arm]) for arm in sorted(by_arm)]
    chosen: list[str] = []
    while len(chosen) < limit and any(queues):
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop(0))
    return set(chosen)


def _tag_assay_sources(collections: list[_Collection], plan: list[dict]) -> dict[str, list[dict]]:
    """Tag, in every collection, the specimen each plan entry uses: ``{specimen ID: [plan entries]}``.

    An entry that derives (DNA, RNA) takes the first stored specimen of its type; one that
    consumes the specimen itself takes the first not already consumed by another entry (so
    two assays of PBMC use two vials). A specimen may be derived from and then consumed.
    """
    uses: dict[str, list[dict]] = {}
    consumed: set[str] = set()
    for entry in plan:
        chosen = _chosen_subjects(collections, entry)
        for coll in collections:
            if coll.due.id not in entry["timepoints"] or (chosen is not None and coll.subject not in chosen):
                continue
            candidates = [sp for root in coll.roots for sp in _descendants(root)
                          if sp.stype == entry["specimen_type"] and "leaf" in sp.tags]
            if "derive" not in entry:
                candidates = [sp for sp in candidates if sp.sid not in consumed]
            found = next(iter(candidates), None)
            if found is None:
                continue
            found.tags.add("dna_source" if entry.get("derive") == "DNA" else "assay_source")
            uses.setdefault(found.sid, []).append(entry)
            if "derive" not in entry:
                consumed.add(found.sid)
    return uses


def _use_assay_sources(b: _Builder, uses: dict[str, list[dict]], violations: list[dict]) -> pd.DataFrame:
    """Derive from and send every tagged specimen to its assays; the assay plan (one row per specimen an assay consumes)."""
    germline: dict[str, str] = {}
    used: list[tuple[_Specimen, dict]] = []
    for sp in list(b.specimens.values()):
        # derivations first: a specimen that is also consumed whole goes to its lab last
        for entry in sorted(uses.get(sp.sid, []), key=lambda e: "derive" not in e):
            event_assay = b.protocol.assays[entry["assay"]]["event_assay"]
            lab = entry.get("lab", SEQ_LAB)
            if "derive" in entry:
                used_sp = b.derive_for_assay(sp, entry["derive"], event_assay, lab, germline=bool(entry.get("germline")))
            else:
                used_sp = b.send_for_assay(sp, event_assay, lab)
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
    return pd.DataFrame(plan, columns=columns).sort_values([N.USUBJID, N.SPECIMEN_ID, N.ASSAY]).reset_index(drop=True)


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
