"""The dataset cache a prefetch fills satisfies an offline evaluation process.

Two fresh processes, as in a cluster (prefetch Job, then an evaluation Job): the first builds
the lm-eval task online with the cache on the 'volume'; the second builds it with
HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 against the same cache and must get the same documents
from what is stored (the cache is not written again). The task is the toy world's held-out
split, a local JSONL dataset: no hub is reachable here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from acdc.evaluation.harness import offline_environment
from acdc.evaluation.prefetch import PREFETCH_RECORD
from acdc.evaluation.toyworld_task import TASK_NAME, write_task_dir

LOAD = """
import json, sys
from pathlib import Path
from acdc.evaluation.harness import HarnessConfig, load_task
from acdc.evaluation.prefetch import prefetch_tasks
task, include, cache, mode = sys.argv[1:]
config = HarnessConfig(include_path=Path(include))
if mode == "prefetch":
    print(json.dumps(prefetch_tasks({task: config}, Path(cache))))
else:
    print(json.dumps({task: len(load_task(task, config)[1].eval_docs)}))
"""


def _run(mode: str, include: Path, cache: Path, env: dict[str, str]) -> dict[str, int]:
    home = cache.parent.parent / "home"  # HF's default caches live here unless the env says otherwise
    base = {**{k: v for k, v in os.environ.items() if not k.startswith(("HF_", "XDG_"))}, "HOME": str(home)}
    done = subprocess.run([sys.executable, "-c", LOAD, TASK_NAME, str(include), str(cache), mode],
                          env={**base, **env}, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _tree(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")
            if p.is_file() and not p.name.endswith(".lock")}


def test_a_prefetched_cache_serves_an_offline_evaluation_process(tmp_path):
    include = tmp_path / "task"
    write_task_dir(include, 42, per_level=1)
    cache = tmp_path / "volume" / "datasets"
    fetched = _run("prefetch", include, cache, {})
    assert json.loads((cache / PREFETCH_RECORD).read_text()) == {"tasks": fetched}
    assert list((cache / "datasets").rglob("*.arrow")), "the prefetch stored no dataset"
    stored = _tree(cache)
    offline = offline_environment(cache, offline=True)
    assert offline["HF_DATASETS_OFFLINE"] == offline["HF_HUB_OFFLINE"] == "1"
    assert _run("load", include, cache, offline) == fetched
    assert _tree(cache) == stored  # read from the cache, nothing rebuilt
    assert not list((tmp_path / "home").rglob("*.arrow"))  # and not from HF's default cache either
