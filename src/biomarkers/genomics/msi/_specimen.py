"""One tumour specimen's MSI call, its part files, and the cohort tables collected from the parts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ... import names as N
from ...errors import InputError
from ...io import staged_dir
from ...log import get_logger
from ...schemas import table as schemas_table
from ...schemas import collect_partitions, concat_parts, part_table, read_table, write_partition, write_table
from ._baseline import build_baseline
from ._call import site_columns, summarise
from ._config import MsiSettings, load_settings
from ._reads import count_lengths_file, decode_counts
from ._rule import Rule, default_rule

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["baseline_from_bams", "call_specimen", "call_columns", "write_parts", "collect"]

log = get_logger("msi")

SUMMARY_TABLE = "genomics.msi"
SITES_TABLE = "genomics.msi_sites"


def baseline_from_bams(sites: pd.DataFrame, normal_bams: list[str | Path], fasta: str | Path,
                       settings: MsiSettings | None = None) -> pd.DataFrame:
    """Count every normal at every site and build the tumour-only baseline."""
    settings = settings or load_settings()
    if not normal_bams:
        raise InputError("a baseline needs at least one normal BAM/CRAM", field="normals")
    normals = [count_lengths_file(bam, sites, fasta, settings, label=f"normal {i + 1}/{len(normal_bams)}")
               for i, bam in enumerate(normal_bams)]
    baseline = build_baseline(sites, normals, settings)
    baseline.attrs["n_normals"] = len(normal_bams)
    log.info("msi baseline: %d normals, %d of %d sites usable (%d excluded)", len(normal_bams),
             int((~baseline["EXCLUDED"]).sum()), len(baseline), int(baseline["EXCLUDED"].sum()))
    return baseline


def call_specimen(sites: pd.DataFrame, tumor_bam: str | Path, fasta: str | Path, *, normal_bam: str | Path | None = None,
                  baseline: pd.DataFrame | None = None, settings: MsiSettings | None = None, studyid: str,
                  subject: str, specimen: str, timepoint: str | None, normal_specimen: str | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MSI of one tumour specimen: (one-row ``genomics.msi`` frame, ``genomics.msi_sites`` frame).

    Paired with ``normal_bam``, or tumour-only against ``baseline`` (from a panel of normals).
    With both, the call is paired and the baseline only supplies the calibrated
    status rule (its ``##rule_paired``); without a calibrated rule the defaults
    of ``assets/msi.yaml`` apply (:func:`._rule.default_rule`).
    """
    import pandas as pd

    row, site_rows = call_columns(sites, tumor_bam, fasta, normal_bam=normal_bam, baseline=baseline, settings=settings,
                                  studyid=studyid, subject=subject, specimen=specimen, timepoint=timepoint,
                                  normal_specimen=normal_specimen)
    return pd.DataFrame(row), pd.DataFrame(site_rows)


def call_columns(sites, tumor_bam: str | Path, fasta: str | Path, *, normal_bam: str | Path | None = None, baseline=None,
                 settings: MsiSettings | None = None, studyid: str, subject: str, specimen: str, timepoint: str | None,
                 normal_specimen: str | None = None) -> tuple[dict[str, list], dict[str, np.ndarray]]:
    """:func:`call_specimen` as two mappings of column name to values (no pandas: the per-specimen command's path).

    ``sites`` and ``baseline`` may be frames or the plain columns of
    :func:`read_site_columns` and :func:`read_baseline_columns`.
    """
    settings = settings or load_settings()
    if normal_bam is None and baseline is None:
        raise InputError("give a matched normal (--normal-bam) or a baseline (--baseline)", field="--normal-bam/--baseline")
    tumor, contigs = count_lengths_file(tumor_bam, sites, fasta, settings, label=f"tumor {specimen}", with_contigs=True)
    mode = N.PAIRED if normal_bam is not None else N.TUMOR_ONLY
    if normal_bam is not None:
        reference, normal_contigs = count_lengths_file(normal_bam, sites, fasta, settings, label=f"normal of {specimen}",
                                                       with_contigs=True)
        _warn_contig_mismatch(specimen, set(sites["CHROM"]), contigs, normal_contigs)
        contigs = contigs & normal_contigs
        calls = site_columns(sites, tumor, reference, settings)
    else:
        pooled = [decode_counts(t) for t in baseline["POOLED_LENGTHS"]]
        calls = site_columns(sites, tumor, pooled, settings, dispersion=list(baseline["DISPERSION"]),
                             excluded=list(baseline["EXCLUDED"]))
        normal_specimen = None
    rule = _rule_for(mode, baseline, sites, settings)
    summary = summarise(calls, mode, rule)
    summary["SITES_NO_CONTIG"] = sum(chrom not in contigs for chrom in sites["CHROM"])
    keys = {N.STUDYID: studyid, N.USUBJID: subject, N.SPECIMEN_ID: specimen, N.TIMEPOINT: timepoint}
    row = {name: [value] for name, value in {**keys, "NORMAL_SPECIMEN_ID": normal_specimen, **summary}.items()}
    covered = (calls["TUMOR_DEPTH"] > 0) | (calls["REFERENCE_DEPTH"] > 0)
    n = int(covered.sum())
    site_rows = {**{name: [value] * n for name, value in {**keys, "MODE": mode}.items()},
                 **{name: values[covered] for name, values in calls.items()}}
    log.info("msi %s (%s): %d/%d scored sites unstable (%d/%d of all sites), score %s -> %s", specimen, mode,
             summary["SCORE_UNSTABLE"], summary["SCORE_SITES"], summary["SITES_UNSTABLE"], summary["SITES_EVALUATED"],
             "n/a" if summary["SCORE_SITES"] == 0 else f"{summary['MSI_SCORE']:.2f}%", summary["MSI_STATUS"])
    return row, site_rows


