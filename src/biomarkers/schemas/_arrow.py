"""Writing and reading declared tables: checked against the declaration, metadata embedded, written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import BiomarkersError, InputError
from ..io import atomic_path
from ._registry import TABLES, Table

if TYPE_CHECKING:  # pandas only where frames are read: a per-specimen task writing columns does not import it
    import pandas as pd

__all__ = ["to_arrow", "table_arrow", "write_table", "read_table", "check_table_file", "check_results_tables", "concat_parts",
           "table_metadata", "part_table", "METADATA_KEY"]

METADATA_KEY = b"biomarkers"


def to_arrow(df: pd.DataFrame | dict, name: str) -> pa.Table:
    """Check ``df`` (a frame, or a mapping of column name to values) against the declared table and convert it to Arrow.

    Columns are put in declared order; a missing or undeclared column, a null in a
    non-nullable column, or a value that does not convert is a programming error
    reported with the table and column name.
    """
    tbl = TABLES[name]
    declared = tbl.column_names
    names = list(df.columns) if hasattr(df, "columns") else list(df)
    missing = [c for c in declared if c not in names]
    extra = [c for c in names if c not in declared]
    if missing or extra:
        raise BiomarkersError(f"table {name}: missing columns {missing}, undeclared columns {extra}")
    schema = tbl.schema()
    arrays = []
    plain = not hasattr(df, "columns")
    for col in tbl.columns:
        series = df[col.name]
        try:
            arr = _plain_array(series, col.type) if plain else None
            if arr is None:
                arr = pa.array(series, type=col.type, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise BiomarkersError(f"table {name}: column {col.name} does not convert to {col.type}: {exc}") from None
        if not col.nullable and arr.null_count:
            raise BiomarkersError(f"table {name}: column {col.name} has {arr.null_count} null values but is required")
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=schema)


def _plain_array(values, kind: pa.DataType) -> pa.Array | None:
    """Arrow array of a plain column (list or numpy array; None and NaN are null) built from buffers.

    ``pa.array`` imports pandas on its first call (to recognise pandas objects), half a second and 50 MB that a
    per-specimen task writing a few columns need not pay. Other types than int64, float64, bool and string:
    None (``pa.array`` then does it).
    """
    import numpy as np

    n = len(values)
    if kind in (pa.int64(), pa.float64()):
        floats = np.asarray([np.nan if v is None else v for v in values] if isinstance(values, list) else values, dtype=float)
        valid = ~np.isnan(floats)
        data = floats if kind == pa.float64() else np.where(valid, floats, 0).astype(np.int64)
        if kind == pa.int64() and valid.all():
            data = np.asarray(values, dtype=np.int64)  # exact beyond 2**53
    elif kind == pa.bool_():
        valid = np.array([v is not None for v in values], dtype=bool)
        data = np.packbits(np.array([bool(v) if v is not None else False for v in values], dtype=bool), bitorder="little")
    elif kind == pa.string():
        valid = np.array([isinstance(v, str) for v in values], dtype=bool)
        encoded = [v.encode() if isinstance(v, str) else b"" for v in values]
        offsets = np.zeros(n + 1, dtype=np.int32)
        offsets[1:] = np.cumsum([len(e) for e in encoded])
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
        return pa.Array.from_buffers(kind, n, [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))],
                                     null_count=int(n - valid.sum()))
    else:
        return None
    validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(kind, n, [validity, pa.py_buffer(np.ascontiguousarray(data))], null_count=int(n - valid.sum()))


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


def table_arrow(df: pd.DataFrame | dict, name: str, *, provenance: dict | None = None,
                partition_value: str | None = None) -> pa.Table:
    """``df`` (a frame, or a mapping of columns) as the declared table in Arrow, with the dictionary and provenance
    in its metadata."""
    arrow = to_arrow(df.reset_index(drop=True) if hasattr(df, "reset_index") else df, name)
    return arrow.replace_schema_metadata({**(arrow.schema.metadata or {}),
                                          **_metadata(TABLES[name], provenance, partition_value)})


def write_table(df: pd.DataFrame | dict, name: str, outdir: str | Path, *, provenance: dict | None = None) -> Path:
    """Write ``df`` (a frame, or a mapping of columns) as the declared table under ``outdir`` (atomically).

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
    import pandas as pd

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


def part_table(path: str | Path) -> str | None:
    """The table a part file holds (its metadata's name), or one input error line when it is
    missing or not Parquet; collects then decide whether that table is theirs."""
    path = Path(path)
    if not path.exists():
        raise InputError("part not found", file=path)
    try:
        return table_metadata(path).get("table")
    except Exception as exc:  # pyarrow raises several types for a non-Parquet file
        raise InputError(f"not a Parquet part: {exc}", file=path) from None
