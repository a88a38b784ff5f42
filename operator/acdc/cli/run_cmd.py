"""`acdc run`: the whole coevolution on this machine (the quickstart's command)."""

from __future__ import annotations

import argparse
from pathlib import Path

from acdc.engine.state import RunState


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("run", help="run a CoevolutionRun locally; resumes an existing state folder")
    parser.add_argument("file", nargs="?", type=Path, help="run.yaml (omit to resume --state with its stored spec)")
    parser.add_argument("--state", type=Path, default=None, help="state folder (default: runs/<metadata.name>)")
    parser.add_argument("--generations", type=int, default=None, help="override spec.population.generations")
    parser.add_argument("--workers", type=int, default=None, help="parallel phase workers (default: CPU count, at most 4)")
    parser.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port")
    parser.add_argument("--plain", action="store_true", help="log lines instead of the live view")
    parser.add_argument("--no-report", action="store_true",
                        help="skip the HTML report (and its held-out evaluation) at the end of the run")
    parser.add_argument("--unsafe-sandbox", action="store_true",
                        help="run generated task code even where bubblewrap cannot confine it (sets sandbox.unsafe)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from acdc import metrics
    from acdc.errors import InfrastructureFault, UserError
    from acdc.phases.integrity import require_committed
    from acdc.runner.budget import stopped
    from acdc.runner.executor import LocalRunner, RunnerOptions, default_workers
    from acdc.runner.lock import StateLock
    from acdc.runner.prepare import already_finished, effective_run, prepare_toy_world, store_run
    from acdc.spec import load_run
    from acdc.tasks.sandbox.pool import make_undumpable

    make_undumpable()  # its environment holds API keys: same-uid processes may not ptrace it or read its /proc

    if args.generations is not None and args.generations < 0:
        raise UserError("--generations must be >= 0")
    if args.workers is not None and args.workers < 1:
        raise UserError("--workers must be >= 1")
    # Parse the file before any folder exists: a bad file must leave no state folder behind.
    from_file = load_run(args.file) if args.file is not None else None
    state = args.state
    if state is None:
        if from_file is None:
            raise UserError("pass a run file or --state")
        state = Path("runs") / from_file.metadata.name
    try:
        state.mkdir(parents=True, exist_ok=True)
        with StateLock(state):
            run = effective_run(args.file, state, args.generations)
            if already_finished(run.spec, state):
                # Checked before building the toy world or the report: both take seconds. The
                # cheap integrity check still runs: a finished run's damage is named, not hidden.
                require_committed(state)
                report = RunState(state).report_file
                print(f"run {run.metadata.name!r} already finished; state in {state}"
                      + (f"; report: {report.resolve()}" if report.is_file() else ""))
                return 0
            if args.unsafe_sandbox:
                sandbox = run.spec.sandbox.model_copy(update={"unsafe": True})
                run = run.model_copy(update={"spec": run.spec.model_copy(update={"sandbox": sandbox})})
            store_run(run, state)
            prepare_toy_world(run.spec)
            if args.metrics_port is not None:
                metrics.start_server(args.metrics_port)
            options = RunnerOptions(workers=args.workers or default_workers(), live=False if args.plain else None)
            # RunFailed / Interrupted reach the CLI's one handler (acdc.cli.main)
            LocalRunner(state, run.metadata.name, run.spec, options).run()
    except OSError as exc:  # the runner's own state writes (a full disk): nothing was dropped
        raise InfrastructureFault(f"cannot update {state}: {exc}; fix the cause and run `acdc run` again "
                                  "to resume") from exc
    stop = stopped(state)  # spec.budget ended it early: Succeeded, with the reason
    print(f"run {run.metadata.name!r} finished" + (f" ({stop['reason']}: {stop['message']})" if stop else "")
          + f"; state in {state}")
    if run.spec.evaluation.enabled:
        _evaluate(state, run.metadata.name)
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


def _evaluate(state: Path, name: str) -> None:
    """spec.evaluation.enabled: benchmark the final archive (resumable: a rerun of `acdc run` goes on)."""
    from acdc import metrics
    from acdc.evaluation.pipeline import apply_offline, evaluate_run, open_evaluation
    from acdc.evaluation.results import render_headline
    from acdc.runner.pool import pin_threads

    pin_threads(1)
    snapshot = open_evaluation(state)
    apply_offline(snapshot)
    results = evaluate_run(snapshot)
    if results is not None:
        metrics.set_evaluation("local", name, results)
    print(f"evaluation: {render_headline(results.get('headline') if results else None)}")
