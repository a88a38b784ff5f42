"""`acdc report --run` / `acdc taskforce --run` against kmock: the reader pod they create,
the proxy path they read through, and their one-line failures. The full path on a run the
operator really finished is in test_operator_evaluation.py."""

from __future__ import annotations

import asyncio

from acdc.cli.main import main
from acdc.controller.names import LABEL_RUN
from acdc.controller.reader_pod import LABEL_READER
from tests.controller.cluster import NAMESPACE, run_body
from tests.controller.pod_security import restricted_violations
from tests.controller.reader import PODS, reader_pods
from tests.controller.test_operator_run import create_run


def _live_pods(cluster) -> list[str]:
    return [key[2] for key, obj in cluster.objects.items() if key[0] == PODS and not obj.deleted]


async def test_report_is_read_through_a_read_only_reader_pod_that_is_deleted_after(cluster, tmp_path, capsys):
    state = tmp_path / "pvc"
    state.mkdir()
    (state / "report.html").write_text("<!doctype html><html><body>the run's report</body></html>")
    await create_run(cluster, run_body())
    async with reader_pods(cluster, state) as player:
        code = await asyncio.to_thread(main, ["report", "--run", "demo", "-n", NAMESPACE,
                                              "--output", str(tmp_path / "got.html")])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "got.html").read_bytes() == (state / "report.html").read_bytes()
    assert player.proxied == ["/report.html"]
    (pod,) = player.pods
    assert pod["metadata"]["labels"][LABEL_READER] == "true" and pod["metadata"]["labels"][LABEL_RUN] == "demo"
    assert pod["metadata"]["ownerReferences"][0]["name"] == "demo"
    volume = next(v for v in pod["spec"]["volumes"] if "persistentVolumeClaim" in v)
    assert volume["persistentVolumeClaim"] == {"claimName": "demo-state", "readOnly": True}
    assert all(m["readOnly"] for m in pod["spec"]["containers"][0]["volumeMounts"] if m["name"] == "state")
    assert restricted_violations(pod["spec"]) == []
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert _live_pods(cluster) == []  # deleted once read


async def test_fetch_failures_are_one_line_and_leave_no_pod(cluster, tmp_path, capsys):
    state = tmp_path / "pvc"
    state.mkdir()  # no archive yet: the task force cannot be chosen
    await create_run(cluster, run_body())
    async with reader_pods(cluster, state) as player:
        missing = await asyncio.to_thread(main, ["report", "--run", "nope", "-n", NAMESPACE])
        first = capsys.readouterr().err.strip()
        empty = await asyncio.to_thread(main, ["taskforce", "--run", "demo", "-n", NAMESPACE, "--size", "2",
                                               "--download", str(tmp_path / "tf")])
        second = capsys.readouterr().err.strip()
        both = await asyncio.to_thread(main, ["report", str(state), "--run", "demo"])
        third = capsys.readouterr().err.strip()
        (tmp_path / "taken").mkdir()
        taken = await asyncio.to_thread(main, ["taskforce", "--run", "demo", "-n", NAMESPACE, "--size", "1",
                                               "--download", str(tmp_path / "taken")])
        fourth = capsys.readouterr().err.strip()
    assert missing != 0 and first == f"error: no CoevolutionRun {NAMESPACE}/nope"
    assert empty != 0 and "\n" not in second and "GET /taskforce/2.tar failed: HTTP 409" in second, second
    assert both != 0 and third == "error: give either a state folder or --run NAME"
    assert taken != 0 and fourth.endswith("already exists; choose a new folder")
    assert not (tmp_path / "tf").exists()
    assert _live_pods(cluster) == []
    assert len(player.pods) == 1  # only the taskforce fetch got as far as a pod
