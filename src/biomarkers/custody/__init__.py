"""Chain of custody: an append-only, hash-chained ledger of specimen events, checked against the protocol.

Public API (plain functions; I/O at the edges):

* :func:`import_exports` / :func:`record_event` - validated events into the ledger
* :func:`verify_ledger` - recompute the hash chain, name the first broken event
* :func:`check_custody` - rules, SPREC codes and the custody tables from the ledger
* :func:`run_custody_step` - the pipeline step (import, verify, check, write outputs)
"""

from ._check import CustodyResult, check_custody, load_rules
from ._effective import effective_events
from ._events import ImportSummary, export_columns, import_exports, parse_export, record_event
from ._ledger import LedgerReport, append_events, read_ledger, verify_ledger
from ._sprec import sprec_code
from ._step import check_ledger, run_custody_step, write_custody_outputs
from ._trialdata import load_milestones, load_subjects

__all__ = [
    "CustodyResult",
    "check_custody",
    "check_ledger",
    "effective_events",
    "load_rules",
    "run_custody_step",
    "sprec_code",
    "write_custody_outputs",
    "ImportSummary",
    "LedgerReport",
    "append_events",
    "export_columns",
    "import_exports",
    "load_milestones",
    "load_subjects",
    "parse_export",
    "read_ledger",
    "record_event",
    "verify_ledger",
]
