"""The ``msi`` step of ``biomarkers run``: the same work as Nextflow's MSI_SCAN, MSI_BASELINE, MSI and MSI_MERGE.

Scan once (or read ``msi_sites``), build the tumour-only baseline from the panel
of normals when some tumour has no matched normal (or read ``msi_baseline``),
call every tumour (paired when its ``normal_specimen`` has a ``wes_normal`` BAM),
merge into ``genomics/msi.parquet``, ``msi_sites.parquet`` and the plots. The
site table and baseline are published too (``genomics/msi/``), so a rerun or a
Nextflow run can reuse them.
"""

from __future__ import annotations

import glob
import tempfile
from typing import TYPE_CHECKING

import pandas as pd

from ... import names as N
from ...errors import InputError
from ...io import staged_dir
from ...log import get_logger

if TYPE_CHECKING:
    from ...pipeline._run import RunContext

__all__ = ["run_msi_step"]

log = get_logger("msi.step")


def run_msi_step(ctx: "RunContext") -> None:
    from . import (baseline_from_bams, call_msi, load_msi_config, merge_parts, read_baseline, read_sites, scan_sites,
                   write_baseline, write_call_parts, write_sites)

    params = ctx.params
    config = load_msi_config(params.get("msi_config"))
    fasta = params["fasta"]
    ctx.record_input("msi:fasta", fasta)
    if params.get("msi_config"):
        ctx.record_input("msi:config", params["msi_config"])
    tumours = ctx.samplesheet_rows("wes_tumor", "panel_tumor")
    normals = ctx.samplesheet_rows("wes_normal")
    normal_files = dict(zip(normals[N.SS_SPECIMEN], normals[N.SS_FILE]))
    work = ctx.outdir / "genomics" / "msi"
    with staged_dir(work) as stage:
        if params.get("msi_sites"):
            ctx.record_input("msi:sites", params["msi_sites"])
            sites = read_sites(params["msi_sites"])
        else:
            if params.get("targets"):
                ctx.record_input("msi:targets", params["targets"])
            scanned = scan_sites(fasta, params.get("targets"), config)
            write_sites(scanned, stage / "sites.tsv.gz", config=config)
            sites = read_sites(stage / "sites.tsv.gz")
        paired = {row[N.SS_SPECIMEN]: normal_files.get(row.get(N.SS_NORMAL)) for _, row in tumours.iterrows()}
        baseline = None
        if any(v is None for v in paired.values()):
            if params.get("msi_baseline"):
                ctx.record_input("msi:baseline", params["msi_baseline"])
                baseline = read_baseline(params["msi_baseline"], sites)
            elif params.get("pon"):
                pon = sorted(glob.glob(params["pon"]))
                if not pon:
                    raise InputError("no file matches the panel-of-normals glob", field="pon", value=params["pon"])
                for path in pon:
                    ctx.record_input("msi:pon", path)
                built = baseline_from_bams(sites, pon, fasta, config)
                write_baseline(built, sites, stage / "baseline.tsv.gz", n_normals=len(pon))
                baseline = read_baseline(stage / "baseline.tsv.gz", sites)
        with tempfile.TemporaryDirectory(prefix=".msi-parts.", dir=ctx.outdir) as parts_dir:
            parts = []
            for i, (_, row) in enumerate(tumours.sort_values(N.SS_SPECIMEN).iterrows(), 1):
                specimen = row[N.SS_SPECIMEN]
                normal_bam = paired[specimen]
                if normal_bam is None and baseline is None:
                    log.warning("msi %s: no matched normal and no baseline (--pon or --msi_baseline): skipped", specimen)
                    continue
                log.info("msi [%d/%d] %s (%s)", i, len(tumours), specimen, "paired" if normal_bam else "tumour-only")
                summary, calls = call_msi(
                    sites, row[N.SS_FILE], fasta, normal_bam=normal_bam, baseline=None if normal_bam else baseline,
                    config=config, subject=row[N.SS_SUBJECT], specimen=specimen, timepoint=row.get(N.SS_TIMEPOINT),
                    normal_specimen=row.get(N.SS_NORMAL) if normal_bam else None, studyid=ctx.protocol.studyid)
                parts += write_call_parts(summary, calls, parts_dir, specimen)
            if not parts:
                raise InputError("no tumour could be called: tumour-only specimens need --pon or --msi_baseline", field="pon")
            merge_parts(parts, ctx.outdir)
    table = pd.read_parquet(ctx.outdir / "genomics" / "msi.parquet")
    log.info("msi: %s", ", ".join(f"{k} {v}" for k, v in table["MSI_STATUS"].value_counts().sort_index().items()))
