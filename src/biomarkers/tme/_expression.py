"""Read bulk expression: a gene x sample matrix or per-sample Salmon ``quant.sf`` files.

Matrices come as TSV/CSV (optionally gzipped; featureCounts tables too, whose Length
column gives gene lengths), Parquet (first column the gene IDs) or ``.h5ad`` (AnnData:
samples are observations, genes are variables). Values are raw counts or TPM, as the
user declares; the reader checks what it can of that claim and returns an AnnData
(samples x genes, ``uns["expression"]`` saying what the values are and where they came
from) for :func:`score_signatures`.

Bad input is one :class:`InputError` naming the file, the gene or sample and the field:
duplicated genes or samples, non-numeric, missing or negative values, non-integer counts.
TPM columns that do not sum to about a million are a warning, not an error (a matrix may
hold a subset of genes).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from ..errors import InputError
from ..log import get_logger

__all__ = ["ExpressionSettings", "SETTINGS", "read_expression", "read_salmon", "read_gene_lengths", "VALUE_KINDS"]

log = get_logger("tme")

VALUE_KINDS = ("counts", "tpm")
_FEATURECOUNTS_ANNOTATION = ("Chr", "Start", "End", "Strand", "Length")


@dataclass(frozen=True)
class ExpressionSettings:
    """Library defaults of the expression readers (not trial facts)."""

    tpm_total: float = 1e6
    tpm_tolerance: float = 0.05      # warn when a TPM column sums outside 1e6 +- 5%
    max_reported_samples: int = 5    # samples named in one warning


SETTINGS = ExpressionSettings()


def _table_kind(path: Path) -> str:
    name = path.name.lower()
    for suffix, kind in ((".h5ad", "h5ad"), (".parquet", "parquet"), (".pq", "parquet"), (".csv", "csv"),
                         (".csv.gz", "csv"), (".tsv", "tsv"), (".tsv.gz", "tsv"), (".txt", "tsv"), (".txt.gz", "tsv"),
                         (".sf", "salmon")):
        if name.endswith(suffix):
            return kind
    raise InputError("unknown expression file type (use .tsv, .csv (optionally .gz), .parquet, .h5ad or quant.sf)", file=path)


def read_expression(path: str | Path, *, values: str, gene_lengths: str | Path | pd.Series | None = None,
                    layer: str | None = None) -> ad.AnnData:
    """Read a gene x sample matrix of ``values`` ("counts" or "tpm"); samples x genes AnnData.

    ``gene_lengths`` (a file with gene ID and length in bases, or a Series) turns counts
    into TPM when scoring; a featureCounts table carries its own. ``layer`` picks an
    ``.h5ad`` layer instead of ``X``.
    """
    path = Path(path)
    if values not in VALUE_KINDS:
        raise InputError(f"values must be one of {', '.join(VALUE_KINDS)}", field="values", value=values)
    if not path.exists():
        raise InputError("expression file not found", file=path)
    kind = _table_kind(path)
    if kind == "salmon":
        raise InputError("a quant.sf file is read per sample with read_salmon, not as a matrix", file=path)
    lengths = None
    if kind == "h5ad":
        genes, samples, matrix = _read_h5ad(path, layer)
    elif kind == "parquet":
        genes, samples, matrix = _read_parquet(path)
    else:
        genes, samples, matrix, lengths = _read_delimited(path, "\t" if kind == "tsv" else ",")
    _check_unique(genes, path, "gene", "gene_id")
    _check_unique(samples, path, "sample", "sample")
    _check_values(matrix, genes, samples, path, values)
    adata = ad.AnnData(X=matrix.T, obs=pd.DataFrame(index=pd.Index(samples, name="sample")),
                       var=pd.DataFrame(index=pd.Index(genes, name="gene_id")))
    length_source = None
    if gene_lengths is not None:
        lengths = read_gene_lengths(gene_lengths) if not isinstance(gene_lengths, pd.Series) else gene_lengths
        length_source = str(gene_lengths) if not isinstance(gene_lengths, pd.Series) else "given"
    elif lengths is not None:
        length_source = f"{path} (featureCounts Length)"
    if lengths is not None:
        adata.var["length"] = _align_lengths(lengths, genes, path)
    adata.uns["expression"] = {"values": values, "file": str(path), "format": kind,
                               "gene_lengths": length_source, "layer": layer}
    if values == "tpm":
        _warn_tpm_totals(matrix, samples, path)
    return adata


# --- formats -------------------------------------------------------------------

def _header(path: Path, sep: str) -> tuple[list[str], int]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig") as handle:
            skipped = 0
            for line in handle:
                if line.startswith("#") or not line.strip():
                    skipped += 1
                    continue
                return [c.strip().strip('"') for c in line.rstrip("\r\n").split(sep)], skipped
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise InputError(f"not a readable text matrix: {exc}", file=path) from None
    raise InputError("empty expression matrix (no header line)", file=path)


def _read_delimited(path: Path, sep: str):
    header, skipped = _header(path, sep)
    if len(header) < 2:
        other = "comma" if sep == "\t" else "tab"
        raise InputError(f"header has one column: is the file {other}-separated?", file=path, row="line 1")
    first = header[0]
    if not first:
        header[0] = first = "gene_id"
    annotation = [c for c in header[1:] if c in _FEATURECOUNTS_ANNOTATION]
    featurecounts = "Length" in annotation and "Chr" in annotation
    sample_columns = [c for c in header[1:] if not (featurecounts and c in _FEATURECOUNTS_ANNOTATION)]
    _check_unique(sample_columns, path, "sample", "header")
    try:
        frame = pd.read_csv(path, sep=sep, skiprows=skipped, header=0, names=header, index_col=False,
                            dtype={first: str, **{c: str for c in annotation}}, engine="c", low_memory=False,
                            na_filter=True, compression="infer")
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as exc:
        raise InputError(f"not a readable {'TSV' if sep == chr(9) else 'CSV'} matrix: {str(exc).splitlines()[0]}",
                         file=path) from None
    genes = frame[first].astype(str).str.strip().tolist()
    if frame[first].isna().any():
        line = int(np.flatnonzero(frame[first].isna().to_numpy())[0]) + skipped + 2
        raise InputError("gene ID is empty", file=path, row=f"line {line}", field=first)
    lengths = None
    if featurecounts:
        lengths = pd.to_numeric(frame["Length"], errors="coerce")
        lengths.index = genes
    block = frame[sample_columns]
    for column in sample_columns:
        if not pd.api.types.is_numeric_dtype(block[column].dtype):
            numeric = pd.to_numeric(block[column], errors="coerce")
            bad = numeric.isna() & block[column].notna()
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError("value is not a number", file=path, row=f"gene {genes[i]}", field=column,
                                 value=str(block[column].iloc[i])[:40])
            block = block.assign(**{column: numeric})
    matrix = block.to_numpy(dtype=np.float64, na_value=np.nan)
    return genes, sample_columns, matrix, lengths


def _read_parquet(path: Path):
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise InputError(f"not a readable Parquet file: {exc}", file=path) from None
    names = table.column_names
    index_columns = [c for c in names if c.startswith("__index_level_")]
    if index_columns:  # written by pandas with the genes as the index
        gene_column = index_columns[0]
    else:
        gene_column = names[0]
    sample_columns = [c for c in names if c != gene_column and not c.startswith("__index_level_")]
    _check_unique(sample_columns, path, "sample", "columns")
    genes = [str(g) for g in table.column(gene_column).to_pylist()]
    arrays = []
    import pyarrow as pa

    for column in sample_columns:
        col = table.column(column)
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_decimal(col.type)):
            raise InputError(f"column is {col.type}, not numeric", file=path, field=column)
        arrays.append(col.to_numpy(zero_copy_only=False).astype(np.float64, copy=False))
    matrix = np.column_stack(arrays) if arrays else np.empty((len(genes), 0))
    return genes, sample_columns, matrix


def _read_h5ad(path: Path, layer: str | None):
    try:
        adata = ad.read_h5ad(path)
    except Exception as exc:  # h5py/anndata raise several types for a bad file
        raise InputError(f"not a readable .h5ad file: {str(exc).splitlines()[0]}", file=path) from None
    if layer is not None and layer not in adata.layers:
        raise InputError(f"no layer '{layer}' (layers: {', '.join(adata.layers) or 'none'})", file=path, field="layer")
    data = adata.layers[layer] if layer is not None else adata.X
    if data is None:
        raise InputError("the AnnData has no X matrix", file=path, field="X")
    if hasattr(data, "toarray"):
        data = data.toarray()
    matrix = np.asarray(data, dtype=np.float64).T  # genes x samples, like the text formats
    return [str(g) for g in adata.var_names], [str(s) for s in adata.obs_names], matrix


# --- checks --------------------------------------------------------------------

def _check_unique(names: list[str], path: Path, what: str, field: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(f"duplicated {what}", file=path, row=f"{what} {name}" if what == "gene" else None,
                             field=field if what == "gene" else name)
        seen.add(name)


def _check_values(matrix: np.ndarray, genes: list[str], samples: list[str], path: Path, values: str) -> None:
    def where(mask: np.ndarray) -> tuple[int, int]:
        flat = int(np.flatnonzero(mask.ravel(order="C"))[0])
        return divmod(flat, matrix.shape[1])

    missing = np.isnan(matrix)
    if missing.any():
        g, s = where(missing)
        raise InputError("value is missing", file=path, row=f"gene {genes[g]}", field=samples[s])
    if not np.isfinite(matrix).all():
        g, s = where(~np.isfinite(matrix))
        raise InputError("value is infinite", file=path, row=f"gene {genes[g]}", field=samples[s])
    negative = matrix < 0
    if negative.any():
        g, s = where(negative)
        raise InputError("value is negative", file=path, row=f"gene {genes[g]}", field=samples[s], value=float(matrix[g, s]))
    if values == "counts":
        fractional = matrix != np.floor(matrix)
        if fractional.any():
            g, s = where(fractional)
            raise InputError("counts must be whole numbers (declare TPM with values 'tpm')", file=path,
                             row=f"gene {genes[g]}", field=samples[s], value=float(matrix[g, s]))


def _warn_tpm_totals(matrix: np.ndarray, samples: list[str], path: Path) -> None:
    totals = matrix.sum(axis=0)
    off = np.abs(totals - SETTINGS.tpm_total) > SETTINGS.tpm_tolerance * SETTINGS.tpm_total
    if off.any():
        named = ", ".join(f"{samples[i]} ({totals[i]:,.0f})" for i in np.flatnonzero(off)[:SETTINGS.max_reported_samples])
        log.warning("%s: %d of %d TPM columns do not sum to about 1,000,000 (a subset of genes, or not TPM?): %s",
                    path, int(off.sum()), len(samples), named)


def read_gene_lengths(path: str | Path) -> pd.Series:
    """Gene lengths (bases) from a two-column TSV/CSV: gene ID, length (header optional)."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, sep=None, engine="python", header=None, comment="#", dtype=str)
    except FileNotFoundError:
        raise InputError("gene lengths file not found", file=path) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable gene lengths table: {str(exc).splitlines()[0]}", file=path) from None
    if frame.shape[1] < 2:
        raise InputError("gene lengths need two columns: gene ID and length in bases", file=path)
    offset = 0
    if pd.to_numeric(frame.iloc[:1, 1], errors="coerce").isna().all():
        frame, offset = frame.iloc[1:], 1  # a header line
    lengths = pd.to_numeric(frame.iloc[:, 1], errors="coerce")
    bad = lengths.isna() | (lengths <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError("length must be a positive number of bases", file=path, row=f"line {i + 1 + offset}",
                         field=f"gene {frame.iloc[i, 0]}", value=frame.iloc[i, 1])
    series = pd.Series(lengths.to_numpy(dtype=np.float64), index=frame.iloc[:, 0].astype(str).str.strip().to_numpy())
    if series.index.has_duplicates:
        dup = series.index[series.index.duplicated()][0]
        raise InputError("duplicated gene", file=path, row=f"gene {dup}", field="gene_id")
    return series


_VERSION = re.compile(r"\.\d+$")


def _align_lengths(lengths: pd.Series, genes: list[str], path: Path) -> np.ndarray:
    """Length per matrix gene; IDs may differ only by an Ensembl version suffix. NaN when absent."""
    index = pd.Index(genes)
    aligned = lengths.reindex(index)
    if aligned.isna().any():
        stripped = pd.Series(lengths.to_numpy(), index=[_VERSION.sub("", g) for g in lengths.index])
        stripped = stripped[~stripped.index.duplicated()]
        fill = stripped.reindex([_VERSION.sub("", g) for g in genes]).to_numpy()
        aligned = pd.Series(np.where(aligned.isna(), fill, aligned.to_numpy()), index=index)
    n_missing = int(aligned.isna().sum())
    if n_missing == len(genes):
        raise InputError("no gene of the matrix has a length (gene IDs differ between the two files?)", file=path,
                         field="gene_lengths")
    if n_missing:
        log.warning("%s: %d of %d genes have no length and are left out of TPM", path, n_missing, len(genes))
    return aligned.to_numpy(dtype=np.float64)


# --- Salmon ----------------------------------------------------------------------

_SALMON_COLUMNS = ("Name", "Length", "EffectiveLength", "TPM", "NumReads")


def read_salmon(files: Mapping[str, str | Path], *, tx2gene: str | Path | None = None) -> ad.AnnData:
    """Per-sample Salmon ``quant.sf`` (or ``quant.genes.sf``) files, summed per gene.

    Transcripts are assigned to genes by ``tx2gene`` (two columns: transcript, gene), or
    by the gene field of GENCODE-style names (``ENST...|ENSG...|...``); a ``quant.genes.sf``
    is already per gene. X holds TPM (Salmon's, summed over a gene's transcripts),
    ``layers["counts"]`` the estimated reads.
    """
    if not files:
        raise InputError("no quant.sf files given", field="quant")
    mapping = _read_tx2gene(Path(tx2gene)) if tx2gene is not None else None
    tpm_columns, count_columns, names = [], [], None
    for sample, file in files.items():
        path = Path(file)
        frame = _read_quant(path)
        genes = _genes_of(frame["Name"], mapping, path)
        tpm = frame["TPM"].groupby(genes, sort=True).sum()
        reads = frame["NumReads"].groupby(genes, sort=True).sum()
        if names is None:
            names = tpm.index
        elif not tpm.index.equals(names):
            raise InputError("quant.sf names other genes or transcripts than the first sample's (a different index?)",
                             file=path, field="Name")
        tpm_columns.append(tpm.to_numpy())
        count_columns.append(reads.to_numpy())
    samples = list(files)
    _check_unique(samples, Path("quant.sf"), "sample", "sample")
    adata = ad.AnnData(X=np.column_stack(tpm_columns).T, obs=pd.DataFrame(index=pd.Index(samples, name="sample")),
                       var=pd.DataFrame(index=pd.Index([str(n) for n in names], name="gene_id")))
    adata.layers["counts"] = np.column_stack(count_columns).T
    adata.uns["expression"] = {"values": "tpm", "file": ",".join(str(f) for f in files.values()), "format": "salmon",
                               "gene_lengths": None, "layer": None, "tx2gene": str(tx2gene) if tx2gene else None}
    _warn_tpm_totals(adata.X.T, samples, Path(str(next(iter(files.values())))))
    return adata


def _read_quant(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, sep="\t", dtype={"Name": str})
    except FileNotFoundError:
        raise InputError("quant.sf not found", file=path) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable quant.sf: {str(exc).splitlines()[0]}", file=path) from None
    for column in _SALMON_COLUMNS:
        if column not in frame.columns:
            raise InputError("required column is missing from the header", file=path, row="line 1", field=column)
    if frame["Name"].duplicated().any():
        dup = frame.loc[frame["Name"].duplicated(), "Name"].iloc[0]
        raise InputError("duplicated transcript", file=path, row=f"transcript {dup}", field="Name")
    for column in ("TPM", "NumReads"):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() | (values < 0)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError("value is not a non-negative number", file=path, row=f"transcript {frame['Name'].iloc[i]}",
                             field=column, value=str(frame[column].iloc[i]))
        frame[column] = values
    return frame


def _read_tx2gene(path: Path) -> dict[str, str]:
    try:
        frame = pd.read_csv(path, sep=None, engine="python", header=None, dtype=str, comment="#")
    except FileNotFoundError:
        raise InputError("transcript-to-gene table not found", file=path) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"not a readable transcript-to-gene table: {exc}", file=path) from None
    if frame.shape[1] < 2:
        raise InputError("transcript-to-gene table needs two columns: transcript, gene", file=path)
    return dict(zip(frame.iloc[:, 0].str.strip(), frame.iloc[:, 1].str.strip()))


def _genes_of(names: pd.Series, mapping: dict[str, str] | None, path: Path) -> np.ndarray:
    if mapping is not None:
        genes = names.map(lambda n: mapping.get(n) or mapping.get(_VERSION.sub("", n.split("|")[0])))
        if genes.isna().any():
            missing = int(genes.isna().sum())
            first = names[genes.isna()].iloc[0]
            raise InputError(f"{missing} of {len(names)} transcripts are not in the transcript-to-gene table",
                             file=path, row=f"transcript {first}", field="Name")
        return genes.to_numpy()
    if names.str.contains("|", regex=False).all():
        return names.str.split("|").str[1].to_numpy()  # GENCODE FASTA headers: ENST|ENSG|OTTHUMG|OTTHUMT|tx|gene|...
    if names.str.match(r"^ENS[A-Z]*T\d{11}").any():
        raise InputError("quant.sf names transcripts: give a transcript-to-gene table (--tx2gene)", file=path, field="Name")
    return names.to_numpy()  # quant.genes.sf: already genes
