"""The custody ledger: append-only in the database, hash chain, tamper detection, concurrency, import."""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import sqlite3

import pytest

from biomarkers.custody import import_exports, read_ledger, record_event, verify_ledger
from biomarkers.custody._ledger import _DDL, GENESIS, append_events, canonical_json, event_hash
from biomarkers.errors import InputError

SUBJ = "NCT07007182-01-001"
SUBJECTS = {SUBJ, "NCT07007182-02-001"}


def _row(event_id, event_type, occurred, **extra):
    row = {"event_id": event_id, "event_type": event_type, "subject_id": SUBJ, "occurred_at": occurred,
           "recorded_at": occurred, "actor_id": "STAFF07", "site": "SITE01"}
    row.update(extra)
    return row


def small_export_rows():
    return [
        _row("E1", "COLLECTED", "2025-02-03T09:00:00+08:00", specimen_id="SP01001-0001", specimen_type="WB_EDTA",
             timepoint="BASELINE", container="EDTA", volume_ml="10", participant_name="Zhang San",
             medical_record_number="MRN123456", date_of_birth="1960-01-01"),
        _row("E2", "PROCESSED", "2025-02-03T10:00:00+08:00", specimen_id="SP01001-0001", process="CENTRIFUGED",
             centrifuge_g="2000", centrifuge_minutes="10", centrifuge_celsius="20", centrifuge_brake="true"),
        _row("E3", "DERIVED", "2025-02-03T10:30:00+08:00", specimen_id="SP01001-0002", specimen_type="PLASMA",
             parent_specimen_id="SP01001-0001", volume_ml="4"),
        _row("E4", "FROZEN", "2025-02-03T10:45:00+08:00", specimen_id="SP01001-0002", temperature_c="-80"),
        _row("E5", "STORED", "2025-02-03T11:00:00+08:00", specimen_id="SP01001-0002", temperature_c="-80",
             storage_unit="F1", rack="R1", box="B1", position_row="A", position_col="1"),
    ]


def write_export(path, rows, columns=None):
    columns = columns or sorted({k for r in rows for k in r}, key=lambda c: (c != "event_id", c))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for r in rows:
            writer.writerow({c: r.get(c, "") for c in columns})
    return path


def _filled_ledger(tmp_path, n=20):
    ledger = tmp_path / "ledger.sqlite"
    append_events(ledger, [{"event_id": f"E{i:03d}", "event_type": "MOVED", "n": i} for i in range(1, n + 1)])
    return ledger


def _tamper(ledger, *sql):
    con = sqlite3.connect(ledger)
    con.execute("DROP TRIGGER events_append_only_update")
    con.execute("DROP TRIGGER events_append_only_delete")
    con.execute("DROP TRIGGER events_append_only_insert")
    for statement in sql:
        con.execute(statement)
    con.commit()
    con.executescript(_DDL)  # a careful forger puts the triggers back
    con.close()


def test_verify_reports_removed_triggers(tmp_path):
    ledger = _filled_ledger(tmp_path, 3)
    con = sqlite3.connect(ledger)
    con.execute("DROP TRIGGER events_append_only_delete")
    con.close()
    report = verify_ledger(ledger)
    assert not report.ok and "events_append_only_delete" in report.problem


def test_chain_hashes_are_recomputable_and_verify_passes(tmp_path):
    ledger = _filled_ledger(tmp_path, 5)
    con = sqlite3.connect(ledger)
    rows = con.execute("SELECT seq, payload, prev_hash, hash FROM events ORDER BY seq").fetchall()
    con.close()
    prev = GENESIS
    for seq, payload, prev_hash, digest in rows:
        assert prev_hash == prev
        assert payload == canonical_json({"event_id": f"E{seq:03d}", "event_type": "MOVED", "n": seq})
        assert digest == event_hash(prev, seq, payload)
        prev = digest
    report = verify_ledger(ledger)
    assert report.ok and report.n_events == 5 and report.head == prev


