"""`acdc evaluate` on a real finished toy-world run: killed midway it resumes without
re-running finished shards; coverage@N and best-of-N come out of the real per-sample logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from acdc.engine.state import RunState
from acdc.evaluation.plan import plan_shards
from acdc.evaluation.results import results_path
from acdc.metrics import MetricFamilies, MetricsRecorder
from acdc.runner.snapshot import open_snapshot
from tests.evaluation.conftest import build_reward_model, evaluated_copy
from tests.fakes.openai_server import serve
from tests.progress import run_progressing
from tests.runner.finished_run import acdc
from tests.toyworld.world_fixture import toy_world  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


def _shard_files(state: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in (RunState(state).evaluation_dir / "samples").rglob("shard-*.json")}


def _kill_after_first_shard(state: Path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "acdc.cli.main", "evaluate", str(state)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while process.poll() is None and not _shard_files(state):
            time.sleep(0.02)
        assert process.poll() is None, "evaluation ended before it could be killed"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)


def test_killed_evaluation_resumes_and_results_come_from_the_logs(tmp_path: Path, mini_state: Path,
                                                                    toy_world: Path) -> None:  # noqa: F811
    reward = build_reward_model(toy_world, tmp_path / "reward")
    replies = iter(["CHOICE: 2", "no decision here", "THOUGHT: the first.\nCHOICE: 1", "CHOICE: 42"] * 1000)
    with serve(chat_script=lambda body: next(replies)) as fake:
        state = evaluated_copy(mini_state, tmp_path / "state", {
            "benchmarks": [{"task": "acdc_toyworld", "shards": 3}],
            "taskForceSizes": [1, 2, 3],
            "bestOfN": ["judge", "rewardModel"],
            "judge": {"url": fake.url, "model": "judge", "maxRetries": 0},
            "rewardModel": {"path": str(reward), "batchSize": 8},
        })
        _kill_after_first_shard(state)
        before = _shard_files(state)
        snapshot = open_snapshot(state)
        from acdc.evaluation.pipeline import prepare

        planned = plan_shards(snapshot.run.spec.evaluation, prepare(snapshot))
        assert 0 < len(before) < len(planned)

        outcome = acdc("evaluate", str(state), "--json")
        assert outcome.returncode == 0, outcome.stderr[-2000:]

        after = _shard_files(state)
        assert len(after) == len(planned)
        assert all(after[p] == before[p] for p in before), "a finished shard was written again"
        assert not list(state.rglob("*.tmp*")) and not list(state.rglob(".staging-*"))

        results = json.loads(results_path(state).read_text())
        assert results == json.loads(outcome.stdout)
        selections = results["selections"]
        samples = {}
        for path in after:
            data = json.loads(path.read_text())
            for s in data["samples"]:
                samples.setdefault((data["model_id"], data["variant"]), {})[s["doc_id"]] = s
        docs = sorted(samples[(selections["best"], "greedy")])
        bench = results["benchmarks"]["acdc_toyworld"]
        assert bench["documents"] == len(docs) > 0

        def covered(keys: list[tuple[str, str]]) -> float:
            return round(sum(any(samples[k][d]["correct"] for k in keys) for d in docs) / len(docs), 6)

        force, seeds = selections["taskforce"], selections["seeds"]
        for n in (1, 2, 3):
            assert bench["coverage"]["taskforce"][str(n)] == covered([(m, "greedy") for m in force[:n]])
            assert bench["coverage"]["seeds"][str(n)] == covered([(m, "greedy") for m in seeds[:n]])
            assert bench["coverage"]["control"][str(n)] == covered([(selections["control"], f"sample{k}")
                                                                    for k in range(n)])
            assert bench["coverage"]["best"][str(n)] == covered([(selections["best"], "greedy")])
        assert bench["coverage"]["taskforce"]["3"] >= bench["coverage"]["taskforce"]["1"]

        judged = {r["size"]: r for r in bench["bestOfN"] if r["method"] == "judge"}
        for n, row in judged.items():
            differing = sum(len({samples[(m, "greedy")][d]["response"] for m in force[:n]}) > 1 for d in docs)
            assert row["calls"] == differing
            # each share is rounded to 6 places, so their sum is 1 to within 5e-7 a share
            assert sum(row["pickShare"].values()) == pytest.approx(1.0, abs=5e-7 * len(row["pickShare"]))
        assert judged[1]["calls"] == 0 and judged[1]["accuracy"] == bench["accuracy"][force[0]]
        assert len(fake.requests) == sum(r["calls"] for r in judged.values())
        rewarded = {r["size"]: r for r in bench["bestOfN"] if r["method"] == "rewardModel"}
        assert set(rewarded) == {1, 2, 3}
        assert 0.0 <= rewarded[3]["accuracy"] <= bench["coverage"]["taskforce"]["3"]

        assert results["headline"]["taskforce"] == bench["coverage"]["taskforce"]["3"]
        gens = [p["generation"] for p in results["diversity"]]
        assert gens == sorted(gens) and gens[-1] == snapshot.generation
        assert all(p["cumulative"] >= p["local"] - 1e-9 for p in results["diversity"])

        # Nothing left to run: no shard rewritten. The summary asks the judge again, so it must be up:
        # a judge that answers nothing stops the evaluation (exit 75) rather than pick at random.
        rerun = acdc("evaluate", str(state))
        assert rerun.returncode == 0 and _shard_files(state) == after

    # The headline reaches `acdc status`, the report draws the curves, the gauges mirror the results.
    status = acdc("status", str(state), "--json")
    assert json.loads(status.stdout)["evaluation"] == results["headline"]
    assert f"benchmarks: coverage@3 on acdc_toyworld: task force {results['headline']['taskforce']:.3f}" \
        in acdc("status", str(state)).stdout
    assert acdc("report", str(state), "--no-heldout").returncode == 0
    html = (state / "report.html").read_text()
    for plot in ("coverage-acdc_toyworld", "diversity"):
        figure = html.split(f'data-plot="{plot}"', 1)[1].split("</svg>", 1)[0]
        assert figure.count('class="mark"') >= 4
    assert "rewardModel" in html and "judge calls" in html

    registry = CollectorRegistry()
    MetricsRecorder(MetricFamilies(registry)).set_evaluation("local", "mini", results)
    labels = {"namespace": "local", "run": "mini", "benchmark": "acdc_toyworld"}
    assert registry.get_sample_value("acdc_benchmark_coverage", labels | {"selection": "taskforce", "size": "3"}) \
        == bench["coverage"]["taskforce"]["3"]
    assert registry.get_sample_value("acdc_benchmark_best_of_n_accuracy", labels | {"method": "judge", "size": "2"}) \
        == judged[2]["accuracy"]
    assert registry.get_sample_value("acdc_task_pool_vendi", {"namespace": "local", "run": "mini", "scope": "local"}) \
        == results["diversity"][-1]["local"]


def test_an_evaluation_written_to_a_file_keeps_no_progress_bar_frames(tmp_path: Path, mini_state: Path) -> None:
    """Into a file (CI, `> log`) every frame of lm-eval's bars stayed, about 3 KB a shard:
    there the bars are off and the per-shard lines say how far the evaluation is."""
    state = evaluated_copy(mini_state, tmp_path / "state", {
        "benchmarks": [{"task": "acdc_toyworld", "limit": 6}], "taskForceSizes": [1], "selections": ["taskforce"]})
    outcome = run_progressing([sys.executable, "-m", "acdc.cli.main", "evaluate", str(state), "--no-summary"],
                              watch=[state])
    assert outcome.returncode == 0, outcome.stderr[-2000:]
    assert "evaluation: acdc_toyworld/" in outcome.stderr and " done (6 samples" in outcome.stderr
    output = outcome.stdout + outcome.stderr
    assert "\r" not in output and "it/s]" not in output, output[-2000:]
    assert " lm_eval." not in output, output[-2000:]  # its INFO chatter: only with -v (acdc.logsafe.QUIET_LOGGERS)
