"""`acdc phase NAME --state DIR --generation G [--index J]`: run one step of the DAG.

This is the command every Job container executes. The local runner's worker processes
call the same ``acdc.phases.execute.execute`` in process, without starting this command.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from acdc.phases.context import EXIT_REJECTED
from acdc.phases.dag import Phase, Step


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("phase", help="run one phase step against a state folder (what Jobs run)")
    parser.add_argument("phase", choices=[p.value for p in Phase])
    parser.add_argument("--state", type=Path, required=True, help="the run's state folder (the PVC in a cluster)")
    parser.add_argument("--generation", type=int, required=True)
    parser.add_argument("--index", type=int, default=None)
    parser.add_argument("--run", type=Path, default=None, help="run.yaml to read the spec from (default: STATE/run.yaml)")
    parser.add_argument("--termination-log", type=Path, default=None, help="also write the result here (Kubernetes)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from acdc.phases.execute import execute

    step = Step(args.generation, Phase(args.phase), args.index)
    record = execute(args.state, step, args.run, args.termination_log)
    print(json.dumps({"step": step.name, **record.to_dict()}))
    return 0 if record.status == "succeeded" else EXIT_REJECTED
