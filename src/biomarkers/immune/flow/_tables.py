"""Column layouts of the flow tables (subsets, QC, drift) and their Arrow types.

Read from the one registry of output tables (``schemas/tables/immune.py``), so the
part files and the published tables cannot disagree.
"""

from __future__ import annotations

import pyarrow as pa

from ...schemas import TABLES

__all__ = ["SUBSET_COLUMNS", "QC_COLUMNS", "DRIFT_COLUMNS", "KEY_COLUMNS", "SUBSETS_TABLE", "QC_TABLE", "DRIFT_TABLE"]

SUBSETS_TABLE, QC_TABLE, DRIFT_TABLE = "immune.flow_subsets", "immune.flow_qc", "immune.flow_drift"


def _columns(name: str) -> dict[str, pa.DataType]:
    return {c.name: c.type for c in TABLES[name].columns}


SUBSET_COLUMNS = _columns(SUBSETS_TABLE)
QC_COLUMNS = _columns(QC_TABLE)
DRIFT_COLUMNS = _columns(DRIFT_TABLE)
KEY_COLUMNS = {k: v for k, v in QC_COLUMNS.items() if k in SUBSET_COLUMNS}
