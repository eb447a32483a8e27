"""Single-cell RNA: ``annotate`` one specimen, ``collect`` the per-specimen parts.

``biomarkers singlecell annotate --counts M --compartment pbmc|tumor --subject S --specimen SP
--timepoint TP --outdir DIR`` reads a 10x .h5, Matrix Market folder or .h5ad of raw counts,
runs QC, clustering and annotation, and writes DIR/SP.sc_composition.parquet,
SP.sc_summary.parquet, SP.sc_qc.parquet and SP.sc.h5ad; ``biomarkers singlecell collect
--outdir OUT PART...`` writes OUT/immune/pbmc_sc_*.parquet and OUT/tme/sc_*.parquet, the
annotated .h5ad files beside them, composition bars and UMAPs.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="singlecell_command", metavar="<subcommand>", required=True)

    annotate = sub.add_parser("annotate", help="QC, cluster and annotate one specimen (writes DIR/SPECIMEN.sc_*)",
                              description="QC, cluster and annotate the cells of one specimen; write its part files.")
    annotate.add_argument("--counts", required=True,
                          help="raw counts: 10x filtered_feature_bc_matrix.h5 (Cell Ranger 3+ or 1.2), a Matrix Market folder, or an .h5ad")
    annotate.add_argument("--compartment", required=True, choices=["pbmc", "tumor"],
                          help="pbmc (blood, assay scrna_pbmc) or tumor (dissociated tumour, assay scrna_tumor)")
    annotate.add_argument("--reference", help="labelled reference .h5ad (obs column per assets/singlecell/processing.yaml) to transfer labels from")
    annotate.add_argument("--settings", help="processing YAML (default: the bundled assets/singlecell/processing.yaml)")
    annotate.add_argument("--markers", help="marker sets YAML (default: the bundled assets/singlecell/markers.yaml)")
    annotate.add_argument("--subject", required=True, help="USUBJID")
    annotate.add_argument("--specimen", required=True, help="SPECIMEN_ID")
    annotate.add_argument("--timepoint", required=True, help="protocol TIMEPOINT")
    annotate.add_argument("--protocol", help="protocol YAML: STUDYID (default: the bundled assets/protocol.yaml)")
    annotate.add_argument("--outdir", required=True, help="folder for the part files")

    collect = sub.add_parser("collect", help="merge per-specimen parts into OUT/immune/pbmc_sc_* and OUT/tme/sc_*",
                             description="Merge per-specimen single-cell parts into the published tables and plots.")
    collect.add_argument("--outdir", required=True, help="results folder")
    collect.add_argument("--subjects", help="randomization list CSV (USUBJID, ARMCD): plots by arm")
    collect.add_argument("--compartment", choices=["pbmc", "tumor"], help="collect only this compartment's parts (default: both)")
    collect.add_argument("parts", nargs="+", metavar="PART", help="files written by `biomarkers singlecell annotate`")


def main(args: argparse.Namespace) -> int:
    from .. import singlecell

    if args.singlecell_command == "annotate":
        paths = singlecell.annotate_to_parts(
            args.counts, args.outdir, compartment=args.compartment, subject=args.subject, specimen=args.specimen,
            timepoint=args.timepoint, protocol=args.protocol, reference=args.reference, settings=args.settings,
            markers=args.markers)
        print(f"{args.specimen}: wrote {', '.join(p.name for p in paths)} -> {args.outdir}")
    else:
        paths = singlecell.collect(args.parts, args.outdir, subjects=args.subjects, compartment=args.compartment)
        print(f"wrote {len(paths)} files: {', '.join(sorted(str(p) for p in paths.values()))}")
    return 0