def test_database_refuses_update_and_delete(tmp_path):
    ledger = _filled_ledger(tmp_path, 3)
    con = sqlite3.connect(ledger)
    with pytest.raises(sqlite3.IntegrityError, match="append-only: UPDATE refused"):
        con.execute("UPDATE events SET payload = '{}' WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only: DELETE refused"):
        con.execute("DELETE FROM events WHERE seq = 3")
    con.close()
    assert verify_ledger(ledger).ok


@pytest.mark.parametrize("kind, statements, bad_seq, bad_event", [
    ("edit", ["UPDATE events SET payload = replace(payload, '\"n\":7', '\"n\":70') WHERE seq = 7"], 7, "E007"),
    ("edit with rehash", None, 8, "E008"),  # the edited row's own hash is recomputed: the next row breaks
    ("delete", ["DELETE FROM events WHERE seq = 12"], 13, "E013"),
    ("reorder", ["UPDATE events SET seq = -1 WHERE seq = 5", "UPDATE events SET seq = 5 WHERE seq = 6",
                 "UPDATE events SET seq = 6 WHERE seq = -1"], 5, "E006"),
    ("insert", ["UPDATE events SET seq = seq + 1000 WHERE seq >= 10", "UPDATE events SET seq = seq - 999 WHERE seq >= 1000",
                "INSERT INTO events VALUES (10, 'FORGED', '{\"event_id\":\"FORGED\"}', 'x', 'y', NULL)"], 10, "FORGED"),
])
def test_verify_names_the_first_tampered_event(tmp_path, cli, kind, statements, bad_seq, bad_event):
    ledger = _filled_ledger(tmp_path)
    if statements is None:  # a careful forger recomputes the edited row's hash
        con = sqlite3.connect(ledger)
        seq, payload, prev = con.execute("SELECT seq, payload, prev_hash FROM events WHERE seq = 7").fetchone()
        con.close()
        forged = payload.replace('"n":7', '"n":70')
        statements = [f"UPDATE events SET payload = '{forged}', hash = '{event_hash(prev, seq, forged)}' WHERE seq = 7"]
    _tamper(ledger, *statements)
    report = verify_ledger(ledger)
    assert not report.ok
    assert (report.first_bad_seq, report.first_bad_event) == (bad_seq, bad_event)
    result = cli("custody", "verify", "--ledger", str(ledger))
    assert result.returncode == 3
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"event {bad_event} (seq {bad_seq})" in result.stderr


def test_anchor_detects_truncation(tmp_path, cli):
    ledger = _filled_ledger(tmp_path)
    head = verify_ledger(ledger).head
    assert verify_ledger(ledger, anchor=head).ok
    _tamper(ledger, "DELETE FROM events WHERE seq > 17")
    assert verify_ledger(ledger, find_anchor=False).ok  # a truncated chain is still a valid chain...
    report = verify_ledger(ledger, anchor=head, find_anchor=False)  # ...but the recorded head is gone
    assert not report.ok and "truncated" in report.problem
    result = cli("custody", "verify", "--ledger", str(ledger), "--anchor", head)
    assert result.returncode == 3 and "truncated" in result.stderr


def _appender(args):
    ledger, worker, n = args
    for i in range(n):
        append_events(ledger, [{"event_id": f"W{worker}-{i:04d}", "event_type": "MOVED", "worker": worker}])
    return n


def test_concurrent_appends_from_four_processes_lose_nothing(tmp_path):
    ledger = tmp_path / "ledger.sqlite"
    append_events(ledger, [])  # create it
    with mp.get_context("spawn").Pool(4) as pool:
        assert sum(pool.map(_appender, [(str(ledger), w, 150) for w in range(4)])) == 600
    report = verify_ledger(ledger)
    assert report.ok and report.n_events == 600
    events = read_ledger(ledger)
    assert len({e["event_id"] for e in events}) == 600
    for w in range(4):  # each writer's events are in its own order
        mine = [e["event_id"] for e in events if e["worker"] == w]
        assert mine == sorted(mine) and len(mine) == 150


