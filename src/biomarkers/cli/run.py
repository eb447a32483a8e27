"""Run every available step in-process on this machine (the embedded engine).

Takes the same parameters as ``nextflow run .`` (from nextflow_schema.json), e.g.
``biomarkers run --params-file trial/params.yaml --outdir results``.
"""

from __future__ import annotations

import argparse

_TYPES = {"integer": int, "number": float}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_parameter_arguments(parser)
    engine = parser.add_argument_group(
        "This engine (biomarkers run only)",
        "Under Nextflow every step whose inputs are given runs, and the executor decides how many tasks run at "
        "once (each per-specimen process asks for one CPU: conf/base.config).")
    engine.add_argument("--only", nargs="+", metavar="STEP", help="run only these steps")
    engine.add_argument("--cpus", type=int, default=None, metavar="N",
                        help="worker processes for the per-specimen tasks (default: the cores this process may use); "
                             "the outputs are the same for any N")


def add_parameter_arguments(parser: argparse.ArgumentParser) -> None:
    """--params-file and one option per pipeline parameter (shared with `biomarkers validate`),
    in the schema's groups: those Nextflow alone uses say so in their heading."""
    from ..pipeline import param_groups, param_specs_for_cli

    parser.add_argument("--params-file", "-params-file", dest="params_file", metavar="FILE",
                        help="YAML or JSON file of parameters (as for nextflow run -params-file)")
    offered = param_specs_for_cli()
    for title, description, specs in param_groups():
        group = parser.add_argument_group(title, description)
        for name, spec in specs.items():
            if name in offered:
                _add_parameter(group, name, spec)


def _add_parameter(group, name: str, spec: dict) -> None:
    kwargs: dict = {"dest": f"param_{name}", "help": spec.get("description", "")}
    if spec.get("type") == "boolean":
        kwargs["action"] = argparse.BooleanOptionalAction
        kwargs["default"] = None
    else:
        kwargs["type"] = _TYPES.get(spec.get("type"), str)
        kwargs["metavar"] = name.upper()
    group.add_argument(f"--{name}", **kwargs)


def main(args: argparse.Namespace) -> int:
    from ..pipeline import run_params_file

    run_params_file(args.params_file, {k[len("param_"):]: v for k, v in vars(args).items() if k.startswith("param_")},
                    only=args.only, cpus=args.cpus)
    return 0
