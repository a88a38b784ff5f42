"""`acdc run`: the whole coevolution on this machine (the quickstart's command)."""

from __future__ import annotations

import argparse
from pathlib import Path

from acdc.cli.arguments import bounded_int, nonempty_path, port
from acdc.engine.state import RunState
from acdc.spec.base import MAX_COUNT

MAX_WORKERS = 256
"""Every worker starts up front (a process with torch loaded): far above any machine's use."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("run", help="run a CoevolutionRun locally; resumes an existing state folder")
    parser.add_argument("file", nargs="?", type=nonempty_path, help="run.yaml (omit to resume --state with its stored spec)")
    parser.add_argument("--state", type=nonempty_path, default=None, help="state folder (default: runs/<metadata.name>)")
    parser.add_argument("--generations", type=bounded_int(0, MAX_COUNT), default=None,
                        help="override spec.population.generations")
    parser.add_argument("--workers", type=bounded_int(1, MAX_WORKERS), default=None,
                        help="parallel phase workers (default: CPU count, at most 4)")
    parser.add_argument("--metrics-port", type=port, default=None,
                        help="serve Prometheus metrics on this port (0: any free port)")
    parser.add_argument("--plain", action="store_true", help="log lines instead of the live view")
    parser.add_argument("--no-report", action="store_true",
                        help="skip the HTML report (and its held-out evaluation) at the end of the run")
    parser.add_argument("--unsafe-sandbox", action="store_true",
                        help="run generated task code even where bubblewrap cannot confine it (sets sandbox.unsafe)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from acdc import metrics
    from acdc.errors import InfrastructureFault, StateError, UserError
    from acdc.logsafe import print_error
    from acdc.phases.dag import DagShape
    from acdc.phases.integrity import require_committed
    from acdc.runner.budget import stopped
    from acdc.runner.executor import LocalRunner, RunnerOptions, default_workers
    from acdc.runner.lock import StateLock
    from acdc.runner.prepare import (
        already_finished,
        check_state_folder,
        effective_run,
        preflight_local,
        prepare_toy_world,
        resume_command,
        store_run,
    )
    from acdc.spec import load_run_noting
    from acdc.tasks.sandbox.pool import make_undumpable

    make_undumpable()  # its environment holds API keys: same-uid processes may not ptrace it or read its /proc

    # Parse the file and check the folder before any folder exists: a bad file, flag or
    # folder must leave nothing behind.
    from_file, notes = load_run_noting(args.file, args.generations) if args.file is not None else (None, [])
    for note in notes:  # a setting this run will not use: said, not refused (acdc.spec.notes)
        print_error(note, label="warning")
    state = args.state
    if state is None:
        if from_file is None:
            raise UserError("pass a run file or --state")
        state = Path("runs") / from_file.metadata.name
    check_state_folder(state, resuming=from_file is None)
    if from_file is not None:
        preflight_local(from_file.spec)
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the state folder {state}: {exc.strerror or exc}") from None
    try:
        with StateLock(state):
            run = effective_run(args.file, state, args.generations)
            if args.unsafe_sandbox:
                sandbox = run.spec.sandbox.model_copy(update={"unsafe": True})
                run = run.model_copy(update={"spec": run.spec.model_copy(update={"sandbox": sandbox})})
            store_run(run, state)  # what every step, and the evaluation, read
            finished = already_finished(run.spec, state)
            if finished:
                # The cheap integrity check still runs: a finished run's damage is named, not hidden.
                require_committed(state, DagShape.from_spec(run.spec))
                report = RunState(state).report_file
                if not (run.spec.evaluation.enabled and not _evaluated(state)) and (report.is_file() or args.no_report):
                    # Before building the toy world or the report: both take seconds.
                    print(f"run {run.metadata.name!r} already finished; state in {state}"
                          + (f"; report: {report.resolve()}" if report.is_file() else ""))
                    return 0
            prepare_toy_world(run.spec)
            if not finished:
                if args.metrics_port is not None:
                    metrics.start_server(args.metrics_port)
                options = RunnerOptions(workers=args.workers or default_workers(), live=False if args.plain else None)
                # RunFailed / Interrupted reach the CLI's one handler (acdc.cli.main)
                LocalRunner(state, run.metadata.name, run.spec, options).run()
            stop = stopped(state)  # spec.budget ended it early: Succeeded, with the reason
            pending = run.spec.evaluation.enabled and not _evaluated(state)
            done = ("already finished; evaluating it" if pending else "already finished; writing its report") \
                if finished else "finished"
            print(f"run {run.metadata.name!r} {done}"
                  + (f" ({stop['reason']}: {stop['message']})" if stop else "") + f"; state in {state}")
            # Under the lock too: a final evaluation killed or out of space is left to the next
            # `acdc run`, which goes on with it.
            if pending:
                _evaluate(state, run.metadata.name)
    except BrokenPipeError:
        raise  # stdout closed: the CLI's handler, not a state write
    except OSError as exc:  # the runner's own state writes (a full disk): nothing was dropped
        raise InfrastructureFault(f"cannot update {state}: {exc}; fix the cause and run {resume_command(state)} "
                                  "to resume") from exc
    except MemoryError as exc:  # the runner itself ran out of memory: the machine's fault, as a worker's OOM is
        raise InfrastructureFault(f"the runner ran out of memory; nothing was dropped: free memory or lower --workers, "
                                  f"then run {resume_command(state)} to resume") from exc
    except StateError as exc:  # a record the runner read itself (resuming) is damaged or gone: as in a step
        raise InfrastructureFault(f"{exc}; nothing was dropped: restore or recompute it (`acdc verify {state}` says "
                                  "how for models and tasks; a step whose record is deleted runs again), then run "
                                  f"{resume_command(state)} to resume") from exc
    if not args.no_report:
        _write_report(state)
    return 0


def _write_report(state: Path) -> None:
    """The report is a by-product: failing to build it must not turn a finished run into an error."""
    import logging

    from acdc.report import build_report

    try:
        print(f"report: {build_report(state).resolve()}")
    except Exception:  # any report bug is logged: the run itself succeeded
        logging.getLogger(__name__).exception("the run finished but its report could not be built; "
                                              "retry with `acdc report %s`", state)


def _evaluated(state: Path) -> bool:
    """Whether the final archive's evaluation summary is written (the newest committed generation's)."""
    from acdc.evaluation.pipeline import open_evaluation
    from acdc.evaluation.results import results_path

    return results_path(state, open_evaluation(state).generation).is_file()


def _evaluate(state: Path, name: str) -> None:
    """spec.evaluation.enabled: benchmark the final archive (resumable: a rerun of `acdc run` goes on)."""
    from acdc import metrics
    from acdc.errors import InfrastructureFault
    from acdc.evaluation.pipeline import apply_offline, evaluate_run, open_evaluation
    from acdc.evaluation.results import render_headline
    from acdc.runner.pool import pin_threads
    from acdc.runner.prepare import resume_command

    pin_threads(1)
    snapshot = open_evaluation(state)
    apply_offline(snapshot)
    try:
        results = evaluate_run(snapshot)
    except BrokenPipeError:
        raise
    except OSError as exc:  # a full disk, a dataset server down: what was done so far is kept
        raise InfrastructureFault(f"the evaluation of {state} stopped: {exc}; run {resume_command(state)} to go "
                                  "on with it") from exc
    if results is not None:
        metrics.set_evaluation("local", name, results)
    print(f"evaluation: {render_headline(results.get('headline') if results else None)}")
