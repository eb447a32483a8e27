"""Writing and reading declared tables: checked against the declaration, metadata embedded, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import BiomarkersError
from ..io import atomic_path
from ._registry import TABLES, Table

__all__ = ["to_arrow", "table_arrow", "write_table", "read_table", "concat_parts", "table_metadata", "METADATA_KEY"]

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


def read_table(path: str | Path) -> pd.DataFrame:
    """A table file, or a partitioned dataset's folder as one frame."""
    if Path(path).is_dir():
        from ._dataset import read_dataset

        return read_dataset(path)
    return pq.read_table(path).to_pandas()


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