def _warn_contig_mismatch(specimen: str, site_contigs: set[str], tumour: set[str], normal: set[str]) -> None:
    """A paired call over the contigs both samples have is valid (their sites are evaluated, the others are not),
    but a tumour and normal aligned with different contig sets is worth a warning."""
    only_t = sorted((tumour - normal) & site_contigs)
    only_n = sorted((normal - tumour) & site_contigs)
    if only_t or only_n:
        def names(c):
            return ", ".join(c[:3]) + ("..." if len(c) > 3 else "") if c else "none"
        log.warning("msi %s: the tumour's and the normal's alignments have different contigs (only the tumour's: %s; only "
                    "the normal's: %s); sites there are not evaluated (SITES_NO_CONTIG)", specimen, names(only_t), names(only_n))


def _rule_for(mode: str, baseline, sites, settings: MsiSettings) -> Rule:
    """The baseline's calibrated rule for ``mode``, else the defaults (checked against the site table's scan)."""
    rules = baseline.attrs.get("rules", {}) if baseline is not None else {}
    return rules.get(mode) or default_rule(mode, settings, sites.attrs.get("scan"))


def write_parts(summary: pd.DataFrame | dict, site_calls: pd.DataFrame | dict, outdir: str | Path, specimen: str,
                *, provenance: dict | None = None) -> tuple[Path, Path]:
    """``outdir/<specimen>.msi.parquet`` and ``.msi_sites.parquet`` (from frames or mappings of columns), declared
    tables written atomically.

    The site part is the specimen's partition of the ``genomics/msi_sites`` dataset as
    published (sorted, labelled with its specimen): the collect copies it unchanged.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".msi-part.", dir=outdir) as tmp:
        written = {"msi": write_table(summary, SUMMARY_TABLE, tmp, provenance=provenance),
                   "msi_sites": write_partition(site_calls, SITES_TABLE, tmp, specimen, provenance=provenance)}
        paths = []
        for suffix, path in written.items():
            final = outdir / f"{specimen}.{suffix}.parquet"
            os.replace(path, final)
            paths.append(final)
    return paths[0], paths[1]


def collect(parts: list[str | Path], outdir: str | Path, *, plots: bool = True) -> dict[str, Path]:
    """Collect per-specimen parts into ``<outdir>/genomics/msi.parquet``, the ``genomics/msi_sites/``
    dataset (one file per specimen, copied from its part) and plots.

    Streams: the summaries (one row per specimen) are merged; the site parts are copied one
    at a time and read back only for the plots of MSI-H specimens, one specimen at a time.
    """
    by_table: dict[str, list[Path]] = {SUMMARY_TABLE: [], SITES_TABLE: []}
    for path in map(Path, parts):
        name = part_table(path)
        if name not in by_table:
            raise InputError(f"holds table {name!r}, not an MSI part ({SUMMARY_TABLE} or {SITES_TABLE})", file=path)
        by_table[name].append(path)
    summary = concat_parts(by_table[SUMMARY_TABLE], SUMMARY_TABLE)
    dup = summary[N.SPECIMEN_ID][summary[N.SPECIMEN_ID].duplicated()]
    if len(dup):
        raise InputError("two parts for the same specimen", field=N.SPECIMEN_ID, value=dup.iloc[0])
    with staged_dir(outdir, replace=[schemas_table(SITES_TABLE).path]) as stage:
        sites_dir, specimens = collect_partitions(by_table[SITES_TABLE], SITES_TABLE, stage)
        _check_pairs(summary, specimens)
        out = {"msi": write_table(summary, SUMMARY_TABLE, stage), "msi_sites": sites_dir}
        if plots:
            from ._plots import plot_msi

            out.update(plot_msi(summary, lambda specimen: read_table(sites_dir / f"{specimen}.parquet"),
                                stage / "genomics"))
    return {key: Path(outdir) / path.relative_to(stage) for key, path in out.items()}


def _check_pairs(summary: pd.DataFrame, site_specimens: list[str]) -> None:
    """Each specimen has both parts: a summary row and a site table."""
    summarised = set(summary[N.SPECIMEN_ID])
    for specimen in sorted(summarised ^ set(site_specimens)):
        missing = SITES_TABLE if specimen in summarised else SUMMARY_TABLE
        raise InputError(f"no {missing} part for this specimen", field=N.SPECIMEN_ID, value=specimen)
