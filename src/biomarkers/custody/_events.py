"""Custody events in: LIMS CSV exports and single records, validated before they reach the ledger.

Every row is checked against ``assets/custody_export.schema.json`` (types, enums,
patterns, required columns) and then against the protocol and the ledger:
time-zone-aware dates, known specimen types and timepoints, one creation event per
specimen, parents that exist, one subject per specimen, corrections that point at
a real event, and (given the randomization list) known subjects. The first problem
stops the import with one line naming the file, the line and the field; nothing is
appended unless every row is good.

Direct identifiers some exports carry (schema properties marked ``x-identifier``)
are dropped when the row is read: they never reach the ledger, a log or an output.
Free-text columns (``x-free-text``: reason, comments, corrected_value) are screened
for direct identifiers (``assets/identifier_patterns.yaml``); a match refuses the
row without echoing the value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..assets import load_schema
from ..errors import InputError
from ..identifiers import identifier_kind
from ..io import read_csv_rows
from ..log import get_logger
from ..protocol import Protocol, load_protocol
from ..trialdata import load_subjects
from ._auth import Anchor, SiteKey, load_site_key
from ._ledger import append_events, canonical_json, utc_text

__all__ = [
    "EXPORT_SCHEMA",
    "CREATION_EVENTS",
    "SUBJECT_EVENTS",
    "ImportSummary",
    "export_columns",
    "parse_export",
    "parse_event",
    "import_exports",
    "record_event",
    "RecordResult",
]

log = get_logger("custody")

EXPORT_SCHEMA = "custody_export.schema.json"
CREATION_EVENTS = ("COLLECTED", "ALIQUOTED", "DERIVED")
# Events about a subject or another event, not about one specimen.
SUBJECT_EVENTS = ("CONSENT_WITHDRAWN", "CORRECTED", "VOIDED")
_TIME_FIELDS = ("occurred_at", "recorded_at")
_NOT_CORRECTABLE = {"event_id", "event_type", "target_event_id", "corrected_field", "corrected_value"}


def _item_schema() -> dict:
    return load_schema(EXPORT_SCHEMA)["items"]


def export_columns(include_identifiers: bool = False) -> list[str]:
    """Columns of an export, in schema order."""
    props = _item_schema()["properties"]
    return [k for k, v in props.items() if include_identifiers or not v.get("x-identifier")]


class _RowValidator:
    """Checks one row's cells against the export schema (fast: compiled once)."""

    def __init__(self) -> None:
        schema = _item_schema()
        self.props: dict[str, dict] = schema["properties"]
        self.required: list[str] = schema.get("required", [])
        self.identifiers = {k for k, v in self.props.items() if v.get("x-identifier")}
        self.patterns = {k: re.compile(v["pattern"]) for k, v in self.props.items() if "pattern" in v}

    def cast(self, raw: dict[str, str], where: dict, *, partial: bool = False) -> dict:
        record: dict = {}
        for key, value in raw.items():
            if key in self.identifiers or value is None:
                continue
            value = value.strip()
            if value == "":
                continue
            spec = self.props[key]
            if spec.get("x-free-text"):
                found = identifier_kind(value)
                if found:  # the ledger is forever: a name or a phone number must not get in, nor into this message
                    raise InputError(f"looks like a direct identifier ({found}): not stored (value not shown); "
                                     "remove it from the text", field=key, **where)
            kind = spec.get("type")
            if kind == "number":
                try:
                    number = float(value)
                except ValueError:
                    raise InputError("not a number", field=key, value=value, **where) from None
                if number != number or number in (float("inf"), float("-inf")):
                    raise InputError("not a finite number", field=key, value=value, **where)
                if "minimum" in spec and number < spec["minimum"]:
                    raise InputError(f"must be at least {spec['minimum']}", field=key, value=value, **where)
                record[key] = number
            elif kind == "boolean":
                lowered = value.lower()
                if lowered not in {"true", "false", "yes", "no", "1", "0"}:
                    raise InputError("not a boolean (true/false)", field=key, value=value, **where)
                record[key] = lowered in {"true", "yes", "1"}
            else:
                if "enum" in spec and value not in spec["enum"]:
                    raise InputError(f"must be one of {', '.join(spec['enum'])}", field=key, value=value, **where)
                if key in self.patterns and not self.patterns[key].search(value):
                    if spec.get("x-person"):  # a staff name typed where an ID belongs must not reach the log
                        raise InputError(f"does not match the pattern {spec['pattern']} (value not shown: it may be a "
                                         "person's name; use the staff ID)", field=key, **where)
                    raise InputError(f"does not match the pattern {spec['pattern']}", field=key, value=value, **where)
                record[key] = value
        for key in () if partial else self.required:
            if key not in record:
                raise InputError("required value is empty", field=key, **where)
        return record


