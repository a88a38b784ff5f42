"""`acdc status`, `acdc report`, `acdc taskforce`: look at a run's state folder.

All three only read committed records, so they are safe while `acdc run` is writing.
``report`` and ``taskforce`` also take ``--run NAME -n NS`` instead of a folder: they
then read a cluster run's volume through a short-lived reader pod (``acdc.controller.fetch``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from acdc.cli.arguments import bounded_int, output_file, seconds
from acdc.errors import UserError
from acdc.spec.base import MAX_COUNT


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = subparsers.add_parser("status", help="where a run stands: generation, archive, task pool, recent steps")
    status.add_argument("state", type=Path, help="the run's state folder")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=handle_status)

    report = subparsers.add_parser("report", help="write a self-contained HTML report of a run")
    report.add_argument("state", type=Path, nargs="?", help="the run's state folder (or --run)")
    report.add_argument("--output", type=output_file, default=None,
                        help="HTML file (default: STATE/report.html; with --run: ./RUN-report.html)")
    _cluster_arguments(report)
    report.add_argument("--no-heldout", action="store_true", help="skip the held-out evaluation (toy-world runs)")
    report.set_defaults(handler=handle_report)

    force = subparsers.add_parser("taskforce", help="the N archive models that together cover most tasks")
    force.add_argument("state", type=Path, nargs="?", help="the run's state folder (or --run)")
    force.add_argument("--size", type=bounded_int(1, MAX_COUNT), required=True, help="number of models N")
    force.add_argument("--method", choices=("greedy", "exact"), default="greedy",
                       help="greedy max-coverage (default) or exact enumeration (small N)")
    force.add_argument("--all-generations", action="store_true",
                       help="choose among every model any archive held (whose weights still exist)")
    force.add_argument("--evolved-only", action="store_true", help="leave the seed models out")
    force.add_argument("--output", type=output_file, default=None, help="write the chosen model paths, one per line")
    force.add_argument("--json", action="store_true", help="machine-readable output")
    _cluster_arguments(force)
    force.add_argument("--download", type=Path, default=None,
                       help="with --run: a new folder to receive the models and their manifest (verified)")
    force.add_argument("--max-bytes", type=bounded_int(1, 2**50), default=64 << 30, help="with --run: refuse larger downloads")
    force.set_defaults(handler=handle_taskforce)


def _cluster_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", default=None, help="a CoevolutionRun in the cluster ($KUBECONFIG) instead of STATE")
    parser.add_argument("-n", "--namespace", default="default", help="the run's namespace (with --run)")
    parser.add_argument("--wait", type=seconds, default=300.0,
                        help="seconds to wait for the reader pod to be ready (with --run)")


def _state_or_run(args: argparse.Namespace) -> Path | None:
    """The local folder to read, or None for a cluster run; exactly one of the two."""
    if (args.state is None) == (args.run is None):
        raise UserError("give either a state folder or --run NAME")
    state: Path | None = args.state
    return state


def handle_status(args: argparse.Namespace) -> int:
    from acdc.report.status import collect_status, render_status

    status = collect_status(args.state)
    print(json.dumps(status.to_dict(), indent=2) if args.json else render_status(status))
    return 0


def handle_report(args: argparse.Namespace) -> int:
    if _state_or_run(args) is None:
        from acdc.controller.fetch import fetch_report

        output = args.output or Path(f"{args.run}-report.html")
        print(f"report: {fetch_report(args.namespace, args.run, output, args.wait).resolve()}")
        return 0
    from acdc.report import build_report

    print(f"report: {build_report(args.state, args.output, heldout=not args.no_heldout).resolve()}")
    return 0


def handle_taskforce(args: argparse.Namespace) -> int:
    if _state_or_run(args) is None:
        return _download_taskforce(args)
    if args.download is not None:
        raise UserError("--download needs --run (a local task force is already on this machine)")
    from acdc.atomic import write_text
    from acdc.runner.snapshot import open_snapshot
    from acdc.runner.taskforce import pick_task_force, render_task_force

    force = pick_task_force(open_snapshot(args.state), args.size, args.method, args.all_generations,
                            args.evolved_only)
    print(json.dumps(force.to_dict(), indent=2) if args.json else render_task_force(force))
    if args.output is not None:
        write_text(args.output, "".join(f"{m.model_path}\n" for m in force.members))
    return 0


def _download_taskforce(args: argparse.Namespace) -> int:
    from acdc.controller.fetch import fetch_task_force

    if args.download is None:
        raise UserError("--run needs --download DIR: a new folder for the task force's models")
    if args.download.exists():  # checked before a pod is started; unpack checks again
        raise UserError(f"{args.download}: already exists; choose a new folder")
    if args.method != "greedy" or args.all_generations or args.evolved_only or args.output is not None:
        raise UserError("with --run only --size, --download, --max-bytes and --json apply")
    manifest = fetch_task_force(args.namespace, args.run, args.size, args.download, args.max_bytes, args.wait)
    if args.json:
        print(json.dumps(manifest, indent=2))
    else:
        members = ", ".join(m["id"] for m in manifest["members"])
        print(f"task force of {len(manifest['members'])} (generation {manifest['generation']}): coverage "
              f"{manifest['coverage']:.3f} of {manifest['tasks']} active tasks: {members}")
        print(f"downloaded and verified into {args.download.resolve()}")
    return 0
