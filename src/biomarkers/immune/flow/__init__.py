"""Flow cytometry of blood specimens: FCS in, immune subsets, counts and QC out.

Plain functions over FlowKit samples, pandas and AnnData; I/O at the edges::

    settings = load_flow_settings()                          # assets/flow: panels, subsets, QC
    result = gate_specimen("SP01001-0009.fcs", specimen="SP01001-0009", subject="NCT07007182-01-001",
                           timepoint="BASELINE", panel="PBMC16")
    result.subsets, result.qc, result.adata                  # frames and per-event AnnData
    write_parts(result, "parts", "SP01001-0009")
    collect(["parts/SP01001-0009.flow_subsets.parquet", ...], "results")

Readers, gating engine and checks are usable on their own: ``read_fcs``,
``load_gating_ml`` / ``load_workspace``, ``apply_strategy``, ``time_stability``.
docs/flow.md describes inputs, the strategy format, QC rules and outputs.
"""

from ._anndata import technical_keywords
from ._collect import PART_SUFFIXES, batch_drift, collect, gate_to_parts, plot_gating, write_parts
from ._inputs import check_flow_rows, counts_for, read_counts, workspace_assignments
from ._compensate import Compensation, panel_compensation, read_matrix_csv, spillover_matrix
from ._gate import GatingResult, apply_strategy
from ._panel import check_panel, normalise_marker
from ._qc import FAIL, PASS, WARN, TimeStability, time_stability
from ._read import FlowFile, read_fcs
from ._settings import Channel, FlowSettings, Panel, PanelGates, QCSettings, Ratio, Subset, load_flow_settings
from ._specimen import FlowSpecimen, gate_specimen
from ._stats import LOW_EVENTS, AbsoluteCounts
from ._strategy import Strategy, check_strategy, load_gating_ml, load_workspace, workspace_samples

__all__ = [
    "load_flow_settings", "FlowSettings", "Panel", "PanelGates", "Channel", "Subset", "Ratio", "QCSettings",
    "read_fcs", "FlowFile", "check_panel", "normalise_marker",
    "spillover_matrix", "read_matrix_csv", "panel_compensation", "Compensation",
    "load_gating_ml", "load_workspace", "workspace_samples", "check_strategy", "Strategy",
    "apply_strategy", "GatingResult", "time_stability", "TimeStability", "PASS", "WARN", "FAIL", "LOW_EVENTS",
    "AbsoluteCounts", "gate_specimen", "FlowSpecimen", "technical_keywords",
    "write_parts", "gate_to_parts", "collect", "batch_drift", "plot_gating", "PART_SUFFIXES",
    "read_counts", "counts_for", "workspace_assignments", "check_flow_rows",
]
