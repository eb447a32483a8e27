"""Writing and reading declared tables: checked against the declaration, metadata embedded, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import BiomarkersError, InputError
from ..io import atomic_path
from ._registry import TABLES, Table

__all__ = ["to_arrow", "table_arrow", "write_table", "read_table", "check_table_file", "check_results_tables", "concat_parts",
           "table_metadata", "METADATA_KEY"]

METADATA_KEY = b"biomarkers"


def to_arrow(df: pd.DataFrame, name: str) -> pa.Table:
    """Check ``df`` against the declared table and convert it to Arrow.

    Columns are put in declared order; a missing or undeclared column, a null in a
    non-nullable column, or a value that does not convert is a programming error
    reported with the table and column name.
    """
    tbl = TABLES[name]
    declared = tbl.column_names
    missing = [c for c in declared if c not in df.columns]
    extra = [c for c in df.columns if c not in declared]
    if missing or extra:
        raise BiomarkersError(f"table {name}: missing columns {missing}, undeclared columns {extra}")
    schema = tbl.schema()
    arrays = []
    for col in tbl.columns:
        series = df[col.name]
        try:
            arr = pa.array(series, type=col.type, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise BiomarkersError(f"table {name}: column {col.name} does not convert to {col.type}: {exc}") from None
        if not col.nullable and arr.null_count:
            raise BiomarkersError(f"table {name}: column {col.name} has {arr.null_count} null values but is required")
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=schema)


def _metadata(tbl: Table, provenance: dict | None, partition_value: str | None = None) -> dict[bytes, bytes]:
    payload: dict = {
        "table": tbl.name,
        "description": tbl.description,
        "key": list(tbl.key),
        "columns": [
            {"name": c.name, "type": str(c.type), "unit": c.unit, "description": c.description, "source": c.source}
            for c in tbl.columns
        ],
        "provenance": provenance or {},
    }
    if tbl.partition is not None:
        payload["partition"] = {"column": tbl.partition, "value": partition_value}
    return {METADATA_KEY: json.dumps(payload, sort_keys=True).encode()}


def table_arrow(df: pd.DataFrame, name: str, *, provenance: dict | None = None,
                partition_value: str | None = None) -> pa.Table:
    """``df`` as the declared table in Arrow, with the dictionary and provenance in its metadata."""
    arrow = to_arrow(df.reset_index(drop=True), name)
    return arrow.replace_schema_metadata({**(arrow.schema.metadata or {}),
                                          **_metadata(TABLES[name], provenance, partition_value)})


def write_table(df: pd.DataFrame, name: str, outdir: str | Path, *, provenance: dict | None = None) -> Path:
    """Write ``df`` as the declared table under ``outdir`` (atomically). Returns the path.

    A partitioned table is written one partition at a time (``write_partition``).
    """
    tbl = TABLES[name]
    if tbl.is_dataset:
        raise BiomarkersError(f"table {name} is a partitioned dataset: write it with write_partition")
    arrow = table_arrow(df, name, provenance=provenance)
    path = Path(outdir) / tbl.path
    with atomic_path(path) as tmp:
        pq.write_table(arrow, tmp, compression="zstd")
    return path


def read_table(path: str | Path, name: str | None = None) -> pd.DataFrame:
    """A table file, or a partitioned dataset's folder as one frame. With ``name``, each file must hold
    that declared table (:func:`check_table_file`) and read completely: a truncated, foreign or misplaced
    file in a results folder is bad input named in one line, not an internal error or a silently wrong join."""
    if name is not None:
        for file in _table_files(Path(path)):
            check_table_file(file, name)
    try:
        if Path(path).is_dir():
            from ._dataset import read_dataset

            return read_dataset(path)
        return pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        if name is None:
            raise
        raise InputError(f"not a readable Parquet file (truncated or damaged?): {_first_line(exc)}", file=path) from None


def _table_files(path: Path) -> list[Path]:
    """The Parquet file of a table, or the data files of a dataset folder."""
    if path.is_dir():
        from ._dataset import dataset_files

        return dataset_files(path)
    return [path]


def check_table_file(path: str | Path, name: str) -> None:
    """``path`` is a Parquet file holding the declared table ``name`` with its declared columns.
    Reads the footer only, so a whole results folder is checked in moments."""
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"not a readable Parquet file (truncated or damaged?): {_first_line(exc)}", file=path) from None
    held = json.loads((schema.metadata or {}).get(METADATA_KEY, b"{}")).get("table")
    if held != name:
        raise InputError(f"holds table {held!r}, not the {name} table expected at this path", file=path)
    missing = [c for c in TABLES[name].column_names if c not in schema.names]
    if missing:
        raise InputError(f"the {name} table lacks its declared column(s) {', '.join(missing)}", file=path, field=missing[0])


def check_results_tables(results: str | Path) -> None:
    """Every declared table present under ``results`` (a file, or each file of a dataset folder) is a
    readable file of that table (footers only)."""
    for tbl in TABLES.values():
        path = Path(results) / tbl.path
        if path.exists():
            for file in _table_files(path):
                check_table_file(file, tbl.name)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def concat_parts(paths: list[str | Path], name: str) -> pd.DataFrame:
    """Concatenate per-task parts of one declared table (e.g. one TMB row per Nextflow task).

    Parts are sorted by the table's key so the result does not depend on the order
    tasks finished in.
    """
    tbl = TABLES[name]
    merged: list[pd.DataFrame] = []
    frames: list[pd.DataFrame] = []
    for path in paths:
        meta = table_metadata(path)
        if meta.get("table") != name:
            raise BiomarkersError(f"{path} holds table {meta.get('table')!r}, not {name!r}")
        frames.append(read_table(path))
        if len(frames) == _CONCAT_BATCH:  # a frame costs ~10 kB however few its rows: fold them in as we go
            merged = [pd.concat(merged + frames, ignore_index=True)]
            frames = []
    if not merged and not frames:
        return pd.DataFrame({c.name: pd.Series(dtype=c.type.to_pandas_dtype()) for c in tbl.columns})
    merged = pd.concat(merged + frames, ignore_index=True)
    return merged.sort_values(list(tbl.key) or tbl.column_names[:1], kind="stable").reset_index(drop=True)


_CONCAT_BATCH = 256


def table_metadata(path: str | Path) -> dict:
    """The ``biomarkers`` metadata of a table file (of a dataset folder: its ``_common_metadata``)."""
    if Path(path).is_dir():
        path = Path(path) / "_common_metadata"
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta.get(METADATA_KEY, b"{}"))


