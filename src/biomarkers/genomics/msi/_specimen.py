"""One tumour specimen's MSI call, its part files, and the cohort tables collected from the parts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from ... import names as N
from ...errors import InputError
from ...log import get_logger
from ...io import staged_dir
from ...schemas import table as schemas_table
from ...schemas import collect_partitions, concat_parts, read_table, table_metadata, write_partition, write_table
from ._baseline import build_baseline
from ._call import call_sites, summarise
from ._config import MsiSettings, load_settings
from ._reads import count_lengths_file, decode_counts

__all__ = ["baseline_from_bams", "call_specimen", "write_parts", "collect"]

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
    """
    settings = settings or load_settings()
    if (normal_bam is None) == (baseline is None):
        raise InputError("give either a matched normal (--normal-bam) or a baseline (--baseline), not both or neither",
                         field="--normal-bam/--baseline")
    tumor = count_lengths_file(tumor_bam, sites, fasta, settings, label=f"tumor {specimen}")
    if normal_bam is not None:
        mode = N.PAIRED
        reference = count_lengths_file(normal_bam, sites, fasta, settings, label=f"normal of {specimen}")
        calls = call_sites(sites, tumor, reference, settings)
    else:
        mode = N.TUMOR_ONLY
        pooled = [decode_counts(t) for t in baseline["POOLED_LENGTHS"]]
        calls = call_sites(sites, tumor, pooled, settings, dispersion=list(baseline["DISPERSION"]),
                           excluded=list(baseline["EXCLUDED"]))
        normal_specimen = None
    summary = summarise(calls, mode, settings)
    keys = {N.STUDYID: studyid, N.USUBJID: subject, N.SPECIMEN_ID: specimen, N.TIMEPOINT: timepoint}
    row = pd.DataFrame([{**keys, "NORMAL_SPECIMEN_ID": normal_specimen, **summary}])
    covered = calls[(calls["TUMOR_DEPTH"] > 0) | (calls["REFERENCE_DEPTH"] > 0)]
    site_rows = pd.concat([pd.DataFrame({**keys, "MODE": mode}, index=covered.index), covered], axis=1)
    log.info("msi %s (%s): %d/%d sites evaluated, %d unstable, score %s -> %s", specimen, mode, summary["SITES_EVALUATED"],
             summary["SITES_SCANNED"], summary["SITES_UNSTABLE"],
             "n/a" if summary["SITES_EVALUATED"] == 0 else f"{summary['MSI_SCORE']:.2f}%", summary["MSI_STATUS"])
    return row, site_rows.reset_index(drop=True)


def write_parts(summary: pd.DataFrame, site_calls: pd.DataFrame, outdir: str | Path, specimen: str,
                *, provenance: dict | None = None) -> tuple[Path, Path]:
    """``outdir/<specimen>.msi.parquet`` and ``.msi_sites.parquet``, declared tables written atomically.

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
        if not path.exists():
            raise InputError("part not found", file=path)
        try:
            name = table_metadata(path).get("table")
        except Exception as exc:  # pyarrow raises several types for a non-Parquet file
            raise InputError(f"not a Parquet part: {exc}", file=path) from None
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
