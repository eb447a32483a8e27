"""Check a run's parameters and inputs as ``biomarkers run`` does, and write the pairing.

Nextflow's first process calls it; the same checks, the same one-line messages:
``biomarkers validate --params-file params.json --outdir results`` writes
``results/validation/tumors.csv`` and ``params.json``, or exits 2 naming the problem.
"""

from __future__ import annotations

import argparse

from .run import add_parameter_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_parameter_arguments(parser)
    parser.add_argument("--skip-file-checks", action="store_true",
                        help="check contents only, not that files exist or globs match (Nextflow: nf-schema checked "
                             "them where the files are; a task in a container sees only what it was given)")
    parser.add_argument("--input-name", metavar="NAME",
                        help="name the samplesheet NAME in messages (Nextflow: the --input the user gave; the task "
                             "checks a staged copy with the same rows)")


def main(args: argparse.Namespace) -> int:
    from ..pipeline import validate_params_file

    validate_params_file(args.params_file, {k[len("param_"):]: v for k, v in vars(args).items() if k.startswith("param_")},
                         check_files=not args.skip_file_checks, input_name=args.input_name)
    return 0
