"""The custody ledger: an append-only, hash-chained SQLite database.

Design
------
* One table, ``events``: ``seq`` (1, 2, 3... with no gaps), ``event_id`` (the LIMS
  event ID, unique), ``payload`` (the event as canonical JSON), ``prev_hash`` and
  ``hash``. ``hash = SHA-256(prev_hash | seq | payload)`` with the first row chained
  to 64 zeros, so every row commits to its position and to all rows before it.
* Append-only is enforced by the database itself: triggers ``RAISE(ABORT)`` on any
  UPDATE or DELETE of ``events``, whoever the client is.
* Canonical encoding: JSON with sorted keys, no whitespace, absent values omitted,
  date-times in UTC (``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``) with the original UTC offset
  kept as a separate field so the local time can be shown (SDTM BESTDTC).
* Appends run in ``BEGIN IMMEDIATE`` transactions (one writer at a time, others wait
  up to the busy timeout), reading the head inside the transaction, so concurrent
  writers from several processes never fork the chain or lose an event.
* :func:`verify_ledger` recomputes the chain and names the first row where it breaks
  (edit, deletion, insertion, reordering). A head hash recorded elsewhere
  (``anchor``) detects truncation, which a chain alone cannot.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, LedgerIntegrityError

__all__ = [
    "GENESIS",
    "LedgerReport",
    "append_events",
    "canonical_json",
    "connect",
    "event_hash",
    "iter_ledger",
    "ledger_head",
    "read_ledger",
    "verify_ledger",
    "utc_text",
]

GENESIS = "0" * 64
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 120_000

_DDL = f"""
CREATE TABLE IF NOT EXISTS events (
    seq       INTEGER PRIMARY KEY,
    event_id  TEXT NOT NULL UNIQUE,
    payload   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'custody ledger is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'custody ledger is append-only: DELETE refused'); END;
PRAGMA user_version = {SCHEMA_VERSION};
"""


def utc_text(value: dt.datetime) -> str:
    """A timezone-aware datetime as canonical UTC text."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime")
    utc = value.astimezone(dt.timezone.utc)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


