"""Microsatellite instability (MSI) from BAM/CRAM reads, paired or tumour-only.

Plain functions, I/O at the edges::

    sites = scan_sites("genome.fa", "targets.bed")            # microsatellites (MSIsensor's scan)
    write_sites(sites, "sites.tsv.gz")
    baseline = baseline_from_bams(sites, ["pon1.bam", ...], "genome.fa")   # tumour-only reference
    summary, calls = call_msi(sites, "tumour.bam", "genome.fa", normal_bam="normal.bam",
                              subject="S", specimen="SP", timepoint="BASELINE")
    merge_parts([...], "results")                              # genomics/msi.parquet, msi_sites.parquet, plots

docs/msi.md explains the method, the defaults and their sources.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from ... import names as N
from ...log import get_logger
from ._baseline import build_baseline, read_baseline, sites_digest, write_baseline
from ._call import MSI_H, MSS, NOT_EVALUABLE, benjamini_hochberg, call_sites, chi_square, summarise, total_variation
from ._config import load_msi_config
from ._reads import count_lengths, count_lengths_file, decode_counts, encode_counts
from ._step import run_msi_step
from ._sites import check_reference, read_sites, reference_digest, scan_sites, write_sites

__all__ = [
    "load_msi_config", "scan_sites", "write_sites", "read_sites", "check_reference", "reference_digest",
    "count_lengths", "count_lengths_file", "encode_counts", "decode_counts",
    "build_baseline", "baseline_from_bams", "write_baseline", "read_baseline", "sites_digest",
    "chi_square", "benjamini_hochberg", "total_variation", "call_sites", "summarise", "call_msi",
    "write_call_parts", "merge_parts", "plot_msi", "run_msi_step", "MSI_H", "MSS", "NOT_EVALUABLE",
]

log = get_logger("msi")


def baseline_from_bams(sites: pd.DataFrame, normal_bams: list[str | Path], fasta: str | Path, config: dict | None = None
                       ) -> pd.DataFrame:
    """Count every normal at every site and build the tumour-only baseline."""
    config = config or load_msi_config()
    if not normal_bams:
        from ...errors import InputError

        raise InputError("a baseline needs at least one normal BAM/CRAM", field="normals")
    normals = [count_lengths_file(bam, sites, fasta, config, label=f"normal {i + 1}/{len(normal_bams)}")
               for i, bam in enumerate(normal_bams)]
    baseline = build_baseline(sites, normals, config)
    baseline.attrs["n_normals"] = len(normal_bams)
    log.info("msi baseline: %d normals, %d of %d sites usable (%d excluded)", len(normal_bams),
             int((~baseline["EXCLUDED"]).sum()), len(baseline), int(baseline["EXCLUDED"].sum()))
    return baseline


def call_msi(sites: pd.DataFrame, tumor_bam: str | Path, fasta: str | Path, *, normal_bam: str | Path | None = None,
             baseline: pd.DataFrame | None = None, config: dict | None = None, subject: str, specimen: str,
             timepoint: str | None, normal_specimen: str | None = None, studyid: str | None = None
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MSI of one tumour specimen: (one-row ``genomics.msi`` frame, ``genomics.msi_sites`` frame)."""
    from ...errors import InputError

    config = config or load_msi_config()
    if (normal_bam is None) == (baseline is None):
        raise InputError("give either a matched normal (--normal-bam) or a baseline (--baseline), not both or neither",
                         field="--normal-bam/--baseline")
    if studyid is None:
        from ...protocol import load_protocol

        studyid = load_protocol().studyid
    tumor = count_lengths_file(tumor_bam, sites, fasta, config, label=f"tumour {specimen}")
    if normal_bam is not None:
        mode = "paired"
        reference = count_lengths_file(normal_bam, sites, fasta, config, label=f"normal of {specimen}")
        calls = call_sites(sites, tumor, reference, config)
    else:
        mode = "tumor_only"
        pooled = [decode_counts(t) for t in baseline["POOLED_LENGTHS"]]
        calls = call_sites(sites, tumor, pooled, config, dispersion=list(baseline["DISPERSION"]),
                           excluded=list(baseline["EXCLUDED"]))
        normal_specimen = None
    summary = summarise(calls, mode, config)
    keys = {N.STUDYID: studyid, N.USUBJID: subject, N.SPECIMEN_ID: specimen, N.TIMEPOINT: timepoint}
    row = pd.DataFrame([{**keys, "NORMAL_SPECIMEN_ID": normal_specimen, **summary}])
    covered = calls[(calls["TUMOR_DEPTH"] > 0) | (calls["REFERENCE_DEPTH"] > 0)]
    site_rows = pd.concat([pd.DataFrame({**keys, "MODE": mode}, index=covered.index), covered], axis=1)
    log.info("msi %s (%s): %d/%d sites evaluated, %d unstable, score %s -> %s", specimen, mode, summary["SITES_EVALUATED"],
             summary["SITES_SCANNED"], summary["SITES_UNSTABLE"],
             "n/a" if summary["SITES_EVALUATED"] == 0 else f"{summary['MSI_SCORE']:.2f}%", summary["MSI_STATUS"])
    return row, site_rows.reset_index(drop=True)


