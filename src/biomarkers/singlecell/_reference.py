"""Annotation by a labelled reference ``.h5ad`` that the user trained or curated offline.

The reference's cells (raw counts, or log-normalized values) and the query are put
on the same scale (counts per ``target_sum``, log1p), restricted to the reference's
highly variable genes that the query also has, scaled with the reference's means
and standard deviations, and projected on the reference's principal components.
Each query cell takes the majority label of its ``n_neighbors`` nearest reference
cells; the vote fraction is its confidence, and below ``min_confidence`` it is
``UNASSIGNED``. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier

from ..errors import InputError
from ._settings import UNASSIGNED, ProcessingSettings, ReferenceSettings

__all__ = ["read_reference", "transfer_labels"]

MIN_SHARED_GENES = 50


def read_reference(path: str | Path, *, settings: ReferenceSettings) -> ad.AnnData:
    """A labelled reference: cells x genes with ``obs[label_key]``, checked."""
    path = Path(path)
    if not path.exists():
        raise InputError("reference not found", file=path)
    try:
        reference = ad.read_h5ad(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is bad input
        raise InputError(f"not a readable .h5ad reference: {exc.__class__.__name__}", file=path) from None
    if settings.label_key not in reference.obs:
        raise InputError("reference has no label column", file=path, field=f"obs/{settings.label_key}")
    if reference.obs[settings.label_key].isna().any():
        raise InputError("reference has cells without a label", file=path, field=f"obs/{settings.label_key}")
    if reference.n_obs < settings.n_neighbors:
        raise InputError(f"reference has fewer cells ({reference.n_obs}) than neighbours asked ({settings.n_neighbors})", file=path)
    return reference


def _log_normalized(adata: ad.AnnData, target_sum: float, *, use_counts_layer: bool) -> ad.AnnData:
    X = adata.layers["counts"] if use_counts_layer and "counts" in adata.layers else adata.X
    data = X.data if sp.issparse(X) else np.asarray(X)
    out = ad.AnnData(X=sp.csr_matrix(X, dtype=np.float32), obs=pd.DataFrame(index=adata.obs_names),
                     var=pd.DataFrame(index=adata.var_names))
    if data.size and (data == np.round(data)).all() and (data >= 0).all():  # raw counts
        sc.pp.normalize_total(out, target_sum=target_sum)
        sc.pp.log1p(out)
    return out


def transfer_labels(adata: ad.AnnData, reference: ad.AnnData, *, settings: ReferenceSettings,
                    processing: ProcessingSettings) -> pd.DataFrame:
    """Per-cell ``reference_label`` and ``reference_confidence`` for the query ``adata`` (counts in ``layers['counts']``)."""
    ref = _log_normalized(reference, processing.target_sum, use_counts_layer=True)
    query = _log_normalized(adata, processing.target_sum, use_counts_layer=True)
    shared = ref.var_names.intersection(query.var_names)
    if len(shared) < MIN_SHARED_GENES:
        raise InputError(f"reference shares {len(shared)} genes with the data (at least {MIN_SHARED_GENES} needed)")
    ref = ref[:, shared].copy()
    sc.pp.highly_variable_genes(ref, n_top_genes=min(processing.n_top_genes, len(shared)), flavor="seurat")
    genes = ref.var_names[ref.var["highly_variable"].to_numpy()]
    R = ref[:, genes].X.toarray()
    Q = query[:, genes].X.toarray()
    mean, sd = R.mean(axis=0), R.std(axis=0)
    sd[sd == 0] = 1.0
    R = np.clip((R - mean) / sd, -10, 10)
    Q = np.clip((Q - mean) / sd, -10, 10)
    n_pcs = int(min(processing.n_pcs, R.shape[0] - 1, R.shape[1] - 1))
    pca = PCA(n_components=n_pcs, random_state=processing.seed).fit(R)
    knn = KNeighborsClassifier(n_neighbors=settings.n_neighbors).fit(pca.transform(R), reference.obs[settings.label_key].astype(str).to_numpy())
    proba = knn.predict_proba(pca.transform(Q))
    best = proba.argmax(axis=1)
    confidence = proba[np.arange(len(best)), best]
    labels = np.where(confidence >= settings.min_confidence, knn.classes_[best], UNASSIGNED)
    return pd.DataFrame({"reference_label": labels, "reference_confidence": confidence}, index=adata.obs_names)
