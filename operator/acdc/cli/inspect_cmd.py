"""`acdc status`, `acdc report`, `acdc taskforce`: look at a run's state folder.

All three only read committed records, so they are safe while `acdc run` is writing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = subparsers.add_parser("status", help="where a run stands: generation, archive, task pool, recent steps")
    status.add_argument("state", type=Path, help="the run's state folder")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=handle_status)

    report = subparsers.add_parser("report", help="write a self-contained HTML report of a run")
    report.add_argument("state", type=Path, help="the run's state folder")
    report.add_argument("--output", type=Path, default=None, help="HTML file (default: STATE/report.html)")
    report.add_argument("--no-heldout", action="store_true", help="skip the held-out evaluation (toy-world runs)")
    report.set_defaults(handler=handle_report)

    force = subparsers.add_parser("taskforce", help="the N archive models that together cover most tasks")
    force.add_argument("state", type=Path, help="the run's state folder")
    force.add_argument("--size", type=int, required=True, help="number of models N")
    force.add_argument("--method", choices=("greedy", "exact"), default="greedy",
                       help="greedy max-coverage (default) or exact enumeration (small N)")
    force.add_argument("--all-generations", action="store_true",
                       help="choose among every model any archive held (whose weights still exist)")
    force.add_argument("--evolved-only", action="store_true", help="leave the seed models out")
    force.add_argument("--output", type=Path, default=None, help="write the chosen model paths, one per line")
    force.add_argument("--json", action="store_true", help="machine-readable output")
    force.set_defaults(handler=handle_taskforce)


def handle_status(args: argparse.Namespace) -> int:
    from acdc.report.status import collect_status, render_status

    status = collect_status(args.state)
    print(json.dumps(status.to_dict(), indent=2) if args.json else render_status(status))
    return 0


def handle_report(args: argparse.Namespace) -> int:
    from acdc.report import build_report

    print(f"report: {build_report(args.state, args.output, heldout=not args.no_heldout).resolve()}")
    return 0


def handle_taskforce(args: argparse.Namespace) -> int:
    from acdc.atomic import write_text
    from acdc.runner.snapshot import open_snapshot
    from acdc.runner.taskforce import pick_task_force, render_task_force

    force = pick_task_force(open_snapshot(args.state), args.size, args.method, args.all_generations,
                            args.evolved_only)
    print(json.dumps(force.to_dict(), indent=2) if args.json else render_task_force(force))
    if args.output is not None:
        write_text(args.output, "".join(f"{m.model_path}\n" for m in force.members))
    return 0
