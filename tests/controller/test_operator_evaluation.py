"""The operator's benchmark evaluation stage against kmock: after the final generation it
creates the plan Job, one Job per model x benchmark shard, then the summary Job; the
Jobs run the real `acdc evaluate` commands on the 'PVC', and the headline reaches status.
An export Job uploads the task force to a hub-compatible endpoint on loopback with the
token from a Secret. Then the finished run's report and task force are fetched the way a
cluster user does (`acdc report --run`, `acdc taskforce --run --download`: reader pod +
pod proxy)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

from acdc.cli.main import main
from acdc.controller import names
from acdc.controller.evaluation_stage import job_name
from acdc.controller.tenancy import ALLOW_ANNOTATION
from acdc.engine.integrity import file_sha256
from acdc.evaluation.results import load_results
from acdc.runner.snapshot import open_snapshot
from acdc.runner.taskforce import pick_task_force
from tests.controller.cluster import JOBS, NAMESPACE, kubelet, operator, run_body, run_object, wait_for
from tests.controller.reader import reader_pods
from tests.controller.test_operator_recovery import annotate
from tests.controller.test_operator_run import create_run, job_names, phase_of
from tests.controller.test_waiting import patch_job
from tests.fakes.hub_server import HubServer, serve_hub

EVALUATION = {"enabled": True, "benchmarks": [{"task": "acdc_toyworld", "shards": 2, "limit": 30}],
              "taskForceSizes": [1, 2], "everyGenerations": 1}  # also a benchmark step inside generation 1's DAG


def evaluation_of(cluster) -> dict:
    return ((run_object(cluster) or {}).get("status") or {}).get("evaluation") or {}


async def create_secret(cluster, name: str, data: dict[str, str]) -> None:
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NAMESPACE,
                                                               "annotations": {ALLOW_ANNOTATION: "demo"}},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
    async with cluster.post(f"/api/v1/namespaces/{NAMESPACE}/secrets", json=body) as response:
        assert response.status < 300, await response.text()


async def test_evaluation_jobs_run_after_the_final_generation(cluster, state, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")  # the fake hub speaks git-LFS (tests/fakes/hub_server.py)
    with serve_hub(HubServer(write_token="hub-write-token")) as hub:
        async with kubelet(cluster, state) as player, operator(), reader_pods(cluster, state) as readers:
            await create_secret(cluster, "hub-write", {"token": "hub-write-token"})
            export = {"repo": "team/taskforce", "endpoint": hub.url, "size": 2,
                      "tokenSecret": {"name": "hub-write", "key": "token"}}
            await create_run(cluster, run_body(evaluation={**EVALUATION, "export": export},  # a CPU cluster: HF backend
                                               resources={"evaluate": {"gpus": 0, "cpu": "1", "memory": "2Gi"}}))
            await wait_for(lambda: evaluation_of(cluster).get("phase") in ("Succeeded", "Failed"))
            fetched_report = await asyncio.to_thread(main, ["report", "--run", "demo", "-n", NAMESPACE,
                                                            "--output", str(tmp_path / "report.html")])
            fetched_force = await asyncio.to_thread(main, ["taskforce", "--run", "demo", "-n", NAMESPACE,
                                                           "--size", "2", "--download", str(tmp_path / "taskforce")])
    evaluation = evaluation_of(cluster)
    assert phase_of(cluster) == "Succeeded"
    assert evaluation["phase"] == "Succeeded", evaluation

    executed = (state / "executed.log").read_text().split()
    total = evaluation["shardsTotal"]
    shards = [job_name("demo", f"{i:03d}") for i in range(total)]
    evaluation_jobs = [job_name("demo", "plan"), *shards, job_name("demo", "summary"), job_name("demo", "export")]
    assert [name for name in executed if "-eval-" in name][0] == job_name("demo", "plan")
    assert sorted(n for n in executed if "-eval-" in n) == sorted(evaluation_jobs)  # each exactly once
    assert executed.index(job_name("demo", "summary")) > max(executed.index(s) for s in shards)
    assert executed.index(job_name("demo", "plan")) > executed.index("g0001-benchmark") > executed.index("g0001-select")
    assert (state / "steps" / "g0001-benchmark.json").is_file()
    assert all(player.attempts[name] == 1 for name in evaluation_jobs)
    assert evaluation["shardsDone"] == total == len(list((state / "evaluation" / "samples").rglob("shard-*.json")))

    jobs = {key[2]: obj.raw for key, obj in cluster.objects.items() if key[0] == JOBS and not obj.deleted}
    shard_job = jobs[shards[0]]
    container = shard_job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:2] == ["acdc", "evaluate"] and "--shard-index" in container["command"]
    assert shard_job["metadata"]["labels"]["acdc.dev/phase"] == "benchmark"
    assert "acdc.dev/step" not in shard_job["metadata"]["labels"]
    assert "--device" in container["command"] and container["command"][-1] == "cpu"
    assert "nvidia.com/gpu" not in container["resources"]["requests"]

    results = load_results(state)
    assert results is not None
    assert {k: evaluation[k] for k in ("benchmark", "size", "taskforce")} == \
        {k: results["headline"][k] for k in ("benchmark", "size", "taskforce")}
    assert (state / "report.html").is_file() and "coverage-acdc_toyworld" in (state / "report.html").read_text()
    assert json.loads((state / "evaluation" / "selections-g0001.json").read_text())["taskforce"]

    # The cluster path: the report and the task force as they are on the volume, byte for byte.
    assert fetched_report == 0 and fetched_force == 0
    assert (tmp_path / "report.html").read_bytes() == (state / "report.html").read_bytes()
    assert readers.proxied == ["/report.html", "/taskforce/2.tar"] and not readers.running
    force = pick_task_force(open_snapshot(state), 2)
    manifest = json.loads((tmp_path / "taskforce" / "manifest.json").read_text())
    assert [m["id"] for m in manifest["members"]] == [m.model_id for m in force.members]
    for member in force.members:
        got = tmp_path / "taskforce" / "models" / member.model_id
        assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in got.iterdir()}
        for path in got.rglob("*"):
            source = Path(member.model_path) / path.relative_to(got)
            assert file_sha256(path) == file_sha256(source)

    # The export Job: the same task force, uploaded with the Secret's token, reported in status.
    exported = hub.repos["team/taskforce"].revisions["main"]
    assert evaluation["exported"] == f"{hub.url}/team/taskforce/commit/{exported.commit}"
    assert json.loads(exported.files["manifest.json"])["members"] == manifest["members"]
    for member in force.members:
        for path in (tmp_path / "taskforce" / "models" / member.model_id).rglob("*"):
            assert exported.files[f"models/{member.model_id}/{path.name}"] == path.read_bytes()
    writes = [headers for method, _, headers in hub.requests if method == "POST"]
    assert writes and all(h.get("authorization") == "Bearer hub-write-token" for h in writes)
    export_job = jobs[job_name("demo", "export")]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hub-write", "key": "token"}}} in export_job["env"]


async def test_a_failed_evaluation_stage_resumes_from_where_it_stopped(cluster, state, monkeypatch):
    """The summary Job fails (a node lost, retries spent): the stage fails, the run stays
    Succeeded. The resume annotation runs the summary again, and only it: the plan and the
    finished shards are not redone."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    summary = job_name("demo", "summary")
    async with kubelet(cluster, state) as player, operator():
        player.held.add(summary)
        await create_run(cluster, run_body(evaluation=EVALUATION, resources={"evaluate": {"gpus": 0, "cpu": "1",
                                                                                          "memory": "2Gi"}}))
        await wait_for(lambda: summary in job_names(cluster))
        await patch_job(cluster, summary, {"status": {"failed": 1, "conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "node lost"}]}},
                        status=True)
        await wait_for(lambda: evaluation_of(cluster).get("phase") == "Failed")
        assert evaluation_of(cluster)["failedPart"] == "summary" and phase_of(cluster) == "Succeeded"
        player.held.discard(summary)
        await annotate(cluster, names.RESUME_ANNOTATION, "1")
        await wait_for(lambda: evaluation_of(cluster).get("phase") in ("Succeeded", "Failed")
                       and run_object(cluster)["status"].get("resumed") == "1")
    evaluation = evaluation_of(cluster)
    assert evaluation["phase"] == "Succeeded" and "failedPart" not in evaluation, evaluation
    assert evaluation["taskforce"] is not None and phase_of(cluster) == "Succeeded"
    assert all(count == 1 for count in player.attempts.values()), player.attempts  # the summary: played once, after
