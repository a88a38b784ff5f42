"""How a finished Job is classified (``job_outcome.outcome``), from what Kubernetes leaves of it:
its condition, and whichever of its pods are still there."""

from __future__ import annotations

import json

import pytest

from acdc.controller.job_outcome import finished_condition, outcome, pods_of, termination_result
from acdc.phases.context import FAULT_CAUSE_CHARS, TERMINATION_MESSAGE_LIMIT, fault_message
from acdc.steps import Phase, Step

SELECT = Step(1, Phase.SELECT)
MERGE = Step(1, Phase.MERGE, 0)
STARTED = "2026-01-01T10:00:00Z"


def job(type_: str, reason: str, message: str = "") -> dict:
    return {"metadata": {"name": "demo-g0001-x"},
            "status": {"conditions": [{"type": type_, "status": "True", "reason": reason, "message": message}]}}


def pod(terminated: dict | None = None, **status) -> dict:
    containers = [{"name": "phase", "state": {"terminated": terminated}}] if terminated is not None else []
    return {"status": {"containerStatuses": containers, **status}}


def policy(code: int) -> str:
    """The Job controller's message when the pod failure policy fails a Job."""
    return f"Container phase for pod ml/demo-g0001-x-7xk2p failed with exit code {code} matching FailJob rule at index 1"


@pytest.mark.parametrize("step", [SELECT, MERGE])
def test_a_policy_failure_whose_pod_is_gone_is_classified_by_the_exit_code_in_its_message(step):
    """The pod (and its exit code) may be gone by the time the operator reads it: the condition's
    message names the code. Only 3 is a rejection; an unknown code fails the run, never drops."""
    infrastructure = outcome(step, job("Failed", "PodFailurePolicy", policy(75)), [])
    assert infrastructure.record is None and infrastructure.reason == "InfrastructureFault"
    unknown = outcome(step, job("Failed", "PodFailurePolicy", "matched a FailJob rule"), [])
    assert unknown.record is None and "not taken for a rejection" in unknown.message
    rejected = outcome(step, job("Failed", "PodFailurePolicy", policy(3)), [])
    assert rejected.record is not None and rejected.record.status == "dropped"
    assert rejected.record.result == {"rejected": policy(3)}
    said = {"status": "dropped", "result": {"rejected": "gibberish"}}  # with its pod: the phase's own reason
    rejected = outcome(step, job("Failed", "PodFailurePolicy"), [pod({"exitCode": 3, "message": json.dumps(said)})])
    assert rejected.record is not None and rejected.record.result == {"rejected": "gibberish"}


@pytest.mark.parametrize("message", [None, "", "garbage{not json", "[1, 2]", "[" * 3000])
def test_a_completed_job_without_a_readable_result_is_not_recorded(message):
    """An empty result would read as a step that found nothing (no re-evaluations, a stale
    select): the step is not recorded and the run fails, so a resume runs it again."""
    pods = [] if message is None else [pod({"exitCode": 0, **({"message": message} if message else {})})]
    found = outcome(Step(1, Phase.TASKS), job("Complete", "Completed"), pods)
    assert found.record is None and found.reason == "ResultUnreadable" and "demo-g0001-x" in found.message
    said = {"status": "succeeded", "result": {"pool": 10}}
    found = outcome(SELECT, job("Complete", "Completed"), [*pods, pod({"exitCode": 0, "message": json.dumps(said)})])
    assert found.record is not None and found.record.to_dict() == said


DEADLINE = job("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
UNSCHEDULED = pod(phase="Pending", conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}])
CRASHED = pod({"exitCode": 1, "reason": "Error", "startedAt": STARTED})
OOM = pod({"exitCode": 137, "reason": "OOMKilled", "startedAt": STARTED})
BACKOFF = job("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")


def test_a_phase_killed_at_its_memory_limit_is_an_infrastructure_fault():
    """The local runner's lost worker: the memory limit's fault, not the child's; nothing is dropped."""
    found = outcome(MERGE, BACKOFF, [OOM, OOM, OOM])
    assert found.record is None and found.reason == "OOMKilled" and "spec.resources.merge.memory" in found.message


def test_the_last_attempt_decides_whether_the_memory_limit_failed_the_job():
    """An attempt killed at its memory limit that a later attempt outlived (the child crashed on
    its own, exhausting the retries) is not why the Job failed: the child is given up, not the
    run failed. An OOM in the last attempt fails the run whatever came before."""
    crashed_last = outcome(MERGE, BACKOFF, [OOM, CRASHED])
    assert crashed_last.reason == "BackoffLimitExceeded" and crashed_last.record is not None
    assert crashed_last.record.status == "dropped"
    oom_last = outcome(MERGE, BACKOFF, [CRASHED, OOM])
    assert oom_last.record is None and oom_last.reason == "OOMKilled"
    pending_last = outcome(MERGE, DEADLINE, [CRASHED, OOM, UNSCHEDULED])  # the last attempt that ran
    assert pending_last.record is None and pending_last.reason == "OOMKilled"


