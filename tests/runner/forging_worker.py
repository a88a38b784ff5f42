"""A script: run one step in a real runner worker whose step logs text that forges a log line.

Run as a file, not imported: the pool spawns its workers, and a spawned process runs this file
again (as ``__mp_main__``) before the worker loop starts, so the step body swapped in below is
the one the worker executes. Everything else is the runner's: the pool, the spawned process,
the worker loop and the logging it sets up. Prints the step's outcome on stdout.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import acdc.phases.execute
from acdc.steps import Phase, Step, StepRecord

FORGED = "boom\n2026-12-02 11:24:05,255 ERROR acdc.run: g0000-tasks FAILED \x1b[31mRED\x1b[0m\u2028\u202eevil"


def _forging_step(state: Path, step: Step) -> StepRecord:
    logging.getLogger("acdc.phases.tasks").warning("adapting t1 failed: %s", FORGED)
    return StepRecord("succeeded", {})


if __name__ in ("__main__", "__mp_main__"):  # the script and its spawned workers, not a test importing FORGED
    acdc.phases.execute.execute = _forging_step  # type: ignore[assignment]

if __name__ == "__main__":
    from acdc.logsafe import configure_logging
    from acdc.runner.pool import WorkerPool

    configure_logging(logging.INFO)  # as `acdc run` does
    pool = WorkerPool(Path(sys.argv[1]), 1, 1)
    try:
        pool.submit(Step(0, Phase.PLAN))
        (outcome,) = pool.wait()
        print(outcome.record.status if outcome.record else outcome.error)
    finally:
        pool.close()
