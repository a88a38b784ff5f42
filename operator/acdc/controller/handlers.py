"""kopf handlers: every event that can move a run forward calls ``reconcile``.

Import this module to register the handlers (``kopf run -m acdc.controller.handlers`` or
``acdc operator``). The run is re-read under a per-run lock before each reconcile, so
a burst of Job events and a spec edit never race each other within one process; two
processes are kept apart by kopf peering (only the highest-priority one acts).

Events only make a run fast; the resync timer makes it correct. kopf never retries an
event handler that fails (a Job event met by an API error is gone), and a watch can miss
events, so a timer reconciles every active run each ``RESYNC_SECONDS`` unless a reconcile
of it ended within ``RESYNC_IDLE`` of that interval: any lost event, failed call or crash
is repaired within about one interval, whatever the events did.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import kopf

from acdc import metrics
from acdc.controller import names
from acdc.controller.cleanup import cleanup
from acdc.controller.job_outcome import is_finished
from acdc.controller.kube import REQUEST_TIMEOUT_S, RUNS, ApiError, Kube, api_configuration, in_cluster
from acdc.controller.reconcile import Emit, reconcile
from acdc.spec import API_GROUP, API_VERSION, KIND, PLURAL

log = logging.getLogger(__name__)

PEERING_NAME = os.environ.get("ACDC_PEERING", "acdc-operator")
METRICS_PORT_ENV = "ACDC_METRICS_PORT"
RESYNC_ENV = "ACDC_RESYNC_SECONDS"
RESYNC_SECONDS = float(os.environ.get(RESYNC_ENV, "30"))
"""Seconds between resyncs of one run; 0 turns the resync off (only the bench's baseline does)."""
RESYNC_IDLE = 0.5
"""The timer skips a run reconciled within this share of the interval: a run that progresses
through events is never reconciled twice for nothing. Not kopf's ``idle``, which waits for the
object to be unchanged that long: a client that touches the run more often (an annotation, a
label) starved the resync for good, and a lost event then stalled the run."""
TERMINAL_PHASES = ("Succeeded", "Failed")
RETRY_SECONDS = 5
"""Delay before kopf retries a failed reconcile or cleanup (its default for an error is 60 s)."""
API_TIMEOUT_ENV = "ACDC_API_TIMEOUT_SECONDS"
WORKERS_ENV = "ACDC_WORKERS"
DEFAULT_WORKERS = 64
"""Reconciles in flight at once (kopf's handler threads, and API connections). A reconcile
mostly waits on the API server, so kopf's default (CPU count + 4, sized for CPU-bound
handlers) queued the runs behind a few threads: with 100 runs on 2 cores, p99 from a Job
finishing to the next Job fell from 2.7 s at 6 threads to 1.5 s at 64 (bench/bench_operator.py)."""
CLEANUP_TIMEOUT_ENV = "ACDC_CLEANUP_TIMEOUT_SECONDS"
CLEANUP_TIMEOUT_S = float(os.environ.get(CLEANUP_TIMEOUT_ENV, "3600"))
"""How long a deleted run's cleanup is retried before its finalizer is released anyway: the
garbage collector still removes what the run owns (owner references); only the volume a
Delete policy asked to remove stays, and the Event says so. A deleted run never hangs for ever."""
_locks: collections.defaultdict[tuple[str, str], threading.Lock] = collections.defaultdict(threading.Lock)
"""One run's reconcile and its deletion's cleanup never overlap."""
_reconciled_at: dict[tuple[str, str], float] = {}
"""When the last reconcile of each run ended (``time.monotonic``): what the resync skips by."""
_queue_guard = threading.Lock()
_again: dict[tuple[str, str], bool] = {}
"""Runs being reconciled now -> whether another pass was asked for meanwhile (``_reconcile``)."""


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """Explicit, because the kubernetes package reads $KUBECONFIG once, at import time."""
    return kopf.login_with_service_account(**kwargs) if in_cluster() else kopf.login_with_kubeconfig(**kwargs)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    if settings.peering.name == "default":
        settings.peering.name = PEERING_NAME
    if not settings.peering.priority:
        # Replicas of one Deployment share their arguments; distinct random priorities make
        # exactly one of them the active peer, and a survivor takes over when it dies.
        settings.peering.priority = random.SystemRandom().randint(1, 2**31)
    settings.persistence.finalizer = names.FINALIZER
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    workers = int(os.environ.get(WORKERS_ENV, DEFAULT_WORKERS))
    settings.execution.max_workers = workers
    configuration = api_configuration()
    configuration.connection_pool_maxsize = workers  # one connection per thread, none discarded
    memo.kube = Kube(configuration, float(os.environ.get(API_TIMEOUT_ENV, REQUEST_TIMEOUT_S)))
    port = int(os.environ.get(METRICS_PORT_ENV, "8080"))
    if port:
        metrics.start_server(port)


def _emitter(raw: dict[str, Any]) -> Emit:
    # The object as the API server returned it: what kopf calls a RawBody (a TypedDict that a
    # JSON-decoded dict cannot be inferred as).
    body = kopf.Body(cast(kopf.RawBody, raw))

    def emit(type_: str, reason: str, message: str) -> None:
        kopf.event(body, type=type_, reason=reason, message=message)
    return emit


def _namespace(namespace: str | None, name: str) -> str:
    """kopf types ``namespace`` as optional for every resource; runs and their Jobs are
    namespaced (the CRD's scope), so None means a broken CRD: a permanent error."""
    if namespace is None:
        raise kopf.PermanentError(f"{name!r} has no namespace: the {KIND} CRD must be namespace-scoped")
    return namespace


def _reconcile(memo: kopf.Memo, namespace: str, name: str) -> None:
    """Reconcile the run, coalescing: while one reconcile of it runs, later calls only ask it
    to go once more, and return at once.

    A burst of Jobs finishing in one run (a generation's merges) would otherwise queue one
    full reconcile per Job behind the run's lock, each reading the same state, while other
    runs' events wait for kopf's worker threads: the work queue of controller-runtime keeps
    one entry per object for the same reason. A call that was coalesced does not see the
    outcome of the pass that serves it; a failure there is raised in the thread that ran it
    (a TemporaryError: kopf retries the run's handlers) and otherwise repaired by the resync.
    """
    key = (namespace, name)
    with _queue_guard:
        if key in _again:
            _again[key] = True
            return
        _again[key] = False
    try:
        while True:
            _reconcile_once(memo, namespace, name)
            with _queue_guard:
                if not _again[key]:
                    del _again[key]
                    return
                _again[key] = False
    except BaseException:
        with _queue_guard:
            _again.pop(key, None)
        raise


@contextmanager
def _retried_soon(what: str) -> Iterator[None]:
    """Any failure inside is counted and raised as a TemporaryError that kopf retries after
    RETRY_SECONDS: reconciles and cleanups share one retry policy, not kopf's default minute."""
    try:
        yield
    except Exception as exc:
        metrics.reconcile_error(type(exc).__name__)
        raise kopf.TemporaryError(f"{what} failed: {exc}", delay=RETRY_SECONDS) from exc


def _reconcile_once(memo: kopf.Memo, namespace: str, name: str) -> None:
    """Reconcile the run as it is now on the server; any failure is a TemporaryError (retried)."""
    kube: Kube = memo.kube
    with _locks[(namespace, name)], _retried_soon("reconcile"):
        body = kube.get(RUNS, namespace, name)
        if body is None or (body.get("metadata") or {}).get("deletionTimestamp"):
            return
        body.setdefault("apiVersion", f"{API_GROUP}/{API_VERSION}")
        body.setdefault("kind", KIND)
        done = reconcile(kube, body, _emitter(body))
    _reconciled_at[(namespace, name)] = time.monotonic()
    if done.created or done.recorded:
        log.info("%s/%s: recorded %s, created %s", namespace, name, done.recorded, done.created)


@kopf.on.resume(API_GROUP, API_VERSION, PLURAL)
@kopf.on.create(API_GROUP, API_VERSION, PLURAL)
@kopf.on.update(API_GROUP, API_VERSION, PLURAL, field="spec")
@kopf.on.update(API_GROUP, API_VERSION, PLURAL, field=("metadata", "annotations", names.RESUME_ANNOTATION))
def run_changed(memo: kopf.Memo, namespace: str | None, name: str, **_: Any) -> None:
    _reconcile(memo, _namespace(namespace, name), name)


def _job_moved(body: kopf.Body, type: str | None, **_: Any) -> bool:
    """Finished (the DAG moves on) or suspended (Kueue holds or preempted it: say why it waits)."""
    return type in (None, "ADDED", "MODIFIED") and (is_finished(body) or bool(body.get("spec", {}).get("suspend")))


@kopf.on.event("batch", "v1", "jobs", labels={names.LABEL_RUN: kopf.PRESENT}, when=_job_moved)
def job_changed(body: kopf.Body, memo: kopf.Memo, namespace: str | None, **_: Any) -> None:
    """Fast path only: kopf drops a failed event handler, so a failure is left to the resync."""
    for owner in body.get("metadata", {}).get("ownerReferences") or []:
        if owner.get("kind") == KIND and owner.get("apiVersion", "").startswith(f"{API_GROUP}/"):
            try:
                _reconcile(memo, _namespace(namespace, owner["name"]), owner["name"])
            except kopf.TemporaryError as exc:
                log.warning("%s/%s: %s; the resync will retry", namespace, owner["name"], exc)


def _active(status: kopf.Status, spec: kopf.Spec, **_: Any) -> bool:
    """Running, or Succeeded with its benchmark evaluation (spec.evaluation) still to finish."""
    if RESYNC_SECONDS <= 0:
        return False
    if status.get("phase") not in TERMINAL_PHASES:
        return True
    evaluating = (spec.get("evaluation") or {}).get("enabled") and status.get("phase") == "Succeeded"
    return bool(evaluating) and (status.get("evaluation") or {}).get("phase") not in ("Succeeded", "Failed")


@kopf.on.timer(API_GROUP, API_VERSION, PLURAL, interval=RESYNC_SECONDS or None, when=_active)
def resync(memo: kopf.Memo, namespace: str | None, name: str, **_: Any) -> None:
    namespace = _namespace(namespace, name)
    if time.monotonic() - _reconciled_at.get((namespace, name), -math.inf) >= RESYNC_SECONDS * RESYNC_IDLE:
        _reconcile(memo, namespace, name)


PASSING = (408, 409, 429)
"""Client-error statuses that a retry may see succeed (timeout, conflict, throttling); any other
4xx answer to the cleanup (403: RBAC, 405: no deletecollection) will be the same next time."""


@kopf.on.delete(API_GROUP, API_VERSION, PLURAL, timeout=CLEANUP_TIMEOUT_S)
def run_deleted(body: kopf.Body, memo: kopf.Memo, namespace: str | None, name: str, **_: Any) -> None:
    """Remove what the run owns; a failure (an API blip) is retried as a reconcile's is, not after
    kopf's default minute, so a deleted run does not linger, for CLEANUP_TIMEOUT_S at most. A
    refusal no retry can change releases the finalizer at once (kopf's PermanentError): the
    garbage collector removes the run's Jobs all the same, and the run must not hang in deletion."""
    namespace = _namespace(namespace, name)
    try:
        with _locks[(namespace, name)], _retried_soon("cleanup"):
            removed = cleanup(memo.kube, dict(body))
    except kopf.TemporaryError as exc:
        cause = exc.__cause__
        if isinstance(cause, ApiError) and 400 <= cause.status < 500 and cause.status not in PASSING:
            kopf.warn(body, reason="CleanupAbandoned", message=f"{cause}; the garbage collector removes the run's "
                                                               "Jobs, a volume to delete is left")
            raise kopf.PermanentError(f"cleanup refused: {cause}") from cause
        raise
    metrics.forget_run(namespace, name)
    _reconciled_at.pop((namespace, name), None)
    log.info("%s/%s deleted; removed %s", namespace, name, removed)