def attempt(name: str, created: str, owner: str, terminated: dict) -> dict:
    """A pod as the Job controller makes it: labelled with its Job's name and uid, owned by it."""
    return {"metadata": {"name": name, "creationTimestamp": created,
                         "labels": {"batch.kubernetes.io/job-name": "demo-g0001-merge-00",
                                    "batch.kubernetes.io/controller-uid": owner},
                         "ownerReferences": [{"kind": "Job", "uid": owner, "controller": True}]},
            "status": {"containerStatuses": [{"name": "phase", "state": {"terminated": terminated}}]}}


def test_a_jobs_pods_are_known_by_its_uid_not_its_name_oldest_first():
    """A resume deletes a failed Job and creates it again under the same name; a pod of the
    deleted one that garbage collection has not reached yet must never be read as the new
    Job's (its OOMKilled failed the resumed run again, its record would be the new step's)."""
    new_job = {**job("Failed", "BackoffLimitExceeded"), "metadata": {"name": "demo-g0001-merge-00", "uid": "new"}}
    old_oom = attempt("demo-g0001-merge-00-aaaaa", "2026-01-01T10:00:00Z", "old",
                      {"exitCode": 137, "reason": "OOMKilled", "startedAt": STARTED})
    second = attempt("demo-g0001-merge-00-aaaab", "2026-01-01T11:02:00Z", "new", {"exitCode": 1, "reason": "Error"})
    first = attempt("demo-g0001-merge-00-zzzzz", "2026-01-01T11:01:00Z", "new", {"exitCode": 1, "reason": "Error"})
    labelled_only = {**first, "metadata": {**first["metadata"], "ownerReferences": []}}
    owned_only = {**first, "metadata": {**first["metadata"], "labels": {}}}
    assert pods_of(new_job, [old_oom, second, first]) == [first, second]
    assert pods_of(new_job, [labelled_only]) == [labelled_only] and pods_of(new_job, [owned_only]) == [owned_only]
    assert pods_of({"metadata": {"name": "demo-g0001-merge-00"}}, [first]) == []
    found = outcome(MERGE, new_job, pods_of(new_job, [old_oom, second, first]))
    assert found.reason == "BackoffLimitExceeded" and found.record is not None


def test_a_deadline_that_passed_before_the_pod_ever_started_is_not_the_childs_fault():
    """Never scheduled, image never pulled: a pod that never ran, or none left and the operator's
    last pass found the step waiting (status.waitingSteps). A step that ran past its deadline is
    given up."""
    for pods, waited in [([UNSCHEDULED], False), ([], True)]:
        found = outcome(MERGE, DEADLINE, pods, waited)
        assert found.record is None and found.reason == "NeverStarted", (pods, waited)
    ran = pod({"exitCode": 137, "reason": "Error", "startedAt": STARTED})
    for pods, waited in [([ran], False), ([], False)]:
        dropped = outcome(MERGE, DEADLINE, pods, waited)
        assert dropped.record is not None and dropped.record.result["failed"] == "DeadlineExceeded"
        assert outcome(SELECT, DEADLINE, pods, waited).reason == "DeadlineExceeded"  # give_up: the run fails


EVICTED = pod({"exitCode": 143, "reason": "Error", "startedAt": STARTED}, phase="Failed",
              conditions=[{"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet"}])
STUCK = {**pod(phase="Running", containerStatuses=[{"name": "phase", "started": True,
                                                   "state": {"running": {"startedAt": STARTED}}}]),
         "metadata": {"name": "demo-g0001-merge-00-a", "deletionTimestamp": "2026-01-01T10:05:00Z"}}


@pytest.mark.parametrize(("pods", "waited"), [
    ([EVICTED, UNSCHEDULED], False),  # its replacement was pending when the deadline came
    ([EVICTED], True),  # the replacement, never scheduled, went with the deadline; the last pass saw it wait
    ([STUCK], True),  # the pod's node was lost: it stayed Terminating, so no replacement was ever made
    ([pod({"exitCode": 1, "reason": "Error", "startedAt": STARTED}), UNSCHEDULED], True),  # a retry never ran
])
def test_a_deadline_that_passed_while_no_pod_ran_is_not_the_childs_fault(pods, waited):
    """A pod that ran and was evicted (no retry spent) or lost with its node, and the step never ran
    again before the deadline: dropping the child would change the run's science for a fault of
    the cluster. The run fails instead, and the step runs again on resume."""
    found = outcome(MERGE, DEADLINE, pods, waited)
    assert found.record is None and found.reason == "NotRunning", found


