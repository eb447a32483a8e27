"""Microsatellite instability (MSI) from BAM/CRAM reads, paired or tumor-only.

Plain functions, I/O at the edges::

    sites = scan_sites("genome.fa", "targets.bed")            # microsatellites (MSIsensor's scan)
    write_sites(sites, "sites.tsv.gz")
    baseline = baseline_from_bams(sites, ["pon1.bam", ...], "genome.fa")   # tumor-only reference
    summary, calls = call_specimen(sites, "tumor.bam", "genome.fa", normal_bam="normal.bam",
                                   studyid="NCT07007182", subject="S", specimen="SP", timepoint="BASELINE")
    write_parts(summary, calls, "parts", "SP")                 # per specimen
    collect([...], "results")                                  # genomics/msi.parquet, msi_sites/<specimen>.parquet, plots

docs/msi.md explains the method, the defaults and their sources.
"""

from ._baseline import build_baseline, read_baseline, read_baseline_columns, sites_digest, write_baseline
from ._call import (INDETERMINATE, MSI_H, MSS, NOT_EVALUABLE, benjamini_hochberg, call_sites, chi2_sf, chi_square, site_columns, site_tests,
                    summarise, total_variation)
from ._commands import baseline_to_file, call_to_parts, scan_to_file
from ._config import MsiSettings, load_settings
from ._plots import plot_msi
from ._rule import Rule, calibrated_rule, decide, default_rule, null_critical_count, upper_rate
from ._reads import count_lengths, count_lengths_file, decode_counts, encode_counts
from ._sites import (check_reference, read_site_columns, read_sites, reference_digest, scan_sites, scan_sites_to_file,
                     write_sites)
from ._specimen import baseline_from_bams, call_columns, call_specimen, collect, write_parts

__all__ = [
    "MsiSettings", "load_settings", "scan_sites", "write_sites", "read_sites", "check_reference", "reference_digest",
    "count_lengths", "count_lengths_file", "encode_counts", "decode_counts",
    "build_baseline", "baseline_from_bams", "write_baseline", "read_baseline", "sites_digest",
    "chi_square", "benjamini_hochberg", "total_variation", "call_sites", "summarise", "call_specimen",
    "write_parts", "collect", "plot_msi", "scan_to_file", "baseline_to_file", "call_to_parts",
    "chi2_sf", "site_tests", "Rule", "calibrated_rule", "decide", "default_rule", "null_critical_count", "upper_rate",
    "read_site_columns", "read_baseline_columns", "scan_sites_to_file", "call_columns", "site_columns",
    "MSI_H", "MSS", "INDETERMINATE", "NOT_EVALUABLE",
]
