"""Run provenance (``pipeline_info/``)."""

from __future__ import annotations

import pyarrow as pa

from .._registry import Column, Table, register

register(Table(
    name="pipeline.inputs",
    path="pipeline_info/inputs.parquet",
    description="Checksums of every input file a run read.",
    key=("PATH",),
    columns=(
        Column("ROLE", pa.string(), "What the file is to the run", nullable=False),
        Column("PATH", pa.string(), "Path as given", nullable=False),
        Column("BYTES", pa.int64(), "Size", unit="bytes", nullable=False),
        Column("SHA256", pa.string(), "SHA-256 of the file content", nullable=False),
    ),
))
