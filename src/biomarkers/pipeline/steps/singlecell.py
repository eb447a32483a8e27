"""Step ``singlecell``: annotate every single-cell RNA specimen (``biomarkers singlecell annotate``), then collect.

Rows with assay ``scrna_pbmc`` (blood) or ``scrna_tumor`` (dissociated tumour) each give
one task; the parts are collected into ``immune/pbmc_sc_*`` and ``tme/sc_*``.
``--singlecell_settings``, ``--singlecell_markers`` and ``--singlecell_reference`` replace
the bundled processing settings and marker sets, or transfer labels from a reference. A specimen
with no cell left after QC is reported (``QC`` = ``NO_CELLS``) and does not stop the others.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ... import names as N
from .._context import RunContext, Step

COMPARTMENT_OF = {N.ASSAY_SCRNA_PBMC: "pbmc", N.ASSAY_SCRNA_TUMOR: "tumor"}


def skip_reason(ctx: RunContext) -> str | None:
    if ctx.samplesheet_rows(*N.SCRNA_ASSAYS).empty:
        return f"no {' or '.join(N.SCRNA_ASSAYS)} row in the samplesheet"
    return None


def run(ctx: RunContext) -> None:
    from ... import singlecell

    rows = ctx.samplesheet_rows(*N.SCRNA_ASSAYS).sort_values([N.SS_SUBJECT, N.SS_SPECIMEN], kind="stable")
    # the user's processing settings, marker sets or labelled reference (default: the bundled assets)
    chosen = {arg: ctx.params.get(f"singlecell_{arg}") for arg in ("settings", "markers", "reference")}
    ctx.record_params("singlecell_settings", "singlecell_markers", "singlecell_reference")
    with tempfile.TemporaryDirectory(prefix=".singlecell-parts.", dir=ctx.outdir) as parts_dir:
        tasks = [{"counts": row[N.SS_FILE], "outdir": parts_dir, "compartment": COMPARTMENT_OF[row[N.SS_ASSAY]],
                  "subject": row[N.SS_SUBJECT], "specimen": row[N.SS_SPECIMEN], "timepoint": row[N.SS_TIMEPOINT],
                  "protocol": ctx.params.get("protocol"), **chosen}
                 for row in rows.to_dict("records")]
        ctx.run_tasks("single-cell", singlecell.annotate_to_parts, tasks)
        singlecell.collect(sorted(Path(parts_dir).glob("*.sc_summary.parquet")), ctx.outdir,
                           subjects=ctx.params.get("subjects"))


STEP = Step("singlecell", "single-cell RNA of PBMC and tumour specimens (QC, clusters, cell types, composition, collect)",
            skip_reason, run)