def test_import_is_idempotent_and_drops_identifiers(tmp_path):
    export = write_export(tmp_path / "export.csv", small_export_rows())
    ledger = tmp_path / "ledger.sqlite"
    first = import_exports(ledger, [export], subjects=SUBJECTS)
    assert (first.rows, first.appended, first.skipped) == (5, 5, 0)
    again = import_exports(ledger, [export, export], subjects=SUBJECTS)
    assert (again.rows, again.appended, again.skipped) == (10, 0, 10)
    events = read_ledger(ledger)
    assert [e["event_id"] for e in events] == ["E1", "E2", "E3", "E4", "E5"]
    raw = ledger.read_bytes()
    for identifier in (b"Zhang", b"MRN123456", b"1960-01-01"):
        assert identifier not in raw
    e1 = events[0]
    assert e1["occurred_at"] == "2025-02-03T01:00:00Z" and e1["occurred_offset"] == "+08:00"
    assert e1["volume_ml"] == 10.0 and events[1]["centrifuge_brake"] is True
    assert verify_ledger(ledger).ok


def test_record_appends_one_event_and_corrections_reference_it(tmp_path, cli):
    export = write_export(tmp_path / "export.csv", small_export_rows())
    ledger = tmp_path / "ledger.sqlite"
    assert cli("custody", "import", "--ledger", str(ledger), str(export)).returncode == 0
    result = cli("custody", "record", "--ledger", str(ledger), "--event-id", "E6", "--type", "THAWED",
                 "--subject", SUBJ, "--specimen", "SP01001-0002", "--occurred-at", "2025-03-01T08:00:00+08:00",
                 "--actor", "STAFF09", "--site", "SITE01", "--set", "temperature_c=20")
    assert result.returncode == 0, result.stderr
    record_event(ledger, {"event_id": "E7", "event_type": "CORRECTED", "subject_id": SUBJ, "target_event_id": "E6",
                          "corrected_field": "occurred_at", "corrected_value": "2025-03-01T09:00:00+08:00",
                          "reason": "clock error", "occurred_at": "2025-03-02T08:00:00+08:00",
                          "recorded_at": "2025-03-02T08:00:00+08:00", "actor_id": "STAFF09", "site": "SITE01"})
    events = read_ledger(ledger)
    assert [e["event_id"] for e in events] == ["E1", "E2", "E3", "E4", "E5", "E6", "E7"]
    assert events[5]["temperature_c"] == 20.0 and events[6]["target_event_id"] == "E6"
    with pytest.raises(InputError, match="target event is not in the ledger"):
        record_event(ledger, {"event_id": "E8", "event_type": "VOIDED", "subject_id": SUBJ, "target_event_id": "NOPE",
                              "reason": "x", "occurred_at": "2025-03-02T08:00:00Z", "recorded_at": "2025-03-02T08:00:00Z",
                              "actor_id": "S1", "site": "SITE01"})
    assert verify_ledger(ledger).ok and verify_ledger(ledger).n_events == 7


