"""Flow cytometry tables (``immune/flow_*``): subsets per specimen, QC per file and check, batch drift.

The subsets table is long (one row per specimen, panel and subset or ratio); the
subsets an analyst groups subjects by are biomarkers, declared as data in
``assets/flow/subsets.yaml`` (``biomarkers:``: name, subset, the column holding the
value, cut-off) and selected by their ``PANEL`` and ``SUBSET`` rows. Their QC column
is ``QC_STATUS``: a failing specimen (or a subset with too few events) stays in the
table and the analysis step leaves it out.
"""

from __future__ import annotations

import pyarrow as pa

from ... import names as N
from ...assets import asset_path, load_config
from .._registry import Biomarker, Column, Table, register, specimen, studyid, timepoint, usubjid

_SUBSETS = load_config(asset_path("flow/subsets.yaml"), "flow/subsets.schema.json")["panels"]
_UNITS = {"PCT_CD45": "%", "PCT_PARENT": "%", "CELLS_PER_UL": "cells/uL", "RATIO": "ratio"}
# QC_STATUS values that count as passed: WARN is a tolerance the reader applied or a short
# unstable stretch of acquisition time, both recorded in immune/flow_qc.parquet.
QC_PASSING = ("PASS", "WARN")
_QC_STATUS = ("PASS, WARN or FAIL: the specimen's worst QC check (immune/flow_qc.parquet); LOW_EVENTS when the subset "
              "(or a ratio's numerator or denominator) has fewer events than qc.yaml events.min_subset and the specimen "
              "does not fail")


def _keys() -> tuple[Column, ...]:
    return (
        studyid(), usubjid(nullable=True), specimen(), timepoint(),
        Column("PANEL", pa.string(), "Flow panel (assets/flow/panels.yaml), from the samplesheet's panel column",
               source="samplesheet", nullable=False),
        Column("BATCH", pa.string(), "Acquisition batch, from the samplesheet's batch column", source="samplesheet"),
        Column("CONTROL", pa.bool_(), "True for a reference control (same donor material in each batch; no subject)",
               source="samplesheet", nullable=False),
    )


def _biomarkers() -> tuple[Biomarker, ...]:
    return tuple(
        Biomarker(column=b["measure"], name=b["name"], modality="immune", unit=_UNITS[b["measure"]], cutoff=b["cutoff"],
                  qc_column="QC_STATUS", qc_pass=QC_PASSING, where=(("PANEL", panel), ("SUBSET", b["subset"])))
        for panel, spec in _SUBSETS.items() for b in spec.get("biomarkers", [])
    )


register(Table(
    name="immune.flow_subsets",
    path="immune/flow_subsets.parquet",
    description="Flow cytometry immune subsets: one row per blood specimen, panel and reported subset "
                "(assets/flow/subsets.yaml) or ratio, with events, % of parent, % of CD45+ and cells per microlitre. "
                "Reference controls have CONTROL true and no subject.",
    key=(N.SPECIMEN_ID, "PANEL", "SUBSET"),
    columns=(
        *_keys(),
        Column("SUBSET", pa.string(), "Subset (the gate's name in the strategy) or ratio ID", nullable=False),
        Column("LABEL", pa.string(), "Subset name in words", nullable=False),
        Column("PARENT", pa.string(), "Parent subset: the denominator of PCT_PARENT; null for the top gate and ratios"),
        Column("EVENTS", pa.int64(), "Events in the subset's gate; null for a ratio", unit="events"),
        Column("PARENT_EVENTS", pa.int64(), "Events in the parent's gate (all events for the top gate)", unit="events"),
        Column("PCT_PARENT", pa.float64(), "100 x EVENTS / PARENT_EVENTS", unit="%"),
        Column("PCT_CD45", pa.float64(), "100 x EVENTS / CD45+ events, for the CD45+ gate and every gate below it", unit="%"),
        Column("CELLS_PER_UL", pa.float64(), "Absolute count from counting beads (every subset) or the clinical "
               "lymphocyte count (lymphocyte gate and below); null without counts", unit="cells/uL",
               source="flow counts CSV"),
        Column("COUNT_METHOD", pa.string(), "beads, lymphocyte_count, or null (no absolute count)"),
        Column("RATIO", pa.float64(), "For a ratio row: numerator events / denominator events (null when the "
               "denominator is empty)", unit="ratio"),
        Column("QC_STATUS", pa.string(), _QC_STATUS, nullable=False),
    ),
    biomarkers=_biomarkers(),
))

register(Table(
    name="immune.flow_qc",
    path="immune/flow_qc.parquet",
    description="Flow cytometry QC: one row per FCS file and check (read, panel, compensation, event counts, debris, "
                "doublets, viability, time stability), with the value, the threshold of assets/flow/qc.yaml and the "
                "status; the row CHECK = specimen is the worst of them.",
    key=(N.SPECIMEN_ID, "PANEL", "CHECK"),
    columns=(
        *_keys(),
        Column("CHECK", pa.string(), "read, panel, compensation, events_total, events_leukocytes, debris, doublets, "
               "viability, time_stability or specimen", nullable=False),
        Column("STATUS", pa.string(), "PASS, WARN or FAIL", nullable=False),
        Column("VALUE", pa.float64(), "Measured value (events, fraction, uncovered channels); null for a note"),
        Column("THRESHOLD", pa.float64(), "Threshold of assets/flow/qc.yaml the value was compared with"),
        Column("DETAIL", pa.string(), "What was found, in words (reader tolerances, channels, unstable time bins)"),
    ),
))

register(Table(
    name="immune.flow_drift",
    path="immune/flow_drift.parquet",
    description="Batch drift of the flow reference control: one row per panel, subset and batch, the control's "
                "% of parent against its median over batches (assets/flow/qc.yaml drift limits).",
    key=("PANEL", "SUBSET", "BATCH"),
    columns=(
        Column("PANEL", pa.string(), "Flow panel", nullable=False),
        Column("SUBSET", pa.string(), "Subset", nullable=False),
        Column("BATCH", pa.string(), "Acquisition batch"),
        specimen(),
        Column("PCT_PARENT", pa.float64(), "The control's % of parent in this batch", unit="%"),
        Column("MEDIAN_PCT_PARENT", pa.float64(), "Median over batches of the control's % of parent", unit="%"),
        Column("DIFF_PP", pa.float64(), "PCT_PARENT - MEDIAN_PCT_PARENT", unit="percentage points"),
        Column("REL_DIFF", pa.float64(), "DIFF_PP / MEDIAN_PCT_PARENT; null when the median is 0", unit="fraction"),
        Column("DRIFT", pa.bool_(), "Flagged: beyond the absolute, relative and sampling limits of qc.yaml", nullable=False),
    ),
))
