"""Count matrices in: 10x HDF5 (Cell Ranger 3+ and 1.2 layouts), Matrix Market folders, .h5ad.

Every reader returns an AnnData of raw counts, cells x genes (CSR, float32), with
gene symbols as ``var_names`` and ``var['gene_ids']``. The checks a user's file
gets, each a one-line :class:`~biomarkers.errors.InputError`: sizes that disagree
(matrix vs. features vs. barcodes), values that are not counts (negative or
non-integer: a normalized matrix), no cell or no gene. Duplicated barcodes or gene
symbols are made unique and reported in ``uns['biomarkers']['input_notes']``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp

from ..errors import InputError
from ..log import get_logger

__all__ = ["read_counts", "check_counts"]

log = get_logger("singlecell")
GENE_EXPRESSION = "Gene Expression"


def read_counts(path: str | Path) -> ad.AnnData:
    """Raw counts of one specimen from a 10x ``.h5``, a Matrix Market folder or an ``.h5ad``.

    Examples
    --------
    >>> adata = read_counts("filtered_feature_bc_matrix.h5")  # doctest: +SKIP
    >>> adata.n_obs, adata.n_vars  # doctest: +SKIP
    (1107, 507)
    """
    path = Path(path)
    if not path.exists():
        raise InputError("count matrix not found", file=path)
    if path.is_dir():
        return _read_mtx_dir(path)
    if path.suffix == ".h5ad":
        return _read_h5ad(path)
    if path.suffix in (".h5", ".hdf5"):
        return _read_10x_h5(path)
    raise InputError("not a count matrix: give a 10x .h5, a Matrix Market folder or an .h5ad", file=path)


# --- 10x HDF5 -------------------------------------------------------------------

def _strings(dataset) -> np.ndarray:
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in dataset[()]], dtype=object)


def _read_10x_h5(path: Path) -> ad.AnnData:
    try:
        handle = h5py.File(path, "r")
    except OSError:
        raise InputError("not a readable HDF5 file", file=path) from None
    with handle:
        if "matrix" in handle:  # Cell Ranger 3+: /matrix with /matrix/features
            group = handle["matrix"]
            if "features" not in group:
                raise InputError("10x HDF5 /matrix has no features group", file=path, field="matrix/features")
            feats = group["features"]
            gene_ids = _strings(feats["id"])
            symbols = _strings(feats["name"])
            types = _strings(feats["feature_type"]) if "feature_type" in feats else np.full(len(gene_ids), GENE_EXPRESSION, dtype=object)
            where = "matrix"
        else:  # Cell Ranger 1.2/2: one group per genome with genes and gene_names
            genomes = [k for k in handle if isinstance(handle[k], h5py.Group)]
            if len(genomes) != 1:
                raise InputError(f"10x HDF5 without /matrix must hold exactly one genome group, found {len(genomes)}", file=path)
            group = handle[genomes[0]]
            for key in ("genes", "gene_names"):
                if key not in group:
                    raise InputError("10x HDF5 genome group lacks a dataset", file=path, field=f"{genomes[0]}/{key}")
            gene_ids = _strings(group["genes"])
            symbols = _strings(group["gene_names"])
            types = np.full(len(gene_ids), GENE_EXPRESSION, dtype=object)
            where = genomes[0]
        for key in ("data", "indices", "indptr", "shape", "barcodes"):
            if key not in group:
                raise InputError("10x HDF5 lacks a dataset", file=path, field=f"{where}/{key}")
        n_genes, n_cells = (int(x) for x in group["shape"][()])
        barcodes = _strings(group["barcodes"])
        data = group["data"][()]
        indices = group["indices"][()]
        indptr = group["indptr"][()]
    if len(symbols) != n_genes or len(gene_ids) != n_genes:
        raise InputError(f"matrix shape says {n_genes} genes but the features list has {len(symbols)}", file=path,
                         field=f"{where}/shape")
    if len(barcodes) != n_cells or len(indptr) != n_cells + 1:
        raise InputError(f"matrix shape says {n_cells} barcodes but the barcodes list has {len(barcodes)}"
                         f" and the column pointer {len(indptr) - 1}", file=path, field=f"{where}/shape")
    if len(data) != len(indices) or (len(indptr) and indptr[-1] != len(data)):
        raise InputError("matrix data, indices and pointers disagree in length", file=path, field=f"{where}/data")
    if len(indices) and (indices.min() < 0 or indices.max() >= n_genes):
        raise InputError("matrix indices point outside the features list", file=path, field=f"{where}/indices")
    check_counts(data, file=path)
    # The 10x CSC matrix of genes x cells is, read the other way, the CSR of cells x genes.
    X = sp.csr_matrix((data.astype(np.float32, copy=False), indices, indptr), shape=(n_cells, n_genes))
    return _build(X, barcodes, symbols, gene_ids, types, path)


# --- Matrix Market --------------------------------------------------------------

def _first(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.exists():
                return candidate
    return None


def _read_lines_table(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, sep="\t", header=None, dtype=str, keep_default_na=False, compression="infer")
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (UnicodeDecodeError, gzip.BadGzipFile, OSError) as exc:
        raise InputError(f"not a readable tab-separated file: {exc.__class__.__name__}", file=path) from None


def _read_mtx_dir(folder: Path) -> ad.AnnData:
    matrix = _first(folder, ("matrix.mtx",))
    if matrix is None:  # Cell Ranger 1.2: filtered_gene_bc_matrices/<genome>/
        subs = [d for d in sorted(folder.iterdir()) if d.is_dir() and _first(d, ("matrix.mtx",))]
        if len(subs) == 1:
            folder = subs[0]
            matrix = _first(folder, ("matrix.mtx",))
        else:
            raise InputError("folder has no matrix.mtx[.gz]" + (f" but {len(subs)} genome folders" if subs else ""), file=folder)
    features = _first(folder, ("features.tsv", "genes.tsv"))
    barcodes = _first(folder, ("barcodes.tsv",))
    if features is None:
        raise InputError("folder has no features.tsv[.gz] or genes.tsv", file=folder)
    if barcodes is None:
        raise InputError("folder has no barcodes.tsv[.gz]", file=folder)
    feats = _read_lines_table(features)
    bcs = _read_lines_table(barcodes)
    try:
        M = scipy.io.mmread(str(matrix))
    except (ValueError, OSError, IndexError) as exc:
        raise InputError(f"not a readable Matrix Market file: {exc}", file=matrix) from None
    if not sp.issparse(M):
        M = sp.coo_matrix(M)
    n_genes, n_cells = M.shape
    if len(feats) != n_genes:
        raise InputError(f"matrix has {n_genes} rows (genes) but {features.name} has {len(feats)} lines", file=features)
    if len(bcs) != n_cells:
        raise InputError(f"matrix has {n_cells} columns (barcodes) but {barcodes.name} has {len(bcs)} lines", file=barcodes)
    if n_genes and feats.shape[1] < 2:
        raise InputError("features file needs at least two columns (gene ID, symbol)", file=features)
    X = M.T.tocsr().astype(np.float32)
    check_counts(X.data, file=matrix)
    gene_ids = feats[0].to_numpy(dtype=object) if n_genes else np.array([], dtype=object)
    symbols = feats[1].to_numpy(dtype=object) if n_genes else np.array([], dtype=object)
    types = feats[2].to_numpy(dtype=object) if feats.shape[1] > 2 else np.full(n_genes, GENE_EXPRESSION, dtype=object)
    barcode_names = bcs[0].to_numpy(dtype=object) if n_cells else np.array([], dtype=object)
    return _build(X, barcode_names, symbols, gene_ids, types, matrix.parent)


# --- h5ad -----------------------------------------------------------------------

def _read_h5ad(path: Path) -> ad.AnnData:
    try:
        adata = ad.read_h5ad(path)
    except Exception as exc:  # noqa: BLE001 - h5py and anndata raise many kinds for a bad file
        raise InputError(f"not a readable .h5ad file: {exc.__class__.__name__}", file=path) from None
    if "counts" in adata.layers:
        X, where = adata.layers["counts"], "layers/counts"
    elif adata.raw is not None and adata.raw.n_vars == adata.n_vars:
        X, where = adata.raw.X, "raw/X"
    else:
        X, where = adata.X, "X"
    X = sp.csr_matrix(X, dtype=np.float32) if not sp.issparse(X) else sp.csr_matrix(X).astype(np.float32)
    try:
        check_counts(X.data)
    except InputError as err:
        raise err.with_context(file=path, field=where) from None
    gene_ids = adata.var["gene_ids"].astype(str).to_numpy(dtype=object) if "gene_ids" in adata.var else adata.var_names.to_numpy(dtype=object)
    types = (adata.var["feature_types"].astype(str).to_numpy(dtype=object) if "feature_types" in adata.var
             else np.full(adata.n_vars, GENE_EXPRESSION, dtype=object))
    return _build(X, adata.obs_names.to_numpy(dtype=object), adata.var_names.to_numpy(dtype=object), gene_ids, types, path)


# --- shared ---------------------------------------------------------------------

def check_counts(values: np.ndarray, *, file: str | Path | None = None) -> None:
    """Refuse values that are not raw counts: negative, non-integer or not finite."""
    if values.size == 0:
        return
    if not np.isfinite(values).all():
        raise InputError("holds values that are not finite: raw counts expected", file=file)
    if (values < 0).any():
        raise InputError("holds negative values: raw counts expected, not normalized or scaled data", file=file)
    if (values != np.round(values)).any():
        raise InputError("holds non-integer values: raw counts expected, not normalized data", file=file)


def _make_unique(names: np.ndarray) -> tuple[pd.Index, int, str | None]:
    index = pd.Index(names, dtype=object)
    dup_mask = index.duplicated(keep="first")
    n_dup = int(dup_mask.sum())
    if not n_dup:
        return index, 0, None
    example = str(index[dup_mask][0])
    seen: dict[str, int] = {}
    taken = set(index[~dup_mask])
    out = []
    for name, dup in zip(index, dup_mask):
        if not dup:
            out.append(name)
            continue
        k = seen.get(name, 0)
        while True:
            k += 1
            candidate = f"{name}-{k}"
            if candidate not in taken:
                break
        seen[name] = k
        taken.add(candidate)
        out.append(candidate)
    return pd.Index(out, dtype=object), n_dup, example


def _build(X: sp.csr_matrix, barcodes: np.ndarray, symbols: np.ndarray, gene_ids: np.ndarray, types: np.ndarray,
           path: Path) -> ad.AnnData:
    """The AnnData of gene-expression features, names made unique (and said so)."""
    notes: list[str] = []
    keep = np.asarray(types == GENE_EXPRESSION)
    if not keep.all():
        other = sorted(set(types[~keep]))
        notes.append(f"{int((~keep).sum())} features that are not gene expression ({', '.join(other)}) set aside")
        X, symbols, gene_ids, types = X[:, keep], symbols[keep], gene_ids[keep], types[keep]
    if X.shape[0] == 0:
        raise InputError("the matrix holds no cell (no barcode)", file=path)
    if X.shape[1] == 0:
        raise InputError("the matrix holds no gene expression feature", file=path)
    obs_names, n_dup_bc, _ = _make_unique(barcodes)
    var_names, n_dup_genes, example = _make_unique(symbols)
    if n_dup_bc:
        notes.append(f"{n_dup_bc} duplicated barcodes made unique with a -N suffix")
    if n_dup_genes:
        notes.append(f"{n_dup_genes} duplicated gene symbols made unique with a -N suffix (e.g. {example})")
    for note in notes:
        log.warning("%s: %s", path.name, note)
    var = pd.DataFrame({"gene_ids": np.asarray(gene_ids, dtype=object), "feature_types": np.asarray(types, dtype=object)},
                       index=var_names)
    adata = ad.AnnData(X=X, obs=pd.DataFrame(index=obs_names), var=var)
    adata.uns["biomarkers"] = {"input_file": path.name, "input_notes": notes}
    return adata
