"""The gzipped TSV with a ``##key=value`` header that carries MSI site tables and baselines.

The header says what built the table (``##format=``) and what it was built on
(reference and site-table digests), so a table is refused against the wrong inputs.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd

from ...errors import InputError
from ...io import atomic_path

__all__ = ["write_headed_tsv", "read_headed_tsv"]


def write_headed_tsv(path: str | Path, header: list[str], frame: pd.DataFrame) -> Path:
    """Write ``##`` header lines then ``frame`` as TSV.gz, atomically and byte-reproducibly."""
    with atomic_path(path) as tmp:
        # mtime=0 and no file name in the gzip header: same inputs, same bytes
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(("\n".join(header) + "\n").encode())
            gz.write(frame.to_csv(sep="\t", index=False, lineterminator="\n").encode())
    return Path(path)


def read_headed_tsv(path: str | Path, *, what: str, format_tag: str, command: str,
                    dtype: dict[str, type]) -> tuple[list[tuple[str, str]], pd.DataFrame]:
    """The header's (key, value) pairs in order and the table; one-line errors naming ``path``."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} not found", file=path)
    header: list[tuple[str, str]] = []
    try:
        with gzip.open(path, "rt") as handle:
            for line in handle:
                if not line.startswith("##"):
                    break
                key, _, value = line[2:].rstrip("\n").partition("=")
                header.append((key, value))
        if dict(header).get("format") != format_tag:
            raise InputError(f"not a {what} from `biomarkers msi {command}` (no ##format={format_tag} header)", file=path)
        frame = pd.read_csv(path, sep="\t", skiprows=len(header), dtype=dtype, keep_default_na=False)
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(f"not a readable {what} (gzipped TSV): {exc}", file=path) from None
    return header, frame