@pytest.mark.parametrize("change, message", [
    (lambda rows: rows[1].update(occurred_at="2025-02-03T10:00:00"), "line 3, field 'occurred_at': date-time has no time zone"),
    (lambda rows: rows[1].update(occurred_at="03/02/2025 10:00"), "line 3, field 'occurred_at': unparseable date-time"),
    (lambda rows: rows[2].update(event_type="SPUN"), "line 4, field 'event_type': must be one of COLLECTED"),
    (lambda rows: rows[2].update(specimen_type="PLASMA_X"), "line 4, field 'specimen_type': unknown specimen type"),
    (lambda rows: rows[2].update(specimen_id="SP01001-0001"), "line 4, field 'specimen_id': duplicate specimen ID"),
    (lambda rows: rows[1].update(subject_id="NCT07007182-03-999"), "line 3, field 'subject_id': subject is not in the randomization list"),
    (lambda rows: rows[3].update(temperature_c="cold"), "line 5, field 'temperature_c': not a number"),
    (lambda rows: rows[0].update(timepoint="WEEK_99"), "line 2, field 'timepoint': unknown timepoint"),
])
def test_bad_export_is_one_line_exit_2_and_nothing_appended(tmp_path, cli, change, message):
    ledger = tmp_path / "ledger.sqlite"
    good = write_export(tmp_path / "good.csv", small_export_rows()[:1])
    assert cli("custody", "import", "--ledger", str(ledger), str(good)).returncode == 0
    rows = small_export_rows()
    change(rows)
    bad = write_export(tmp_path / "bad.csv", rows)
    subjects = tmp_path / "subjects.csv"
    subjects.write_text("USUBJID,SITEID,ARMCD,STRATUM,RANDDT\n" + "".join(f"{s},SITE01,EXP,CPS>=1,2025-01-10\n" for s in sorted(SUBJECTS)))
    result = cli("custody", "import", "--ledger", str(ledger), "--subjects", str(subjects), str(bad))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"{bad}, {message}" in result.stderr
    assert [e["event_id"] for e in read_ledger(ledger)] == ["E1"]


def test_a_name_typed_as_actor_id_is_refused_without_being_echoed(tmp_path, cli):
    rows = small_export_rows()
    rows[1]["actor_id"] = "Li Wei"
    bad = write_export(tmp_path / "bad.csv", rows)
    result = cli("custody", "import", "--ledger", str(tmp_path / "l.sqlite"), str(bad))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "line 3, field 'actor_id'" in result.stderr and "staff ID" in result.stderr
    assert "Li Wei" not in result.stderr and "Li Wei" not in result.stdout


def test_missing_required_column_names_it(tmp_path, cli):
    rows = small_export_rows()
    columns = [c for c in sorted({k for r in rows for k in r}) if c != "actor_id"]
    bad = write_export(tmp_path / "bad.csv", rows, columns)
    result = cli("custody", "import", "--ledger", str(tmp_path / "l.sqlite"), str(bad))
    assert result.returncode == 2
    assert result.stderr.strip().endswith(f"{bad}, line 1, field 'actor_id': required column is missing from the header")
    assert not (tmp_path / "l.sqlite").exists()


def test_record_without_event_id_is_idempotent(tmp_path, cli):
    export = write_export(tmp_path / "export.csv", small_export_rows())
    ledger = tmp_path / "ledger.sqlite"
    assert cli("custody", "import", "--ledger", str(ledger), str(export)).returncode == 0
    args = ("custody", "record", "--ledger", str(ledger), "--type", "MOVED", "--subject", SUBJ, "--specimen", "SP01001-0002",
            "--occurred-at", "2025-03-01T08:00:00+08:00", "--actor", "STAFF09", "--site", "SITE01",
            "--set", "storage_unit=F2", "--set", "rack=R1", "--set", "box=B1", "--set", "position_row=A", "--set", "position_col=2")
    first, second = cli(*args), cli(*args)
    assert first.returncode == 0 and first.stdout.startswith("recorded REC-")
    assert second.returncode == 0 and second.stdout.startswith("already recorded as REC-")
    assert len(read_ledger(ledger)) == 6
    bad = cli("custody", "record", "--ledger", str(ledger), "--type", "MOVED", "--subject", SUBJ, "--specimen", "SP01001-0002",
              "--occurred-at", "2025-03-01T08:00:00", "--actor", "STAFF09", "--site", "SITE01")
    assert bad.returncode == 2 and "field 'occurred_at': date-time has no time zone" in bad.stderr


