"""One tumour specimen end to end (count, denominator, estimate), and the cohort tables."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from ... import names as N
from ...errors import InputError
from ...io import staged_dir
from ...log import Progress, get_logger
from ...protocol import load_protocol
from ...schemas import concat_parts, table_metadata, write_table
from .._alignments import open_reference
from ._bed import Regions, read_bed
from ._callable import callable_territory
from ._count import choose_samples, count_variants, funnel, open_vcf, read_hotspots
from ._estimate import tmb_estimate
from ._annotation import detect_annotation
from ._rules import load_rules

__all__ = ["tmb_specimen", "write_parts", "collect", "TMB_TABLE", "VARIANTS_TABLE"]

log = get_logger("tmb")
TMB_TABLE = "genomics.tmb"
VARIANTS_TABLE = "genomics.tmb_variants"


def _studyid() -> str:
    return load_protocol().studyid


def tmb_specimen(
    vcf: str | Path,
    *,
    targets: str | Path,
    subject: str,
    specimen: str,
    timepoint: str | None = None,
    tumour_bam: str | Path | None = None,
    normal_bam: str | Path | None = None,
    tumour_sample: str | None = None,
    fasta: str | Path | None = None,
    coding_bed: str | Path | None = None,
    config: str | Path | None = None,
    hotspots: str | Path | None = None,
    callable_mb: float | None = None,
    tumour_only: bool | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """TMB of one tumour specimen: (one-row ``genomics.tmb`` frame, ``genomics.tmb_variants`` frame).

    ``tumour_only`` forces the mode; by default the specimen is paired when a normal BAM
    is given or the VCF holds a matched normal sample.
    """
    rules = load_rules(config)
    target_regions = read_bed(targets, what="target BED")
    if target_regions.total_bases == 0:
        raise InputError("target BED has no interval", file=targets)
    reference = open_reference(fasta) if fasta is not None else None
    if reference is not None:
        missing = [c for c in target_regions.contigs if c not in set(reference.references)]
        if missing:
            reference.close()
            raise InputError("target BED names a contig that is not in the reference FASTA", file=targets, field="contig", value=missing[0])
    coding = read_bed(coding_bed, what="coding BED") if coding_bed else None
    spots = read_hotspots(hotspots, reference) if hotspots else None

    with open_vcf(vcf) as variants_file:
        tumour, normal_sample = choose_samples(variants_file.header, tumour_sample=tumour_sample, specimen=specimen, file=vcf)
        paired = normal_bam is not None or normal_sample is not None
        if tumour_only is not None:
            paired = not tumour_only
        annotation = detect_annotation(variants_file.header, rules)

        cal = rules["callable"]
        if tumour_bam is not None:
            territory = callable_territory(target_regions, tumour_bam, normal_bam if paired else None,
                                           min_depth=cal["min_depth"], min_mapq=cal["min_mapq"],
                                           min_baseq=cal["min_baseq"], reference=fasta)
            callable_bases = territory.total_bases
            source = "BAM_DEPTH"
            if callable_bases == 0:
                raise InputError(f"empty callable territory: no target base has depth >= {cal['min_depth']} "
                                 f"at MAPQ >= {cal['min_mapq']} and BQ >= {cal['min_baseq']}"
                                 + (" in both tumour and normal" if normal_bam is not None and paired else ""), file=tumour_bam)
        else:
            territory = target_regions
            if callable_mb is not None:
                if callable_mb <= 0:
                    raise InputError("must be positive", field="--callable-mb", value=callable_mb)
                callable_bases = int(round(callable_mb * 1e6))
                source = "USER_MB"
            else:
                callable_bases = target_regions.total_bases
                source = "TARGET_BED"

        with Progress(f"variants {specimen}", every=5.0, logger=log) as prog:
            variants = count_variants(
                variants_file, rules, tumour_sample=tumour, tumour_only=not paired, targets=target_regions,
                callable_regions=territory, coding=coding, hotspots=spots, reference=reference,
                file=vcf, on_record=prog.update)
    if reference is not None:
        reference.close()

    counts = funnel(variants)
    estimate = tmb_estimate(counts["N_COUNTED"], callable_bases, tmb_high=rules["tmb_high"], level=rules["ci_level"])
    normal_name = normal_sample if normal_sample is not None else (Path(normal_bam).name if normal_bam else None)
    parameters = {
        "rules": rules,
        "mode": "paired" if paired else "tumour-only",
        "hotspots": Path(hotspots).name if hotspots else None,
        "callable_mb": callable_mb,
        "denominator_source": source,
    }
    studyid = _studyid()
    summary = pd.DataFrame([{
        N.STUDYID: studyid, N.USUBJID: subject, N.SPECIMEN_ID: specimen, N.TIMEPOINT: timepoint,
        "TUMOR_SAMPLE": tumour, "NORMAL_SAMPLE": normal_name if paired else None,
        "MODE": "paired" if paired else "tumour-only",
        "ANNOTATION": "CODING_BED" if annotation.kind == "NONE" else annotation.kind,
        "DENOMINATOR_SOURCE": source,
        "TARGET_BASES": target_regions.total_bases,
        "CALLABLE_BASES": callable_bases,
        "CALLABLE_MB": estimate.callable_mb,
        **counts,
        "TMB": estimate.tmb, "TMB_CI_LOWER": estimate.ci_lower, "TMB_CI_UPPER": estimate.ci_upper,
        "CI_LEVEL": rules["ci_level"], "TMB_HIGH": estimate.tmb_high, "TMB_HIGH_CUTOFF": float(rules["tmb_high"]),
        "PARAMETERS": json.dumps(parameters, sort_keys=True, separators=(",", ":")),
    }])
    variants.insert(0, N.TIMEPOINT, timepoint)
    variants.insert(0, N.SPECIMEN_ID, specimen)
    variants.insert(0, N.USUBJID, subject)
    variants.insert(0, N.STUDYID, studyid)
    log.info("TMB %s: %d counted / %.3f Mb = %.2f mut/Mb (95%% CI %.2f-%.2f), %s, denominator %s",
             specimen, counts["N_COUNTED"], estimate.callable_mb, estimate.tmb, estimate.ci_lower, estimate.ci_upper,
             summary["MODE"].iloc[0], source)
    return summary, variants


def write_parts(summary: pd.DataFrame, variants: pd.DataFrame, outdir: str | Path, specimen: str) -> tuple[Path, Path]:
    """Write ``<outdir>/<specimen>.tmb.parquet`` and ``.tmb_variants.parquet`` together, or neither."""
    outdir = Path(outdir)
    with staged_dir(outdir) as stage:
        a = write_table(summary, TMB_TABLE, stage / "_t")
        b = write_table(variants, VARIANTS_TABLE, stage / "_v")
        os.replace(a, stage / f"{specimen}.tmb.parquet")
        os.replace(b, stage / f"{specimen}.tmb_variants.parquet")
    return outdir / f"{specimen}.tmb.parquet", outdir / f"{specimen}.tmb_variants.parquet"


def collect(parts: list[str | Path], outdir: str | Path, *, subjects: pd.DataFrame | None = None) -> dict[str, Path]:
    """Merge per-specimen parts into ``<outdir>/genomics/tmb.parquet``, ``tmb_variants.parquet`` and ``tmb.png``."""
    by_table: dict[str, list[Path]] = {TMB_TABLE: [], VARIANTS_TABLE: []}
    for part in parts:
        part = Path(part)
        if not part.exists():
            raise InputError("part not found", file=part)
        try:
            name = table_metadata(part).get("table")
        except Exception:  # noqa: BLE001 - any unreadable file is bad input here
            raise InputError("not a Parquet part written by `biomarkers tmb count`", file=part) from None
        if name not in by_table:
            raise InputError(f"holds table {name!r}, not a TMB part", file=part)
        by_table[name].append(part)
    if not by_table[TMB_TABLE]:
        raise InputError("no TMB part (*.tmb.parquet) among the files given")
    summary = concat_parts(by_table[TMB_TABLE], TMB_TABLE)
    variants = concat_parts(by_table[VARIANTS_TABLE], VARIANTS_TABLE)
    dupes = summary[N.SPECIMEN_ID][summary[N.SPECIMEN_ID].duplicated()]
    if len(dupes):
        raise InputError("two parts for the same specimen", field=N.SPECIMEN_ID, value=dupes.iloc[0])
    outdir = Path(outdir)
    from ._plot import plot_tmb

    with staged_dir(outdir) as stage:
        tmb_path = write_table(summary, TMB_TABLE, stage)
        var_path = write_table(variants, VARIANTS_TABLE, stage)
        png = plot_tmb(summary, stage / "genomics" / "tmb.png", subjects=subjects)
    return {"tmb": outdir / tmb_path.relative_to(stage), "tmb_variants": outdir / var_path.relative_to(stage),
            "plot": outdir / png.relative_to(stage)}
