"""Chain of custody: an append-only, hash-chained ledger of specimen events, checked against the protocol.

Public API (plain functions; I/O at the edges):

* :func:`import_exports` / :func:`record_event` - validated events into the ledger
* :func:`verify_ledger` - recompute the hash chain, name the first broken event
* :func:`check_custody` - rules, SPREC codes and the custody tables from the ledger
* :func:`check_ledger` - verify, check and write the custody outputs (``biomarkers custody check``)
"""

from ._check import CustodyResult, check_custody, load_rules
from ._effective import effective_events
from ._events import ImportSummary, RecordResult, export_columns, import_exports, parse_export, record_event
from ._ledger import LedgerReport, append_events, read_ledger, verify_ledger
from ._sprec import sprec_code
from ._outputs import check_ledger, write_custody_outputs

__all__ = [
    "CustodyResult",
    "check_custody",
    "check_ledger",
    "effective_events",
    "load_rules",
    "sprec_code",
    "write_custody_outputs",
    "ImportSummary",
    "RecordResult",
    "LedgerReport",
    "append_events",
    "export_columns",
    "import_exports",
    "parse_export",
    "read_ledger",
    "record_event",
    "verify_ledger",
]
