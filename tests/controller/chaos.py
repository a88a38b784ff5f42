"""A kmock API server that behaves like a real one where it matters for lost events, plus chaos.

Plain kmock re-sends every existing object whenever a watch (re)connects, so an operator
that lost an event is rescued when kopf's watch times out (about 70 s without events).
A real API server sends BOOKMARK events and resumes a watch from its resourceVersion
without re-sending anything. ``ChaosEmulator`` does the same: every change gets the next
number of one counter (its resourceVersion, as etcd's revision), lists and bookmarks carry
the current one, a watch that names a resourceVersion (every watch after kopf's initial
list) gets exactly the events after it, and every watch gets a bookmark each ``bookmark_s``.
On top of that it injects, for the operator's own client only (its User-Agent):

- API errors on create, patch, delete, list and get: every ``every``-th request of each
  method fails, in turn with 500, 409 (writes only) and a timeout (the request is applied,
  the answer is held past the client's timeout), so each kind hits each method;
- dropped and duplicated watch events (kopf's watches);
- a hard kill of the operator process at its n-th request: before a read, and before or
  right after a write lands.

Unlike plain kmock it also honours equality label selectors and the Job field selector
``status.successful`` in lists and in ``deletecollection``, names objects created with only a
``generateName``, gives a created object a uid and a creationTimestamp, answers a JSON patch
that does not apply (a failed resourceVersion ``test``) with 422 and a request naming a
deleted object with 404, as a real server does (kmock: 500s, ``internal_errors``, which fail
the test), and it counts the operator's requests and listed objects per run and per the
generation the run is in (``load``, ``listed``, by kind in ``requests``) for the bench.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import datetime
import itertools
import os
import random
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp.web
import jsonpatch
import jsonpointer
import kmock
from kmock._internal.aiobus import Bus
from kmock._internal.k8s import KubernetesEmulator, KubernetesError
from kmock._internal.rendering import Request

from acdc.controller import fetch, kube

OPERATOR_AGENTS = (kube.USER_AGENT, "OpenAPI-Generator")
"""The operator's own calls (kopf's say kopf/...; a user's fetch, fetch.USER_AGENT); the second
is the kubernetes client's default, which the operator sent before it named itself (the
bench's baseline operator)."""
WRITES = {"POST", "PATCH", "PUT", "DELETE"}
RUN_LABEL = "acdc.dev/run"
RUNS_RESOURCE = kmock.resource("acdc.dev", "v1alpha1", "coevolutionruns")


def _selector(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(",") if "=" in part)


def now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).isoformat()


def _fields(obj: dict[str, Any]) -> dict[str, str]:
    """The selectable fields a real server offers for the kinds the operator filters by field:
    every object's name and namespace, a Job's ``status.successful`` (its succeeded count) and
    an Event's ``involvedObject.*`` (a real server knows an Event by its resource; kmock keeps
    the body as posted, and kopf's carry no kind)."""
    meta = obj.get("metadata") or {}
    out = {"metadata.name": meta.get("name") or "", "metadata.namespace": meta.get("namespace") or ""}
    if obj.get("kind") == "Job":
        out["status.successful"] = str((obj.get("status") or {}).get("succeeded") or 0)
    if obj.get("kind") == "Event" or "involvedObject" in obj:  # kopf posts its Events without a kind
        subject = obj.get("involvedObject") or {}
        out.update({f"involvedObject.{key}": str(subject.get(key) or "")
                    for key in ("kind", "name", "namespace", "uid", "apiVersion")})
    return out


