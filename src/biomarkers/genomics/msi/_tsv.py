"""The gzipped TSV with a ``##key=value`` header that carries MSI site tables and baselines.

The header says what built the table (``##format=``) and what it was built on
(reference and site-table digests), so a table is refused against the wrong inputs.
Tables are read into plain columns (lists), without pandas: a per-specimen call
reads them on its hot path.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from ...errors import InputError
from ...io import atomic_path

__all__ = ["Columns", "write_headed_tsv", "read_headed_columns"]


class Columns:
    """Named columns of equal length (lists), with ``attrs`` as a frame has: ``table["CHROM"]``, ``len(table)``."""

    def __init__(self, columns: dict[str, list], attrs: dict | None = None):
        self.columns = columns
        self.attrs = dict(attrs or {})
        self._rows = len(next(iter(columns.values()))) if columns else 0

    def __getitem__(self, name: str) -> list:
        return self.columns[name]

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def __len__(self) -> int:
        return self._rows


def write_headed_tsv(path: str | Path, header: list[str], frame) -> Path:
    """Write ``##`` header lines then ``frame`` as TSV.gz, atomically and byte-reproducibly."""
    with atomic_path(path) as tmp:
        # mtime=0 and no file name in the gzip header: same inputs, same bytes
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(("\n".join(header) + "\n").encode())
            gz.write(frame.to_csv(sep="\t", index=False, lineterminator="\n").encode())
    return Path(path)


def _convert(name: str, values: list[str], kind: type, path: Path) -> list:
    try:
        if kind is bool:
            return [v.lower() == "true" for v in values]
        if kind in (int, float):
            return [kind(v) for v in values]
    except ValueError:
        raise InputError(f"column {name} holds a value that is not {kind.__name__}", file=path, field=name) from None
    return values


def read_headed_columns(path: str | Path, *, what: str, format_tag: str, command: str, types: dict[str, type]
                        ) -> tuple[list[tuple[str, str]], Columns]:
    """The header's (key, value) pairs in order and the table's columns (strings, or ``types``); one-line errors."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} not found", file=path)
    header: list[tuple[str, str]] = []
    try:
        with gzip.open(path, "rt") as handle:
            line = handle.readline()
            while line.startswith("##"):
                key, _, value = line[2:].rstrip("\n").partition("=")
                header.append((key, value))
                line = handle.readline()
            if dict(header).get("format") != format_tag:
                raise InputError(f"not a {what} from `biomarkers msi {command}` (no ##format={format_tag} header)", file=path)
            names = line.rstrip("\n").split("\t")
            rows = [text.rstrip("\n").split("\t") for text in handle if text.strip()]
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable {what} (gzipped TSV): {exc}", file=path) from None
    bad = next((n for n, row in enumerate(rows, len(header) + 2) if len(row) != len(names)), None)
    if bad is not None:
        raise InputError(f"not a readable {what}: a line has another number of fields than the column names", file=path,
                         row=f"line {bad}")
    columns = {name: _convert(name, [row[k] for row in rows], types.get(name, str), path) for k, name in enumerate(names)}
    return header, Columns(columns)
