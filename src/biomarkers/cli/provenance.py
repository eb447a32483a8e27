"""Provenance of a Nextflow run: ``hash`` one staged input, ``write`` ``pipeline_info/`` from the hashes.

``biomarkers run`` writes ``pipeline_info/`` itself. Under Nextflow, each INPUT_FILE task runs
``biomarkers provenance hash --as PATH --out hash.tsv STAGED`` on one input (staged under
another name), and PROVENANCE runs ``biomarkers provenance write --params-file params.json
--input samplesheet.csv --hashes hashes.tsv --outdir .``: software_versions.yml, params.json and
inputs.parquet, written by the same functions as under ``biomarkers run``.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="provenance_command", metavar="<subcommand>", required=True)

    hash_ = sub.add_parser("hash", help="one line PATH, BYTES, SHA-256 of a staged input",
                           description="Hash one input file staged under another name; the line names PATH.")
    hash_.add_argument("--as", dest="path", required=True, metavar="PATH", help="the path the run was given")
    hash_.add_argument("--out", required=True, help="file for the line (tab-separated)")
    hash_.add_argument("staged", metavar="FILE", help="the staged copy to hash")

    write = sub.add_parser("write", help="pipeline_info/ from the run's parameters and the hashed inputs",
                           description="Write pipeline_info/ (software_versions.yml, params.json, inputs.parquet) "
                                       "as biomarkers run writes it before its first step.")
    write.add_argument("--params-file", required=True, help="the run's parameters (JSON/YAML, paths as given)")
    write.add_argument("--input", help="a copy of the samplesheet with the rows of the run's --input")
    write.add_argument("--hashes", required=True, help="the lines of `biomarkers provenance hash`, concatenated")
    write.add_argument("--outdir", required=True, help="folder to write pipeline_info/ into")


def main(args: argparse.Namespace) -> int:
    from ..pipeline import hash_staged_file, write_staged_provenance

    if args.provenance_command == "hash":
        hash_staged_file(args.staged, args.path, args.out)
    else:
        folder = write_staged_provenance(args.params_file, args.input, args.hashes, args.outdir)
        print(f"wrote {folder}")
    return 0