def write_call_parts(summary: pd.DataFrame, site_calls: pd.DataFrame, outdir: str | Path, specimen: str,
                     *, provenance: dict | None = None) -> tuple[Path, Path]:
    """``outdir/<specimen>.msi.parquet`` and ``.msi_sites.parquet``, declared tables written atomically."""
    from ...schemas import write_table

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    with tempfile.TemporaryDirectory(prefix=".msi-part.", dir=outdir) as tmp:
        for frame, name, suffix in ((summary, "genomics.msi", "msi"), (site_calls, "genomics.msi_sites", "msi_sites")):
            written = write_table(frame, name, tmp, provenance=provenance)
            final = outdir / f"{specimen}.{suffix}.parquet"
            os.replace(written, final)
            paths.append(final)
    return paths[0], paths[1]


def merge_parts(paths: list[str | Path], outdir: str | Path, *, plots: bool = True) -> dict[str, Path]:
    """Collect per-specimen parts into ``<outdir>/genomics/msi.parquet``, ``msi_sites.parquet`` and plots."""
    from ...errors import InputError
    from ...schemas import concat_parts, table_metadata, write_table

    by_table: dict[str, list[Path]] = {"genomics.msi": [], "genomics.msi_sites": []}
    for path in map(Path, paths):
        if not path.exists():
            raise InputError("part not found", file=path)
        try:
            name = table_metadata(path).get("table")
        except Exception as exc:  # pyarrow raises several types for a non-Parquet file
            raise InputError(f"not a Parquet part: {exc}", file=path) from None
        if name not in by_table:
            raise InputError(f"holds table {name!r}, not an MSI part (genomics.msi or genomics.msi_sites)", file=path)
        by_table[name].append(path)
    summary = concat_parts(by_table["genomics.msi"], "genomics.msi")
    sites = concat_parts(by_table["genomics.msi_sites"], "genomics.msi_sites")
    dup = summary[N.SPECIMEN_ID][summary[N.SPECIMEN_ID].duplicated()]
    if len(dup):
        raise InputError("two parts for the same specimen", field=N.SPECIMEN_ID, value=dup.iloc[0])
    out = {"msi": write_table(summary, "genomics.msi", outdir), "msi_sites": write_table(sites, "genomics.msi_sites", outdir)}
    if plots:
        from ._plots import plot_msi

        out.update(plot_msi(summary, sites, Path(outdir) / "genomics"))
    return out


def plot_msi(summary: pd.DataFrame, sites: pd.DataFrame, outdir: str | Path) -> dict[str, Path]:
    from ._plots import plot_msi as _plot

    return _plot(summary, sites, outdir)
