"""`acdc crd`: print or write the generated CustomResourceDefinition."""

from __future__ import annotations

import argparse

from acdc.atomic import write_text
from acdc.cli.arguments import output_file
from acdc.spec.crd import render_crd


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("crd", help="print the CoevolutionRun CRD generated from the spec")
    parser.add_argument("--output", "-o", type=output_file, action="append", default=[], help="write to this file (repeatable)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    text = render_crd()
    if not args.output:
        print(text, end="")
    for path in args.output:
        write_text(path, text)
    return 0
