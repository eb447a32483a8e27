"""One specimen end to end: read, QC, normalize, cluster, annotate, compose; and the .h5ad out."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from .. import names as N
from ..errors import InputError
from ..io import atomic_path
from ..log import get_logger
from ._annotate import annotate_clusters, call_states, marker_report, score_markers
from ._cluster import MIN_CELLS_TO_CLUSTER, cluster, normalize
from ._composition import composition, summarize
from ._qc import qc_cells
from ._read import read_counts
from ._reference import read_reference, transfer_labels
from ._settings import COMPARTMENTS, UNASSIGNED, MarkerPanel, Settings, load_markers, load_settings

__all__ = ["SpecimenResult", "annotate", "annotate_specimen", "write_h5ad", "QC_PASS", "QC_LOW_CELLS", "QC_NO_CELLS"]

log = get_logger("singlecell")
QC_PASS, QC_LOW_CELLS, QC_NO_CELLS = "PASS", "LOW_CELLS", "NO_CELLS"
_VERSIONED = ("biomarkers", "scanpy", "anndata", "numpy", "scipy", "scikit-learn", "igraph", "umap-learn", "pynndescent",
              "scikit-image")


@dataclass
class SpecimenResult:
    """What one specimen gives: the annotated cells and the frames of its part files."""

    adata: ad.AnnData
    qc: pd.DataFrame            # one row per QC step
    composition: pd.DataFrame   # one row per cell type and state
    summary: pd.DataFrame       # one row: the specimen's biomarkers
    markers: pd.DataFrame       # one row per marker set: genes present/absent, scored
    clusters: pd.DataFrame      # one row per Leiden cluster: label and scores
    status: str


def annotate(adata: ad.AnnData, *, panel: MarkerPanel, settings: Settings, reference: ad.AnnData | None = None,
             clusters_key: str = "leiden") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Label the cells of a clustered, log-normalized AnnData in place; return (marker report, cluster table).

    ``obs`` gains ``score_<SET>`` per scored set, ``marker_cell_type``, ``cell_type``,
    ``cell_type_score``, ``cell_type_confidence`` and ``cell_state``; with a ``reference``
    also ``reference_label`` and ``reference_confidence``, and ``cell_type`` is the reference's label.
    """
    ann = settings.annotation
    report = marker_report(adata.var_names, panel, min_genes=ann.min_genes_per_set)
    scores = score_markers(adata, panel, report)
    for col in scores:
        adata.obs[f"score_{col}"] = scores[col].to_numpy()
    if clusters_key in adata.obs:
        cells, table = annotate_clusters(scores, adata.obs[clusters_key].astype(str), panel, ann)
    else:  # too few cells to cluster
        cells = pd.DataFrame({"cell_type": UNASSIGNED, "cell_type_score": np.nan, "cell_type_confidence": np.nan},
                             index=adata.obs_names)
        table = pd.DataFrame(columns=["cluster", "cells", "cell_type", "score", "runner_up", "runner_up_score"])
    adata.obs["marker_cell_type"] = cells["cell_type"].to_numpy()
    adata.obs["cell_type_score"] = cells["cell_type_score"].to_numpy()
    adata.obs["cell_type_confidence"] = cells["cell_type_confidence"].to_numpy()
    labels = cells["cell_type"]
    if reference is not None:
        transferred = transfer_labels(adata, reference, settings=ann.reference, processing=settings.processing)
        adata.obs["reference_label"] = transferred["reference_label"].to_numpy()
        adata.obs["reference_confidence"] = transferred["reference_confidence"].to_numpy()
        labels = transferred["reference_label"]
        agree = float((labels.to_numpy() == cells["cell_type"].to_numpy()).mean())
        log.info("reference labels agree with marker labels for %.1f%% of cells", 100 * agree)
    adata.obs["cell_type"] = pd.Categorical(labels.to_numpy())
    adata.obs["cell_state"] = pd.Categorical(call_states(scores, labels, panel, ann).to_numpy())
    return report, table


