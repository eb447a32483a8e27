"""The custody ledger: an append-only, hash-chained, signed SQLite database.

Design
------
* One table, ``events``: ``seq`` (1, 2, 3... with no gaps), ``event_id`` (the LIMS
  event ID, unique), ``payload`` (the event as canonical JSON), ``prev_hash``,
  ``hash`` and ``mac``. ``hash = SHA-256(prev_hash | seq | payload)`` with the first
  row chained to 64 zeros, so every row commits to its position and to all rows
  before it. ``mac`` is an HMAC-SHA256 of the row's hash with the site key (see
  :mod:`._auth`), NULL for an unsigned event.
* Append-only is enforced by the database itself, whoever the client is: triggers
  ``RAISE(ABORT)`` on any UPDATE or DELETE, and an INSERT trigger refuses any row that
  does not extend the chain (``seq`` must be the next number, ``prev_hash`` the head's
  hash, ``event_id`` new). The INSERT trigger fires before conflict resolution, so
  ``INSERT OR REPLACE`` / ``REPLACE INTO`` cannot delete a row behind the DELETE
  trigger's back; our own connections also turn ``recursive_triggers`` on. SQLite has
  no trigger on DDL: ``DROP TRIGGER`` and ``DROP TABLE`` cannot be refused, only
  detected (the schema check below, the chain, the MACs and the anchors).
* Canonical encoding: JSON with sorted keys, no whitespace, absent values omitted,
  date-times in UTC (``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``) with the original UTC offset
  kept as a separate field so the local time can be shown (SDTM BESTDTC).
* Appends run in ``BEGIN IMMEDIATE`` transactions (one writer at a time, others wait
  up to the busy timeout). Inside the transaction the whole ledger is verified and
  handed to the caller's validation, and only then are the new rows inserted, so a
  check ("this specimen is not yet created") and the append it allows cannot be
  separated by another writer. A ledger whose schema, triggers, chain or MACs are
  not intact refuses appends.
* :func:`verify_ledger` runs four independent defences and reports each: the schema
  and triggers, the hash chain (names the first row where it breaks), the MACs (with
  the key: the first event whose MAC fails; without it: unsigned events after signed
  ones) and the anchors (heads recorded outside the database).
* Format versions: version 1 ledgers (before MACs and the INSERT trigger) still
  verify, reported as legacy and unsigned; the first append upgrades them in place
  (a column and a trigger are added, no row is changed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, LedgerIntegrityError
from ._auth import (Anchor, SiteKey, anchor_log_for, append_anchor, is_mac_text, load_site_key, new_anchor, read_anchor_log,
                    undo_anchor)

__all__ = [
    "GENESIS",
    "AppendResult",
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
SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 120_000
DEFENCES = ("triggers", "chain", "mac", "anchor")

_TABLE = """CREATE TABLE IF NOT EXISTS events (
    seq       INTEGER PRIMARY KEY,
    event_id  TEXT NOT NULL UNIQUE,
    payload   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL,
    mac       TEXT
);"""
_TRIGGERS = {
    "events_append_only_update": """CREATE TRIGGER IF NOT EXISTS events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'custody ledger is append-only: UPDATE refused'); END;""",
    "events_append_only_delete": """CREATE TRIGGER IF NOT EXISTS events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'custody ledger is append-only: DELETE refused'); END;""",
    "events_append_only_insert": f"""CREATE TRIGGER IF NOT EXISTS events_append_only_insert BEFORE INSERT ON events
WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM events)
  OR NEW.prev_hash IS NOT COALESCE((SELECT hash FROM events ORDER BY seq DESC LIMIT 1), '{GENESIS}')
  OR EXISTS (SELECT 1 FROM events WHERE event_id = NEW.event_id)
