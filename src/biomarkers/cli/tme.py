"""Tumour microenvironment: score expression signatures, collect them, read pathology results, check eligibility.

    biomarkers tme score --file counts.tsv.gz --values counts [--gene-lengths L] [--gene-map G] [--signatures Y]
        [--tx2gene T] [--protocol P] (--sample NAME,SUBJECT,SPECIMEN,TIMEPOINT... | --samples CSV) --outdir PARTS
    biomarkers tme collect --outdir OUT PART.parquet...
    biomarkers tme pathology --pathology central_lab.csv [--subjects subjects.csv] [--protocol P] --outdir OUT
    biomarkers tme eligibility --results OUT/pathology/results.parquet --subjects subjects.csv
        [--msi OUT/genomics/msi.parquet] [--rules eligibility.yaml] [--protocol P] --outdir OUT
"""

from __future__ import annotations

import argparse


def _sample(text: str) -> dict[str, str]:
    """``NAME,SUBJECT,SPECIMEN,TIMEPOINT`` -> a sample entry."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected NAME,SUBJECT,SPECIMEN,TIMEPOINT, got {text!r}")
    return dict(zip(("sample", "subject", "specimen", "timepoint"), parts))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="tme_command", metavar="<subcommand>", required=True)
    score = sub.add_parser("score", help="score every signature for the specimens of one expression file",
                           description="Score the expression signatures of the specimens in one matrix or quant.sf.")
    score.add_argument("--file", required=True, help="gene x sample matrix (TSV/CSV[.gz], Parquet, .h5ad) or a Salmon quant.sf")
    score.add_argument("--values", required=True, choices=["counts", "tpm"], help="what the matrix holds")
    score.add_argument("--gene-lengths", help="gene ID and length in bases: counts become TPM (else CPM)")
    score.add_argument("--gene-map", help="CSV/TSV mapping the file's gene IDs to symbols (adds to assets/signature_genes.tsv)")
    score.add_argument("--signatures", help="signatures YAML (default: the bundled assets/signatures.yaml)")
    score.add_argument("--tx2gene", help="transcript-to-gene table for quant.sf files")
    score.add_argument("--protocol", help="protocol YAML: STUDYID (default: the bundled assets/protocol.yaml)")
    which = score.add_mutually_exclusive_group(required=True)
    which.add_argument("--sample", dest="samples", action="append", type=_sample,
                       metavar="NAME,SUBJECT,SPECIMEN,TIMEPOINT", help="a specimen of the file (repeat per specimen)")
    which.add_argument("--samples", dest="samples", metavar="CSV",
                       help="the file's specimens as a CSV: sample, subject, specimen, timepoint")
    score.add_argument("--outdir", required=True, help="folder for <specimen>.signatures.parquet parts")

    collect = sub.add_parser("collect", help="collect signature parts into tme/signatures.parquet and its heatmap",
                             description="Collect per-specimen signature parts into the published table and plot.")
    collect.add_argument("--outdir", required=True, help="results folder (writes <outdir>/tme/)")
    collect.add_argument("parts", nargs="+", metavar="PART.parquet", help="parts written by `biomarkers tme score`")

    path = sub.add_parser("pathology", help="check the pathology/central-lab table; write pathology/results.parquet",
                          description="Read and check the pathology and central-lab results (long or wide, CSV or Parquet).")
    path.add_argument("--pathology", required=True, help="pathology/central-lab table (assets/pathology.schema.json)")
    path.add_argument("--subjects", help="randomization list: every subject of the table must be in it")
    path.add_argument("--protocol", help="protocol YAML (default: the bundled assets/protocol.yaml)")
    path.add_argument("--outdir", required=True, help="results folder (writes <outdir>/pathology/)")

    elig = sub.add_parser("eligibility", help="per-subject eligibility and consistency checks: tme/eligibility.parquet",
                          description="Check HER2, MMR/MSI and the CPS stratum and PD-1 exposure of every randomized subject.")
    elig.add_argument("--results", required=True, help="pathology/results.parquet from `biomarkers tme pathology`")
    elig.add_argument("--subjects", required=True, help="randomization list (USUBJID, SITEID, ARMCD, STRATUM, RANDDT)")
    elig.add_argument("--msi", help="genomics/msi.parquet from the MSI step")
    elig.add_argument("--rules", help="eligibility YAML (default: the bundled assets/eligibility.yaml)")
    elig.add_argument("--protocol", help="protocol YAML (default: the bundled assets/protocol.yaml)")
    elig.add_argument("--outdir", required=True, help="results folder (writes <outdir>/tme/)")


def main(args: argparse.Namespace) -> int:
    from .. import tme

    if args.tme_command == "score":
        scores = tme.score_to_parts(args.file, args.outdir, samples=args.samples, values=args.values,
                                    gene_lengths=args.gene_lengths, gene_map=args.gene_map, signatures=args.signatures,
                                    tx2gene=args.tx2gene, protocol=args.protocol)
        print(f"{args.file}: {scores['SPECIMEN_ID'].nunique()} specimens, {(scores['STATUS'] == 'SCORED').sum()} scores")
    elif args.tme_command == "collect":
        out = tme.collect(args.parts, args.outdir)
        print(f"collected {len(args.parts)} parts -> {out['signatures']}")
    elif args.tme_command == "pathology":
        out = tme.pathology_to_table(args.pathology, args.outdir, protocol=args.protocol, subjects=args.subjects)
        print(f"{args.pathology} -> {out}")
    elif args.tme_command == "eligibility":
        out = tme.eligibility_to_table(args.results, args.outdir, subjects=args.subjects, msi=args.msi, rules=args.rules,
                                       protocol=args.protocol)
        print(f"eligibility -> {out['eligibility']}")
    return 0

