"""Operator cost and latency with K concurrent runs on kmock, next to the operator before issue 15.

    python bench/bench_operator.py [K ...] [--generations G] [--baseline-ref REF]

For each K (default 1 10 100) it starts K four-generation toy runs at once against one
``acdc operator`` process (the real command, fake phases: the operator alone is measured)
and prints per K:

- API requests per generation per run (the operator's client and kopf's, watches aside)
  for every generation from 1 (flat means the cost does not grow with age; the final one
  also finishes the run: its last cleanup and the Succeeded status), and the objects its
  lists returned per generation per run, first and last;
- the operator process's peak memory (VmHWM);
- p50 / p99 delay from a Job completing to the run's next Job being created.

The baseline is the same bench against the operator as it was at ``--baseline-ref``
(default: the commit before issue 15: no resync, every reconcile lists every Job and pod of
the run, finished Jobs never deleted), extracted with ``git archive`` and run from there.
The server (``tests/controller/chaos.py``, no chaos injected) honours label and field
selectors, serves deletecollection, sends bookmarks and resumes a watch from its
resourceVersion, as a real one does; the Job stand-in is event-driven.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

import kmock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.controller.chaos import ChaosEmulator  # noqa: E402
from tests.controller.cluster import NAMESPACE, Kubelet, declare, fake_phase, run_body, run_object, write_kubeconfig  # noqa: E402

STALL_S = 120.0
"""A configuration whose Jobs stop finishing for this long is reported stalled, not waited for."""
PROFILE = "--profile" in sys.argv
BASELINE_REF = "8ab08a5"
"""The operator before issue 15 (the DAG loop in reconcile.py, no resync, whole-run listing)."""


def extract(ref: str, into: Path) -> Path:
    """The operator package as it was at ``ref`` (read from git; the worktree is untouched)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "operator"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "operator"


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _tail(log: Any, lines: int = 15) -> str:
    log.flush()
    return "\n".join(Path(log.name).read_text().splitlines()[-lines:])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


async def measure(runs: int, generations: int, package: Path | None) -> dict[str, float]:
    async with ChaosEmulator() as server, kmock.Server(server):
        declare(server)
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "ACDC_METRICS_PORT": "0",
                   "KUBECONFIG": str(write_kubeconfig(Path(tmp) / "kubeconfig", str(server.url).rstrip("/")))}
            if package is not None:
                env["PYTHONPATH"] = f"{package}{os.pathsep}{env.get('PYTHONPATH', '')}"
            state = Path(tmp) / "pvc"
            state.mkdir()
            player = Kubelet(server, state, phase_runner=fake_phase, concurrent=True)
            playing = asyncio.create_task(player.run())
            log = open(Path(tmp) / "operator.log", "w")  # noqa: SIM115 (closed below)
            process = subprocess.Popen([sys.executable, "-m", "acdc.cli.main", "operator", "-A", "--standalone",
                                        "--metrics-port", "0", "--health-port", "0", "--log-level", "warning"],
                                       env=env, stdout=log, stderr=log)
            try:
                population = {"size": 2, "childrenPerGeneration": 1, "initialSize": 3, "generations": generations - 1}
                names = [f"run-{i:03d}" for i in range(runs)]
                for name in names:
                    body = run_body(name, population=population)
                    if package is not None:  # the field came later (its default off is the old DAG)
                        body["spec"]["models"].pop("baseCandidate")
                    async with server.post(f"/apis/acdc.dev/v1alpha1/namespaces/{NAMESPACE}/coevolutionruns",
                                           json=body) as response:
                        assert response.status < 300, await response.text()
                loop = asyncio.get_running_loop()
                last, since = -1, loop.time()
                while not all(((run_object(server, n) or {}).get("status") or {}).get("phase") == "Succeeded"
                              for n in names):
                    if process.poll() is not None:
                        raise SystemExit(f"operator exited with {process.returncode}; its log ends:\n{_tail(log)}")
                    if len(player.finished) != last:
                        last, since = len(player.finished), loop.time()
                    elif loop.time() - since > STALL_S:
                        print(f"    operator log ends:\n{_tail(log)}", flush=True)
                        return {"stalled": float(last)}
                    await asyncio.sleep(0.2)
                peak = peak_rss_mib(process.pid)
            finally:
                process.kill()
                process.wait()
                log.close()
                playing.cancel()
    delays: list[float] = []
    by_generation: dict[str, list[float]] = {}
    for name in names:
        created = sorted((t, job) for job, t in player.seen.items() if job.startswith(name + "-"))
        completed = sorted(t for job, t in player.finished.items() if job.startswith(name + "-"))
        for t, job in created[1:]:
            earlier = [c for c in completed if c <= t]
            if earlier:
                delays.append(t - earlier[-1])
                by_generation.setdefault(job[len(name) + 1:].split("-")[0], []).append(t - earlier[-1])
    per_generation = {g: statistics.mean(server.load[(n, g)] for n in names) for g in range(generations)}
    listed = statistics.mean(server.listed[(n, generations - 1)] for n in names)
    if PROFILE:
        total = sum(server.requests.values())
        print(f"    requests by kind ({total} in all, {runs} runs x {generations} generations):")
        for kind, count in server.requests.most_common(25):
            print(f"      {count / runs / generations:7.1f}/gen/run  {kind}")
        print("    completion->next Job by the next Job's generation: " + "  ".join(
            f"{g} p50 {percentile(d, 0.5) * 1000:.0f} / p99 {percentile(d, 0.99) * 1000:.0f} ms"
            for g, d in sorted(by_generation.items())))
    return {**{f"g{g}": per_generation[g] for g in range(1, generations)}, "listed_last": listed,
            "listed_first": statistics.mean(server.listed[(n, 1)] for n in names),
            "peak": peak, "p50": percentile(delays, 0.5), "p99": percentile(delays, 0.99)}


def line(label: str, m: dict[str, float]) -> str:
    if "stalled" in m:
        return f"  {label:9s} STALLED: no Job finished for {STALL_S:.0f} s after {m['stalled']:.0f} Jobs"
    by_generation = "  ".join(f"{key} {value:5.1f}" for key, value in m.items() if key[0] == "g" and key[1:].isdigit())
    return (f"  {label:9s} requests/gen/run {by_generation} (final) | "
            f"listed objects/gen/run g1 {m['listed_first']:7.1f}  last {m['listed_last']:7.1f} | "
            f"peak RSS {m['peak']:6.1f} MiB | completion->next Job p50 {m['p50'] * 1000:6.0f} ms  "
            f"p99 {m['p99'] * 1000:6.0f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=int, default=[1, 10, 100])
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--baseline-ref", default=BASELINE_REF)
    parser.add_argument("--profile", action="store_true", help="also print the requests by method and resource")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        baseline = extract(args.baseline_ref, Path(tmp))
        for k in args.runs:
            print(f"K = {k} concurrent runs, {args.generations} generations each", flush=True)
            print(line("now", await measure(k, args.generations, None)), flush=True)
            print(line(f"@{args.baseline_ref}", await measure(k, args.generations, baseline)), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
