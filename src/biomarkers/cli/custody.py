"""Chain-of-custody ledger: import LIMS exports, record one event, verify the hash chain, check against the protocol.

    biomarkers custody import --ledger custody.sqlite [--key-env VAR | --key-file F] [--actor STAFF] EXPORT.csv...
    biomarkers custody record --ledger custody.sqlite --type THAWED --subject S --specimen SP ...
    biomarkers custody verify --ledger custody.sqlite [--anchor HASH] [--anchor-log F] [--key-env VAR | --key-file F]
    biomarkers custody check --ledger custody.sqlite --subjects subjects.csv --milestones milestones.csv \\
        [--samplesheet samplesheet.csv] [--data-cutoff YYYY-MM-DD] --outdir OUT

Every command that touches the ledger takes the site key (an HMAC key, never the
value itself on the command line) and the anchor log (default: beside the ledger).
"""

from __future__ import annotations

import argparse

# export column <- record option (the rest go through --set column=value)
_RECORD_OPTIONS = {
    "event_id": "--event-id", "event_type": "--type", "subject_id": "--subject", "specimen_id": "--specimen",
    "specimen_type": "--specimen-type", "parent_specimen_id": "--parent", "timepoint": "--timepoint",
    "occurred_at": "--occurred-at", "recorded_at": "--recorded-at", "actor_id": "--actor", "site": "--site",
}


def _column_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected COLUMN=VALUE, got {text!r}")
    return key.strip(), value


def _add_trust_options(parser: argparse.ArgumentParser, *, anchor: bool) -> None:
    parser.add_argument("--key-file", help="file holding the site key (HMAC-SHA256; keep it outside the ledger's folder)")
    parser.add_argument("--key-env", metavar="VARIABLE", help="name of the environment variable holding the site key")
    parser.add_argument("--anchor-log", help="anchor log (default: LEDGER.anchors.jsonl beside the ledger)")
    if anchor:
        parser.add_argument("--anchor", help="a head hash recorded earlier (must be in the chain)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="custody_command", metavar="<subcommand>", required=True)

    imp = sub.add_parser("import", help="validate LIMS custody exports and append their new events (idempotent)")
    imp.add_argument("--ledger", required=True, help="ledger SQLite file (created if absent)")
    imp.add_argument("--subjects", help="randomization list CSV: events of other subjects are refused")
    imp.add_argument("--protocol", help="protocol YAML (default: the bundled assets/protocol.yaml)")
    imp.add_argument("--actor", help="staff ID of who imports, for the anchor log (never a name)")
    _add_trust_options(imp, anchor=False)
    imp.add_argument("exports", nargs="+", metavar="EXPORT.csv", help="custody export CSV(s) (assets/custody_export.schema.json)")

    rec = sub.add_parser("record", help="append one custody event")
    rec.add_argument("--ledger", required=True, help="ledger SQLite file (created if absent)")
    rec.add_argument("--event-id", help="event ID (default: derived from the event's content, so re-recording adds nothing)")
    rec.add_argument("--type", required=True, help="event type (COLLECTED, RECEIVED, ..., CORRECTED, VOIDED)")
    rec.add_argument("--subject", required=True, help="USUBJID")
    rec.add_argument("--specimen", help="specimen ID")
    rec.add_argument("--specimen-type", help="protocol specimen type (COLLECTED, ALIQUOTED, DERIVED)")
    rec.add_argument("--parent", help="parent specimen ID (ALIQUOTED, DERIVED)")
    rec.add_argument("--timepoint", help="protocol timepoint (COLLECTED)")
    rec.add_argument("--occurred-at", required=True, help="when it happened, ISO 8601 with a UTC offset")
    rec.add_argument("--recorded-at", help="when it was recorded (default: now, UTC)")
    rec.add_argument("--actor", required=True, help="staff ID (never a name)")
    rec.add_argument("--site", required=True, help="site where it happened")
    rec.add_argument("--set", action="append", default=[], metavar="COLUMN=VALUE", type=_column_value,
                     help="any other export column, e.g. temperature_c=-80 or target_event_id=E12 (repeatable)")
    rec.add_argument("--subjects", help="randomization list CSV: refuse unknown subjects")
    rec.add_argument("--protocol", help="protocol YAML (default: the bundled assets/protocol.yaml)")
    _add_trust_options(rec, anchor=False)

    ver = sub.add_parser("verify", help="check triggers, hash chain, MACs and anchors; exit 3 naming the first broken event")
    ver.add_argument("--ledger", required=True, help="ledger SQLite file")
    _add_trust_options(ver, anchor=True)

    chk = sub.add_parser("check", help="check the ledger against the protocol; write OUT/custody/*.parquet and plots")
    chk.add_argument("--ledger", required=True, help="ledger SQLite file")
    chk.add_argument("--subjects", required=True, help="randomization list CSV: USUBJID, SITEID, ARMCD, STRATUM, RANDDT")
    chk.add_argument("--milestones", required=True, help="milestone dates CSV: USUBJID, MILESTONE, DATE")
    chk.add_argument("--samplesheet", help="samplesheet CSV checked as metadata (assay files need not be present)")
    chk.add_argument("--data-cutoff", help="data cut-off YYYY-MM-DD: visits whose window closes later are not yet due")
    chk.add_argument("--protocol", help="protocol YAML (default: the bundled assets/protocol.yaml)")
    chk.add_argument("--outdir", required=True, help="results folder (writes OUT/custody/)")
    _add_trust_options(chk, anchor=True)


def main(args: argparse.Namespace) -> int:
    return {"import": _import, "record": _record, "verify": _verify, "check": _check}[args.custody_command](args)


def _import(args) -> int:
    from ..custody import import_exports

    summary = import_exports(args.ledger, args.exports, protocol=args.protocol, subjects=args.subjects, actor=args.actor,
                             key_file=args.key_file, key_env=args.key_env, anchor_log=args.anchor_log)
    print(f"{summary.rows} rows from {summary.files} file(s): {summary.appended} appended, "
          f"{summary.skipped} already in the ledger")
    print(summary.anchor.line())
    return 0


def _record(args) -> int:
    from ..custody import record_event

    fields = {col: getattr(args, opt[2:].replace("-", "_")) for col, opt in _RECORD_OPTIONS.items()}
    fields.update(event_type=args.type, **dict(args.set))
    result = record_event(args.ledger, fields, protocol=args.protocol, subjects=args.subjects,
                          key_file=args.key_file, key_env=args.key_env, anchor_log=args.anchor_log)
    print(f"{'recorded' if result.appended else 'already recorded as'} {result.event['event_id']}")
    print(result.anchor.line())
    return 0


def _verify(args) -> int:
    from ..custody import verify_ledger

    report = verify_ledger(args.ledger, anchor=args.anchor, anchor_log=args.anchor_log, key_file=args.key_file,
                           key_env=args.key_env)
    report.raise_if_broken()
    print(f"{args.ledger}: {report.summary()}")
    return 0


def _check(args) -> int:
    from ..custody import check_ledger

    result = check_ledger(args.ledger, subjects=args.subjects, milestones=args.milestones, samplesheet=args.samplesheet,
                          data_cutoff=args.data_cutoff, protocol=args.protocol, outdir=args.outdir, anchor=args.anchor,
                          anchor_log=args.anchor_log, key_file=args.key_file, key_env=args.key_env)
    counts = result.issues["SEVERITY"].value_counts().to_dict()
    print(f"{len(result.specimens)} specimens, {len(result.events)} events; issues: "
          + (", ".join(f"{counts[k]} {k}" for k in sorted(counts)) or "none")
          + f"; written to {args.outdir}/custody/")
    return 0