def _selection(params: Any) -> Callable[[dict[str, Any]], bool]:
    """Whether an object matches the request's label and field selectors (parsed once per
    request); a field this server does not know raises, as a real server answers 400 (an
    unfiltered or empty answer would hide the gap)."""
    wanted_labels = _selector(params.get("labelSelector", ""))
    wanted_fields = _selector(params.get("fieldSelector", ""))

    def selected(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if any(labels.get(k) != v for k, v in wanted_labels.items()):
            return False
        if not wanted_fields:
            return True
        fields = _fields(obj)
        unknown = set(wanted_fields) - set(fields)
        if unknown:
            raise KubernetesError(status=400, reason="BadRequest",
                                  message=f"field label not supported: {', '.join(sorted(unknown))}")
        return all(fields[k] == v for k, v in wanted_fields.items())

    return selected


@dataclass
class Chaos:
    """What to inject: API faults on a fixed rhythm, watch faults at random (``seed``)."""

    every: int = 0
    timeout_s: float = 0.0
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    seed: int = 0
    rng: random.Random = field(init=False)
    injected: collections.Counter[str] = field(default_factory=collections.Counter)
    calls: collections.Counter[str] = field(default_factory=collections.Counter)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def fault(self, method: str) -> str | None:
        """"500", "409", "timeout" or None for the operator's next ``method`` request."""
        self.calls[method] += 1
        if not self.every or self.calls[method] % self.every:
            return None
        kinds = ("500", "409", "timeout") if method in WRITES else ("500", "timeout")
        kind = kinds[(self.calls[method] // self.every) % len(kinds)]
        self.injected[f"{kind} {method}"] += 1
        return kind


@dataclass
class KillSwitch:
    """Kill ``pid`` when its ``at``-th request arrives; ``applied``: a write lands first."""

    pid: int | None = None
    at: int = 0
    applied: bool = True
    requests: int = 0
    kills: int = 0

    def arm(self, pid: int, at: int, applied: bool) -> None:
        self.pid, self.at, self.applied, self.requests = pid, at, applied, 0

    def fire(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.pid = None
            self.kills += 1


_SERVING: contextvars.ContextVar[Request | None] = contextvars.ContextVar("serving", default=None)
"""The request the current task is serving (aiohttp serves each request in its own task)."""


class ServingView(list[Request]):
    """kmock's request list as its reaction matching sees it: only the request this task serves.

    kmock picks a request's reaction by asking each reaction's view whether the request is
    in it, which walks every request in the list through the view's criteria: with watches
    and a hundred runs' calls in flight, a third of the server's time at K = 100. A request
    can only match as itself, so the view holds just that one (``ChaosEmulator.log`` keeps all)."""

    def append(self, request: Request) -> None:
        pass

    def __iter__(self) -> Any:
        serving = _SERVING.get()
        return iter(() if serving is None else (serving,))


HISTORY = 20_000
"""Events kept per resource for resuming watches; an older resourceVersion gets 410 Gone and
kopf lists again, as when a real server has compacted its history (a bench's many runs)."""


class HistoryBus(Bus[Any]):
    """kmock's event bus that also keeps recent events with their revision, so a watch can resume."""

    def __init__(self, server: ChaosEmulator) -> None:
        super().__init__()
        self.server = server
        self.history: collections.deque[tuple[int, dict[str, Any]]] = collections.deque()
        self.compacted = 0  # the newest revision no longer in the history

    async def put(self, *items: Any) -> None:
        for item in items:
            # kmock's event carries a shallow copy of the stored object sharing its metadata,
            # so the stored object gets the version too (kopf resumes from an event's version).
            self.server.revision += 1
            item["object"].setdefault("metadata", {})["resourceVersion"] = str(self.server.revision)
            self.history.append((self.server.revision, item))
            if len(self.history) > HISTORY:
                self.compacted, _ = self.history.popleft()
        await super().put(*items)


def _triple(resource: Any) -> tuple[str | None, str | None, str | None]:
    return (resource.group, resource.version, resource.plural) if resource is not None else (None, None, None)


def rbac_verb(request: Request, method: str) -> str:
    """The RBAC verb a real API server checks for this request."""
    if method == "GET":
        return "watch" if request.params.get("watch") == "true" else "get" if request.name else "list"
    if method == "DELETE":
        return "delete" if request.name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def _request_kind(request: Request, method: str, agent: str) -> str:
    """'operator|kopf METHOD resource[/sub][ (one)]': what the bench's request profile counts."""
    resource = request.resource.plural if request.resource is not None else "(discovery)"
    sub = f"/{request.subresource}" if getattr(request, "subresource", None) else ""
    one = " one" if request.name else ""
    return f"{'operator' if agent.startswith(OPERATOR_AGENTS) else 'kopf'} {method} {resource}{sub}{one}"


class ChaosEmulator(KubernetesEmulator):
    chaos: Chaos
    kill: KillSwitch
    bookmark_s: float = 1.0
    created: collections.Counter[str]
    interpose: Callable[[Request], Awaitable[KubernetesError | None]] | None = None
    """Awaited before each request of the operator's is served: a test lands a change of its own at
    an exact point of the operator's work, so a race that CI hits by chance happens every time.
    An error it returns is the answer instead (a quota or an admission webhook refusing)."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.chaos = Chaos()
        self.kill = KillSwitch()
        self.created = collections.Counter()
        self.revision = 0
        self._buses = collections.defaultdict(lambda: HistoryBus(self))
        self.load: collections.Counter[tuple[str, int]] = collections.Counter()
        self.listed: collections.Counter[tuple[str, int]] = collections.Counter()
        self.requests: collections.Counter[str] = collections.Counter()
        self.log: list[Request] = []
        """Every request served, oldest first (what ``list(kmock)`` gives on plain kmock)."""
        self._requests = ServingView()
        self._generated = itertools.count()
        self._by_run: collections.defaultdict[tuple[Any, ...], dict[tuple[Any, ...], None]] = collections.defaultdict(dict)
        """(resource, namespace, run label) -> the keys of the objects created with that label."""
        self.verbs: dict[str, set[tuple[str, str, str]]] = collections.defaultdict(set)
        """Client ("operator": its own calls and kopf's; "results": a user's fetch) -> the
        (API group, resource[/subresource], RBAC verb) of every request it made."""
        self.internal_errors: list[str] = []
        """Requests this server failed by an exception of its own (a 500 no real API server would
        send): a bug of the emulator, which ``wait_for`` reports at once instead of a stalled run."""

    def _stored(self, resource: Any, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The object as the server holds it now, None if there is none. kmock keeps a deleted
        object's history (its key stays, soft-deleted), and ``.raw`` of one raises: read by the
        request accounting, every later request naming it or its run was a 500, not a 404."""
        try:
            found = self.objects[resource, namespace, name]
        except KeyError:
            return None
        return None if found.deleted else found.raw

    def _attribute(self, request: Request) -> tuple[str, int] | None:
        """The (run, its current generation) a request of the operator's is about."""
        data = request.data if isinstance(request.data, dict) else {}
        run = None
        if request.resource is not None and request.resource.plural == "coevolutionruns":
            run = request.name
        elif (data.get("involvedObject") or {}).get("kind") == "CoevolutionRun":
            run = data["involvedObject"].get("name")
        else:
            run = _selector(request.params.get("labelSelector", "")).get(RUN_LABEL)
            run = run or ((data.get("metadata") or {}).get("labels") or {}).get(RUN_LABEL)
            if run is None and request.name and request.resource is not None:
                named = self._stored(request.resource, request.namespace, request.name)
                run = ((named or {}).get("metadata", {}).get("labels") or {}).get(RUN_LABEL)
        if not run:
            return None
        body = self._stored(RUNS_RESOURCE, request.namespace or data.get("metadata", {}).get("namespace"), run)
        if body is None:
            return None
        return run, int((body.get("status") or {}).get("generation") or 0)

    def _KubernetesEmulator__get_objs(self, request: Request, strict: bool) -> list[Any]:  # noqa: N802 (kmock's name)
        """kmock's object lookup, made cheap enough for a hundred runs: kmock compares every
        stored object's resource through a Protocol isinstance check (a fifth of the bench
        process at K = 100); here a named object is one dict lookup and a list compares
        (group, version, plural) tuples. Same answers: same scope rules as kmock's ``__check``."""
        stored = self.objects._objects
        wanted = request.resource
        if wanted is None:
            return []
        if request.name is not None and request.namespace is not None:
            found = stored.get((wanted, request.namespace, request.name))
            if found is not None:
                return [found]
        triple = _triple(wanted)
        return [obj for (resource, namespace, name), obj in stored.items()
                if _triple(resource) == triple
                and (namespace == request.namespace if strict else request.namespace is None or namespace == request.namespace)
                and (request.name is None or name == request.name)]

    def _run_objects(self, request: Request) -> list[Any] | None:
        """The stored objects of the request's kind and namespace created with the run label its
        selector names, from the index; None when it names no run (or the run has none)."""
        run = _selector(request.params.get("labelSelector", "")).get(RUN_LABEL)
        indexed = self._by_run.get((_triple(request.resource), request.namespace, run)) if run else None
        return [self.objects._objects[key] for key in indexed] if indexed else None

    async def _serve_list(self, request: Request) -> Any:
        """kmock's list, plus selectors and a resourceVersion. A list by run label (every list
        the operator makes) reads that run's objects from an index instead of scanning every
        object ever stored: at K = 100 the scans were 60% of the bench process."""
        indexed = self._run_objects(request)
        if indexed is not None:
            listing = {"metadata": {}, "items": [obj.raw for obj in indexed if not obj.deleted]}
        else:
            listing = await super()._serve_list(request)
        listing["metadata"]["resourceVersion"] = str(self.revision)  # a watch from here misses nothing
        selected = _selection(request.params)
        listing["items"] = [item for item in listing["items"] if selected(item)]
        key = self._attribute(request) if request.params.get("watch") != "true" else None
        if key is not None:
            self.listed[key] += len(listing["items"])
        return listing

    async def _handle(self, request: Request) -> aiohttp.web.StreamResponse:
        """kmock matches a request to its reactions by scanning every request it has ever served
        (``request in reaction._source``): quadratic in a run's length, 97% of the bench process
        at K = 10. Only the request being served can match, so kmock sees just that one
        (``ServingView``); ``log`` keeps them all."""
        self.log.append(request)
        _SERVING.set(request)
        return await self._serve(request)

    async def _serve(self, request: Request) -> aiohttp.web.StreamResponse:
        method = request.method.value.upper()
        agent = request.headers.get("User-Agent") or ""
        ours = agent.startswith(OPERATOR_AGENTS) and request.resource is not None
        if (ours or agent.startswith("kopf/")) and request.params.get("watch") != "true":
            key = self._attribute(request)
            if key is not None:
                self.load[key] += 1
            self.requests[_request_kind(request, method, agent)] += 1
        client = "operator" if ours or agent.startswith("kopf/") else "results" if agent.startswith(fetch.USER_AGENT) else None
        if client and request.resource is not None and request.resource.plural:
            sub = getattr(request, "subresource", None)
            resource = f"{request.resource.plural}/{sub.split('/')[0]}" if sub else request.resource.plural
            self.verbs[client].add((request.resource.group or "", resource, rbac_verb(request, method)))
        if client == "operator" and self.interpose is not None:
            refusal = await self.interpose(request)
            if refusal is not None:
                return await self._render_error(refusal)
        dying = False
        if ours and self.kill.pid is not None:
            self.kill.requests += 1
            dying = self.kill.requests >= self.kill.at
            if dying and not (method in WRITES and self.kill.applied):
                self.kill.fire()
                return await self._render_error(KubernetesError(status=503, reason="Unavailable", message="killed"))
        fault = self.chaos.fault(method) if ours else None
        if fault in ("500", "409"):
            return await self._render_error(KubernetesError(status=int(fault), reason="Chaos", message="injected"))
        if method == "POST" and isinstance(request.data, dict):
            self._name_generated(request.data)
            self._stamp(request.data)
        if method == "DELETE" and request.resource is not None and request.name is None:
            response = await self._delete_collection(request)
        else:
            try:
                response = await super()._handle(request)
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
                # A JSON patch that does not apply, above all a failed `test` of the resourceVersion
                # (kopf's finalizer patches): a real server changes nothing and answers 422, which kopf
                # retries from the fresh object at once. kmock let it out as a 500, which kopf retried
                # unchanged, ~1 min, before its delete handler ran again.
                response = await self._render_error(KubernetesError(status=422, reason="Invalid", message=str(exc)))
        if method == "POST" and request.resource is not None and response.status < 300 and request.data:
            meta = request.data.get("metadata") or {}
            self.created[f"{request.resource.plural}/{meta.get('name')}"] += 1
            run = (meta.get("labels") or {}).get(RUN_LABEL)
            if run:  # objects get their run label when created and keep it (the operator's labels)
                namespace = request.namespace or meta.get("namespace")
                self._by_run[_triple(request.resource), namespace, run][(request.resource, namespace, meta.get("name"))] = None
        if dying:
            self.kill.fire()
        if fault == "timeout":
            await asyncio.sleep(self.chaos.timeout_s)  # applied, but the client gave up waiting
        return response

    def _name_generated(self, body: dict[str, Any]) -> None:
        """A create that gives only ``metadata.generateName`` (kopf's Events) gets a unique name, as
        on a real server. kmock stored it under the name None: the second such object conflicted,
        and its answer, looked up by a missing name, matched every object of the namespace (a 500)."""
        meta = body.get("metadata")
        if isinstance(meta, dict) and not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{next(self._generated):05d}"

    def _stamp(self, body: dict[str, Any]) -> None:
        """A created object gets a uid and a creationTimestamp, as on a real server (kmock gave
        neither: a Job was known by its name alone, and its namesake created after a resume
        could not be told from it). A uid the test gave its object is kept."""
        meta = body.get("metadata")
        if isinstance(meta, dict):
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now())

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if not isinstance(exc, KubernetesError):  # an API error is an answer; anything else, our bug
            self.internal_errors.append(repr(exc))
        return await super()._render_error(exc)

    async def _stream_error(self, exc: Exception, raw_response: aiohttp.web.StreamResponse) -> None:
        self.internal_errors.append(repr(exc))
        await super()._stream_error(exc, raw_response)

    async def _delete_collection(self, request: Request) -> aiohttp.web.StreamResponse:
        """DELETE on a collection: every selected object, as one DELETE each would (kmock has none)."""
        selected = _selection(request.params)
        async with self._lock:
            candidates = self._run_objects(request)
            if candidates is None:
                candidates = self._KubernetesEmulator__get_objs(request, strict=True)
            chosen = [obj for obj in candidates if not obj.deleted and selected(obj.raw)]
            items = []
            for obj in chosen:
                if (obj.raw.get("metadata") or {}).get("finalizers"):
                    obj.patch({"metadata": {"deletionTimestamp": now()}})
                    await self._buses[request.resource].put({"type": "MODIFIED", "object": obj.raw})
                else:
                    obj.delete()
                    await self._buses[request.resource].put({"type": "DELETED", "object": obj.last.raw})
                items.append(obj.last.raw)
        return aiohttp.web.json_response({"kind": "List", "apiVersion": "v1", "metadata": {}, "items": items})

    async def _serve_watch(self, request: Request) -> AsyncIterator[Any]:
        """A watch as a real API server serves it: from a resourceVersion, exactly the events after
        it (none re-sent, none lost); without one, the current objects first; bookmarks when idle."""
        yield b""
        bus = self._buses[request.resource]
        assert isinstance(bus, HistoryBus)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def pump() -> None:
            async for event in bus:
                await queue.put(event)

        pumping = asyncio.create_task(pump())
        await asyncio.sleep(0)  # subscribed from here on
        try:
            since = request.params.get("resourceVersion")
            seen = self.revision  # everything up to here is sent from the objects or the history; later, from the queue
            if since is None or not since.isdigit():  # a fresh watch starts with the current objects
                backlog = [{"type": "ADDED", "object": obj.raw} for key, obj in list(self.objects.items())
                           if key[0] == request.resource and not obj.deleted]
            elif int(since) < bus.compacted:
                yield {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired",
                                                   "message": f"too old resource version: {since}"}}
                return
            else:  # resumed: what happened since, from the history
                backlog = [event for version, event in bus.history if version > int(since)]
            for event in backlog:
                if self._watched(request, event):
                    yield event
            while True:
                try:
                    async with asyncio.timeout(self.bookmark_s):  # not wait_for: see Kubelet.run
                        event = await queue.get()
                except TimeoutError:
                    yield {"type": "BOOKMARK", "object": {"kind": "Bookmark",
                                                         "metadata": {"resourceVersion": str(seen)}}}
                    continue
                version = int(event["object"]["metadata"]["resourceVersion"])
                if version <= seen:
                    continue  # already sent from the objects or the history
                seen = version
                if not self._watched(request, event):
                    continue
                roll = self.chaos.rng.random()
                if roll < self.chaos.drop_rate:
                    self.chaos.injected["dropped event"] += 1
                    continue
                yield event
                if roll < self.chaos.drop_rate + self.chaos.duplicate_rate:
                    self.chaos.injected["duplicated event"] += 1
                    yield event
        finally:
            pumping.cancel()

    def _watched(self, request: Request, event: dict[str, Any]) -> bool:
        meta = (event.get("object") or {}).get("metadata") or {}
        return bool(self._KubernetesEmulator__check(request, request.resource, meta.get("namespace"), meta.get("name"),
                                                    strict=False))
