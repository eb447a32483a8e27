"""The one registry of output tables: columns, Arrow types, units, descriptions.

Every Parquet file the pipeline writes is declared once, in ``tables/<capability>.py``,
and written through :func:`write_table`, which checks the data against the
declaration, embeds the data dictionary and the provenance in the file's metadata,
and writes atomically. The data dictionary in ``docs/data-dictionary.md`` is
generated from the registry (``biomarkers schemas --markdown``), and a test keeps
the two in step.

Input schemas (samplesheet, protocol, custody export) are JSON Schema files in
``assets/``, shared with Nextflow's nf-schema; see :mod:`biomarkers.assets`.

A table too large to merge into one file (a row per site or variant and specimen) is
declared with ``partition=`` and published as a partitioned dataset, one file per
specimen (:mod:`._dataset`): written per specimen, collected by copying, read as one
table by pyarrow.dataset, pandas and DuckDB.

A table that carries biomarkers declares them (:class:`Biomarker`), so the
analysis step builds its long table from whatever modality tables exist without
knowing any modality by name.
"""

from ._arrow import (METADATA_KEY, check_results_tables, check_table_file, concat_parts, part_table, read_table, table_arrow,
                     table_metadata, to_arrow, write_table)
from ._dataset import collect_partitions, count_rows, dataset_files, read_dataset, write_partition
from ._dictionary import data_dictionary, data_dictionary_markdown
from ._registry import TABLES, Biomarker, Column, SubjectFlags, Table, column_label, register, table
from . import tables  # noqa: F401,E402  (declares every table)
from .tables.analysis import refresh_analysis_wide

__all__ = [
    "Column", "Biomarker", "SubjectFlags", "Table", "TABLES", "register", "table", "column_label", "refresh_analysis_wide",
    "to_arrow", "table_arrow", "write_table", "read_table", "check_table_file", "check_results_tables", "concat_parts",
    "table_metadata", "part_table", "METADATA_KEY",
    "write_partition", "collect_partitions", "dataset_files", "read_dataset", "count_rows",
    "data_dictionary", "data_dictionary_markdown",
]
