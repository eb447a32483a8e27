"""Tumour mutational burden: ``count`` one tumour specimen, ``collect`` the per-specimen parts.

``biomarkers tmb count --vcf V --tumor-bam T [--normal-bam N] --fasta F --targets BED ...
--subject S --specimen SP --timepoint TP --outdir DIR`` writes DIR/SP.tmb.parquet and
DIR/SP.tmb_variants.parquet; ``biomarkers tmb collect --outdir OUT PART.parquet...`` writes
OUT/genomics/tmb.parquet, the tmb_variants/ dataset (one file per specimen) and tmb.png.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="tmb_command", metavar="<subcommand>", required=True)

    count = sub.add_parser("count", help="TMB of one tumour specimen (writes DIR/SPECIMEN.tmb*.parquet)",
                           description="Count the somatic variants of one tumour specimen through the filter funnel and divide by the callable territory.")
    count.add_argument("--vcf", required=True, help="somatic VCF/BCF (bgzipped or not), VEP/SnpEff-annotated or not")
    count.add_argument("--tumor-bam", help="tumour BAM/CRAM: the callable territory is measured from it (without it: the merged targets, or --callable-mb)")
    count.add_argument("--normal-bam", help="matched normal BAM/CRAM (paired mode: callable needs depth in both)")
    count.add_argument("--tumor-sample", help="tumour sample name in the VCF (default: ##tumor_sample, the specimen ID, or the sample that is not the normal)")
    count.add_argument("--fasta", help="reference FASTA (plain or bgzipped, with .fai); required for CRAM")
    count.add_argument("--targets", required=True, help="target BED of the exome or panel (overlaps merged once)")
    count.add_argument("--coding-bed", help="coding-region BED, used when the VCF carries no CSQ/ANN annotation")
    count.add_argument("--config", help="counting rules YAML (default: the bundled assets/tmb.yaml)")
    count.add_argument("--hotspots", help="VCF of known hotspots removed in tumour-only mode (e.g. COSMIC)")
    count.add_argument("--callable-mb", type=float, help="denominator in Mb when no BAM is given (instead of the merged targets)")
    count.add_argument("--tumor-only", action="store_true", help="force tumour-only mode (population filter) even if the VCF has a normal")
    count.add_argument("--subject", required=True, help="USUBJID")
    count.add_argument("--specimen", required=True, help="tumour SPECIMEN_ID")
    count.add_argument("--timepoint", required=True, help="protocol TIMEPOINT")
    count.add_argument("--protocol", help="protocol YAML: STUDYID (default: the bundled assets/protocol.yaml)")
    count.add_argument("--outdir", required=True, help="folder for the two part files")

    collect = sub.add_parser("collect", help="merge per-specimen parts into OUT/genomics/tmb*.parquet and a plot",
                             description="Merge per-specimen TMB parts into the published tables and the run's plot.")
    collect.add_argument("--outdir", required=True, help="results folder (tables go to OUT/genomics/)")
    collect.add_argument("--subjects", help="randomization list CSV (USUBJID, ARMCD): plot TMB by arm and timepoint")
    collect.add_argument("parts", nargs="+", metavar="PART.parquet", help="files written by `biomarkers tmb count`")


def main(args: argparse.Namespace) -> int:
    from ..genomics import tmb

    if args.tmb_command == "count":
        row = tmb.count_to_parts(
            args.vcf, args.outdir, protocol=args.protocol, subject=args.subject, specimen=args.specimen,
            timepoint=args.timepoint, targets=args.targets, tumor_bam=args.tumor_bam, normal_bam=args.normal_bam,
            tumor_sample=args.tumor_sample, fasta=args.fasta, coding_bed=args.coding_bed, config=args.config,
            hotspots=args.hotspots, callable_mb=args.callable_mb, tumor_only=True if args.tumor_only else None).iloc[0]
        print(f"{args.specimen}: TMB {row['TMB']:.2f} mut/Mb (95% CI {row['TMB_CI_LOWER']:.2f}-{row['TMB_CI_UPPER']:.2f}), "
              f"{row['N_COUNTED']} counted / {row['CALLABLE_MB']:.4f} Mb ({row['DENOMINATOR_SOURCE']}, {row['MODE']}) "
              f"-> {args.outdir}")
    else:
        paths = tmb.collect(args.parts, args.outdir, subjects=args.subjects)
        print(f"wrote {paths['tmb']}, {paths['tmb_variants']}, {paths['plot']}")
    return 0