def canonical_json(event: dict) -> str:
    """Sorted-key compact JSON of an event, absent (None) values dropped."""
    clean = {k: v for k, v in event.items() if v is not None}
    return json.dumps(clean, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def event_hash(prev_hash: str, seq: int, payload: str) -> str:
    return hashlib.sha256(f"{prev_hash}|{seq}|{payload}".encode()).hexdigest()


def connect(path: str | Path, *, create: bool = True) -> sqlite3.Connection:
    """Open (and if needed create) a ledger; autocommit mode, transactions are explicit."""
    path = Path(path)
    if not create and not path.exists():
        raise InputError("custody ledger not found", file=path)
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise InputError(f"not a custody ledger (SQLite): {exc}", file=path) from None
    if "events" not in tables:
        if not create:
            raise InputError("not a custody ledger (no events table)", file=path)
        con.executescript(_DDL)  # IF NOT EXISTS: safe when several processes create it at once
    return con


def ledger_head(con: sqlite3.Connection) -> tuple[int, str]:
    row = con.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return (0, GENESIS) if row is None else (int(row[0]), row[1])


def append_events(path: str | Path, events: Iterable[dict]) -> tuple[int, int]:
    """Append events (dicts with ``event_id``) in order; skip IDs already in the ledger.

    Returns ``(appended, skipped)``. All events go in one transaction: either all new
    ones are appended or none. An ID already present with different content is an
    error (the ledger never changes a recorded event; record a CORRECTED event).
    """
    events = list(events)
    con = connect(path)
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            seq, prev = ledger_head(con)
            appended = skipped = 0
            for event in events:
                payload = canonical_json(event)
                found = con.execute("SELECT payload FROM events WHERE event_id = ?", (event["event_id"],)).fetchone()
                if found is not None:
                    if found[0] != payload:
                        raise InputError(
                            "event_id is already in the ledger with different content; record a CORRECTED event instead",
                            file=event.get("_source"), field="event_id", value=event["event_id"],
                        )
                    skipped += 1
                    continue
                seq += 1
                digest = event_hash(prev, seq, payload)
                con.execute("INSERT INTO events (seq, event_id, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?)",
                            (seq, event["event_id"], payload, prev, digest))
                prev = digest
                appended += 1
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    return appended, skipped


def iter_ledger(path: str | Path) -> Iterator[tuple[int, str, str, str, str]]:
    """Rows ``(seq, event_id, payload, prev_hash, hash)`` in ledger order."""
    con = connect(path, create=False)
    try:
        yield from con.execute("SELECT seq, event_id, payload, prev_hash, hash FROM events ORDER BY seq")
    finally:
        con.close()


def read_ledger(path: str | Path) -> list[dict]:
    """Every event as a dict, with ``seq`` and ``hash`` added, in ledger order."""
    out = []
    for seq, _event_id, payload, _prev, digest in iter_ledger(path):
        event = json.loads(payload)
        event["seq"] = seq
        event["hash"] = digest
        out.append(event)
    return out


@dataclass(frozen=True)
class LedgerReport:
    path: str
    n_events: int
    head: str
    ok: bool
    first_bad_seq: int | None = None
    first_bad_event: str | None = None
    problem: str | None = None

    def raise_if_broken(self) -> None:
        if not self.ok:
            raise LedgerIntegrityError(self.problem or "hash chain broken", file=self.path,
                                       row=f"event {self.first_bad_event} (seq {self.first_bad_seq})"
                                       if self.first_bad_seq is not None else None)


def verify_ledger(path: str | Path, *, anchor: str | None = None) -> LedgerReport:
    """Recompute the hash chain; report the first row where it breaks.

    Checks, row by row in ``seq`` order: sequence numbers run 1, 2, 3... without gaps
    (a deletion or insertion shows), the stored predecessor hash is the previous
    row's hash (reordering shows), the payload is canonical and its event ID matches
    the row's, and the stored hash is the recomputed one (an edit shows). With
    ``anchor`` (a head hash recorded elsewhere), that hash must be in the chain, else
    the ledger was truncated or rewritten.
    """
    path = str(path)
    con = connect(path, create=False)
    try:
        triggers = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
        missing_triggers = {"events_append_only_update", "events_append_only_delete"} - triggers
        rows = con.execute("SELECT seq, event_id, payload, prev_hash, hash FROM events ORDER BY seq")
        prev = GENESIS
        expected_seq = 0
        anchor_seen = anchor is None
        for seq, event_id, payload, prev_hash, digest in rows:
            expected_seq += 1
            problem = None
            if seq != expected_seq:
                problem = f"sequence gap: expected seq {expected_seq}, found {seq} (events deleted or inserted)"
            elif prev_hash != prev:
                problem = "predecessor hash does not match the previous event (events deleted, inserted or reordered)"
            else:
                try:
                    decoded = json.loads(payload)
                    canonical = canonical_json(decoded) == payload and decoded.get("event_id") == event_id
                except (ValueError, AttributeError):
                    canonical = False
                if not canonical:
                    problem = "payload is not the canonical encoding of the event (edited)"
                elif event_hash(prev_hash, seq, payload) != digest:
                    problem = "stored hash does not match the event's content (edited)"
            if problem:
                return LedgerReport(path, expected_seq - 1, prev, False, seq, event_id, problem)
            prev = digest
            if not anchor_seen and digest == anchor:
                anchor_seen = True
        if not anchor_seen:
            return LedgerReport(path, expected_seq, prev, False, None, None,
                                f"anchor hash {anchor[:12]}... is not in the chain: the ledger was truncated or rewritten")
        if missing_triggers:
            return LedgerReport(path, expected_seq, prev, False, None, None,
                                f"append-only triggers removed: {', '.join(sorted(missing_triggers))}")
        return LedgerReport(path, expected_seq, prev, True)
    finally:
        con.close()
