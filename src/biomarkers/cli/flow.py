"""Flow cytometry: ``gate`` one specimen's FCS file, ``collect`` the per-specimen parts.

``biomarkers flow gate --fcs F --panel PBMC16 --subject S --specimen SP --timepoint TP --outdir DIR``
reads the FCS file (2.0, 3.0, 3.1), checks it against the panel, compensates, transforms,
gates every subset with the panel's Gating-ML strategy (or a FlowJo workspace's gates),
runs the QC checks and writes DIR/SP.flow_subsets.parquet, SP.flow_qc.parquet and
SP.flow.h5ad; ``biomarkers flow collect --outdir OUT PART...`` writes
OUT/immune/flow_subsets.parquet, flow_qc.parquet, flow_drift.parquet, the per-specimen
.h5ad files under OUT/immune/flow/ and the gating figures.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="flow_command", metavar="<subcommand>", required=True)

    gate = sub.add_parser("gate", help="gate one specimen's FCS file (writes DIR/SPECIMEN.flow_*)",
                          description="Read, check, compensate, transform, QC and gate one FCS file; write its parts.")
    gate.add_argument("--fcs", required=True, help="FCS 2.0/3.0/3.1 file of one blood specimen and panel")
    gate.add_argument("--panel", default="PBMC16", help="panel of assets/flow/panels.yaml (default PBMC16)")
    gate.add_argument("--specimen", required=True, help="SPECIMEN_ID")
    gate.add_argument("--subject", help="USUBJID (not for a reference control)")
    gate.add_argument("--timepoint", help="protocol TIMEPOINT")
    gate.add_argument("--batch", help="acquisition batch (for the reference control's drift)")
    gate.add_argument("--control", action="store_true", help="the file is the batch's reference control")
    gate.add_argument("--counts", help="absolute counts CSV (assets/flow_counts.schema.json): bead numbers or "
                                       "lymphocytes per uL; this specimen's row is used")
    gate.add_argument("--workspace", help="FlowJo 10 workspace (.wsp) whose gates, transforms and compensation "
                                          "replace the panel's Gating-ML strategy")
    gate.add_argument("--workspace-sample", help="the sample's name in the workspace (default: the FCS file name)")
    gate.add_argument("--gating-ml", help="Gating-ML 2.0 file replacing the panel's strategy")
    gate.add_argument("--compensation", help="compensation matrix CSV replacing the file's spillover keyword")
    gate.add_argument("--transform", choices=["default", "arcsinh"], default="default",
                      help="transformed layer of the .h5ad: the strategy's transforms (default) or arcsinh")
    gate.add_argument("--drop-unstable", action="store_true", default=None,
                      help="leave events of unstable acquisition time out of the gating (default: qc.yaml)")
    gate.add_argument("--panels", help="panels YAML (default: the bundled assets/flow/panels.yaml)")
    gate.add_argument("--subsets", help="subsets YAML (default: the bundled assets/flow/subsets.yaml)")
    gate.add_argument("--qc", help="QC thresholds YAML (default: the bundled assets/flow/qc.yaml)")
    gate.add_argument("--protocol", help="protocol YAML: STUDYID (default: the bundled assets/protocol.yaml)")
    gate.add_argument("--outdir", required=True, help="folder for the part files")

    collect = sub.add_parser("collect", help="merge per-specimen parts into OUT/immune/flow_*",
                             description="Merge per-specimen flow parts into the published tables and gating figures.")
    collect.add_argument("--outdir", required=True, help="results folder")
    collect.add_argument("parts", nargs="+", metavar="PART", help="files written by `biomarkers flow gate`")


def main(args: argparse.Namespace) -> int:
    from ..immune import flow

    if args.flow_command == "gate":
        paths = flow.gate_to_parts(
            args.fcs, args.outdir, specimen=args.specimen, subject=args.subject, timepoint=args.timepoint,
            panel=args.panel, batch=args.batch, control=args.control, protocol=args.protocol, counts=args.counts,
            workspace=args.workspace, workspace_sample=args.workspace_sample, gating_ml=args.gating_ml,
            compensation=args.compensation, transform=args.transform, drop_unstable=args.drop_unstable,
            panels=args.panels, subsets=args.subsets, qc=args.qc)
        print(f"{args.specimen}: wrote {', '.join(p.name for p in paths)} -> {args.outdir}")
    else:
        paths = flow.collect(args.parts, args.outdir)
        print(f"wrote {len(paths)} files: {', '.join(sorted(str(p) for p in paths.values()))}")
    return 0
