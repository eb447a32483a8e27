"""Column layouts of the flow tables (subsets, QC, drift) and their Arrow types."""

from __future__ import annotations

import pyarrow as pa

from ... import names as N

__all__ = ["SUBSET_COLUMNS", "QC_COLUMNS", "DRIFT_COLUMNS", "KEY_COLUMNS"]

KEY_COLUMNS: dict[str, pa.DataType] = {
    N.STUDYID: pa.string(), N.USUBJID: pa.string(), N.SPECIMEN_ID: pa.string(), N.TIMEPOINT: pa.string(),
    "PANEL": pa.string(), "BATCH": pa.string(), "CONTROL": pa.bool_(),
}

SUBSET_COLUMNS: dict[str, pa.DataType] = {
    **KEY_COLUMNS,
    "SUBSET": pa.string(), "LABEL": pa.string(), "PARENT": pa.string(),
    "EVENTS": pa.int64(), "PARENT_EVENTS": pa.int64(), "PCT_PARENT": pa.float64(), "PCT_CD45": pa.float64(),
    "CELLS_PER_UL": pa.float64(), "COUNT_METHOD": pa.string(), "RATIO": pa.float64(), "QC_STATUS": pa.string(),
}

QC_COLUMNS: dict[str, pa.DataType] = {
    **KEY_COLUMNS,
    "CHECK": pa.string(), "STATUS": pa.string(), "VALUE": pa.float64(), "THRESHOLD": pa.float64(), "DETAIL": pa.string(),
}

DRIFT_COLUMNS: dict[str, pa.DataType] = {
    "PANEL": pa.string(), "SUBSET": pa.string(), "BATCH": pa.string(), N.SPECIMEN_ID: pa.string(),
    "PCT_PARENT": pa.float64(), "MEDIAN_PCT_PARENT": pa.float64(), "DIFF_PP": pa.float64(), "REL_DIFF": pa.float64(),
    "DRIFT": pa.bool_(),
}