def test_effective_events_apply_a_time_correction_and_keep_its_offset():
    from biomarkers.custody import effective_events

    base = {"subject_id": SUBJ, "actor_id": "S1", "site": "SITE01", "recorded_at": "2025-03-02T00:00:00Z", "recorded_offset": "+00:00"}
    raw = [
        {**base, "seq": 1, "hash": "h1", "event_id": "A", "event_type": "THAWED", "specimen_id": "SP01001-0002",
         "occurred_at": "2025-03-01T00:00:00Z", "occurred_offset": "+08:00"},
        {**base, "seq": 2, "hash": "h2", "event_id": "B", "event_type": "CORRECTED", "target_event_id": "A",
         "corrected_field": "occurred_at", "corrected_value": "2025-03-01T09:30:00.5+01:00", "reason": "clock",
         "occurred_at": "2025-03-02T00:00:00Z", "occurred_offset": "+00:00"},
    ]
    events = effective_events(raw)
    assert [e["event_id"] for e in events] == ["A"]
    assert events[0]["occurred_at"] == "2025-03-01T08:30:00.500000Z" and events[0]["occurred_offset"] == "+01:00"
    assert events[0]["_corrected_by"] == "B" and raw[0]["occurred_at"] == "2025-03-01T00:00:00Z"  # the ledger row is untouched


_V1_DDL = """
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
PRAGMA user_version = 1;
"""


def _legacy_ledger(path, n=3):
    """A ledger as the version before signing and the INSERT trigger wrote it."""
    con = sqlite3.connect(path)
    con.executescript(_V1_DDL)
    prev = GENESIS
    for seq in range(1, n + 1):
        payload = canonical_json({"event_id": f"L{seq}", "event_type": "MOVED", "n": seq})
        digest = event_hash(prev, seq, payload)
        con.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?)", (seq, f"L{seq}", payload, prev, digest))
        prev = digest
    con.commit()
    con.close()
    return path


def test_a_legacy_ledger_verifies_as_unsigned_and_is_upgraded_by_the_next_append(tmp_path, cli, monkeypatch):
    ledger = _legacy_ledger(tmp_path / "old.sqlite")
    report = verify_ledger(ledger)
    assert report.ok and report.format == "v1 (legacy)" and report.n_signed == 0 and report.anchor_status == "no anchor"
    result = cli("custody", "verify", "--ledger", str(ledger))
    assert result.returncode == 0
    assert "3 events, hash chain intact, unsigned (legacy format); anchor: no anchor" in result.stdout
    monkeypatch.setenv("SITE_KEY_TEST", "0123456789abcdef0123456789abcdef")
    from biomarkers.custody._auth import load_site_key

    key = load_site_key(key_env="SITE_KEY_TEST")
    assert not verify_ledger(ledger, key=key).ok  # a key but nothing signed: not authenticated
    append_events(ledger, [{"event_id": "N4", "event_type": "MOVED", "n": 4}], key=key, actor="STAFF07")
    report = verify_ledger(ledger, key=key)
    assert report.ok and report.format == "v2" and (report.n_events, report.n_signed) == (4, 1)
    assert "3 unsigned (legacy, vouched for by the first signed event), 1 signed, MACs verified" in report.summary()
    con = sqlite3.connect(ledger)
    with pytest.raises(sqlite3.IntegrityError, match="REPLACE refused"):
        con.execute("REPLACE INTO events VALUES (2, 'L2', '{}', 'x', 'y', NULL)")
    con.close()


def test_import_prints_and_logs_an_anchor_that_check_verifies(tmp_path, cli):
    export = write_export(tmp_path / "export.csv", small_export_rows())
    ledger = tmp_path / "ledger.sqlite"
    result = cli("custody", "import", "--ledger", str(ledger), "--actor", "STAFF07", str(export))
    assert result.returncode == 0, result.stderr
    head = verify_ledger(ledger).head
    line = result.stdout.splitlines()[1]
    assert line.startswith(f"anchor: seq 5 head {head} at 20") and "by STAFF07" in line
    log = tmp_path / "ledger.sqlite.anchors.jsonl"
    assert line.endswith(f"(appended to {log})")
    entry = json.loads(log.read_text().splitlines()[-1])
    assert (entry["seq"], entry["head"], entry["actor"]) == (5, head, "STAFF07") and "mac" not in entry
    again = cli("custody", "import", "--ledger", str(ledger), "--actor", "STAFF07", str(export))
    assert again.returncode == 0 and len(log.read_text().splitlines()) == 2  # every import anchors, even adding nothing
    assert oct(ledger.stat().st_mode & 0o777) == "0o640" and oct(log.stat().st_mode & 0o777) == "0o640"
    name = cli("custody", "import", "--ledger", str(ledger), "--actor", "Li Wei", str(export))
    assert name.returncode == 2 and "Li Wei" not in name.stderr