_VALIDATOR: _RowValidator | None = None


def _validator() -> _RowValidator:
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = _RowValidator()
    return _VALIDATOR


def _parse_time(value: str, field: str, where: dict) -> tuple[str, str]:
    """ISO 8601 date-time with offset -> (canonical UTC text, original offset '+HH:MM')."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InputError("unparseable date-time (expected ISO 8601 with a UTC offset, e.g. 2025-03-01T09:30:00+08:00)",
                         field=field, value=value, **where) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InputError("date-time has no time zone (add a UTC offset such as +08:00 or Z)", field=field, value=value, **where)
    offset = parsed.utcoffset()
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return utc_text(parsed), f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def parse_event(raw: dict[str, str], protocol: Protocol, *, where: dict, timepoints: set[str] | None = None) -> dict:
    """One export row (strings) -> a canonical event dict; row-level checks only."""
    record = _validator().cast(raw, where)
    for key in _TIME_FIELDS:
        record[key], record[key.replace("_at", "_offset")] = _parse_time(record[key], key, where)
    kind = record["event_type"]
    if kind not in SUBJECT_EVENTS and "specimen_id" not in record:
        raise InputError(f"required on a {kind} event", field="specimen_id", **where)
    if "specimen_id" in record and not protocol.specimen_id_pattern.fullmatch(record["specimen_id"]):
        raise InputError(f"specimen ID does not match the study pattern {protocol.specimen_id_pattern.pattern}",
                         field="specimen_id", value=record["specimen_id"], **where)
    if not protocol.usubjid_pattern.fullmatch(record["subject_id"]):
        raise InputError(f"subject does not match the study's USUBJID pattern {protocol.usubjid_pattern.pattern}",
                         field="subject_id", value=record["subject_id"], **where)
    if kind in CREATION_EVENTS and "specimen_type" not in record:
        raise InputError(f"required on a {kind} event", field="specimen_type", **where)
    if "specimen_type" in record and record["specimen_type"] not in protocol.specimen_types:
        raise InputError("unknown specimen type (not in the protocol)", field="specimen_type", value=record["specimen_type"], **where)
    if kind == "COLLECTED":
        if "timepoint" not in record:
            raise InputError("required on a COLLECTED event", field="timepoint", **where)
        if not protocol.specimen_types[record["specimen_type"]].is_primary:
            raise InputError("a derivative type cannot be COLLECTED (record it as DERIVED from its parent)",
                             field="specimen_type", value=record["specimen_type"], **where)
    if "timepoint" in record and record["timepoint"] not in (timepoints or protocol.timepoint_ids()):
        raise InputError("unknown timepoint (not in the protocol)", field="timepoint", value=record["timepoint"], **where)
    if kind in ("ALIQUOTED", "DERIVED") and "parent_specimen_id" not in record:
        raise InputError(f"required on a {kind} event", field="parent_specimen_id", **where)
    if kind in ("CORRECTED", "VOIDED") and "target_event_id" not in record:
        raise InputError(f"required on a {kind} event", field="target_event_id", **where)
    if kind in ("CORRECTED", "VOIDED", "DISPOSED", "CONSENT_WITHDRAWN") and "reason" not in record:
        raise InputError(f"a {kind} event needs a reason", field="reason", **where)
    if kind == "CORRECTED":
        target = record.get("corrected_field")
        if target is None or "corrected_value" not in record:
            raise InputError("a CORRECTED event needs corrected_field and corrected_value", field="corrected_field", **where)
        props = _validator().props
        if target not in props or target in _NOT_CORRECTABLE or target in _validator().identifiers:
            raise InputError("this field cannot be corrected", field="corrected_field", value=target, **where)
        # the new value must itself be valid for its field
        if target in _TIME_FIELDS:
            _parse_time(record["corrected_value"], "corrected_value", where)
        else:
            try:
                _validator().cast({target: record["corrected_value"]}, where, partial=True)
            except InputError as exc:
                raise InputError(f"not a valid {target}: {exc.message}", field="corrected_value",
                                 value=record["corrected_value"], **where) from None
    if kind == "SHIPPED" and "destination_site" not in record:
        raise InputError("a SHIPPED event needs its destination_site", field="destination_site", **where)
    if kind == "CONSUMED" and "assay" not in record:
        raise InputError("a CONSUMED event names the assay that used the specimen", field="assay", **where)
    for key in ("site", "destination_site"):
        if key in record and record[key] not in protocol.sites:
            raise InputError(f"unknown site (protocol sites: {', '.join(protocol.sites)})", field=key, value=record[key], **where)
    return record


def parse_export(path: str | Path, protocol: Protocol) -> list[tuple[str, dict]]:
    """Read one export CSV -> ``[(where, event)]``; row-level validation."""
    path = Path(path)
    props = _validator().props
    rows = read_csv_rows(path, what="custody export", required=_validator().required, known=props,
                         known_from="assets/custody_export.schema.json")
    timepoints = protocol.timepoint_ids()
    out = []
    for i, row in enumerate(rows):
        where = {"file": path, "row": f"line {i + 2}"}
        if None in row:
            raise InputError("row has more cells than the header has columns", **where)
        out.append((f"{path}:{i + 2}", parse_event(row, protocol, where=where, timepoints=timepoints)))
    return out


def _where(tag: str) -> dict:
    file, _, line = tag.rpartition(":")
    return {"file": file, "row": f"line {line}"} if line.isdigit() else {"file": tag}


def _check_batch(new: list[tuple[str, dict]], existing: list[dict], protocol: Protocol, subjects: set[str] | None) -> list[tuple[str, dict]]:
    """Cross-row checks of new events against each other and the ledger; returns those to append."""
    by_id = {e["event_id"]: e for e in existing}
    specimens: dict[str, dict] = {}  # specimen -> creation event
    subject_of: dict[str, str] = {}
    for e in existing:
        sid = e.get("specimen_id")
        if sid:
            subject_of.setdefault(sid, e["subject_id"])
            if e["event_type"] in CREATION_EVENTS:
                specimens.setdefault(sid, e)
    fresh: list[tuple[str, dict]] = []
    seen_new: dict[str, tuple[str, dict]] = {}
    for tag, event in new:
        eid = event["event_id"]
        if eid in seen_new:
            if seen_new[eid][1] != event:
                raise InputError(f"duplicate event_id with different content (first at {seen_new[eid][0]})",
                                 field="event_id", value=eid, **_where(tag))
            continue
        seen_new[eid] = (tag, event)
        if eid in by_id:
            if {k: v for k, v in by_id[eid].items() if k not in ("seq", "hash")} != event:
                raise InputError("event_id is already in the ledger with different content; record a CORRECTED event instead",
                                 field="event_id", value=eid, **_where(tag))
            continue
        fresh.append((tag, event))
    # creations first, so a parent or a specimen may be created later in the file than it is used
    for tag, event in fresh:
        sid = event.get("specimen_id")
        if event["event_type"] in CREATION_EVENTS:
            if sid in specimens:
                raise InputError("duplicate specimen ID: the specimen was already created by event "
                                 f"{specimens[sid]['event_id']}", field="specimen_id", value=sid, **_where(tag))
            specimens[sid] = event
    all_ids = set(by_id) | set(seen_new)
    for tag, event in fresh:
        where = _where(tag)
        sid = event.get("specimen_id")
        subj = event["subject_id"]
        if subjects is not None and subj not in subjects:
            raise InputError("subject is not in the randomization list", field="subject_id", value=subj, **where)
        if sid:
            if sid not in specimens:
                raise InputError("specimen has no COLLECTED, ALIQUOTED or DERIVED event", field="specimen_id", value=sid, **where)
            owner = specimens[sid]["subject_id"]
            if owner != subj:
                raise InputError(f"specimen belongs to subject {owner}", field="subject_id", value=subj, **where)
        if event["event_type"] in ("ALIQUOTED", "DERIVED"):
            parent_id = event["parent_specimen_id"]
            parent = specimens.get(parent_id)
            if parent is None:
                raise InputError("parent specimen is not in the ledger or the export", field="parent_specimen_id", value=parent_id, **where)
            if parent["subject_id"] != subj:
                raise InputError(f"parent specimen belongs to subject {parent['subject_id']}", field="parent_specimen_id", value=parent_id, **where)
            child_type, parent_type = event["specimen_type"], parent["specimen_type"]
            if event["event_type"] == "ALIQUOTED" and child_type != parent_type:
                raise InputError(f"an aliquot has its parent's type ({parent_type})", field="specimen_type", value=child_type, **where)
            if event["event_type"] == "DERIVED" and parent_type not in protocol.specimen_types[child_type].derived_from:
                raise InputError(f"the protocol does not derive {child_type} from {parent_type}", field="specimen_type", value=child_type, **where)
        if event["event_type"] in ("CORRECTED", "VOIDED") and event["target_event_id"] not in all_ids:
            raise InputError("target event is not in the ledger or the export", field="target_event_id", value=event["target_event_id"], **where)
    return fresh


@dataclass(frozen=True)
class ImportSummary:
    files: int
    rows: int
    appended: int
    skipped: int
    anchor: Anchor | None = None  # the head after the import, as appended to the anchor log


def _order_key(item: tuple[str, dict]) -> tuple:
    # The ledger is in recording order; ties keep export order (stable sort).
    event = item[1]
    return (event["recorded_at"],)


def _protocol(protocol: Protocol | str | Path | None) -> Protocol:
    return protocol if isinstance(protocol, Protocol) else load_protocol(protocol)


def _subject_ids(subjects: set[str] | str | Path | None, protocol: Protocol) -> set[str] | None:
    """The randomization list's subjects: given as a set, or read from the list's CSV."""
    if subjects is None or isinstance(subjects, (set, frozenset)):
        return subjects
    return set(load_subjects(subjects, protocol)["USUBJID"])


def _site_key(key: SiteKey | None, key_file: str | Path | None, key_env: str | None) -> SiteKey | None:
    return key if key is not None else load_site_key(key_file, key_env)


def _append_validated(ledger: str | Path, prepare, *, key: SiteKey | None, anchor_log, actor: str):
    """Validate against the ledger and append in one transaction; a new ledger is not created for a refused batch."""
    if not Path(ledger).exists():
        prepare([])  # nothing to compare with: a refusal leaves no empty ledger behind
    return append_events(ledger, prepare=prepare, key=key, anchor_log=anchor_log, actor=actor)


def import_exports(ledger: str | Path, exports: Iterable[str | Path], *, protocol: Protocol | str | Path | None = None,
                   subjects: set[str] | str | Path | None = None, key: SiteKey | None = None,
                   key_file: str | Path | None = None, key_env: str | None = None,
                   anchor_log: str | Path | None = None, actor: str | None = None) -> ImportSummary:
    """Validate LIMS exports and append their new events to the ledger (idempotent).

    Every file is read and checked before anything is written: a bad row anywhere
    leaves the ledger as it was. Events already in the ledger (same ``event_id`` and
    content) are skipped, so importing an export twice adds nothing. New events are
    appended in order of ``recorded_at`` (then export order). ``protocol`` and
    ``subjects`` (the randomization list) may be given as objects or as file paths.
    The checks against the ledger and the append are one transaction. With a site key
    (``key``, or read from ``key_file`` / the environment variable ``key_env``) every
    new event is signed; the new head goes to the anchor log with ``actor`` (a staff ID).
    """
    protocol = _protocol(protocol)
    subjects = _subject_ids(subjects, protocol)
    key = _site_key(key, key_file, key_env)
    actor = _actor(actor)
    exports = [Path(p) for p in exports]
    if not exports:
        raise InputError("no custody export given")
    rows: list[tuple[str, dict]] = []
    start = time.monotonic()
    for path in exports:
        rows.extend(parse_export(path, protocol))
        if time.monotonic() - start > 2:  # progress only when it is slow enough to wonder
            log.info("custody import: %s read and validated (%d rows so far)", path.name, len(rows))

    def prepare(existing: list[dict]) -> list[dict]:
        fresh = _check_batch(rows, existing, protocol, subjects)
        fresh.sort(key=_order_key)
        return [e for _, e in fresh]

    result = _append_validated(ledger, prepare, key=key, anchor_log=anchor_log, actor=actor)
    summary = ImportSummary(files=len(exports), rows=len(rows), appended=result.appended,
                            skipped=len(rows) - result.appended, anchor=result.anchor)
    log.info("custody import: %d rows from %d file(s): %d appended, %d already in the ledger",
             summary.rows, summary.files, summary.appended, summary.skipped)
    return summary


def _actor(actor: str | None) -> str:
    """Who appends, for the anchor log: a staff ID, never a name (not echoed when it looks like one)."""
    if actor is None:
        return "unspecified"
    if not _validator().patterns["actor_id"].search(actor):
        raise InputError("does not match the pattern of a staff ID (value not shown: it may be a person's name)", field="actor")
    return actor


@dataclass(frozen=True)
class RecordResult:
    event: dict
    appended: bool  # False: the same event (same derived event_id) was already in the ledger
    anchor: Anchor | None = None


def derived_event_id(fields: dict[str, str]) -> str:
    """An event ID that is a digest of what happened (not of when it was typed in)."""
    content = {k: v for k, v in fields.items() if k != "recorded_at"}
    return "REC-" + hashlib.sha256(canonical_json(content).encode()).hexdigest()[:16].upper()


def record_event(ledger: str | Path, fields: dict[str, str], *, protocol: Protocol | str | Path | None = None,
                 subjects: set[str] | str | Path | None = None, source: str = "command line", key: SiteKey | None = None,
                 key_file: str | Path | None = None, key_env: str | None = None,
                 anchor_log: str | Path | None = None) -> RecordResult:
    """Validate one event given as export-column strings and append it.

    ``recorded_at`` defaults to now (UTC). Without an ``event_id``, the ID is derived
    from the event's content, so recording the same event twice appends it once
    (``RecordResult.appended`` is then False). The checks against the ledger and the
    append are one transaction: of several processes creating the same specimen at
    once, exactly one succeeds.
    """
    protocol = _protocol(protocol)
    subjects = _subject_ids(subjects, protocol)
    key = _site_key(key, key_file, key_env)
    fields = {k: str(v) for k, v in fields.items() if v is not None}
    unknown = [k for k in fields if k not in _validator().props]
    if unknown:
        raise InputError("unknown field (not in assets/custody_export.schema.json)", file=source, field=unknown[0])
    fields.setdefault("recorded_at", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    derived = "event_id" not in fields
    if derived:
        fields["event_id"] = derived_event_id(fields)
    event = parse_event(fields, protocol, where={"file": source})
    already: list[dict] = []

    def prepare(existing: list[dict]) -> list[dict]:
        if derived:
            already[:] = [e for e in existing if e["event_id"] == event["event_id"]]
            if already:
                return []
        return [e for _, e in _check_batch([(source, event)], existing, protocol, subjects)]

    result = _append_validated(ledger, prepare, key=key, anchor_log=anchor_log, actor=event["actor_id"])
    if already:
        return RecordResult({k: v for k, v in already[0].items() if k not in ("seq", "hash")}, False, result.anchor)
    return RecordResult(event, appended=bool(result.appended), anchor=result.anchor)
