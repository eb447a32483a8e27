"""The I/O edge of each ``biomarkers msi`` command: files in, files out, one function per command."""

from __future__ import annotations

from pathlib import Path

from typing import TYPE_CHECKING

from ...protocol import load_protocol
from ._baseline import read_baseline_columns, write_baseline
from ._config import load_settings
from ._sites import read_site_columns, read_sites, scan_sites_to_file
from ._specimen import baseline_from_bams, call_columns, write_parts

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["scan_to_file", "baseline_to_file", "call_to_parts"]


def scan_to_file(fasta: str | Path, output: str | Path, *, targets: str | Path | None = None,
                 settings: str | Path | None = None) -> int:
    """Scan ``fasta`` (within ``targets``) and write the site table to ``output`` as sites are found; return their number."""
    return scan_sites_to_file(fasta, output, targets, load_settings(settings))


def baseline_to_file(sites: str | Path, normals: list[str | Path], fasta: str | Path, output: str | Path, *,
                     settings: str | Path | None = None) -> pd.DataFrame:
    """Build the tumour-only baseline of the site table ``sites`` from ``normals`` and write it to ``output``."""
    table = read_sites(sites)
    baseline = baseline_from_bams(table, normals, fasta, load_settings(settings))
    write_baseline(baseline, table, output, n_normals=len(normals))
    return baseline


def call_to_parts(sites: str | Path, tumor_bam: str | Path, fasta: str | Path, outdir: str | Path, *,
                  normal_bam: str | Path | None = None, baseline: str | Path | None = None,
                  settings: str | Path | None = None, protocol: str | Path | None = None, subject: str,
                  specimen: str, timepoint: str | None, normal_specimen: str | None = None) -> dict:
    """Call one tumour specimen from files and write its two parts under ``outdir``; return the summary row (a dict).

    STUDYID comes from ``protocol`` (default: the bundled protocol). Plain columns all the way: no pandas is
    imported, so a task that runs once per specimen starts quickly and stays small.
    """
    study = load_protocol(protocol)
    studyid = study.studyid
    table = read_site_columns(sites)
    loaded_baseline = read_baseline_columns(baseline, table) if baseline else None
    summary, calls = call_columns(table, tumor_bam, fasta, normal_bam=normal_bam, baseline=loaded_baseline,
                                  settings=load_settings(settings), studyid=studyid, subject=subject,
                                  specimen=specimen, timepoint=timepoint, normal_specimen=normal_specimen)
    study.check_ids(subject=subject, specimen=specimen)  # before they name files
    write_parts(summary, calls, outdir, specimen)
    return {name: values[0] for name, values in summary.items()}
