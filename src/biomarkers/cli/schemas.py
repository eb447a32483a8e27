"""Print the output data dictionary (Markdown) or an input JSON Schema."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--markdown", action="store_true", help="data dictionary of every output table, as Markdown")
    what.add_argument("--input", metavar="NAME", help="print an input JSON Schema from assets/ (e.g. schema_input.json)")


def main(args: argparse.Namespace) -> int:
    from .. import assets, schemas

    if args.markdown:
        sys.stdout.write(schemas.data_dictionary_markdown())
    else:
        json.dump(assets.load_schema(args.input), sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0
