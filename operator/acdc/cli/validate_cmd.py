"""`acdc validate FILE...`: check run files against the CoevolutionRun spec."""

from __future__ import annotations

import argparse

from acdc.cli.arguments import nonempty_path
from acdc.errors import UserError
from acdc.logsafe import print_error
from acdc.spec import load_run_noting


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("validate", help="check run.yaml files against the CoevolutionRun spec")
    parser.add_argument("files", nargs="+", metavar="FILE", type=nonempty_path)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    failed = False
    for path in args.files:
        try:
            run, notes = load_run_noting(path)
        except UserError as exc:  # unreadable, unparseable or invalid: one line each, then the next file
            print_error(str(exc))
            failed = True
            continue
        print(f"{path}: valid CoevolutionRun {run.metadata.name!r}")
        for note in notes:  # valid, and a setting the run will not use: said, not refused (acdc.spec.notes)
            print_error(note, label="warning")
    if failed:
        return 2
    return 0
