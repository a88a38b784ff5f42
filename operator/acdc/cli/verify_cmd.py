"""`acdc verify DIR`: hash every file the run's newest commit points at, name what is damaged.

The runner and the phases check sizes and headers before use; this reads every byte
(models and tasks of the newest archive and pool, layout.json, seeds.json) and says, for
each damaged file, whether the run can recompute it. Read-only and lock-free; beside a live
run, a commit landing mid-check may retire (delete) a model just checked as an archive member,
so verify a stopped run for a definite answer.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from acdc.logsafe import print_error


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("verify", help="check a state folder's models and tasks against their hashes")
    parser.add_argument("state", type=Path, help="the run's state folder")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from acdc.engine.state import RunState
    from acdc.errors import UserError
    from acdc.phases.integrity import find_damage

    if not args.state.is_dir():
        raise UserError(f"{args.state}: no such state folder")
    state = RunState(args.state)
    if not (state.run_file.exists() or state.layout_file.exists()):
        raise UserError(f"{args.state}: not an acdc state folder (no run.yaml, no layout.json)")
    damage, checked = find_damage(args.state)
    for item in damage:
        print_error(f"{item.error}; {item.remedy}", label="damaged")
    if damage:
        print_error(f"{len(damage)} damaged file(s) in {args.state}; `acdc run` refuses to resume until they are "
                    "recomputed or restored")
        return 1
    print(f"{args.state}: intact ({checked} model and task folders hashed in full: the committed ones and "
          "the children merged since)")
    return 0