BEGIN SELECT RAISE(ABORT, 'custody ledger is append-only: an INSERT must extend the chain (next seq, head hash, new event_id); REPLACE refused'); END;""",
}
_V1_TRIGGERS = ("events_append_only_update", "events_append_only_delete")
_DDL = "\n".join([_TABLE, *_TRIGGERS.values(), f"PRAGMA user_version = {SCHEMA_VERSION};"])
_COLUMNS_V1 = [("seq", "INTEGER", 0, 1), ("event_id", "TEXT", 1, 0), ("payload", "TEXT", 1, 0),
               ("prev_hash", "TEXT", 1, 0), ("hash", "TEXT", 1, 0)]
_COLUMNS_V2 = _COLUMNS_V1 + [("mac", "TEXT", 0, 0)]


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


def _create_private(path: Path) -> None:
    """Create an empty ledger file 0640 whatever the umask (SQLite's journals copy its mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o640)
    finally:
        os.close(fd)


def connect(path: str | Path, *, create: bool = True) -> sqlite3.Connection:
    """Open (and if needed create) a ledger; autocommit mode, transactions are explicit."""
    path = Path(path)
    if not create and not path.exists():
        raise InputError("custody ledger not found", file=path)
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        _create_private(path)
    try:
        con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        con.execute("PRAGMA recursive_triggers = ON")  # REPLACE's implicit delete fires the DELETE trigger
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise InputError(f"not a custody ledger (SQLite): {exc}", file=path) from None
    if "events" not in tables and create:
        con.executescript(_DDL)  # IF NOT EXISTS: safe when several processes create it at once
    return con


def ledger_head(con: sqlite3.Connection) -> tuple[int, str]:
    row = con.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return (0, GENESIS) if row is None else (int(row[0]), row[1])


def _norm(sql: str | None) -> str:
    return " ".join((sql or "").replace("IF NOT EXISTS ", "").split()).rstrip(";")


def _schema_state(con: sqlite3.Connection) -> tuple[str, str | None]:
    """``(format, problem)``: format ``"v2"`` or ``"v1 (legacy)"``; problem None when the schema and triggers are ours."""
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "events" not in tables:
        return "none", "the events table is missing (dropped)"
    columns = [(r[1], r[2].upper(), r[3], r[5]) for r in con.execute("PRAGMA table_info(events)")]
    unique = [r for r in con.execute("PRAGMA index_list(events)") if r[2]]
    unique_cols = {tuple(c[2] for c in con.execute(f"PRAGMA index_info('{r[1]}')")) for r in unique}
    legacy = columns == _COLUMNS_V1
    if not (legacy or columns == _COLUMNS_V2) or ("event_id",) not in unique_cols:
        return "unknown", "the events table has been altered (columns or the UNIQUE event_id differ)"
    fmt = "v1 (legacy)" if legacy else "v2"
    found = {r[0]: r[1] for r in con.execute("SELECT name, sql FROM sqlite_master WHERE type='trigger'")}
    wanted = _V1_TRIGGERS if legacy else tuple(_TRIGGERS)
    missing = [t for t in wanted if t not in found]
    if missing:
        return fmt, f"append-only triggers removed: {', '.join(missing)}"
    altered = [t for t in wanted if _norm(found[t]) != _norm(_TRIGGERS[t])]
    extra = sorted(set(found) - set(_TRIGGERS))
    if altered or extra:
        return fmt, f"append-only triggers altered or added: {', '.join(altered + extra)}"
    return fmt, None


@dataclass(frozen=True)
class LedgerReport:
    """What :func:`verify_ledger` found; ``defences`` maps each defence to its first problem (None: passed)."""

    path: str
    n_events: int
    head: str
    ok: bool
    first_bad_seq: int | None = None
    first_bad_event: str | None = None
    problem: str | None = None
    format: str = "v2"
    n_signed: int = 0
    mac_checked: bool = False
    anchor_status: str = "no anchor"
    defences: dict = field(default_factory=dict)
    anchor_recorded: str | None = None  # time and actor of the latest anchor, for people (not for outputs)

    @property
    def n_unsigned(self) -> int:
        return self.n_events - self.n_signed

    def raise_if_broken(self) -> None:
        if not self.ok:
            raise LedgerIntegrityError(self.problem or "hash chain broken", file=self.path,
                                       row=f"event {self.first_bad_event} (seq {self.first_bad_seq})"
                                       if self.first_bad_seq is not None else None)

    def summary(self) -> str:
        """One line: events, chain, signatures, anchor, head."""
        if self.n_signed == self.n_events and self.n_events:
            signed = "all signed, MACs verified" if self.mac_checked else "all signed (MACs not checked: no key given)"
        elif self.n_signed:
            signed = (f"{self.n_unsigned} unsigned (legacy, vouched for by the first signed event), {self.n_signed} signed"
                      + (", MACs verified" if self.mac_checked else " (MACs not checked: no key given)"))
        else:
            signed = f"unsigned ({'legacy format' if self.format.startswith('v1') else 'no site key used'})"
        return (f"{self.n_events} events, hash chain intact, {signed}; anchor: {self.anchor_status}"
                f"{f' (recorded {self.anchor_recorded})' if self.anchor_recorded else ''}; head {self.head}")


@dataclass
class _Walk:
    """State of one pass over the rows: each defence keeps its first problem as (problem, seq, event_id)."""

    key: SiteKey | None
    chain: tuple | None = None
    mac: tuple | None = None
    n: int = 0
    head: str = GENESIS
    n_signed: int = 0
    hashes: list = field(default_factory=list)  # (hash, signed) by seq - 1
    events: list = field(default_factory=list)

    def row(self, seq, event_id, payload, prev_hash, digest, mac, collect: bool) -> None:
        self.n += 1
        problem = None
        decoded = None
        if seq != self.n:
            problem = f"sequence gap: expected seq {self.n}, found {seq} (events deleted or inserted)"
        elif prev_hash != self.head:
            problem = "predecessor hash does not match the previous event (events deleted, inserted or reordered)"
        else:
            try:
                decoded = json.loads(payload)
                canonical = canonical_json(decoded) == payload and decoded.get("event_id") == event_id
            except (ValueError, AttributeError, TypeError):
                canonical = False
            if not canonical:
                problem = "payload is not the canonical encoding of the event (edited)"
            elif event_hash(prev_hash, seq, payload) != digest:
                problem = "stored hash does not match the event's content (edited)"
        if problem and self.chain is None:
            self.chain = (problem, seq, event_id)
        self._mac(seq, event_id, digest, mac)
        self.head = digest
        self.hashes.append((digest, mac is not None))
        if collect and decoded is not None:
            self.events.append({**decoded, "seq": seq, "hash": digest})

    def _mac(self, seq, event_id, digest, mac) -> None:
        problem = None
        if mac is None:
            if self.n_signed:
                problem = "unsigned event after signed events (appended without the site key)"
        else:
            self.n_signed += 1
            if not is_mac_text(mac):
                problem = "MAC is not an HMAC-SHA256 hex digest"
            elif self.key is not None and not self.key.verifies(seq, digest, mac):
                problem = f"MAC does not verify with the site key from the {self.key.source} (forged, or another key)"
        if problem and self.mac is None:
            self.mac = (problem, seq, event_id)


def _anchor_problem(walk: _Walk, anchors: list[Anchor], key: SiteKey | None, strict_tail: bool) -> tuple[str | None, str]:
    """``(problem, status)`` of the anchors against the walked chain."""
    if not anchors:
        return None, "no anchor"
    for anchor in reversed(anchors):  # the latest first: it is the one that matters most
        if anchor.seq is None:
            if anchor.head not in {h for h, _ in walk.hashes}:
                return (f"anchor hash {anchor.head[:12]}... is not in the chain: the ledger was truncated or rewritten",
                        "FAILED")
            continue
        if anchor.seq == 0:
            continue
        if anchor.seq > walk.n:
            return (f"the ledger ends at seq {walk.n} but the anchor {anchor.describe()} records seq {anchor.seq}: "
                    "truncated or rewritten", "FAILED")
        digest, signed = walk.hashes[anchor.seq - 1]
        if digest != anchor.head:
            return f"event at seq {anchor.seq} does not have the anchored head hash ({anchor.describe()}): rewritten", "FAILED"
        if anchor.mac and not signed:
            return f"the anchor {anchor.describe()} is signed but the event at seq {anchor.seq} is not: MACs stripped", "FAILED"
        if key is not None and anchor.mac and not key.verifies_text(anchor.mac_text(), anchor.mac):
            return f"the anchor line {anchor.describe()} has a MAC that does not verify (forged anchor)", "FAILED"
    latest = anchors[-1]
    after = walk.n - latest.seq if latest.seq is not None else 0
    if strict_tail and after > 0:
        return (f"{after} event(s) after the latest anchor ({latest.describe()}): appended without anchoring "
                "(not by biomarkers custody import/record)", "FAILED")
    # deterministic (no time, no folder): it goes into the outputs' metadata, which reruns reproduce byte for byte
    status = (f"matches seq {latest.seq} of {Path(latest.source).name}" if latest.seq is not None
              else f"hash {latest.head[:12]}... is in the chain")
    return None, status + (f"; {after} event(s) since" if after else "")


def _anchors(path: Path, anchor: str | None, anchor_log: str | Path | None, find_anchor: bool) -> tuple[list[Anchor], bool]:
    """Anchors to check and whether events after the latest one are an error (they are for an anchor log)."""
    anchors: list[Anchor] = []
    log = Path(anchor_log) if anchor_log else anchor_log_for(path)
    if anchor_log or (find_anchor and log.is_file()):
        anchors = read_anchor_log(log)
    if anchor:
        text = anchor.strip().lower()
        if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
            raise InputError("an anchor is a head hash: 64 hexadecimal characters", field="anchor", value=anchor)
        anchors.append(Anchor(None, text))
    return anchors, bool(anchors) and anchors[-1].seq is not None


def _walk_ledger(con: sqlite3.Connection, path: str, key: SiteKey | None, anchors: list[Anchor], strict_tail: bool,
                 *, collect: bool = False) -> tuple[LedgerReport, list[dict]]:
    fmt, schema_problem = _schema_state(con)
    walk = _Walk(key)
    if fmt in ("v2", "v1 (legacy)"):
        mac_col = "mac" if fmt == "v2" else "NULL"
        for row in con.execute(f"SELECT seq, event_id, payload, prev_hash, hash, {mac_col} FROM events ORDER BY seq"):
            walk.row(*row, collect=collect)
    if key is not None and walk.n and not walk.n_signed and walk.mac is None:
        walk.mac = (f"no event is signed, but a site key was given ({key.source}): an unsigned or forged ledger", None, None)
    anchor_problem, anchor_status = _anchor_problem(walk, anchors, key, strict_tail)
    defences = {"triggers": schema_problem, "chain": walk.chain and walk.chain[0], "mac": walk.mac and walk.mac[0],
                "anchor": anchor_problem}
    schema_first = (schema_problem, None, None) if schema_problem else None
    anchor_first = (anchor_problem, None, None) if anchor_problem else None
    if fmt in ("none", "unknown"):  # no table to walk: that is the news
        first = schema_first
    else:
        first = walk.chain or walk.mac or anchor_first or schema_first
    report = LedgerReport(path, walk.n, walk.head, first is None, first[1] if first else None, first[2] if first else None,
                          first[0] if first else None, fmt, walk.n_signed, key is not None, anchor_status, defences,
                          f"{anchors[-1].time} by {anchors[-1].actor}" if anchors and anchors[-1].time else None)
    return report, walk.events


def verify_ledger(path: str | Path, *, anchor: str | None = None, anchor_log: str | Path | None = None,
                  key: SiteKey | None = None, key_file: str | Path | None = None, key_env: str | None = None,
                  find_anchor: bool = True) -> LedgerReport:
    """Run every defence over the ledger; report the first problem and each defence's verdict.

    * triggers: the events table and its append-only triggers are exactly ours;
    * chain: sequence numbers run 1, 2, 3... without gaps, each ``prev_hash`` is the
      previous row's hash, the payload is canonical with the row's event ID, and the
      hash recomputes (names the first row where any of this fails);
    * mac: with ``key``, every event from the first signed one on carries a MAC that
      verifies (names the first that does not); without it, unsigned events after
      signed ones are reported (a forger without the key cannot sign);
    * anchor: every anchor of the anchor log (``anchor_log``, or the one beside the
      ledger when ``find_anchor``) names a seq whose hash is the one recorded, and no
      event follows the latest anchor; a bare ``anchor`` hash must be in the chain.

    The site key is ``key``, or read from ``key_file`` or the environment variable ``key_env``.
    """
    key = key if key is not None else load_site_key(key_file, key_env)
    path_obj = Path(path)
    anchors, strict_tail = _anchors(path_obj, anchor, anchor_log, find_anchor)
    con = connect(path_obj, create=False)
    try:
        report, _ = _walk_ledger(con, str(path), key, anchors, strict_tail)
    finally:
        con.close()
    return report


@dataclass(frozen=True)
class AppendResult:
    appended: int
    skipped: int
    anchor: Anchor | None = None
    events: list = field(default_factory=list)  # the events as appended


def _refuse_append(path: str | Path, report: LedgerReport, key: SiteKey | None) -> None:
    """An append goes only onto an intact ledger (exit 2: the input ledger is not fit to extend)."""
    problems = {k: v for k, v in report.defences.items() if v and k != "anchor"}
    if (report.defences.get("mac") or "").startswith("no event is signed"):
        problems.pop("mac")  # signing starts with this append
    if problems:
        problem = next(problems[k] for k in ("chain", "mac", "triggers") if k in problems)
        where = f" at event {report.first_bad_event} (seq {report.first_bad_seq})" \
            if report.first_bad_seq and problem == report.problem else ""
        raise InputError(f"refusing to append: the ledger is not intact{where}: {problem}; run `biomarkers custody verify`",
                         file=path)
    if report.defences.get("anchor"):
        raise InputError(f"refusing to append: {report.defences['anchor']}; run `biomarkers custody verify`", file=path)
    if report.n_signed and key is None:
        raise InputError("refusing to append: the ledger is signed; give the site key (--key-file or --key-env)", file=path)


def append_events(path: str | Path, events: Iterable[dict] = (), *, prepare: Callable[[list[dict]], Iterable[dict]] | None = None,
                  key: SiteKey | None = None, anchor_log: str | Path | None = None, actor: str = "unspecified") -> AppendResult:
    """Append events (dicts with ``event_id``) in order in one ``BEGIN IMMEDIATE`` transaction.

    Inside the transaction the ledger is verified (schema, triggers, chain, MACs with
    ``key``, the anchor log) and refused if not intact; ``prepare(existing_events)``
    (when given) validates against the ledger as it is now and returns the events to
    append, which replaces ``events``. IDs already present with the same content are
    skipped; with different content it is an error (record a CORRECTED event). With
    ``key`` every new event is signed. The new head is appended to the anchor log
    (``anchor_log``, default ``<ledger>.anchors.jsonl``) before the commit, while the
    write lock is held, so the log's order is the ledger's.
    """
    path = Path(path)
    log = Path(anchor_log) if anchor_log else anchor_log_for(path)
    con = connect(path)
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            anchors = read_anchor_log(log) if log.is_file() else []  # read under the write lock: others append to it
            report, existing = _walk_ledger(con, str(path), key, anchors, True, collect=True)
            _refuse_append(path, report, key)
            batch = list(prepare(existing) if prepare is not None else events)
            if report.format.startswith("v1") and batch:
                _upgrade(con)
            appended, skipped = _insert(con, batch, {e["event_id"]: e for e in existing}, key, (report.n_events, report.head))
            head_seq, head = ledger_head(con)
            anchor = new_anchor(head_seq, head, actor, key, log)
            size = append_anchor(log, anchor)
            try:
                con.execute("COMMIT")
            except BaseException:
                undo_anchor(log, size)
                raise
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    return AppendResult(len(appended), skipped, anchor, appended)


def _upgrade(con: sqlite3.Connection) -> None:
    """Version 1 -> 2 inside the append's transaction: add the MAC column and the INSERT trigger."""
    con.execute("ALTER TABLE events ADD COLUMN mac TEXT")
    con.execute(_TRIGGERS["events_append_only_insert"])
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _insert(con: sqlite3.Connection, batch: list[dict], by_id: dict[str, dict], key: SiteKey | None,
            head: tuple[int, str]) -> tuple[list[dict], int]:
    seq, prev = head
    appended: list[dict] = []
    skipped = 0
    for event in batch:
        payload = canonical_json(event)
        found = by_id.get(event["event_id"])
        if found is not None:
            if canonical_json({k: v for k, v in found.items() if k not in ("seq", "hash")}) != payload:
                raise InputError("event_id is already in the ledger with different content; record a CORRECTED event instead",
                                 file=event.get("_source"), field="event_id", value=event["event_id"])
            skipped += 1
            continue
        seq += 1
        digest = event_hash(prev, seq, payload)
        con.execute("INSERT INTO events (seq, event_id, payload, prev_hash, hash, mac) VALUES (?, ?, ?, ?, ?, ?)",
                    (seq, event["event_id"], payload, prev, digest, key.event_mac(seq, digest) if key else None))
        by_id[event["event_id"]] = {**event, "seq": seq, "hash": digest}
        prev = digest
        appended.append(event)
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
