"""Fill the run's dataset cache so evaluation can run offline (`acdc evaluate --prefetch`).

Many clusters give evaluation pods no network, and lm-eval downloads each benchmark's
dataset the first time it builds the task. The prefetch loads every benchmark's task once,
online, with ``HF_HOME`` and ``HF_DATASETS_CACHE`` on the run's volume (``datasetCache``);
the evaluation processes then run with ``HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1`` against
the same folders (``harness.offline_environment``) and read what was stored. The operator
runs it as the stage's first Job when ``spec.evaluation.prefetch`` is set (that Job alone
may reach the hub); docs/evaluation.md says how to fill the cache from outside instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from acdc.atomic import write_json
from acdc.evaluation.harness import HarnessConfig, load_task

PREFETCH_RECORD = "prefetched.json"


def online_environment(cache: Path) -> dict[str, str]:
    """The environment a prefetch needs: the cache on the volume, downloads allowed."""
    return {"HF_HOME": str(cache), "HF_DATASETS_CACHE": str(cache / "datasets"),
            "HF_DATASETS_OFFLINE": "0", "HF_HUB_OFFLINE": "0"}


def prefetch_tasks(tasks: dict[str, HarnessConfig], cache: Path) -> dict[str, int]:
    """Build each lm-eval task once (which downloads its dataset into ``cache``); returns the
    number of evaluation documents per task and records them in ``cache/prefetched.json``.

    Must run before ``datasets`` is imported in this process: it reads the variables once.
    """
    cache.mkdir(parents=True, exist_ok=True)
    os.environ.update(online_environment(cache))
    counts = {}
    for name, config in tasks.items():
        _, task = load_task(name, config)
        counts[name] = len(task.eval_docs)
    write_json(cache / PREFETCH_RECORD, {"tasks": counts})
    return counts
