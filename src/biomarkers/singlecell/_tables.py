"""Column layouts of the single-cell tables (composition, per-specimen summary, QC) and their Arrow types."""

from __future__ import annotations

import pyarrow as pa

from .. import names as N
from ._composition import SUMMARY_TYPES

__all__ = ["KEY_COLUMNS", "COMPOSITION_COLUMNS", "SUMMARY_COLUMNS", "QC_COLUMNS"]

KEY_COLUMNS: dict[str, pa.DataType] = {
    N.STUDYID: pa.string(), N.USUBJID: pa.string(), N.SPECIMEN_ID: pa.string(), N.TIMEPOINT: pa.string(),
    "COMPARTMENT": pa.string(),
}

COMPOSITION_COLUMNS: dict[str, pa.DataType] = {
    **KEY_COLUMNS,
    "CELL_TYPE": pa.string(), "PARENT_TYPE": pa.string(), "IMMUNE": pa.bool_(), "CELLS": pa.int64(),
    "FRACTION": pa.float64(), "FRACTION_OF_IMMUNE": pa.float64(), "FRACTION_OF_PARENT": pa.float64(), "QC": pa.string(),
}

SUMMARY_COLUMNS: dict[str, pa.DataType] = {
    **KEY_COLUMNS,
    "N_CELLS": pa.int64(), "N_IMMUNE": pa.int64(), "N_UNASSIGNED": pa.int64(), "IMMUNE_FRACTION": pa.float64(),
    **{f"{t}_FRACTION": pa.float64() for t in SUMMARY_TYPES},
    "CD8_EXHAUSTED_FRACTION": pa.float64(), "CD8_TREG_RATIO": pa.float64(), "QC": pa.string(),
}

QC_COLUMNS: dict[str, pa.DataType] = {
    **KEY_COLUMNS,
    "STEP": pa.string(), "THRESHOLD": pa.string(), "CELLS_BEFORE": pa.int64(), "CELLS_REMOVED": pa.int64(),
    "CELLS_AFTER": pa.int64(), "MEDIAN_GENES": pa.float64(), "MEDIAN_COUNTS": pa.float64(), "NOTE": pa.string(),
    "QC": pa.string(),
}
