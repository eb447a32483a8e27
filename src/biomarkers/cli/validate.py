"""Check a run's parameters and inputs as ``biomarkers run`` does, and write the pairing.

Nextflow's first process calls it; the same checks, the same one-line messages:
``biomarkers validate --params-file params.json --outdir results`` writes
``results/validation/tumors.csv``, ``inputs.csv`` (every input file, for Nextflow's
INPUT_FILE tasks to hash) and ``params.json``, or exits 2 naming the problem. With
``--staged GIVEN FILE`` (Nextflow's INPUT_FILE task) it checks what is inside one input file.
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
    parser.add_argument("--staged", nargs=2, metavar=("GIVEN", "FILE"),
                        help="check only what is inside one input file, GIVEN in the parameters or samplesheet, "
                             "read from its copy FILE (Nextflow's INPUT_FILE task: sample names inside a BAM or VCF, "
                             "the flow counts and workspace); writes nothing")
    parser.add_argument("--protocol-name", metavar="NAME",
                        help="list the protocol as NAME in validation/inputs.csv (Nextflow: the --protocol the user "
                             "gave; the task reads a staged copy)")


def main(args: argparse.Namespace) -> int:
    from ..pipeline import check_staged_file, validate_params_file

    overrides = {k[len("param_"):]: v for k, v in vars(args).items() if k.startswith("param_")}
    if args.staged:
        check_staged_file(args.params_file, overrides, *args.staged, input_name=args.input_name)
    else:
        validate_params_file(args.params_file, overrides, check_files=not args.skip_file_checks,
                             input_name=args.input_name, protocol_name=args.protocol_name)
    return 0
