"""One self-contained HTML report of a results folder (<results>/report/index.html)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", required=True, metavar="OUT", help="results folder written by the pipeline's steps")
    parser.add_argument("--protocol", help="protocol YAML (default: the bundled assets/protocol.yaml)")
    parser.add_argument("--allow-incomplete", action="store_true",
                        help="read a results folder without a complete run manifest (pipeline_info/run.json): a run "
                             "that did not finish, or Nextflow's staged task outputs")


def main(args: argparse.Namespace) -> int:
    from ..report import build_report

    path = build_report(args.results, protocol=args.protocol, allow_incomplete=args.allow_incomplete)
    print(f"report: {path}")
    return 0
