#!/usr/bin/env python3
"""Throughput of the custody ledger: import, verify and check of a ~100,000-event ledger.

    PYTHONPATH=src python benchmarks/bench_custody.py [--subjects 330]

Simulates a trial large enough for ~100k events (no violations), then times
``import_exports`` (CSV parse, validation, hash chain, one SQLite transaction),
``verify_ledger`` (every defence: schema, chain, MACs, anchors), the append of one
event (which verifies the whole ledger inside its transaction first, as every
``custody record`` does) and ``check_ledger`` (every rule, SPREC, tables and plots). The peer is a bare baseline run in the same process: the same
rows inserted with ``sqlite3.executemany`` and no validation or hashing, and a
bare SHA-256 over the same payloads, so the ratios show what validation and the
chain cost. Prints events/s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


from biomarkers.custody import append_events, check_ledger, import_exports, read_ledger, verify_ledger  # noqa: E402
from biomarkers.simulate import simulate_trial  # noqa: E402


def simulate_custody_only(outdir, **kwargs):
    """Only the stages the ledger needs (trial, custody): no BAMs or VCFs."""
    return simulate_trial(outdir, stages=("trial", "custody"), **kwargs)


CPU: dict[str, float] = {}


def _timed(label, fn):
    """Wall-clock seconds; CPU seconds of this process go to CPU[label] (robust to a loaded machine)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    CPU[label] = time.process_time() - cpu
    return out, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=330, help="simulated subjects (330 give ~100k events)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        trial, t_sim = _timed("simulate", lambda: simulate_custody_only(tmp / "trial", n_subjects=args.subjects, seed=7, violation_rate=0.0))
        exports = sorted((trial.outdir / "custody").glob("export_*.csv"))
        ledger = tmp / "ledger.sqlite"
        subjects = set(trial.subjects["USUBJID"])
        summary, t_import = _timed("import", lambda: import_exports(ledger, exports, subjects=subjects))
        n = summary.appended
        _, t_reimport = _timed("re-import", lambda: import_exports(ledger, exports, subjects=subjects))
        report, t_verify = _timed("verify", lambda: verify_ledger(ledger))
        assert report.ok and report.n_events == n
        result, t_check = _timed("check", lambda: check_ledger(
            ledger, subjects=trial.outdir / "subjects.csv", milestones=trial.outdir / "milestones.csv", outdir=tmp / "out"))
        one = {"event_id": "BENCH-1", "event_type": "MOVED", "subject_id": "NCT07007182-01-001", "specimen_id": "BENCH"}
        _, t_append = _timed("append one", lambda: append_events(ledger, [one], actor="BENCH"))
        # peers in the same process: bare inserts and bare hashing of the same payloads
        payloads = [(e["event_id"], json.dumps({k: v for k, v in e.items() if k not in ("seq", "hash")}, sort_keys=True))
                    for e in read_ledger(ledger)]
        bare = tmp / "bare.sqlite"

        def bare_insert():
            con = sqlite3.connect(bare)
            con.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, event_id TEXT UNIQUE, payload TEXT)")
            con.executemany("INSERT INTO events (event_id, payload) VALUES (?, ?)", payloads)
            con.commit()
            con.close()

        _, t_bare = _timed("bare insert", bare_insert)
        _, t_hash = _timed("bare sha256", lambda: [hashlib.sha256(p.encode()).hexdigest() for _, p in payloads])

    print(f"simulated {args.subjects} subjects in {t_sim:.1f} s: {n:,} events, {len(result.specimens):,} specimens")
    rows = [
        ("import (validate + chain + insert)", "import", t_import),
        ("re-import (idempotent, adds 0)", "re-import", t_reimport),
        ("verify (recompute chain)", "verify", t_verify),
        ("append one event (verifies all first)", "append one", t_append),
        ("check (rules, SPREC, tables, plots)", "check", t_check),
        ("peer: bare sqlite3 executemany", "bare insert", t_bare),
        ("peer: bare sha256 of payloads", "bare sha256", t_hash),
    ]
    print(f"{'step':<40} {'wall s':>8} {'CPU s':>8} {'events/s (CPU)':>15}")
    for label, key, secs in rows:
        print(f"{label:<40} {secs:8.2f} {CPU[key]:8.2f} {n / max(CPU[key], 1e-9):15,.0f}")
    print(f"CPU ratio import / bare insert: {CPU['import'] / CPU['bare insert']:.1f}x; "
          f"verify / bare sha256: {CPU['verify'] / CPU['bare sha256']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
