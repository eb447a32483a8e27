"""Step ``tmb``: count every tumour specimen with a somatic VCF (``biomarkers tmb count``), then collect."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ... import names as N
from .._context import RunContext, Step


def skip_reason(ctx: RunContext) -> str | None:
    if ctx.samplesheet_rows(N.ASSAY_VCF_SOMATIC).empty:
        return f"no {N.ASSAY_VCF_SOMATIC} row in the samplesheet"
    if not ctx.params.get("targets"):
        return "no target BED (--targets)"
    return None


def run(ctx: RunContext) -> None:
    from ...genomics import tmb

    params = ctx.params
    ctx.record_params("targets", "fasta", "coding_bed", "tmb_config", "tmb_hotspots")
    shared = {"targets": params["targets"], "fasta": params.get("fasta"), "coding_bed": params.get("coding_bed"),
              "config": params.get("tmb_config"), "hotspots": params.get("tmb_hotspots"), "protocol": params.get("protocol"),
              "tumor_only": True if params.get("tmb_tumor_only") else None}
    with tempfile.TemporaryDirectory(prefix=".tmb-parts.", dir=ctx.outdir) as parts_dir:
        tasks = [{**shared, "vcf": t.vcf, "outdir": parts_dir, "subject": t.subject, "specimen": t.specimen,
                  "timepoint": t.timepoint, "tumor_bam": t.tumor_bam, "normal_bam": t.normal_bam,
                  "tumor_sample": t.tumor_sample,
                  "callable_mb": params.get("tmb_callable_mb") if t.tumor_bam is None else None}
                 for t in ctx.tumor_inputs() if t.vcf]
        ctx.run_tasks("TMB", tmb.count_to_parts, tasks)
        tmb.collect(sorted(Path(parts_dir).glob("*.parquet")), ctx.outdir, subjects=params.get("subjects"))


STEP = Step("tmb", "tumour mutational burden of every tumour specimen (count, callable territory, collect)", skip_reason, run)