def test_import_and_record_refuse_a_ledger_that_is_not_intact(tmp_path, cli):
    export = write_export(tmp_path / "export.csv", small_export_rows())
    ledger = tmp_path / "ledger.sqlite"
    assert cli("custody", "import", "--ledger", str(ledger), str(export)).returncode == 0
    con = sqlite3.connect(ledger)
    con.execute("DROP TRIGGER events_append_only_update")
    con.execute("UPDATE events SET payload = replace(payload, 'STAFF07', 'STAFF08') WHERE seq = 2")
    con.commit()
    con.close()
    more = write_export(tmp_path / "more.csv", [_row("E9", "THAWED", "2025-03-01T08:00:00+08:00", specimen_id="SP01001-0002")])
    result = cli("custody", "import", "--ledger", str(ledger), str(more))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "refusing to append: the ledger is not intact at event E2 (seq 2): stored hash does not match" in result.stderr
    result = cli("custody", "record", "--ledger", str(ledger), "--type", "THAWED", "--subject", SUBJ, "--specimen", "SP01001-0002",
                 "--occurred-at", "2025-03-01T08:00:00+08:00", "--actor", "STAFF09", "--site", "SITE01")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "refusing to append" in result.stderr
    assert len(read_ledger(ledger)) == 5


def _create_specimen(ledger, worker, barrier, results):
    fields = {"event_id": f"RACE-{worker}", "event_type": "COLLECTED", "subject_id": SUBJ, "specimen_id": "SP01001-0009",
              "specimen_type": "WB_EDTA", "timepoint": "BASELINE", "occurred_at": f"2025-02-03T09:{worker:02d}:00+08:00",
              "recorded_at": f"2025-02-03T09:{worker:02d}:00+08:00", "actor_id": f"STAFF{worker:02d}", "site": "SITE01"}
    barrier.wait()  # all eight read the ledger at the same moment
    try:
        record_event(ledger, fields, subjects=SUBJECTS)
        results.put((worker, "recorded"))
    except InputError as exc:
        results.put((worker, str(exc)))


def test_eight_writers_creating_the_same_specimen_exactly_one_succeeds(tmp_path):
    ledger = tmp_path / "ledger.sqlite"
    import_exports(ledger, [write_export(tmp_path / "export.csv", small_export_rows())], subjects=SUBJECTS)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(8), ctx.Queue()
    workers = [ctx.Process(target=_create_specimen, args=(str(ledger), w, barrier, results)) for w in range(8)]
    for p in workers:
        p.start()
    outcomes = dict(results.get(timeout=300) for _ in workers)
    for p in workers:
        p.join()
    winners = [w for w, text in outcomes.items() if text == "recorded"]
    assert len(winners) == 1, outcomes
    losers = [text for text in outcomes.values() if text != "recorded"]
    assert len(losers) == 7 and all("field 'specimen_id': duplicate specimen ID: the specimen was already created by event "
                                    f"RACE-{winners[0]}" in text for text in losers), losers
    events = read_ledger(ledger)
    assert [e["event_id"] for e in events] == ["E1", "E2", "E3", "E4", "E5", f"RACE-{winners[0]}"]
    assert verify_ledger(ledger).ok
    assert len((tmp_path / "ledger.sqlite.anchors.jsonl").read_text().splitlines()) == 2  # a refused record anchors nothing
