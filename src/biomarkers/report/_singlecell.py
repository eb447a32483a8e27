"""Report section of single-cell RNA: the QC funnel and the composition biomarkers per specimen.

The plots (composition bars by arm and timepoint, one UMAP per arm) are in the
biomarkers section with every modality's plots; this section adds the tables a
reader checks first: cells kept after each QC filter, and the per-specimen summary.
"""

from __future__ import annotations

import html

import pandas as pd

from .. import names as N
from ._context import ReportContext
from ._html import table

__all__ = ["singlecell_section"]

_COMPARTMENTS = (("immune.pbmc_sc", "PBMC (blood)"), ("tme.sc", "Tumour"))


def _funnel(qc: pd.DataFrame) -> pd.DataFrame:
    """One row per specimen: cells after each QC step, in the order applied, and the QC status."""
    order = qc.drop_duplicates("STEP").sort_values("STEP_INDEX")["STEP"].tolist()
    wide = qc.pivot_table(index=[N.USUBJID, N.SPECIMEN_ID, N.TIMEPOINT], columns="STEP", values="CELLS_AFTER",
                          aggfunc="first", observed=True)[order]
    status = qc.drop_duplicates(N.SPECIMEN_ID).set_index(N.SPECIMEN_ID)["QC"]
    wide = wide.reset_index()
    wide["QC"] = wide[N.SPECIMEN_ID].map(status)
    return wide


def singlecell_section(ctx: ReportContext) -> str | None:
    parts = []
    for prefix, label in _COMPARTMENTS:
        qc, summary = ctx.table(f"{prefix}_qc"), ctx.table(f"{prefix}_summary")
        if qc is None or summary is None:
            continue
        parts.append(f"<h3>{html.escape(label)}: {len(summary)} specimens</h3>")
        parts.append("<p>Cells left after each QC filter (thresholds in assets/singlecell/processing.yaml):</p>")
        parts.append(table(_funnel(qc)))
        columns = [N.USUBJID, N.SPECIMEN_ID, N.TIMEPOINT, "N_CELLS", "IMMUNE_FRACTION", "CD8_T_FRACTION", "TREG_FRACTION",
                   "CD8_EXHAUSTED_FRACTION", "CD8_TREG_RATIO", "QC"]
        parts.append("<p>Composition biomarkers (fractions of immune cells):</p>")
        parts.append(table(summary[columns]))
    return "".join(parts) or None
