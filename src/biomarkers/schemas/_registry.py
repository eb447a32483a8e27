"""The registry's types: a table is declared once (columns, Arrow types, units, descriptions, biomarkers).

Each capability declares its tables in ``schemas/tables/<capability>.py`` with
:func:`register`; the shared key columns (STUDYID, USUBJID, SPECIMEN_ID, TIMEPOINT)
are built by the functions here so they read the same in every table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from .. import names as N

__all__ = ["Column", "Biomarker", "SubjectFlags", "Table", "TABLES", "register", "table", "column_label", "studyid", "usubjid", "specimen", "timepoint", "UTC"]

@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    description: str
    unit: str = ""
    source: str = ""
    nullable: bool = True


@dataclass(frozen=True)
class Biomarker:
    """A column of a table that is a biomarker value, for the long analysis table.

    ``cutoff`` defines the groups for exploratory association: a number (high when
    value >= cutoff), ``"median"`` (high when above the cohort median), or the name
    of a categorical column whose values are the groups.
    """

    column: str
    name: str
    modality: str
    unit: str = ""
    cutoff: float | str | None = None
    qc_column: str | None = None
    # Only rows whose qc_column equals one of these count as QC-passed.
    qc_pass: tuple[str, ...] = ("PASS",)
    # In a long table (one row per specimen and measurement), the rows that hold this
    # biomarker: (column, value) pairs that must all match, e.g. (("SIGNATURE", "GEP"),).
    where: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SubjectFlags:
    """Per-subject results a table contributes to ``analysis.wide``, one column per name.

    The table has one row per subject and ``key_column`` value; column
    ``<prefix><name>`` of the wide table holds ``value_column`` for that name (e.g. the
    eligibility checks: ``ELIGIBILITY_HER2_POSITIVE`` = FLAGGED, PASSED or NOT_EVALUABLE).
    """

    key_column: str
    value_column: str
    names: tuple[str, ...]
    prefix: str
    description: str


@dataclass(frozen=True)
class Table:
    name: str
    path: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    biomarkers: tuple[Biomarker, ...] = field(default=())
    subject_flags: SubjectFlags | None = None
    # A partitioned dataset when set: ``path`` is a folder holding one Parquet file per
    # value of this column (``<value>.parquet``), read as one table by pyarrow.dataset,
    # pandas and DuckDB. For tables too large to merge into one file (a row per site or
    # variant and specimen): a writer or reader holds one partition at a time.
    partition: str | None = None

    @property
    def is_dataset(self) -> bool:
        return self.partition is not None

    def schema(self) -> pa.Schema:
        fields = []
        for col in self.columns:
            meta = {b"description": col.description.encode()}
            if col.unit:
                meta[b"unit"] = col.unit.encode()
            fields.append(pa.field(col.name, col.type, nullable=col.nullable, metadata=meta))
        return pa.schema(fields)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


TABLES: dict[str, Table] = {}


def register(tbl: Table) -> Table:
    """Declare ``tbl``; a table name is declared once, and its key columns must be among its columns."""
    if tbl.name in TABLES:
        raise ValueError(f"table {tbl.name} declared twice")
    unknown = set(tbl.key) - set(tbl.column_names)
    if unknown:
        raise ValueError(f"table {tbl.name}: key columns {sorted(unknown)} not declared")
    if tbl.partition is not None and (tbl.partition not in tbl.key or tbl.path.endswith(".parquet")):
        raise ValueError(f"table {tbl.name}: a partition column is a key column and its path a folder")
    TABLES[tbl.name] = tbl
    return tbl


def table(name: str) -> Table:
    return TABLES[name]


def column_label(name: str) -> str:
    """A biomarker name as a column-name stem: upper case, letters, digits and _ (``CD8/Treg`` -> ``CD8_TREG``)."""
    return "".join(ch if ch.isalnum() else "_" for ch in name.upper()).strip("_")


# --- shared column definitions ---------------------------------------------------

def studyid() -> Column:
    return Column(N.STUDYID, pa.string(), "Study identifier", source="protocol", nullable=False)


def usubjid(nullable: bool = False) -> Column:
    return Column(N.USUBJID, pa.string(), "Unique subject identifier (as in ADSL)", source="randomization list", nullable=nullable)


def specimen(nullable: bool = False) -> Column:
    return Column(N.SPECIMEN_ID, pa.string(), "Specimen identifier (study specimen ID, never a patient identifier)", source="custody ledger", nullable=nullable)


def timepoint(nullable: bool = True) -> Column:
    return Column(N.TIMEPOINT, pa.string(), "Protocol timepoint of collection (assets/protocol.yaml)", source="custody ledger", nullable=nullable)


UTC = pa.timestamp("us", tz="UTC")
