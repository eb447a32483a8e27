"""Normalization, highly variable genes, PCA, neighbours, Leiden and UMAP, all seeded.

Plain scanpy calls with the parameters of ``assets/singlecell/processing.yaml``;
sizes shrink for small specimens (fewer principal components and neighbours than
cells). Raw counts stay in ``layers['counts']``.
"""

from __future__ import annotations

import anndata as ad
import scanpy as sc

from ._settings import ProcessingSettings

__all__ = ["normalize", "cluster", "MIN_CELLS_TO_CLUSTER"]

# Fewer cells than this are not clustered (their cells stay unassigned).
MIN_CELLS_TO_CLUSTER = 10


def normalize(adata: ad.AnnData, *, settings: ProcessingSettings) -> None:
    """Drop rarely detected genes, keep counts in ``layers['counts']``, normalize to ``target_sum`` and log1p."""
    sc.pp.filter_genes(adata, min_cells=settings.min_cells_per_gene)
    adata.layers["counts"] = adata.X.copy()
    sc.pp.normalize_total(adata, target_sum=settings.target_sum)
    sc.pp.log1p(adata)


def cluster(adata: ad.AnnData, *, settings: ProcessingSettings) -> None:
    """HVG, PCA, kNN graph, Leiden (``obs['leiden']``) and UMAP on log-normalized ``X``, in place."""
    n_top = min(settings.n_top_genes, adata.n_vars)
    sc.pp.highly_variable_genes(adata, n_top_genes=n_top, flavor="seurat")
    n_hvg = int(adata.var["highly_variable"].sum())
    n_pcs = int(max(2, min(settings.n_pcs, adata.n_obs - 1, n_hvg - 1)))
    sc.pp.pca(adata, n_comps=n_pcs, mask_var="highly_variable", svd_solver="arpack", random_state=settings.seed)
    # Exact neighbours (sklearn, brute force on the PCs) at every size: deterministic, and
    # scanpy 1.11's default above 8,192 cells (pynndescent 0.7) fails on its csr_array result.
    sc.pp.neighbors(adata, n_neighbors=int(min(settings.n_neighbors, adata.n_obs - 1)), n_pcs=n_pcs,
                    transformer="sklearn", random_state=settings.seed)
    sc.tl.leiden(adata, resolution=settings.leiden_resolution, flavor="igraph", n_iterations=settings.leiden_iterations,
                 directed=False, random_state=settings.seed, key_added="leiden")
    sc.tl.umap(adata, min_dist=settings.umap_min_dist, random_state=settings.seed)
