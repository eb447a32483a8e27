"""The 17 ways to tamper with a custody ledger (issue 15), each with the defence that catches it.

A signed ledger of 20 events is built in four imports (so its anchor log holds four
heads), then a forger with write access to the file and any SQLite client (no
recursive triggers, no site key) tries one attack. Cases 1-5 are refused by the
database itself; for the others the test runs ``verify_ledger`` three ways: with
nothing (no key, no anchor), with the site key only, and with the anchor log only,
and states exactly which defences report it:

* triggers - the schema and append-only triggers are ours, and they refused the write;
* chain    - the hash chain (sequence, predecessor hash, canonical payload, hash);
* mac      - the per-event HMAC-SHA256 with the site key (without the key: only
             unsigned events after signed ones);
* anchor   - the heads the anchor log recorded outside the database.

docs/reliability.md ("Ledger tamper matrix") is this table.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from biomarkers.custody import append_events, read_ledger, verify_ledger
from biomarkers.custody._auth import SiteKey
from biomarkers.custody._ledger import _DDL, _TRIGGERS, GENESIS, canonical_json, event_hash

KEY = SiteKey(b"0123456789abcdef0123456789abcdef", "test key")
OTHER_KEY = SiteKey(b"fedcba9876543210fedcba9876543210", "another key")


def _event(i: int, n: int | None = None) -> dict:
    return {"event_id": f"E{i:03d}", "event_type": "MOVED", "n": i if n is None else n}


def signed_ledger(tmp_path):
    ledger = tmp_path / "ledger.sqlite"
    for batch in range(4):
        append_events(ledger, [_event(i) for i in range(batch * 5 + 1, batch * 5 + 6)], key=KEY, actor="STAFF07")
    return ledger


def _rows(con):
    return [list(r) for r in con.execute("SELECT seq, event_id, payload, prev_hash, hash, mac FROM events ORDER BY seq")]


def _rechain(rows):
    """The forger renumbers and rehashes every row; the MACs are copied as they were (no key to recompute them)."""
    prev = GENESIS
    for i, row in enumerate(rows, start=1):
        row[0], row[3] = i, prev
        row[4] = prev = event_hash(prev, i, row[2])
    return rows


def _rewrite(con, rows):
    con.execute("DELETE FROM events")
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows)


def _edited(payload: str, n: int) -> str:
    event = json.loads(payload)
    event["n"] = n
    return canonical_json(event)


# --- the attacks: each takes a plain sqlite3 connection (what a forger would use) ---------------

def update_in_place(con):
    con.execute(f"UPDATE events SET payload = '{_edited(_rows(con)[6][2], 70)}' WHERE seq = 7")


def delete_row(con):
    con.execute("DELETE FROM events WHERE seq = 20")


def insert_or_replace_seq(con):
    seq, event_id, payload, prev, _digest, mac = _rows(con)[6]
    forged = _edited(payload, 70)
    con.execute("INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?)",
                (seq, event_id, forged, prev, event_hash(prev, seq, forged), mac))


def replace_event_id(con):
    rows = _rows(con)
    forged = _edited(rows[6][2], 70)
    con.execute("REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?)", (21, "E007", forged, rows[-1][4], event_hash(rows[-1][4], 21, forged), None))


def replace_full_forgery(con):
    rows = _rows(con)
    for row in rows:
        row[2] = _edited(row[2], 1000 + row[0])
    for row in _rechain(rows):
        con.execute("REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?)", row)


def drop_trigger(con):
    con.execute("DROP TRIGGER events_append_only_delete")


def drop_table_and_rebuild(con):
    rows = _rows(con)
    for row in rows:
        row[2] = _edited(row[2], 1000 + row[0])
        row[5] = None
    con.execute("DROP TABLE events")
    con.executescript(_DDL)
    for row in _rechain(rows):
        con.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", row)


def edit(con):
    con.execute(f"UPDATE events SET payload = '{_edited(_rows(con)[6][2], 70)}' WHERE seq = 7")


def edit_rehash_row(con):
    seq, _eid, payload, prev, _digest, _mac = _rows(con)[6]
    forged = _edited(payload, 70)
    con.execute("UPDATE events SET payload = ?, hash = ? WHERE seq = 7", (forged, event_hash(prev, seq, forged)))


def edit_full_rehash(con):
    rows = _rows(con)
    rows[6][2] = _edited(rows[6][2], 70)
    _rewrite(con, _rechain(rows))


def delete_middle(con):
    con.execute("DELETE FROM events WHERE seq = 12")


def delete_renumber_rehash(con):
    rows = _rows(con)
    del rows[11]
    _rewrite(con, _rechain(rows))


def reorder(con):
    con.execute("UPDATE events SET seq = -1 WHERE seq = 5")
    con.execute("UPDATE events SET seq = 5 WHERE seq = 6")
    con.execute("UPDATE events SET seq = 6 WHERE seq = -1")


def reorder_rehash(con):
    rows = _rows(con)
    rows[4], rows[5] = rows[5], rows[4]
    _rewrite(con, _rechain(rows))


def insert_middle(con):
    rows = _rows(con)
    forged = canonical_json({"event_id": "FORGED", "event_type": "MOVED", "n": 0})
    rows.insert(9, [0, "FORGED", forged, "", "", rows[9][5]])
    for i, row in enumerate(rows, start=1):
        row[0] = i
    rows[9][3] = rows[8][4]
    rows[9][4] = event_hash(rows[9][3], 10, forged)  # the forged row is well hashed; the next one no longer follows
    _rewrite(con, rows)


def truncate_tail(con):
    con.execute("DELETE FROM events WHERE seq > 17")


def forged_append(con):
    seq, _eid, _payload, _prev, head, mac = _rows(con)[-1]
    forged = canonical_json({"event_id": "FORGED", "event_type": "MOVED", "n": 21})
    # a correctly hashed, correctly linked row with a MAC-looking value: the forger has no key
    con.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", (seq + 1, "FORGED", forged, head, event_hash(head, seq + 1, forged), mac))


# name, attack, refused by the triggers, defences that report it (key and anchor log given), detected with neither
CASES = [
    (1, "UPDATE a row in place", update_in_place, True, {"triggers"}, True),
    (2, "DELETE a row", delete_row, True, {"triggers"}, True),
    (3, "INSERT OR REPLACE over an existing seq", insert_or_replace_seq, True, {"triggers"}, True),
    (4, "REPLACE INTO with a new seq and an existing event_id", replace_event_id, True, {"triggers"}, True),
    (5, "full forgery with REPLACE alone (every row rewritten and rehashed)", replace_full_forgery, True, {"triggers"}, True),
    (6, "DROP TRIGGER (left dropped)", drop_trigger, False, {"triggers"}, True),
    (7, "DROP TABLE, rebuilt with the same schema and a forged, rehashed, unsigned chain", drop_table_and_rebuild, False,
     {"mac", "anchor"}, False),
    (8, "edit a payload", edit, False, {"chain"}, True),
    (9, "edit a payload and rehash that row", edit_rehash_row, False, {"chain", "mac"}, True),
    (10, "edit a payload and rehash the whole chain", edit_full_rehash, False, {"mac", "anchor"}, False),
    (11, "delete a middle row", delete_middle, False, {"chain", "anchor"}, True),
    (12, "delete a row, renumber and rehash", delete_renumber_rehash, False, {"mac", "anchor"}, False),
    (13, "swap two rows", reorder, False, {"chain", "mac", "anchor"}, True),
    (14, "swap two rows and rehash", reorder_rehash, False, {"mac", "anchor"}, False),
    (15, "insert a forged row in the middle", insert_middle, False, {"chain", "mac", "anchor"}, True),
    (16, "truncate the tail", truncate_tail, False, {"anchor"}, False),
    (17, "forged, correctly hashed append (with a copied MAC)", forged_append, False, {"mac", "anchor"}, False),
]

_FORGER_DROPS_TRIGGERS = {8, 9, 10, 11, 12, 13, 14, 15, 16, 17}


def _attack(ledger, number, attack):
    con = sqlite3.connect(ledger, isolation_level=None)
    try:
        if number in _FORGER_DROPS_TRIGGERS:  # a careful forger drops the triggers, tampers, and puts them back
            for name in _TRIGGERS:
                con.execute(f"DROP TRIGGER {name}")
            attack(con)
            for sql in _TRIGGERS.values():
                con.execute(sql)
        else:
            attack(con)
    finally:
        con.close()


def _flagged(report) -> set[str]:
    return {name for name, problem in report.defences.items() if problem}


def test_an_untouched_signed_ledger_passes_every_defence(tmp_path):
    ledger = signed_ledger(tmp_path)
    report = verify_ledger(ledger, key=KEY)
    assert report.ok and _flagged(report) == set()
    assert (report.n_events, report.n_signed, report.mac_checked) == (20, 20, True)
    assert report.anchor_status.startswith("matches seq 20 ")
    assert report.summary().startswith("20 events, hash chain intact, all signed, MACs verified; anchor: matches seq 20")


@pytest.mark.parametrize("number, name, attack, refused, defences, without", CASES, ids=[f"{c[0]:02d}" for c in CASES])
def test_tamper_case_is_caught_by_its_defences(tmp_path, number, name, attack, refused, defences, without):
    ledger = signed_ledger(tmp_path)
    before = read_ledger(ledger)
    if refused:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            _attack(ledger, number, attack)
        assert read_ledger(ledger) == before  # nothing changed
        assert verify_ledger(ledger, key=KEY).ok
        return
    _attack(ledger, number, attack)
    with_all = verify_ledger(ledger, key=KEY)
    assert not with_all.ok and _flagged(with_all) == defences, with_all.defences
    bare = verify_ledger(ledger, find_anchor=False)  # no key, no anchor
    assert bare.ok is not without and _flagged(bare) == defences & {"triggers", "chain"}, bare.defences
    key_only = verify_ledger(ledger, key=KEY, find_anchor=False)
    anchor_only = verify_ledger(ledger)  # finds the anchor log beside the ledger
    assert _flagged(key_only) == defences - {"anchor"}
    assert _flagged(anchor_only) == defences - {"mac"}


def test_the_matrix_covers_17_cases_and_every_defence():
    assert [c[0] for c in CASES] == list(range(1, 18))
    seen = set().union(*(c[4] for c in CASES))
    assert seen == {"triggers", "chain", "mac", "anchor"}


def test_first_event_whose_mac_fails_is_named(tmp_path, cli):
    ledger = signed_ledger(tmp_path)
    _attack(ledger, 10, edit_full_rehash)
    key_file = tmp_path / "site.key"
    key_file.write_bytes(b"0123456789abcdef0123456789abcdef\n")
    result = cli("custody", "verify", "--ledger", str(ledger), "--key-file", str(key_file))
    assert result.returncode == 3 and result.stderr.count("\n") == 1
    assert "event E007 (seq 7): MAC does not verify" in result.stderr
    assert "0123456789abcdef" not in result.stderr + result.stdout  # the key is never shown


def test_a_wrong_key_fails_at_the_first_signed_event(tmp_path):
    ledger = signed_ledger(tmp_path)
    report = verify_ledger(ledger, key=OTHER_KEY)
    assert not report.ok and (report.first_bad_seq, report.first_bad_event) == (1, "E001")
    assert "another key" in report.problem


def test_an_unsigned_append_is_caught_without_the_key(tmp_path):
    ledger = signed_ledger(tmp_path)
    con = sqlite3.connect(ledger, isolation_level=None)
    seq, head = con.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    forged = canonical_json(_event(21))
    # the INSERT trigger lets a well-linked append through: that is what appending is
    con.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, NULL)", (seq + 1, "E021", forged, head, event_hash(head, seq + 1, forged)))
    con.close()
    report = verify_ledger(ledger, find_anchor=False)
    assert not report.ok and report.defences["mac"].startswith("unsigned event after signed events")
    assert (report.first_bad_seq, report.first_bad_event) == (21, "E021")


def test_appends_are_refused_when_a_defence_fails(tmp_path, cli):
    ledger = signed_ledger(tmp_path)
    _attack(ledger, 6, drop_trigger)
    with pytest.raises(Exception, match="refusing to append: the ledger is not intact: append-only triggers removed"):
        append_events(ledger, [_event(21)], key=KEY)
    truncated = signed_ledger(tmp_path / "t")
    _attack(truncated, 16, truncate_tail)
    with pytest.raises(Exception, match="refusing to append: the ledger ends at seq 17"):
        append_events(truncated, [_event(21)], key=KEY)
    unsigned = tmp_path / "u"
    unsigned.mkdir()
    with pytest.raises(Exception, match="the ledger is signed; give the site key"):
        append_events(signed_ledger(unsigned), [_event(21)])


def test_a_dropped_table_is_reported_not_crashed_on(tmp_path, cli):
    ledger = signed_ledger(tmp_path)
    con = sqlite3.connect(ledger)
    con.execute("DROP TABLE events")
    con.close()
    report = verify_ledger(ledger, find_anchor=False)
    assert not report.ok and report.defences["triggers"] == "the events table is missing (dropped)"
    result = cli("custody", "verify", "--ledger", str(ledger))
    assert result.returncode == 3 and result.stderr.strip().endswith("the events table is missing (dropped)")
