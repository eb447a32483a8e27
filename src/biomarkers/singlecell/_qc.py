"""Per-cell quality control: detected genes, counts, mitochondrial fraction, doublets.

Filters run in a fixed order and each one is reported with the cells it saw and
removed and the median genes and counts of the cells it kept, so a specimen's
``sc_qc`` rows read as a funnel. Doublets are scored by scanpy's Scrublet on the
cells that passed the other filters.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc

from ..log import get_logger
from ._settings import DoubletSettings, QcThresholds

__all__ = ["qc_metrics", "qc_cells", "QC_STEPS"]

log = get_logger("singlecell")
QC_STEPS = ("input", "min_genes", "max_genes", "min_counts", "max_mito_fraction", "doublets")
# Scrublet needs enough cells for its simulated doublets and neighbour graph.
MIN_CELLS_FOR_SCRUBLET = 50


def qc_metrics(adata: ad.AnnData, *, mito_prefix: str) -> None:
    """Add ``n_genes``, ``total_counts`` and ``mito_fraction`` to ``adata.obs`` (raw counts in ``X``)."""
    X = adata.X
    X.eliminate_zeros()
    mito = adata.var_names.str.upper().str.startswith(mito_prefix.upper())
    total = np.asarray(X.sum(axis=1)).ravel()
    mito_counts = np.asarray(X[:, np.flatnonzero(mito)].sum(axis=1)).ravel() if mito.any() else np.zeros(adata.n_obs)
    adata.obs["n_genes"] = np.diff(X.indptr).astype(np.int32)
    adata.obs["total_counts"] = total.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        adata.obs["mito_fraction"] = np.where(total > 0, mito_counts / np.maximum(total, 1), 0.0)
    adata.var["mito"] = mito


def _row(step: str, threshold, before: int, obs: pd.DataFrame, note: str = "") -> dict:
    return {
        "STEP_INDEX": QC_STEPS.index(step) + 1, "STEP": step, "THRESHOLD": None if threshold is None else str(threshold),
        "CELLS_BEFORE": before, "CELLS_REMOVED": before - len(obs), "CELLS_AFTER": len(obs),
        "MEDIAN_GENES": float(obs["n_genes"].median()) if len(obs) else None,
        "MEDIAN_COUNTS": float(obs["total_counts"].median()) if len(obs) else None,
        "NOTE": note,
    }


def _scrublet(adata: ad.AnnData, settings: DoubletSettings, seed: int) -> tuple[np.ndarray, np.ndarray, float, str]:
    """Doublet scores and calls; the threshold used and how it was chosen."""
    n_pcs = int(min(settings.n_prin_comps, adata.n_obs - 1, adata.n_vars - 1))
    # Exact neighbours: scanpy 1.11's approximate path (above 4,096 observed + simulated cells)
    # fails on the csr_array that pynndescent 0.7 returns ('getnnz'); exact is also seed-free.
    sc.pp.scrublet(adata, expected_doublet_rate=settings.expected_doublet_rate, sim_doublet_ratio=settings.sim_doublet_ratio,
                   n_prin_comps=n_pcs, threshold=settings.threshold, use_approx_neighbors=False, random_state=seed,
                   verbose=False)
    scores = adata.obs["doublet_score"].to_numpy(dtype=float)
    info = adata.uns.pop("scrublet", {})
    if settings.threshold is not None:
        return scores, scores > settings.threshold, settings.threshold, "configured"
    if "threshold" in info:
        threshold = float(info["threshold"])
        return scores, scores > threshold, threshold, "automatic"
    threshold = settings.fallback_threshold
    return scores, scores > threshold, threshold, "fallback (simulated scores not bimodal)"


def qc_cells(adata: ad.AnnData, *, thresholds: QcThresholds, mito_prefix: str, doublets: DoubletSettings,
             seed: int) -> tuple[ad.AnnData, pd.DataFrame, pd.DataFrame]:
    """Filter cells of a raw-count AnnData; return (kept cells, QC funnel, removed cells with reason).

    The kept AnnData carries ``n_genes``, ``total_counts``, ``mito_fraction``,
    ``doublet_score`` and ``predicted_doublet`` in ``obs``.
    """
    qc_metrics(adata, mito_prefix=mito_prefix)
    obs = adata.obs
    reason = pd.Series("", index=obs.index, dtype=object)
    rows = [_row("input", None, adata.n_obs, obs)]
    tests = [
        ("min_genes", thresholds.min_genes, obs["n_genes"] >= thresholds.min_genes),
        ("max_genes", thresholds.max_genes, obs["n_genes"] <= thresholds.max_genes),
        ("min_counts", thresholds.min_counts, obs["total_counts"] >= thresholds.min_counts),
        ("max_mito_fraction", thresholds.max_mito_fraction, obs["mito_fraction"] <= thresholds.max_mito_fraction),
    ]
    keep = np.ones(adata.n_obs, dtype=bool)
    for step, threshold, ok in tests:
        before = int(keep.sum())
        failed = keep & ~ok.to_numpy()
        reason[failed] = step
        keep &= ok.to_numpy()
        rows.append(_row(step, threshold, before, obs[keep]))
    kept = adata[keep].copy()
    kept.obs["doublet_score"] = np.nan
    kept.obs["predicted_doublet"] = False
    before = kept.n_obs
    if kept.n_obs >= MIN_CELLS_FOR_SCRUBLET:
        scores, called, threshold, how = _scrublet(kept, doublets, seed)
        kept.obs["doublet_score"] = scores
        kept.obs["predicted_doublet"] = called
        note = f"Scrublet threshold {threshold:.3f} ({how}); {int(called.sum())} called"
        if doublets.remove and called.any():
            reason[kept.obs_names[called]] = "doublets"
            kept = kept[~called].copy()
        rows.append(_row("doublets", f"{threshold:.3f}", before, kept.obs, note))
    else:
        rows.append(_row("doublets", None, before, kept.obs, f"not scored: fewer than {MIN_CELLS_FOR_SCRUBLET} cells"))
    removed = pd.DataFrame({"barcode": reason.index[reason != ""], "reason": reason[reason != ""].to_numpy()})
    log.info("QC: %d of %d cells kept", kept.n_obs, adata.n_obs)
    return kept, pd.DataFrame(rows), removed
