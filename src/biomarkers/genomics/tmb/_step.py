"""The ``tmb`` step of ``biomarkers run``: every tumour specimen of the samplesheet, then the tables."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ... import names as N
from ...errors import InputError
from ...log import get_logger

if TYPE_CHECKING:
    from ...pipeline._run import RunContext

__all__ = ["tmb_skip_reason", "run_tmb_step", "tmb_tasks"]

log = get_logger("tmb")


def tmb_skip_reason(ctx: "RunContext") -> str | None:
    if ctx.samplesheet_rows("vcf_somatic").empty:
        return "no vcf_somatic row in the samplesheet"
    if not ctx.params.get("targets"):
        return "no target BED (--targets)"
    return None


def tmb_tasks(samplesheet: pd.DataFrame) -> list[dict]:
    """One task per somatic VCF: its tumour BAM (same specimen) and the matched normal's BAM."""
    by_key = {(r[N.SS_SPECIMEN], r[N.SS_ASSAY]): r for _, r in samplesheet.iterrows()}
    tasks = []
    for _, vcf_row in samplesheet[samplesheet[N.SS_ASSAY] == "vcf_somatic"].iterrows():
        specimen = vcf_row[N.SS_SPECIMEN]
        bam_row = by_key.get((specimen, "wes_tumor"))
        if bam_row is None:
            bam_row = by_key.get((specimen, "panel_tumor"))
        normal_id = vcf_row.get(N.SS_NORMAL)
        if (not isinstance(normal_id, str) or not normal_id) and bam_row is not None:
            normal_id = bam_row.get(N.SS_NORMAL)
        normal_row = by_key.get((normal_id, "wes_normal")) if isinstance(normal_id, str) and normal_id else None
        sample_name = vcf_row.get("sample_name")
        tasks.append({
            "subject": vcf_row[N.SS_SUBJECT], "specimen": specimen, "timepoint": vcf_row[N.SS_TIMEPOINT],
            "vcf": vcf_row[N.SS_FILE],
            "tumour_bam": bam_row[N.SS_FILE] if bam_row is not None else None,
            "normal_bam": normal_row[N.SS_FILE] if normal_row is not None else None,
            "tumour_sample": sample_name if isinstance(sample_name, str) and sample_name else None,
        })
    return tasks


def run_tmb_step(ctx: "RunContext") -> None:
    from ._specimen import collect, tmb_specimen, write_parts

    params = ctx.params
    tasks = tmb_tasks(ctx.samplesheet)
    for role in ("targets", "fasta", "coding_bed", "tmb_config", "tmb_hotspots"):
        if params.get(role):
            ctx.record_input(role, params[role])
    subjects = None
    if params.get("subjects"):
        subjects = pd.read_csv(params["subjects"], dtype=str)
    with tempfile.TemporaryDirectory(prefix="tmb-parts-", dir=ctx.outdir) as parts_dir:
        parts: list[Path] = []
        for i, task in enumerate(tasks, 1):
            log.info("TMB [%d/%d] %s (%s, %s)", i, len(tasks), task["specimen"], task["subject"], task["timepoint"])
            try:
                summary, variants = tmb_specimen(
                    task["vcf"], targets=params["targets"], subject=task["subject"], specimen=task["specimen"],
                    timepoint=task["timepoint"], tumour_bam=task["tumour_bam"], normal_bam=task["normal_bam"],
                    tumour_sample=task["tumour_sample"], fasta=params.get("fasta"), coding_bed=params.get("coding_bed"),
                    config=params.get("tmb_config"), hotspots=params.get("tmb_hotspots"),
                    callable_mb=params.get("tmb_callable_mb") if task["tumour_bam"] is None else None,
                    tumour_only=True if params.get("tmb_tumor_only") else None)
            except InputError as exc:
                raise exc.with_context(row=f"specimen {task['specimen']}")
            parts += write_parts(summary, variants, parts_dir, task["specimen"])
        collect(parts, ctx.outdir, subjects=subjects)
