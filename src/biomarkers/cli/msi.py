"""Microsatellite instability: scan a reference, build a tumor-only baseline, call a tumour, collect parts.

    biomarkers msi scan --fasta F [--targets BED] [--config msi.yaml] --output sites.tsv.gz
    biomarkers msi baseline --sites sites.tsv.gz --fasta F [--config msi.yaml] --output baseline.tsv.gz NORMAL.bam...
    biomarkers msi call --sites sites.tsv.gz --tumor-bam T (--normal-bam N [--baseline B] | --baseline B) --fasta F
        [--config msi.yaml] [--protocol P] --subject S --specimen SP --timepoint TP --outdir DIR
    biomarkers msi collect --outdir OUT PART.parquet...
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="msi_command", metavar="<subcommand>", required=True)

    scan = sub.add_parser("scan", help="find microsatellites in a reference (optionally within targets)",
                          description="Find microsatellites in a reference FASTA (plain or bgzipped) and write the site table.")
    scan.add_argument("--fasta", required=True, help="reference FASTA (plain or bgzipped, with .fai)")
    scan.add_argument("--targets", help="BED of the exome or panel: keep microsatellites overlapping it")
    scan.add_argument("--config", help="MSI parameters YAML (default: the bundled assets/msi.yaml)")
    scan.add_argument("--output", required=True, help="site table to write (.tsv.gz)")

    base = sub.add_parser("baseline", help="build the tumour-only baseline from normal BAM/CRAM files",
                          description="Build each site's expected repeat-length distribution and variability from normals.")
    base.add_argument("--sites", required=True, help="site table from `biomarkers msi scan`")
    base.add_argument("--fasta", required=True, help="reference FASTA the site table was scanned on (CRAM needs it)")
    base.add_argument("--config", help="MSI parameters YAML")
    base.add_argument("--output", required=True, help="baseline to write (.tsv.gz)")
    base.add_argument("normals", nargs="+", metavar="NORMAL.bam", help="normal BAM/CRAM files (a panel of normals)")

    call = sub.add_parser("call", help="MSI score and status of one tumour specimen",
                          description="MSI of one tumour specimen, paired with its normal or against a baseline.")
    call.add_argument("--sites", required=True, help="site table from `biomarkers msi scan`")
    call.add_argument("--tumor-bam", required=True, help="tumour BAM/CRAM")
    call.add_argument("--normal-bam", help="matched normal BAM/CRAM (paired mode)")
    call.add_argument("--baseline", help="baseline from `biomarkers msi baseline`: the reference of a tumour-only call; with "
                      "--normal-bam, only the calibrated status rule (built on the cohort's normals)")
    call.add_argument("--fasta", required=True, help="reference FASTA (CRAM needs it)")
    call.add_argument("--config", help="MSI parameters YAML")
    call.add_argument("--subject", required=True, help="USUBJID")
    call.add_argument("--specimen", required=True, help="tumour specimen ID")
    call.add_argument("--timepoint", required=True, help="protocol timepoint")
    call.add_argument("--normal-specimen", help="specimen ID of the matched normal (recorded in the table)")
    call.add_argument("--protocol", help="protocol YAML: STUDYID (default: the bundled assets/protocol.yaml)")
    call.add_argument("--outdir", required=True, help="folder for <specimen>.msi.parquet and <specimen>.msi_sites.parquet")

    collect = sub.add_parser("collect", help="collect per-specimen parts into genomics/msi.parquet, the msi_sites/ dataset (one file per specimen) and plots",
                             description="Collect per-specimen MSI parts into the published tables and plots.")
    collect.add_argument("--outdir", required=True, help="results folder (writes <outdir>/genomics/)")
    collect.add_argument("parts", nargs="+", metavar="PART.parquet", help="parts written by `biomarkers msi call`")


def main(args: argparse.Namespace) -> int:
    from ..genomics import msi

    if args.msi_command == "scan":
        n_sites = msi.scan_to_file(args.fasta, args.output, targets=args.targets, settings=args.config)
        print(f"{n_sites:,} microsatellites -> {args.output}")
    elif args.msi_command == "baseline":
        baseline = msi.baseline_to_file(args.sites, args.normals, args.fasta, args.output, settings=args.config)
        print(f"baseline of {len(args.normals)} normals: {int((~baseline['EXCLUDED']).sum()):,} of {len(baseline):,} "
              f"sites usable; status rule {'calibrated' if baseline.attrs.get('rules') else 'not calibrated (needs >= 2 normals)'}"
              f" -> {args.output}")
    elif args.msi_command == "call":
        row = msi.call_to_parts(args.sites, args.tumor_bam, args.fasta, args.outdir, normal_bam=args.normal_bam,
                                baseline=args.baseline, settings=args.config, protocol=args.protocol, subject=args.subject,
                                specimen=args.specimen, timepoint=args.timepoint,
                                normal_specimen=args.normal_specimen)
        score = "n/a" if row["MSI_STATUS"] == msi.NOT_EVALUABLE else f"{row['MSI_SCORE']:.2f}%"
        print(f"{args.specimen}: {row['MSI_STATUS']} ({row['MODE']}; score {score}; {row['SCORE_UNSTABLE']}/"
              f"{row['SCORE_SITES']} scored sites unstable; MSI-H from {row['THRESHOLD']:.2f}%, rule: {row['RULE_SOURCE']})")
    elif args.msi_command == "collect":
        out = msi.collect(args.parts, args.outdir)
        print(f"collected {len(args.parts)} parts -> {out['msi']}, {out['msi_sites']}")
    return 0
