"""Single-cell RNA: PBMC immune subsets and tumour microenvironment composition (scanpy/anndata).

Public API (plain functions over AnnData and pandas frames):

- :func:`load_settings` / :func:`load_markers` -- QC thresholds, processing and annotation
  parameters, and marker gene sets (``assets/singlecell/``), as frozen dataclasses.
- :func:`read_counts` -- raw counts from a 10x ``.h5`` (Cell Ranger 3+ or 1.2), a Matrix
  Market folder or an ``.h5ad``, checked.
- :func:`qc_cells` -- per-cell QC (genes, counts, mitochondrial fraction, Scrublet doublets).
- :func:`normalize` / :func:`cluster` -- normalization, log1p, HVG, PCA, neighbours, Leiden, UMAP.
- :func:`annotate` -- cell types by cluster-level marker scoring (or a labelled reference),
  per-cell confidence, states (exhausted CD8 T).
- :func:`composition` / :func:`summarize` -- cells and fractions per cell type; the
  per-specimen biomarkers (CD8 T, Treg fractions, exhausted fraction of CD8 T, CD8/Treg ratio).
- :func:`annotate_specimen` -- all of the above for one specimen; :func:`write_h5ad`;
  :func:`plot_umap`, :func:`plot_composition`.
- :func:`write_parts` / :func:`annotate_to_parts` -- a specimen's part files; :func:`collect` --
  the cohort tables (``immune/pbmc_sc_*``, ``tme/sc_*``), published ``.h5ad`` files and plots.
"""

from ._settings import (
    COMPARTMENTS, UNASSIGNED, AnnotationSettings, CellState, CellType, DoubletSettings, MarkerPanel, ProcessingSettings,
    QcThresholds, ReferenceSettings, Settings, load_markers, load_settings,
)
from ._read import check_counts, read_counts
from ._qc import QC_STEPS, qc_cells, qc_metrics
from ._cluster import cluster, normalize
from ._annotate import marker_report, score_markers
from ._reference import read_reference, transfer_labels
from ._composition import composition, summarize
from ._specimen import QC_LOW_CELLS, QC_NO_CELLS, QC_PASS, SpecimenResult, annotate, annotate_specimen, write_h5ad
from ._plots import plot_composition, plot_umap
from ._collect import OUTPUTS, PART_SUFFIXES, annotate_to_parts, collect, table_names, write_parts

__all__ = [
    "COMPARTMENTS", "UNASSIGNED", "AnnotationSettings", "CellState", "CellType", "DoubletSettings", "MarkerPanel",
    "ProcessingSettings", "QcThresholds", "ReferenceSettings", "Settings", "load_markers", "load_settings",
    "check_counts", "read_counts", "QC_STEPS", "qc_cells", "qc_metrics", "cluster", "normalize", "marker_report",
    "score_markers", "read_reference", "transfer_labels", "composition", "summarize", "QC_LOW_CELLS", "QC_NO_CELLS",
    "QC_PASS", "SpecimenResult", "annotate", "annotate_specimen", "write_h5ad", "plot_composition", "plot_umap",
    "OUTPUTS", "PART_SUFFIXES", "annotate_to_parts", "collect", "table_names", "write_parts",
]
