"""`acdc phase NAME --state DIR --generation G [--index J]`: run one step of the DAG.

This is the command every Job container executes; the local runner's worker processes call
the same ``acdc.phases.execute.execute`` in process, without starting this command. Its exit
code is the contract with the operator (``acdc.phases.faults``): 0 done, 3 rejected
(dropped), 75 an infrastructure fault (not recorded, run again later), 1 a step failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

from acdc.atomic import write_termination_log
from acdc.cli.arguments import bounded_int, output_file
from acdc.errors import EXIT_INFRASTRUCTURE, InfrastructureFault, UserError
from acdc.logsafe import print_error
from acdc.phases.context import EXIT_REJECTED, fault_message
from acdc.spec.base import MAX_COUNT
from acdc.steps import Phase, Step


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("phase", help="run one phase step against a state folder (what Jobs run)")
    parser.add_argument("phase", choices=[p.value for p in Phase])
    parser.add_argument("--state", type=Path, required=True, help="the run's state folder (the PVC in a cluster)")
    parser.add_argument("--generation", type=bounded_int(0, MAX_COUNT), required=True)
    parser.add_argument("--index", type=bounded_int(0, MAX_COUNT), default=None)
    parser.add_argument("--run", type=Path, default=None, help="run.yaml to read the spec from (default: STATE/run.yaml)")
    parser.add_argument("--termination-log", type=output_file, default=None, help="also write the result here (Kubernetes)")
    parser.add_argument("--given-up", type=step_name, action="append", default=[], metavar="STEP",
                        help="a step of this generation the operator gave up or skipped (its record is in the "
                             "run's status, not on the volume); repeatable")
    parser.set_defaults(handler=handle)


def step_name(text: str) -> str:
    """A step's name as the DAG writes it (g0003-score-02)."""
    try:
        return Step.parse(text).name
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a step name: {text!r} (e.g. g0003-score-02)") from exc


def handle(args: argparse.Namespace) -> int:
    from acdc.phases.execute import execute
    from acdc.phases.faults import Fault, classify
    from acdc.runner.lock import StateLock

    step = Step(args.generation, Phase(args.phase), args.index)
    try:
        with StateLock(args.state, shared=True):  # phases may share a volume, never with a live `acdc run`
            record = execute(args.state, step, args.run, args.termination_log, named=True,
                             given_up=frozenset(args.given_up))
    except Exception as exc:
        if classify(exc) is not Fault.INFRASTRUCTURE:
            raise
        return stopped_by_fault(step, exc, args.termination_log)
    print(json.dumps({"step": step.name, **record.to_dict()}))
    return 0 if record.status == "succeeded" else EXIT_REJECTED


def stopped_by_fault(step: Step, exc: Exception, termination_log: Path | None) -> int:
    """Say why an infrastructure fault stopped ``step`` and return its exit code (75): the one-line
    cause on stderr (the pod's log) and, for the operator's condition, in the termination log.
    That write is best effort: the exit code is the contract, and the volume or mount that failed
    the step may fail it too."""
    # Our own fault says what failed (which model could not be fetched); a library's error that a
    # phase wrapped says it better than the wrapper.
    own = isinstance(exc, UserError | OSError | InfrastructureFault) or exc.__cause__ is None
    cause = str(exc if own else exc.__cause__)
    print_error(f"{step.name} stopped by an infrastructure fault, not recorded: {cause}")
    if termination_log is not None:
        with contextlib.suppress(OSError):
            write_termination_log(termination_log, fault_message(cause))
    return EXIT_INFRASTRUCTURE
