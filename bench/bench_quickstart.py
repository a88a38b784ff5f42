"""The quickstart's cost and its science: wall time per generation, peak memory, held-out coverage.

Runs ``acdc run examples/quickstart.yaml`` into a fresh temporary state folder (once per
``--seeds`` value, the run seed replaced), then prints, next to the issue's targets
(whole run under 10 minutes and under 4 GB on 2 CPU cores):

- wall time of the whole run and of each generation: generation G's time is the gap
  between the commit records (``archives/GGGG.json``) of G-1 and G, generation 0's is
  counted from the start of the command (so it includes init and the initial task pool);
- peak memory, two ways: the peak of the summed RSS of the whole process tree (runner,
  phase workers, sandboxes), sampled from /proc every 0.2 s, which is what the 4 GB
  target is about; and ``getrusage(RUSAGE_CHILDREN).ru_maxrss``, the largest single
  descendant's peak (exact, but per process);
- the held-out comparison the report computed (task force, evolved-only force, seeds, best
  single model, base model, best team of N starting models chosen on the run's own
  generation-0 pool), then a table with one row per run seed, and across seeds how often
  the task force covered more than each rival and how often an evolved model solved a
  held-out task no starting model solves;
- the same force-against-team comparison at every smaller N (a force of 1 and 2 against the
  best 1 and 2 starting models), as the run's report computed them (``compare_every_size``)
  on the same held-out set; read back from its cache.

A run where a starting model has no generation-0 scores (its team was chosen without it)
is flagged NOT COMPARABLE and left out of every count against the best starting team.

    python bench/bench_quickstart.py [--run examples/quickstart.yaml] [--seeds 1 2 3 4 5]
                                     [--generations N] [--workers N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from acdc.engine.state import RunState

TARGET_SECONDS = 600
TARGET_BYTES = 4 * 1024**3
SAMPLE_SECONDS = 0.2


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(c) for c in handle.read().split()]
    except OSError:
        return []


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss(root: int) -> int:
    """Summed resident memory of ``root`` and all its descendants right now."""
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_bytes(pid)
        stack.extend(_children(pid))
    return total


class PeakSampler(threading.Thread):
    """Polls a process tree's summed RSS until stopped; keeps the maximum."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self._stop_event = pid, 0, threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(SAMPLE_SECONDS):
            self.peak = max(self.peak, tree_rss(self.pid))

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


def run_once(run_file: Path, seed: int | None, state: Path, generations: int | None, workers: int | None) -> dict:
    document = yaml.safe_load(run_file.read_text())
    if seed is not None:
        document["spec"]["seed"] = seed
    spec_file = state.parent / f"{state.name}.yaml"
    spec_file.write_text(yaml.safe_dump(document))
    command = [sys.executable, "-m", "acdc.cli.main", "run", str(spec_file), "--state", str(state), "--plain"]
    command += ["--generations", str(generations)] if generations is not None else []
    command += ["--workers", str(workers)] if workers is not None else []
    started = time.time()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = PeakSampler(process.pid)
    sampler.start()
    output, _ = process.communicate()
    wall = time.time() - started
    peak = sampler.stop()
    if process.returncode != 0:
        raise SystemExit(f"acdc run failed (exit {process.returncode}):\n{output[-4000:]}")
    commits = sorted((state / "archives").glob("*.json"))
    times = [started, *(p.stat().st_mtime for p in commits)]
    per_generation = [round(b - a, 1) for a, b in itertools.pairwise(times)]
    heldout_file = RunState(state).heldout_file
    heldout = json.loads(heldout_file.read_text()) if heldout_file.exists() else None
    # The report compared the last generation's force at every size (compare_every_size).
    comparisons = sorted(heldout["comparisons"].values(), key=lambda c: (c["generation"], c["size"])) if heldout else []
    comparison = comparisons[-1] if comparisons else None
    smaller = {c["size"]: (int(_solved(c, "taskforce")), int(_solved(c, "starting"))) for c in comparisons[:-1]
               if comparison and c["generation"] == comparison["generation"]}
    return {"seed": document["spec"]["seed"], "wall": wall, "per_generation": per_generation, "tree_peak": peak,
            "comparison": comparison, "smaller": smaller}


TABLE = (("taskforce", "task force"), ("evolved", "evolved only"), ("seeds", "seeds"), ("base", "base"),
         ("best", "best single"), ("starting", "best starting team"))


def _coverage(comparison: dict, key: str) -> float:
    return next(g["coverage"] for g in comparison["groups"] if g["key"] == key)


def _solved(comparison: dict, key: str) -> str:
    return next((str(g["solved"]) for g in comparison["groups"] if g["key"] == key), "-")


