"""Step ``msi``: the work of Nextflow's MSI_SCAN, MSI_BASELINE, MSI and MSI_COLLECT, in-process.

Scan once (or read ``msi_sites``); build the tumor-only baseline from the panel of
normals when some tumour has no matched normal (or read ``msi_baseline``); call every
tumour (paired when its matched normal's BAM is in the samplesheet); collect into
``genomics/msi.parquet``, the ``msi_sites/`` dataset (one file per specimen) and the plots. The site table and
baseline are published too (``genomics/msi/``), so a rerun or a Nextflow run can
reuse them.

Paired calls take their status rule from the cohort's normals: with >= 2 matched
normals, a baseline built on them (``genomics/msi/cohort_normals.tsv.gz``, Nextflow's
MSI_COHORT_BASELINE) calibrates it; otherwise the panel-of-normals baseline does, if
the tumour-only calls needed one; otherwise the defaults of ``assets/msi.yaml`` apply
(each call's RULE_SOURCE says which).
"""

from __future__ import annotations

import glob
import tempfile
from pathlib import Path

from ... import names as N
from ...errors import InputError
from ...io import staged_dir
from ...log import get_logger
from .._context import RunContext, Step

log = get_logger("msi.step")


def skip_reason(ctx: RunContext) -> str | None:
    if ctx.samplesheet_rows(*N.TUMOR_BAM_ASSAYS).empty:
        return f"no tumour BAM/CRAM in the samplesheet (assay {' or '.join(N.TUMOR_BAM_ASSAYS)})"
    if not ctx.params.get("fasta"):
        return "no reference FASTA (--fasta)"
    return None


def run(ctx: RunContext) -> None:
    from ...genomics import msi

    params = ctx.params
    ctx.record_input("msi:fasta", params["fasta"])
    for name, role in (("msi_config", "msi:config"), ("msi_sites", "msi:sites")):
        if params.get(name):
            ctx.record_input(role, params[name])
    tumors = [t for t in ctx.tumor_inputs() if t.tumor_bam]
    work = ctx.outdir / "genomics" / "msi"
    with staged_dir(work) as stage:
        sites = params.get("msi_sites")
        if not sites:
            ctx.record_params("targets", prefix="msi:")
            sites = stage / "sites.tsv.gz"
            msi.scan_to_file(params["fasta"], sites, targets=params.get("targets"), settings=params.get("msi_config"))
        baseline = None
        cohort_normals = sorted({str(t.normal_bam) for t in tumors if t.mode == N.PAIRED})
        paired_rule = None
        if len(cohort_normals) >= 2:
            paired_rule = stage / "cohort_normals.tsv.gz"
            msi.baseline_to_file(sites, cohort_normals, params["fasta"], paired_rule, settings=params.get("msi_config"))
        if any(t.mode == N.TUMOR_ONLY for t in tumors):
            baseline = _baseline(ctx, msi, sites, stage)
        paired_rule = paired_rule or baseline
        with tempfile.TemporaryDirectory(prefix=".msi-parts.", dir=ctx.outdir) as parts_dir:
            tasks = []
            for t in tumors:
                if t.mode == N.TUMOR_ONLY and baseline is None:
                    log.warning("msi %s: no matched normal and no baseline (--pon or --msi_baseline): skipped", t.specimen)
                    continue
                tasks.append({"sites": sites, "tumor_bam": t.tumor_bam, "fasta": params["fasta"], "outdir": parts_dir,
                              "normal_bam": t.normal_bam, "baseline": baseline if t.mode == N.TUMOR_ONLY else paired_rule,
                              "settings": params.get("msi_config"), "protocol": params.get("protocol"),
                              "subject": t.subject, "specimen": t.specimen, "timepoint": t.timepoint,
                              "normal_specimen": t.normal_specimen if t.mode == N.PAIRED else None})
            if not tasks:
                raise InputError("no tumour could be called: tumor-only specimens need --pon or --msi_baseline", field="pon")
            summaries = ctx.run_tasks("MSI", msi.call_to_parts, tasks)
            msi.collect(sorted(Path(parts_dir).glob("*.parquet")), ctx.outdir)
    statuses = sorted(s["MSI_STATUS"] for s in summaries)
    log.info("msi: %s", ", ".join(f"{k} {statuses.count(k)}" for k in dict.fromkeys(statuses)))


def _baseline(ctx: RunContext, msi, sites: Path | str, stage: Path) -> Path | str | None:
    """The tumor-only baseline: given (``msi_baseline``), or built from the panel of normals (``pon``)."""
    params = ctx.params
    if params.get("msi_baseline"):
        ctx.record_input("msi:baseline", params["msi_baseline"])
        return params["msi_baseline"]
    if not params.get("pon"):
        return None
    pon = sorted(glob.glob(params["pon"]))
    if not pon:
        raise InputError("no file matches the panel-of-normals glob", field="pon", value=params["pon"])
    for path in pon:
        ctx.record_input("msi:pon", path)
    out = stage / "baseline.tsv.gz"
    msi.baseline_to_file(sites, pon, params["fasta"], out, settings=params.get("msi_config"))
    return out


STEP = Step("msi", "microsatellite instability: scan, baseline from the panel of normals, call each tumour, collect",
            skip_reason, run)
