"""Step ``tme``: the work of Nextflow's TME_SCORE, TME_COLLECT, TME_PATHOLOGY and TME_ELIGIBILITY, in-process.

Score the expression signatures of every ``rnaseq_tumor`` file (one task per file: a
matrix holds many specimens, a quant.sf one; ``sample_name`` names the specimen's column,
the specimen ID when empty), collect ``tme/signatures.parquet``; read and check the
pathology/central-lab table (``--pathology``) into ``pathology/results.parquet``; and
with the randomization list, run the eligibility checks (MSI from ``genomics/msi.parquet``
when the MSI step ran) into ``tme/eligibility.parquet``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ... import names as N
from ... import schemas
from .._context import RunContext, Step


def skip_reason(ctx: RunContext) -> str | None:
    if ctx.samplesheet_rows(N.ASSAY_RNASEQ_TUMOR).empty and not ctx.params.get("pathology"):
        return f"no {N.ASSAY_RNASEQ_TUMOR} row in the samplesheet and no pathology table (--pathology)"
    return None


def run(ctx: RunContext) -> None:
    from ... import tme

    params = ctx.params
    rows = ctx.samplesheet_rows(N.ASSAY_RNASEQ_TUMOR)
    if len(rows):
        ctx.record_params("gene_lengths", "gene_map", "signatures", "tx2gene")
        shared = {"values": params.get("expression_values") or "counts", "gene_lengths": params.get("gene_lengths"),
                  "gene_map": params.get("gene_map"), "signatures": params.get("signatures"),
                  "tx2gene": params.get("tx2gene"), "protocol": params.get("protocol")}
        with tempfile.TemporaryDirectory(prefix=".tme-parts.", dir=ctx.outdir) as parts_dir:
            tasks = []
            for file, group in rows.groupby(N.SS_FILE, sort=True):
                ctx.record_input("tme:expression", file)
                samples = [{"sample": r.get("sample_name") if isinstance(r.get("sample_name"), str) else r[N.SS_SPECIMEN],
                            "subject": r[N.SS_SUBJECT], "specimen": r[N.SS_SPECIMEN], "timepoint": r[N.SS_TIMEPOINT]}
                           for r in group.to_dict("records")]
                tasks.append({**shared, "path": file, "outdir": parts_dir, "samples": samples})
            ctx.run_tasks("TME_SCORE", tme.score_to_parts, tasks)
            tme.collect(sorted(Path(parts_dir).glob("*.parquet")), ctx.outdir)
    if params.get("pathology"):
        ctx.record_params("pathology", "eligibility_rules")
        results = tme.pathology_to_table(params["pathology"], ctx.outdir, protocol=params.get("protocol"),
                                         subjects=params.get("subjects"))
        if params.get("subjects"):
            msi = ctx.outdir / schemas.table("genomics.msi").path
            tme.eligibility_to_table(results, ctx.outdir, subjects=params["subjects"], msi=msi if msi.is_file() else None,
                                     rules=params.get("eligibility_rules"), protocol=params.get("protocol"))


STEP = Step("tme", "tumour microenvironment: expression signatures per specimen, pathology results, eligibility checks",
            skip_reason, run)
