"""The trial's biospecimen protocol (``assets/protocol.yaml``) as plain objects.

Nothing about the trial is coded here: arms, milestones, timepoints, expected
specimen types and pre-analytical limits all come from the YAML file, validated
against ``assets/protocol.schema.json``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from .assets import asset_path, load_valid_yaml
from .errors import InputError

__all__ = ["Protocol", "SpecimenType", "Timepoint", "DueTimepoint", "load_protocol"]


@dataclass(frozen=True)
class SpecimenType:
    code: str
    label: str
    category: str
    storage_celsius: tuple[float, float]
    collection: str | None = None
    preservation: str | None = None
    container: str | None = None
    derived_from: tuple[str, ...] = ()
    max_processing_delay_hours: float | None = None
    max_cold_ischaemia_minutes: float | None = None
    fixation_hours: tuple[float, float] | None = None
    max_freeze_thaw: int | None = None

    @property
    def is_primary(self) -> bool:
        return self.category != "derivative"


@dataclass(frozen=True)
class Timepoint:
    id: str
    anchor: str
    offset: int
    window: tuple[int, int]
    expect: frozenset[str]
    optional: frozenset[str] = frozenset()
    repeat_every: int | None = None
    until: str | None = None


@dataclass(frozen=True)
class DueTimepoint:
    """One occurrence of a timepoint for one subject, with its window in dates."""

    id: str
    timepoint: Timepoint
    target: dt.date
    window_start: dt.date
    window_end: dt.date

    def contains(self, day: dt.date) -> bool:
        return self.window_start <= day <= self.window_end


@dataclass(frozen=True)
class Arm:
    code: str
    label: str
    milestones: dict[str, dict]
    timepoints: tuple[Timepoint, ...]


@dataclass(frozen=True)
class Protocol:
    path: Path
    studyid: str
    usubjid_pattern: re.Pattern
    specimen_id_pattern: re.Pattern
    randomization: dict
    sites: tuple[str, ...]
    clinical_sites: tuple[str, ...]
    central_biobank: str
    specimen_types: dict[str, SpecimenType]
    assays: dict[str, dict]
    arms: dict[str, Arm]
    raw: dict = field(repr=False, compare=False, default_factory=dict)

    # -- look-ups --------------------------------------------------------------
    def check_ids(self, *, subject: object = None, specimen: object = None, subject_field: str = "--subject",
                  specimen_field: str = "--specimen") -> None:
        """Refuse a subject or specimen ID that is not the study's (``usubjid_pattern``,
        ``specimen_id_pattern``, whole value): IDs become file names (``<specimen>.tmb.parquet``),
        so ``../../x`` or ``=cmd|...`` must stop here. The value is not echoed (a failed
        identifier check may hold a name)."""
        for value, pattern, field_name, what in ((subject, self.usubjid_pattern, subject_field, "USUBJID"),
                                                 (specimen, self.specimen_id_pattern, specimen_field, "specimen ID")):
            if value is not None and not pattern.fullmatch(str(value)):
                raise InputError(f"not a study {what} (pattern {pattern.pattern}); refused before it names a file",
                                 field=field_name)

    def specimen_type(self, code: str) -> SpecimenType:
        return self.specimen_types[code]

    def timepoint_ids(self, arm: str | None = None, max_repeats: int = 50) -> set[str]:
        """Every timepoint label a specimen may carry (repeats numbered ``ID_1``, ``ID_2``...)."""
        arms = [self.arms[arm]] if arm else list(self.arms.values())
        ids: set[str] = set()
        for a in arms:
            for tp in a.timepoints:
                if tp.repeat_every:
                    ids.update(f"{tp.id}_{i}" for i in range(1, max_repeats + 1))
                else:
                    ids.add(tp.id)
        return ids

    def timepoint_sort_key(self):
        """Sort key of timepoint labels in protocol order (repeats ``ID_n`` in n order; unknown last).

        The arms' schedules are merged so that each arm's own order holds (a timepoint
        only one arm has, such as the control arm's end of chemotherapy, still comes
        before the end of treatment); ties go to the timepoint the protocol lists first.
        """
        first_seen: dict[str, int] = {}
        before: dict[str, set[str]] = {}
        for arm in self.arms.values():
            ids = [tp.id for tp in arm.timepoints]
            for i, tid in enumerate(ids):
                first_seen.setdefault(tid, len(first_seen))
                before.setdefault(tid, set()).update(ids[:i])
        order: dict[str, int] = {}
        while len(order) < len(first_seen):
            ready = [t for t in first_seen if t not in order and before[t] <= set(order)]
            if not ready:  # the arms disagree on the order: fall back to first-seen for the rest
                ready = [t for t in first_seen if t not in order]
            order[min(ready, key=first_seen.__getitem__)] = len(order)

        def key(label: str) -> tuple:
            label = str(label)
            if label in order:
                return (order[label], 0, label)
            match = re.fullmatch(r"(.+)_(\d+)", label)
            if match and match.group(1) in order:
                return (order[match.group(1)], int(match.group(2)), label)
            return (len(order), 0, label)

        return key

    def timepoint(self, arm: str, timepoint_id: str) -> Timepoint | None:
        base = _repeat_base(timepoint_id)
        for tp in self.arms[arm].timepoints:
            if tp.id == timepoint_id or (tp.repeat_every and tp.id == base):
                return tp
        return None

    def expected_types(self, arm: str, timepoint_id: str) -> tuple[frozenset[str], frozenset[str]]:
        """(required, optional) specimen types at a timepoint for an arm."""
        tp = self.timepoint(arm, timepoint_id)
        if tp is None:
            return frozenset(), frozenset()
        return tp.expect, tp.optional

    def due_timepoints(
        self, arm: str, milestones: dict[str, dt.date], *, cutoff: dt.date | None = None
    ) -> list[DueTimepoint]:
        """Timepoints due for a subject given the milestone dates that happened.

        A timepoint is due when its anchor milestone has a date; a repeated one recurs
        every ``repeat_every`` days after the anchor until its ``until`` milestone (or
        the cutoff). With a ``cutoff``, only occurrences whose window has closed by
        then are returned, since a collection cannot be called missed before that.
        """
        due: list[DueTimepoint] = []
        for tp in self.arms[arm].timepoints:
            anchor = milestones.get(tp.anchor)
            if anchor is None:
                continue
            if tp.repeat_every:
                stop = milestones.get(tp.until) or cutoff
                if stop is None:
                    continue
                n = 1
                while True:
                    target = anchor + dt.timedelta(days=tp.offset + (n - 1) * tp.repeat_every)
                    if target > stop:
                        break
                    due.append(_occurrence(f"{tp.id}_{n}", tp, target))
                    n += 1
            else:
                due.append(_occurrence(tp.id, tp, anchor + dt.timedelta(days=tp.offset)))
        if cutoff is not None:
            due = [d for d in due if d.window_end <= cutoff]
        return due


def _repeat_base(timepoint_id: str) -> str:
    head, _, tail = timepoint_id.rpartition("_")
    return head if tail.isdigit() and head else timepoint_id


def _occurrence(tp_id: str, tp: Timepoint, target: dt.date) -> DueTimepoint:
    return DueTimepoint(
        id=tp_id, timepoint=tp, target=target,
        window_start=target + dt.timedelta(days=tp.window[0]),
        window_end=target + dt.timedelta(days=tp.window[1]),
    )


def _expand(names: list[str], collections: dict[str, list[str]], types: dict, *, file: Path, where: str) -> frozenset[str]:
    out: set[str] = set()
    for name in names:
        if name in collections:
            out.update(collections[name])
        elif name in types:
            out.add(name)
        else:
            raise InputError(f"'{name}' is neither a specimen type nor a collection", file=file, field=where)
    return frozenset(out)


def load_protocol(path: str | Path | None = None) -> Protocol:
    """Load and validate the protocol; ``path`` defaults to ``assets/protocol.yaml``."""
    path = Path(path) if path else asset_path("protocol.yaml")
    raw = load_valid_yaml(path, "protocol.schema.json")
    types = {
        code: SpecimenType(
            code=code,
            label=spec["label"],
            category=spec["category"],
            storage_celsius=tuple(spec["storage_celsius"]),
            collection=spec.get("collection"),
            preservation=spec.get("preservation"),
            container=spec.get("container"),
            derived_from=tuple(spec.get("derived_from", ())),
            max_processing_delay_hours=spec.get("max_processing_delay_hours"),
            max_cold_ischaemia_minutes=spec.get("max_cold_ischaemia_minutes"),
            fixation_hours=tuple(spec["fixation_hours"]) if "fixation_hours" in spec else None,
            max_freeze_thaw=spec.get("max_freeze_thaw"),
        )
        for code, spec in raw["specimen_types"].items()
    }
    for code, st in types.items():
        for parent in st.derived_from:
            if parent not in types:
                raise InputError(f"derived_from names unknown specimen type '{parent}'", file=path, field=f"specimen_types.{code}.derived_from")
    for assay, spec in raw["assays"].items():
        for t in spec["consumes"]:
            if t not in types:
                raise InputError(f"unknown specimen type '{t}'", file=path, field=f"assays.{assay}.consumes")
    collections = raw["collections"]
    for name, members in collections.items():
        for t in members:
            if t not in types:
                raise InputError(f"unknown specimen type '{t}'", file=path, field=f"collections.{name}")
    arms = {}
    for code, arm in raw["arms"].items():
        timepoints = []
        for i, tp in enumerate(arm["timepoints"]):
            where = f"arms.{code}.timepoints.{i}"
            for key in ("anchor", "until"):
                if tp.get(key) and tp[key] not in arm["milestones"]:
                    raise InputError(f"unknown milestone '{tp[key]}'", file=path, field=f"{where}.{key}")
            timepoints.append(Timepoint(
                id=tp["id"], anchor=tp["anchor"], offset=tp["offset"], window=tuple(tp["window"]),
                expect=_expand(tp["expect"], collections, types, file=path, where=f"{where}.expect"),
                optional=_expand(tp.get("optional", []), collections, types, file=path, where=f"{where}.optional"),
                repeat_every=tp.get("repeat_every"), until=tp.get("until"),
            ))
        ids = [t.id for t in timepoints]
        if len(ids) != len(set(ids)):
            raise InputError("timepoint ids repeat", file=path, field=f"arms.{code}.timepoints")
        arms[code] = Arm(code=code, label=arm["label"], milestones=arm["milestones"], timepoints=tuple(timepoints))
    ratio_arms = set(raw["study"]["randomization"]["ratio"])
    if ratio_arms != set(arms):
        raise InputError(f"randomization ratio names arms {sorted(ratio_arms)} but arms are {sorted(arms)}", file=path, field="study.randomization.ratio")
    study = raw["study"]
    for key in ("clinical_sites", "central_biobank"):
        named = study[key] if isinstance(study[key], list) else [study[key]]
        for site in named:
            if site not in study["sites"]:
                raise InputError(f"site '{site}' is not in study.sites", file=path, field=f"study.{key}")
    return Protocol(
        path=path,
        studyid=study["studyid"],
        usubjid_pattern=re.compile(study["usubjid_pattern"]),
        specimen_id_pattern=re.compile(study["specimen_id_pattern"]),
        randomization=study["randomization"],
        sites=tuple(study["sites"]),
        clinical_sites=tuple(study["clinical_sites"]),
        central_biobank=study["central_biobank"],
        specimen_types=types,
        assays=raw["assays"],
        arms=arms,
        raw=raw,
    )
