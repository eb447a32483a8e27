"""Step ``flow``: gate every blood specimen's FCS file (``biomarkers flow gate``), then collect.

Each ``flow_fcs`` row of the samplesheet (one FCS file per specimen and panel) is one
task; the parts are collected into ``immune/flow_subsets.parquet``,
``immune/flow_qc.parquet``, ``immune/flow_drift.parquet``, per-specimen ``.h5ad`` files and
gating figures. ``--flow_counts`` gives absolute counts; ``--flow_workspace`` a FlowJo
workspace whose gates replace the panel's strategy for the samples it names. A specimen
that fails QC is reported with its status and does not stop the others; a file that
cannot be read stops the step with one line naming it.
"""

from __future__ import annotations

import tempfile
from ... import names as N
from .._context import RunContext, Step


def skip_reason(ctx: RunContext) -> str | None:
    if ctx.samplesheet_rows(N.ASSAY_FLOW_FCS).empty:
        return f"no {N.ASSAY_FLOW_FCS} row in the samplesheet"
    return None


def tasks(ctx: RunContext, parts_dir: str) -> list[dict]:
    """One plain-value task per flow_fcs row, in specimen order (checked as a whole first)."""
    from ...immune import flow

    rows = ctx.samplesheet_rows(N.ASSAY_FLOW_FCS).sort_values([N.SS_SPECIMEN, N.SS_PANEL], kind="stable")
    records = rows.to_dict("records")
    workspace = ctx.params.get("flow_workspace")
    assigned = flow.check_flow_rows(records, samplesheet=ctx.params.get("input"),
                                    counts=ctx.params.get("flow_counts"), workspace=workspace)
    ctx.record_params("flow_counts", "flow_workspace")
    out = []
    for row in records:
        control = row.get(N.SS_CONTROL) is True
        sample = assigned.get(row[N.SS_SPECIMEN])
        out.append({"fcs": row[N.SS_FILE], "outdir": parts_dir,
                    "specimen": row[N.SS_SPECIMEN], "subject": None if control else row[N.SS_SUBJECT],
                    "timepoint": None if control else row[N.SS_TIMEPOINT], "panel": row[N.SS_PANEL],
                    "batch": _text(row.get(N.SS_BATCH)), "control": control, "protocol": ctx.params.get("protocol"),
                    "counts": ctx.params.get("flow_counts"), "workspace": workspace if sample else None,
                    "workspace_sample": sample})
    return out


def run(ctx: RunContext) -> None:
    from ...immune import flow

    with tempfile.TemporaryDirectory(prefix=".flow-parts.", dir=ctx.outdir) as parts_dir:
        written = ctx.run_tasks("flow", flow.gate_to_parts, tasks(ctx, parts_dir))
        flow.collect([paths[0] for paths in written], ctx.outdir)


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value)


STEP = Step("flow", "flow cytometry of blood specimens (read, compensate, gate, QC, subsets and counts, collect)",
            skip_reason, run)