def _versions() -> dict[str, str]:
    out = {}
    for name in _VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _plain(value):
    """Settings as values h5ad can store (no None)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return "auto" if value is None else value


def annotate_specimen(counts: str | Path | ad.AnnData, *, compartment: str, subject: str, specimen: str,
                      timepoint: str | None = None, studyid: str | None = None, settings: Settings | None = None,
                      markers: dict[str, MarkerPanel] | None = None,
                      reference: str | Path | ad.AnnData | None = None) -> SpecimenResult:
    """Read, QC, normalize, cluster, annotate and compose one specimen's cells.

    ``compartment`` is ``"pbmc"`` or ``"tumor"`` (QC thresholds and marker panel).
    A specimen with no cell left after QC is not an error: its status is ``NO_CELLS``.
    """
    if compartment not in COMPARTMENTS:
        raise InputError(f"must be one of {', '.join(COMPARTMENTS)}", field="compartment", value=compartment)
    settings = settings or load_settings()
    panel = (markers or load_markers())[compartment]
    if studyid is None:
        from ..protocol import load_protocol

        studyid = load_protocol().studyid
    adata = read_counts(counts) if not isinstance(counts, ad.AnnData) else counts
    input_info = dict(adata.uns.get("biomarkers", {}))
    if reference is not None and not isinstance(reference, ad.AnnData):
        reference = read_reference(reference, settings=settings.annotation.reference)

    adata, qc, removed = qc_cells(adata, thresholds=settings.qc[compartment], mito_prefix=settings.mito_prefix,
                                  doublets=settings.doublets, seed=settings.processing.seed)
    n_cells = adata.n_obs
    status = QC_NO_CELLS if n_cells == 0 else QC_LOW_CELLS if n_cells < settings.qc[compartment].min_cells else QC_PASS
    if status == QC_NO_CELLS:
        log.warning("%s: no cell left after QC", specimen)
        report, table = marker_report(adata.var_names, panel, min_genes=settings.annotation.min_genes_per_set), pd.DataFrame()
        adata.obs["cell_type"] = pd.Categorical([])
        adata.obs["cell_state"] = pd.Categorical([])
    else:
        normalize(adata, settings=settings.processing)
        if n_cells >= MIN_CELLS_TO_CLUSTER:
            cluster(adata, settings=settings.processing)
        report, table = annotate(adata, panel=panel, settings=settings, reference=reference)
    comp = composition(adata.obs["cell_type"], adata.obs["cell_state"], panel)
    keys = {N.STUDYID: studyid, N.USUBJID: subject, N.SPECIMEN_ID: specimen, N.TIMEPOINT: timepoint}
    comp.insert(0, "COMPARTMENT", compartment)
    for i, (k, v) in enumerate(keys.items()):
        comp.insert(i, k, v)
    comp["QC"] = status
    summary = pd.DataFrame([{**keys, "COMPARTMENT": compartment, **summarize(comp), "QC": status}])
    qc.insert(0, "COMPARTMENT", compartment)
    for i, (k, v) in enumerate(keys.items()):
        qc.insert(i, k, v)
    qc["QC"] = status

    adata.uns["biomarkers"] = {
        **input_info, "subject": subject, "specimen": specimen, "timepoint": timepoint or "", "compartment": compartment,
        "qc_status": status, "parameters": _plain(settings.as_dict()), "marker_sets": panel.source,
        "versions": _versions(), "annotation": "reference" if reference is not None else "markers",
        "qc": qc.drop(columns=list(keys)).astype({"THRESHOLD": str}).reset_index(drop=True),
        "qc_removed": removed.reset_index(drop=True),
        "marker_report": report.reset_index(drop=True),
        "clusters": table.reset_index(drop=True) if len(table) else pd.DataFrame({"cluster": pd.Series([], dtype=str)}),
    }
    log.info("%s (%s): %d cells after QC, status %s", specimen, compartment, n_cells, status)
    return SpecimenResult(adata=adata, qc=qc, composition=comp, summary=summary, markers=report, clusters=table,
                          status=status)


def write_h5ad(result: SpecimenResult | ad.AnnData, path: str | Path) -> Path:
    """Write the annotated AnnData (gzip-compressed) atomically."""
    adata = result.adata if isinstance(result, SpecimenResult) else result
    path = Path(path)
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp, compression="gzip")
    return path
