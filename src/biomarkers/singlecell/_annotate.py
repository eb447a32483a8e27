"""Cell types by marker scoring at the cluster level, with a per-cell confidence.

Each marker gene is z-scored over the specimen's cells (log-normalized values,
clipped at +-10 as ``sc.pp.scale`` does). A cell's score for a set is the mean z of
the set's positive genes present in the data minus the mean of the positive part
of its negative genes' z (a negative gene penalizes expression; its absence, shared
by most cell types, earns nothing). A cluster takes the set with the highest mean score over its cells, or
``UNASSIGNED`` when that score is below ``annotation.min_cluster_score``: nothing is
forced. A cell's confidence is the softmax weight of its cluster's set among all
scored sets (temperature ``annotation.confidence_temperature``). States (exhausted
CD8 T) are called per cell among the cells of their parent type, when the state
score reaches ``annotation.state_min_score``.

Sets with fewer than ``annotation.min_genes_per_set`` positive genes in the data are
not scored; every set's absent genes are reported.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..log import get_logger
from ._settings import UNASSIGNED, AnnotationSettings, MarkerPanel

__all__ = ["marker_report", "score_markers", "annotate_clusters", "call_states"]

log = get_logger("singlecell")
Z_CLIP = 10.0


def marker_report(var_names: pd.Index, panel: MarkerPanel, *, min_genes: int) -> pd.DataFrame:
    """One row per marker set: genes listed, present, absent, and whether it is scored."""
    present = set(var_names)
    rows = []
    for kind, items in (("cell_type", panel.cell_types), ("state", panel.states)):
        for item in items:
            missing = [g for g in item.positive if g not in present]
            n_present = len(item.positive) - len(missing)
            neg_missing = [g for g in getattr(item, "negative", ()) if g not in present]
            rows.append({"SET": item.id, "KIND": kind, "N_GENES": len(item.positive), "N_PRESENT": n_present,
                         "MISSING": ",".join(missing), "NEGATIVE_MISSING": ",".join(neg_missing),
                         "SCORED": n_present >= min_genes})
    report = pd.DataFrame(rows)
    for row in report.itertuples(index=False):
        if not row.SCORED:
            log.warning("marker set %s: %d of %d genes present (fewer than %d), not scored", row.SET, row.N_PRESENT,
                        row.N_GENES, min_genes)
        elif row.MISSING:
            log.info("marker set %s: absent from the data: %s", row.SET, row.MISSING)
    return report


def _zscores(adata: ad.AnnData, genes: list[str]) -> pd.DataFrame:
    X = adata[:, genes].X
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    X = X.astype(np.float64, copy=False)
    mean = X.mean(axis=0)
    sd = X.std(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        Z = np.where(sd > 0, (X - mean) / np.where(sd > 0, sd, 1.0), 0.0)
    return pd.DataFrame(np.clip(Z, -Z_CLIP, Z_CLIP), index=adata.obs_names, columns=genes)


def score_markers(adata: ad.AnnData, panel: MarkerPanel, report: pd.DataFrame) -> pd.DataFrame:
    """Per-cell scores (cells x scored sets, cell types then states) on log-normalized ``X``."""
    scored = set(report.loc[report["SCORED"], "SET"])
    present = set(adata.var_names)
    items = [i for i in list(panel.cell_types) + list(panel.states) if i.id in scored]
    genes = sorted({g for i in items for g in (*i.positive, *getattr(i, "negative", ())) if g in present})
    if not items:
        return pd.DataFrame(index=adata.obs_names)
    Z = _zscores(adata, genes)
    scores = {}
    for item in items:
        pos = [g for g in item.positive if g in present]
        neg = [g for g in getattr(item, "negative", ()) if g in present]
        score = Z[pos].mean(axis=1)
        if neg:  # negative genes only penalize expression: their absence earns nothing
            score = score - Z[neg].clip(lower=0).mean(axis=1)
        scores[item.id] = score
    return pd.DataFrame(scores, index=adata.obs_names)


def annotate_clusters(scores: pd.DataFrame, clusters: pd.Series, panel: MarkerPanel,
                      settings: AnnotationSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Label clusters by their best set; (per-cell labels/score/confidence, per-cluster table)."""
    type_sets = [c for c in scores.columns if c in panel.ids]
    n = len(scores)
    if not type_sets:
        cells = pd.DataFrame({"cell_type": [UNASSIGNED] * n, "cell_type_score": np.nan, "cell_type_confidence": np.nan},
                             index=scores.index)
        return cells, pd.DataFrame(columns=["cluster", "cells", "cell_type", "score", "runner_up", "runner_up_score"])
    S = scores[type_sets]
    means = S.groupby(clusters.to_numpy(), observed=True, sort=True).mean()
    table = []
    label_of = {}
    for cl, row in means.iterrows():
        ordered = row.sort_values(ascending=False, kind="stable")
        best, best_score = ordered.index[0], float(ordered.iloc[0])
        label = best if best_score >= settings.min_cluster_score else UNASSIGNED
        label_of[cl] = label
        table.append({"cluster": str(cl), "cells": int((clusters == cl).sum()), "cell_type": label, "score": best_score,
                      "runner_up": ordered.index[1] if len(ordered) > 1 else None,
                      "runner_up_score": float(ordered.iloc[1]) if len(ordered) > 1 else np.nan})
    labels = clusters.map(label_of).astype(object).to_numpy()
    values = S.to_numpy()
    logits = values / settings.confidence_temperature
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    weights /= weights.sum(axis=1, keepdims=True)
    col = {c: i for i, c in enumerate(type_sets)}
    idx = np.array([col.get(lab, -1) for lab in labels])
    rows = np.arange(n)
    assigned = idx >= 0
    cell_score = np.full(n, np.nan)
    confidence = np.full(n, np.nan)
    cell_score[assigned] = values[rows[assigned], idx[assigned]]
    confidence[assigned] = weights[rows[assigned], idx[assigned]]
    cells = pd.DataFrame({"cell_type": labels, "cell_type_score": cell_score, "cell_type_confidence": confidence},
                         index=scores.index)
    return cells, pd.DataFrame(table)


def call_states(scores: pd.DataFrame, cell_types: pd.Series, panel: MarkerPanel,
                settings: AnnotationSettings) -> pd.Series:
    """Per-cell state (e.g. ``CD8_T_EXHAUSTED``) among cells of the state's parent type; empty string otherwise."""
    state = pd.Series("", index=scores.index, dtype=object)
    for st in panel.states:
        if st.id not in scores:
            continue
        hit = (cell_types.to_numpy() == st.parent) & (scores[st.id].to_numpy() >= settings.state_min_score)
        state[hit] = st.id
    return state