def test_a_job_whose_fate_is_decided_is_finished_before_its_pods_end():
    """Since Kubernetes 1.31 a failing Job gets FailureTarget at once and Failed only once its pods
    have ended; one stuck Terminating (a lost node) held Failed back for good. FailureTarget
    decides the outcome as Failed would, with its reason."""
    early = job("FailureTarget", "DeadlineExceeded", "Job was active longer than specified deadline")
    assert finished_condition(early) == {**early["status"]["conditions"][0], "type": "Failed"}
    assert outcome(MERGE, early, [STUCK], True).reason == "NotRunning"
    assert outcome(MERGE, early, [], False).record.status == "dropped"
    met = job("SuccessCriteriaMet", "CompletionsReached")
    assert finished_condition(met)["type"] == "Complete"
    both = {"status": {"conditions": [*early["status"]["conditions"], *DEADLINE["status"]["conditions"]]}}
    assert finished_condition(both)["type"] == "Failed"
    assert finished_condition(job("FailureTarget", "DeadlineExceeded") | {"status": {"conditions": [
        {"type": "FailureTarget", "status": "False"}]}}) is None


def fault(message: object = None, code: int = 75) -> dict:
    """The pod of a phase that exited ``code`` and left ``message`` in its termination log."""
    return pod({"exitCode": code, **({"message": message} if message is not None else {})})


def test_an_infrastructure_fault_names_the_cause_its_phase_wrote():
    """The condition says why (a damaged state file), not only 'exit code 75': no one has to
    find the pod's log for it. The fault message is no step record."""
    said = fault_message("/state/scores/0000/m-2.json: missing")
    pods = [fault(json.dumps({"fault": "an older attempt"}), code=1), fault(said)]
    found = outcome(SELECT, job("Failed", "PodFailurePolicy", policy(75)), pods)
    assert found.record is None and found.reason == "InfrastructureFault"
    assert found.message.startswith("/state/scores/0000/m-2.json: missing (") and policy(75) in found.message
    assert termination_result(pods) is None


@pytest.mark.parametrize("message", [
    None, "", "garbage{not json", '{"fault": "cut short', "[1, 2]", '"a string"', '{"fault": 75}',
    '{"fault": ["x"]}', '{"fault": "   "}', '{"status": "succeeded", "result": {}}', "[" * 3000,
    json.dumps({"fault": "x" * 5000}),  # more than the kubelet keeps: not what the phase wrote
])
def test_a_fault_message_that_cannot_be_read_leaves_the_condition_as_it_was(message):
    """The pod writes the message: anything but a small JSON object with a text cause falls back
    to the Job's own words, and never crashes the reconcile."""
    found = outcome(MERGE, job("Failed", "PodFailurePolicy", policy(75)), [fault(message)])
    assert found.record is None and found.reason == "InfrastructureFault" and found.message == policy(75)


def test_a_fault_cause_is_shown_as_one_capped_line_of_text():
    """A newline would forge a line of the condition (and of `kubectl describe`), an escape drive
    a terminal, a lone surrogate break the status patch; a long cause is cut."""
    sneaky = "disk full\n\x1b[2Jfake: all good \udc80" + "y" * 1000
    found = outcome(MERGE, job("Failed", "PodFailurePolicy", policy(75)), [fault(json.dumps({"fault": sneaky}))])
    cause = found.message.split(" (Container")[0]
    assert "\n" not in found.message and "\x1b" not in found.message and "\\n\\x1b[2J" in cause
    assert cause.endswith("...") and len(cause) == FAULT_CAUSE_CHARS + 3
    found.message.encode("utf-8")  # strict: no lone surrogate left


@pytest.mark.parametrize("cause", ["ascii " * 200, "\U0001F4BE" * 400, "\udc80\x00" * 400])
def test_a_fault_message_always_fits_what_the_kubelet_keeps(cause):
    """Cut by characters before it is encoded, as ASCII JSON: never past the limit, never inside a
    multi-byte character, and read back whole by the operator."""
    message = fault_message(cause)
    assert len(message.encode("ascii")) <= TERMINATION_MESSAGE_LIMIT
    assert json.loads(message) == {"fault": cause[:FAULT_CAUSE_CHARS]}
