"""Partitioned tables: one Parquet file per value of the partition column (one per specimen).

A table declared with ``partition="SPECIMEN_ID"`` is published as a folder,
``<path>/<SPECIMEN_ID>.parquet``, plus ``<path>/_common_metadata`` (the schema and the
data dictionary, no rows: what Spark, Dask and pyarrow write, and how a reader gets the
schema of a folder that has no partition yet). pyarrow.dataset, ``pandas.read_parquet``
and DuckDB (``read_parquet('<path>/*.parquet')``) read the folder as one table; files
whose names start with ``_`` or ``.`` are not data.

A per-specimen task writes its partition as its part file (:func:`write_partition`),
sorted by the table's key and labelled with its partition value in the file's metadata.
A collect then only checks each part's declaration and copies its bytes into the
dataset (:func:`collect_partitions`): its memory does not grow with the number of
specimens, and the published files are byte for byte the parts.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import BiomarkersError, InputError
from ..io import atomic_path
from ._registry import TABLES, Table

if TYPE_CHECKING:  # pandas only where frames are built: a per-specimen task writing columns does not import it
    import pandas as pd

__all__ = ["write_partition", "write_common_metadata", "partition_path", "collect_partitions", "dataset_files", "read_dataset", "count_rows", "COMMON_METADATA"]

COMMON_METADATA = "_common_metadata"
# A partition value names a file: the samplesheet's ID rules already keep specimen IDs to these.
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


def _dataset_table(name: str) -> Table:
    tbl = TABLES[name]
    if not tbl.is_dataset:
        raise BiomarkersError(f"table {name} is not a partitioned dataset")
    return tbl


def partition_path(name: str, outdir: str | Path, value: str) -> Path:
    """Where partition ``value`` of table ``name`` lives under ``outdir``."""
    tbl = _dataset_table(name)
    if not isinstance(value, str) or not _SAFE_VALUE.match(value):
        raise InputError("cannot name a partition file after this value", field=tbl.partition, value=value)
    return Path(outdir) / tbl.path / f"{value}.parquet"


def write_partition(df: pd.DataFrame | dict, name: str, outdir: str | Path, value: str, *,
                    provenance: dict | None = None) -> Path:
    """Write the rows of one partition ``value`` as ``<outdir>/<path>/<value>.parquet`` (atomically).

    Every row must hold ``value`` in the partition column (an empty frame is a partition
    with no rows: a specimen with no variant). Rows are sorted by the table's key. The
    folder's ``_common_metadata`` is :func:`write_common_metadata`'s (the collect's) job.
    """
    from ._arrow import table_arrow

    tbl = _dataset_table(name)
    path = partition_path(name, outdir, value)
    if hasattr(df, "columns"):
        if len(df) and not (df[tbl.partition] == value).all():
            raise BiomarkersError(f"table {name}: rows of another {tbl.partition} than {value!r} in its partition")
        df = (df.sort_values(list(tbl.key), kind="stable") if len(df) else df).reset_index(drop=True)
    else:  # a mapping of columns (a per-specimen task's, without pandas): the same checks and order
        if any(v != value for v in df[tbl.partition]):
            raise BiomarkersError(f"table {name}: rows of another {tbl.partition} than {value!r} in its partition")
        keys = [df[k] for k in tbl.key]
        order = sorted(range(len(df[tbl.partition])), key=lambda i: tuple(k[i] for k in keys))
        df = {col: values[order] if hasattr(values, "shape") else [values[i] for i in order] for col, values in df.items()}
    arrow = table_arrow(df, name, provenance=provenance, partition_value=value)
    with atomic_path(path) as tmp:
        pq.write_table(arrow, tmp, compression="zstd")
    return path


def write_common_metadata(name: str, outdir: str | Path) -> Path:
    """``<path>/_common_metadata``: the declared schema and dictionary, no rows."""
    from ._arrow import table_arrow

    import pandas as pd

    tbl = _dataset_table(name)
    path = Path(outdir) / tbl.path / COMMON_METADATA
    empty = pd.DataFrame({c.name: pd.Series([], dtype=object) for c in tbl.columns})
    schema = table_arrow(empty, name).schema
    with atomic_path(path) as tmp:
        pq.write_metadata(schema, tmp)
    return path


def _part_value(path: Path, tbl: Table) -> str:
    """The partition value a part declares, after checking it is a part of ``tbl`` as declared."""
    from ._arrow import METADATA_KEY

    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise InputError(f"not a Parquet part: {exc}", file=path) from None
    meta = json.loads((schema.metadata or {}).get(METADATA_KEY, b"{}"))
    if meta.get("table") != tbl.name:
        raise InputError(f"holds table {meta.get('table')!r}, not {tbl.name!r}", file=path)
    declared = tbl.schema()
    if schema.names != declared.names or [f.type for f in schema] != [f.type for f in declared]:
        raise InputError(f"columns differ from the declared {tbl.name} (written by another version?)", file=path)
    value = (meta.get("partition") or {}).get("value")
    if not isinstance(value, str):
        raise InputError(f"no {tbl.partition} in its metadata: not written as a partition", file=path)
    return value


def collect_partitions(parts: list[str | Path], name: str, outdir: str | Path) -> tuple[Path, list[str]]:
    """Copy per-specimen parts of table ``name`` into its dataset under ``outdir``, one at a time.

    Each part is checked (declared table and columns, its partition value) and its bytes
    copied; two parts of one value are an input error. Returns the dataset folder and
    the partition values in order. Memory does not depend on the number of parts.
    """
    tbl = _dataset_table(name)
    values: dict[str, Path] = {}
    for part in map(Path, parts):
        if not part.is_file():
            raise InputError("part not found", file=part)
        value = _part_value(part, tbl)
        if value in values:
            raise InputError(f"two parts for the same {tbl.partition} (also {values[value].name})", file=part,
                             field=tbl.partition, value=value)
        values[value] = part
    for value in sorted(values):
        with atomic_path(partition_path(name, outdir, value)) as tmp:
            shutil.copyfile(values[value], tmp)
    write_common_metadata(name, outdir)
    return Path(outdir) / tbl.path, sorted(values)


def dataset_files(path: str | Path) -> list[Path]:
    """The data files of a dataset folder, in partition-value order."""
    return sorted((p for p in Path(path).glob("*.parquet") if not p.name.startswith(("_", "."))), key=lambda p: p.stem)


def read_dataset(path: str | Path, *, columns: list[str] | None = None) -> pd.DataFrame:
    """A dataset folder as one frame (rows in partition order). Holds it all: for whole-cohort
    reads of a small dataset or a few columns; stream with ``pyarrow.dataset`` otherwise."""
    import pyarrow.dataset as ds

    path = Path(path)
    files = dataset_files(path)
    if not files:
        common = path / COMMON_METADATA
        if not common.is_file():
            raise BiomarkersError(f"{path}: neither a data file nor {COMMON_METADATA}")
        schema = pq.read_schema(common)
        return pa.Table.from_batches([], schema=schema).select(columns or schema.names).to_pandas()
    return ds.dataset([str(f) for f in files], format="parquet").to_table(columns=columns).to_pandas()


def count_rows(path: str | Path) -> int:
    """Rows of a table file or a dataset folder, from the Parquet footers."""
    path = Path(path)
    files = dataset_files(path) if path.is_dir() else [path]
    return sum(pq.read_metadata(f).num_rows for f in files)