def _comparable(comparison: dict) -> bool:
    """Whether the best starting team could be chosen from every starting model (``unscored_start`` empty)."""
    return not comparison["unscored_start"]


def _cell(comparison: dict, key: str) -> str:
    weaker = key == "starting" and not _comparable(comparison)
    return _solved(comparison, key) + (" (NOT COMPARABLE)" if weaker else "")


def print_table(results: list[dict]) -> None:
    """One row per run seed: tasks solved of the held-out set by each group, and tasks beyond the start."""
    rows = [r for r in results if r["comparison"]]
    if not rows:
        return
    print(f"held-out tasks solved (of {rows[0]['comparison']['tasks']}, N = {rows[0]['comparison']['size']}):")
    print("| run seed | " + " | ".join(label for _, label in TABLE) + " | evolved beyond the start |")
    print("|---" * (len(TABLE) + 2) + "|")
    for r in rows:
        c = r["comparison"]
        beyond = c.get("beyond_start", [])
        print(f"| {r['seed']} | " + " | ".join(_cell(c, key) for key, _ in TABLE)
              + f" | {len(beyond)} {' '.join(beyond)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=Path("examples/quickstart.yaml"))
    parser.add_argument("--seeds", type=int, nargs="*", default=None, help="run seeds (default: the file's)")
    parser.add_argument("--generations", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="keep the state folders under this directory")
    args = parser.parse_args()

    base = args.keep or Path(tempfile.mkdtemp(prefix="acdc-bench-quickstart-"))
    base.mkdir(parents=True, exist_ok=True)
    results = []
    for seed in args.seeds or [None]:
        result = run_once(args.run.resolve(), seed, base / f"seed-{seed if seed is not None else 'file'}",
                          args.generations, args.workers)
        results.append(result)
        gens = len(result["per_generation"])
        print(f"seed {result['seed']}: {gens} generations (0..{gens - 1}) in {result['wall']:.0f} s "
              f"(target < {TARGET_SECONDS} s: {'ok' if result['wall'] < TARGET_SECONDS else 'MISSED'})")
        print(f"  wall time per generation (s): {result['per_generation']}  "
              f"mean after gen 0: {sum(result['per_generation'][1:]) / max(gens - 1, 1):.1f}")
        children_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        print(f"  peak memory, process tree summed (sampled /proc): {result['tree_peak'] / 1024**3:.2f} GB "
              f"(target < 4 GB: {'ok' if result['tree_peak'] < TARGET_BYTES else 'MISSED'}); largest single "
              f"process so far (getrusage children): {children_peak / 1024**3:.2f} GB")
        comparison = result["comparison"]
        if comparison:
            print(f"  held-out coverage on {comparison['tasks']} unseen tasks:")
            for group in comparison["groups"]:
                print(f"    {group['coverage']:.3f}  {group['label']}: {', '.join(group['models'])}")
            if not _comparable(comparison):
                print(f"  WARNING: NOT COMPARABLE: starting model(s) {', '.join(comparison['unscored_start'])} have "
                      "no generation-0 scores; the best starting team was chosen without them, so this run is left "
                      "out of every count against the team")
    print_table(results)
    compared = [r["comparison"] for r in results if r["comparison"]]
    if compared:
        for key, rival in (("taskforce", "seeds"), ("evolved", "seeds"), ("taskforce", "base"),
                           ("taskforce", "starting")):
            if not all(any(g["key"] == rival for g in c["groups"]) for c in compared):
                continue
            fair = [c for c in compared if rival != "starting" or _comparable(c)]
            wins = sum(_coverage(c, key) > _coverage(c, rival) for c in fair)
            ties = sum(_coverage(c, key) == _coverage(c, rival) for c in fair)
            left_out = f"; {len(compared) - len(fair)} NOT COMPARABLE runs left out" if len(fair) < len(compared) else ""
            print(f"held-out: {key} covers more than the {rival} in {wins} of {len(fair)} runs ({ties} ties{left_out})")
        novel = sum(bool(c.get("beyond_start")) for c in compared)
        print(f"held-out: an evolved model solves a task no starting model solves in {novel} of {len(compared)} runs")
        for n in sorted({n for r in results for n in r["smaller"]}):
            pairs = [r["smaller"][n] for r in results if n in r["smaller"] and _comparable(r["comparison"])]
            print(f"held-out, N = {n}: task force against the best {n} starting models, solved "
                  f"{', '.join(f'{f}/{t}' for f, t in pairs)}; more in {sum(f > t for f, t in pairs)} of "
                  f"{len(pairs)} runs ({sum(f == t for f, t in pairs)} ties)")
    print(f"state folders: {base}")


if __name__ == "__main__":
    main()
