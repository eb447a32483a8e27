"""Command line: ``biomarkers <command>``.

Thin by design: each command module defines ``add_arguments(parser)`` and
``main(args) -> int`` and calls the package API. Commands are listed in an
explicit table (not discovered) so a module that fails to import fails loudly.
Heavy libraries are imported inside ``main`` so ``--help`` and the Nextflow
command-line test stay fast.

Errors: a :class:`~biomarkers.errors.BiomarkersError` becomes one line on stderr
and its exit code; nothing else reaches the user as a traceback unless
``BIOMARKERS_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .. import __version__
from ..errors import EXIT_INPUT, BiomarkersError
from ..log import configure, get_logger

__all__ = ["main", "build_parser", "COMMANDS"]

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("biomarkers.cli.simulate", "write a complete synthetic trial with known truth"),
    "demo": ("biomarkers.cli.demo", "simulate a trial and run the whole pipeline on it"),
    "run": ("biomarkers.cli.run", "run every available step in-process on this machine"),
    "validate": ("biomarkers.cli.validate", "check a run's parameters and inputs as run does; write the tumour pairing"),
    "provenance": ("biomarkers.cli.provenance", "Nextflow's provenance: hash a staged input; write pipeline_info/"),
    "custody": ("biomarkers.cli.custody", "chain-of-custody ledger: import, record, verify, check"),
    "tmb": ("biomarkers.cli.tmb", "tumour mutational burden of one tumour specimen; collect per-specimen parts"),
    "msi": ("biomarkers.cli.msi", "microsatellite instability: scan, baseline, call, collect"),
    "tme": ("biomarkers.cli.tme", "tumour microenvironment: expression signatures, pathology results, eligibility checks"),
    "flow": ("biomarkers.cli.flow", "flow cytometry of one blood specimen's FCS file; collect per-specimen parts"),
    "singlecell": ("biomarkers.cli.singlecell", "single-cell RNA of one PBMC or tumour specimen; collect per-specimen parts"),
    "analysis": ("biomarkers.cli.analysis", "join biomarker tables to ADaM outcomes; exploratory associations"),
    "report": ("biomarkers.cli.report", "one self-contained HTML report of a results folder"),
    "schemas": ("biomarkers.cli.schemas", "print the output data dictionary or input JSON Schemas"),
}


class _SoftwareVersions(argparse.Action):
    """``--software-versions``: every library's version, one ``name: version`` line each (a Nextflow
    task adds them to its versions.yml, so pipeline_info/software_versions.yml lists them)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from ..pipeline import software_versions

        sys.stdout.write("".join(f"{name}: {version}\n" for name, version in software_versions().items()))
        parser.exit()


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or with ``only``, the arguments of that one command (the others are listed
    without theirs: `run` alone reads the pipeline's parameter schema, which imports pandas)."""
    parser = argparse.ArgumentParser(
        prog="biomarkers",
        description="Biospecimen custody and omics biomarkers of the NCT07007182 trial.",
    )
    parser.add_argument("--version", action="version", version=f"biomarkers {__version__}")
    parser.add_argument("--software-versions", action=_SoftwareVersions, nargs=0,
                        help="print the version of biomarkers, Python and every installed library, and exit")
    parser.add_argument("--log-level", default=os.environ.get("BIOMARKERS_LOG_LEVEL", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging verbosity (default INFO)")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip().splitlines()[0])
        if only is None or name == only:
            module.add_arguments(cmd)
        cmd.set_defaults(_module=module_name)
    return parser


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    # global options take no command name as value: the first command name is the command
    parser = build_parser(next((w for w in words if w in COMMANDS), None))
    args = parser.parse_args(argv)
    configure(args.log_level)
    log = get_logger("cli")
    module = importlib.import_module(args._module)
    from .. import identifiers  # noqa: F401  (imported for its effect: error lines never echo an identifier)

    try:
        return int(module.main(args) or 0)
    except BiomarkersError as exc:
        print(f"biomarkers {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        print(f"biomarkers {args.command}: error: {exc.filename or ''}: {exc.strerror}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print(f"biomarkers {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: say so in one line
        if os.environ.get("BIOMARKERS_DEBUG"):
            raise
        log.debug("internal error", exc_info=True)
        print(f"biomarkers {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(set BIOMARKERS_DEBUG=1 for the traceback and report it)", file=sys.stderr)
        return 1
