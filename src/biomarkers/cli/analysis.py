"""Join every biomarker table to ADaM outcomes and compute exploratory associations.

Writes <results>/analysis/subjects.parquet, biomarkers_long.parquet,
analysis_wide.parquet, associations.parquet and plots/*.png.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", required=True, metavar="OUT", help="results folder: biomarker tables are read from it, analysis/ is written into it")
    parser.add_argument("--adsl", required=True, help="ADSL (.xpt v5/v8, .sas7bdat, .csv[.gz], .parquet)")
    parser.add_argument("--adtte", required=True, help="ADTTE with PFS and OS parameters")
    parser.add_argument("--adrs", required=True, help="ADRS with a BOR parameter or per-visit OVR records")
    parser.add_argument("--config", help="outcomes YAML merged over the bundled assets/outcomes.yaml")
    parser.add_argument("--protocol", help="protocol YAML (default: the bundled assets/protocol.yaml)")
    parser.add_argument("--allow-incomplete", action="store_true",
                        help="read a results folder without a complete run manifest (pipeline_info/run.json): a run "
                             "that did not finish, or Nextflow's staged task outputs")


def main(args: argparse.Namespace) -> int:
    from ..outcomes import run_analysis

    out = run_analysis(args.results, adsl=args.adsl, adtte=args.adtte, adrs=args.adrs, config=args.config,
                       protocol=args.protocol, allow_incomplete=args.allow_incomplete)
    subjects = out["subjects"]
    print(f"analysis: {len(subjects)} subjects, {len(out['biomarkers_long'])} biomarker values, "
          f"{len(out['associations'])} association rows (exploratory) -> {args.results}/analysis/")
    return 0
