"""One tumour specimen end to end (count, denominator, estimate), and the cohort tables."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from ... import names as N
from ...errors import InputError
from ...io import staged_dir
from ...log import Progress, get_logger
from ...protocol import load_protocol
from ...schemas import collect_partitions, concat_parts, table_metadata, write_partition, write_table
from ...schemas import table as schemas_table
from ...trialdata import load_subjects
from .._alignments import open_reference
from ._bed import Regions, read_bed
from ._callable import callable_territory
from ._alleles import read_hotspots
from ._count import count_variants
from ._funnel import funnel
from ._vcf import choose_samples, open_vcf
from ._estimate import tmb_estimate
from ._annotation import detect_annotation
from ._rules import TmbRules, load_rules

__all__ = ["count_specimen", "count_to_parts", "write_parts", "collect", "TMB_TABLE", "VARIANTS_TABLE"]

log = get_logger("tmb")
TMB_TABLE = "genomics.tmb"
VARIANTS_TABLE = "genomics.tmb_variants"


def count_specimen(
    vcf: str | Path,
    *,
    targets: str | Path,
    studyid: str,
    subject: str,
    specimen: str,
    timepoint: str | None = None,
    tumor_bam: str | Path | None = None,
    normal_bam: str | Path | None = None,
    tumor_sample: str | None = None,
    fasta: str | Path | None = None,
    coding_bed: str | Path | None = None,
    config: str | Path | None = None,
    hotspots: str | Path | None = None,
    callable_mb: float | None = None,
    tumor_only: bool | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """TMB of one tumour specimen: (one-row ``genomics.tmb`` frame, ``genomics.tmb_variants`` frame).

    ``tumor_only`` forces the mode; by default the specimen is paired when a normal BAM
    is given or the VCF holds a matched normal sample.
    """
    rules = load_rules(config)
    target_regions = read_bed(targets, what="target BED")
    if target_regions.total_bases == 0:
        raise InputError("target BED has no interval", file=targets)
    reference = open_reference(fasta) if fasta is not None else None
    try:
        if reference is not None:
            missing = [c for c in target_regions.contigs if c not in set(reference.references)]
            if missing:
                raise InputError("target BED names a contig that is not in the reference FASTA", file=targets,
                                 field="contig", value=missing[0])
        coding = read_bed(coding_bed, what="coding BED") if coding_bed else None
        spots = read_hotspots(hotspots, reference) if hotspots else None
        with open_vcf(vcf) as variants_file:
            tumor, normal_sample = choose_samples(variants_file.header, tumor_sample=tumor_sample, specimen=specimen, file=vcf)
            paired = normal_bam is not None or normal_sample is not None
            if tumor_only is not None:
                paired = not tumor_only
            annotation = detect_annotation(variants_file.header, rules)
            territory, callable_bases, source = _denominator(target_regions, rules, tumor_bam, normal_bam if paired else None,
                                                             fasta, callable_mb)
            with Progress(f"variants {specimen}", every=5.0, logger=log) as prog:
                variants = count_variants(
                    variants_file, rules, tumor_sample=tumor, tumor_only=not paired, targets=target_regions,
                    callable_regions=territory, coding=coding, hotspots=spots, reference=reference,
                    file=vcf, on_record=prog.update)
    finally:
        if reference is not None:
            reference.close()

    counts = funnel(variants)
    estimate = tmb_estimate(counts["N_COUNTED"], callable_bases, tmb_high=rules.tmb_high, level=rules.ci_level)
    normal_name = normal_sample if normal_sample is not None else (Path(normal_bam).name if normal_bam else None)
    mode = N.PAIRED if paired else N.TUMOR_ONLY
    parameters = {"rules": asdict(rules), "mode": mode, "hotspots": Path(hotspots).name if hotspots else None,
                  "callable_mb": callable_mb, "denominator_source": source}
    summary = pd.DataFrame([{
        N.STUDYID: studyid, N.USUBJID: subject, N.SPECIMEN_ID: specimen, N.TIMEPOINT: timepoint,
        "TUMOR_SAMPLE": tumor, "NORMAL_SAMPLE": normal_name if paired else None,
        "MODE": mode,
        "ANNOTATION": "CODING_BED" if annotation.kind == "NONE" else annotation.kind,
        "DENOMINATOR_SOURCE": source,
        "TARGET_BASES": target_regions.total_bases,
        "CALLABLE_BASES": callable_bases,
        "CALLABLE_MB": estimate.callable_mb,
        **counts,
        "TMB": estimate.tmb, "TMB_CI_LOWER": estimate.ci_lower, "TMB_CI_UPPER": estimate.ci_upper,
        "CI_LEVEL": rules.ci_level, "TMB_HIGH": estimate.tmb_high, "TMB_HIGH_CUTOFF": float(rules.tmb_high),
        "PARAMETERS": json.dumps(parameters, sort_keys=True, separators=(",", ":")),
    }])
    for column, value in ((N.TIMEPOINT, timepoint), (N.SPECIMEN_ID, specimen), (N.USUBJID, subject), (N.STUDYID, studyid)):
        variants.insert(0, column, value)
    log.info("TMB %s: %d counted / %.3f Mb = %.2f mut/Mb (95%% CI %.2f-%.2f), %s, denominator %s",
             specimen, counts["N_COUNTED"], estimate.callable_mb, estimate.tmb, estimate.ci_lower, estimate.ci_upper,
             mode, source)
    return summary, variants


def _denominator(targets: Regions, rules: TmbRules, tumor_bam, normal_bam, fasta, callable_mb: float | None
                 ) -> tuple[Regions, int, str]:
    """(callable territory, callable bases, DENOMINATOR_SOURCE): measured from the BAMs, given in Mb, or the targets."""
    cal = rules.callable
    if tumor_bam is not None:
        territory = callable_territory(targets, tumor_bam, normal_bam, min_depth=cal.min_depth, min_mapq=cal.min_mapq,
                                       min_baseq=cal.min_baseq, reference=fasta)
        if territory.total_bases == 0:
            raise InputError(f"empty callable territory: no target base has depth >= {cal.min_depth} "
                             f"at MAPQ >= {cal.min_mapq} and BQ >= {cal.min_baseq}"
                             + (" in both tumour and normal" if normal_bam is not None else ""), file=tumor_bam)
        return territory, territory.total_bases, "BAM_DEPTH"
    if callable_mb is not None:
        if callable_mb <= 0:
            raise InputError("must be positive", field="--callable-mb", value=callable_mb)
        return targets, int(round(callable_mb * 1e6)), "USER_MB"
    return targets, targets.total_bases, "TARGET_BED"


def count_to_parts(vcf: str | Path, outdir: str | Path, *, protocol: str | Path | None = None,
                   subject: str, specimen: str, **options) -> pd.DataFrame:
    """``biomarkers tmb count``: count one specimen from files and write its two parts under ``outdir``.

    STUDYID comes from ``protocol`` (default: the bundled protocol); ``options`` are
    :func:`count_specimen`'s. Returns the one-row summary.
    """
    if options.get("tumor_bam") and options.get("callable_mb") is not None:
        raise InputError("give either --tumor-bam (measured denominator) or --callable-mb, not both", field="--callable-mb")
    summary, variants = count_specimen(vcf, studyid=load_protocol(protocol).studyid, subject=subject, specimen=specimen,
                                       **options)
    write_parts(summary, variants, outdir, specimen)
    return summary


def write_parts(summary: pd.DataFrame, variants: pd.DataFrame, outdir: str | Path, specimen: str) -> tuple[Path, Path]:
    """Write ``<outdir>/<specimen>.tmb.parquet`` and ``.tmb_variants.parquet`` together, or neither.

    The variant part is the specimen's partition of the ``genomics/tmb_variants`` dataset
    as published (sorted, labelled with its specimen): the collect copies it unchanged.
    """
    outdir = Path(outdir)
    with staged_dir(outdir) as stage:
        a = write_table(summary, TMB_TABLE, stage / "_t")
        b = write_partition(variants, VARIANTS_TABLE, stage / "_v", specimen)
        os.replace(a, stage / f"{specimen}.tmb.parquet")
        os.replace(b, stage / f"{specimen}.tmb_variants.parquet")
    return outdir / f"{specimen}.tmb.parquet", outdir / f"{specimen}.tmb_variants.parquet"


def collect(parts: list[str | Path], outdir: str | Path, *, subjects: str | Path | None = None) -> dict[str, Path]:
    """Merge per-specimen parts into ``<outdir>/genomics/tmb.parquet``, the ``genomics/tmb_variants/``
    dataset (one file per specimen, copied from its part) and ``tmb.png``.

    ``subjects`` (the randomization list) lets the plot show TMB by arm. Streams: only the
    summaries (one row per specimen) are held; variant parts are copied one at a time.
    """
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
    dupes = summary[N.SPECIMEN_ID][summary[N.SPECIMEN_ID].duplicated()]
    if len(dupes):
        raise InputError("two parts for the same specimen", field=N.SPECIMEN_ID, value=dupes.iloc[0])
    outdir = Path(outdir)
    from ._plot import plot_tmb

    with staged_dir(outdir, replace=[schemas_table(VARIANTS_TABLE).path]) as stage:
        var_dir, specimens = collect_partitions(by_table[VARIANTS_TABLE], VARIANTS_TABLE, stage)
        for specimen in sorted(set(summary[N.SPECIMEN_ID]) ^ set(specimens)):
            missing = TMB_TABLE if specimen in specimens else VARIANTS_TABLE
            raise InputError(f"no {missing} part for this specimen", field=N.SPECIMEN_ID, value=specimen)
        tmb_path = write_table(summary, TMB_TABLE, stage)
        png = plot_tmb(summary, stage / "genomics" / "tmb.png", subjects=load_subjects(subjects) if subjects else None)
    return {"tmb": outdir / tmb_path.relative_to(stage), "tmb_variants": outdir / var_dir.relative_to(stage),
            "plot": outdir / png.relative_to(stage)}
