"""A small client for OpenAI-compatible servers (vLLM, or any hosted endpoint).

One client serves the scientist, the judge, the embedding model and the HTTP inference
backend. It uses only the standard library so the operator image stays slim, and it is
explicit about failure: every call has a timeout, transient errors (connection refused,
timeouts, 429, 5xx) are retried with jittered exponential backoff, and anything else
raises ``LLMError`` at once, because retrying a 400 only hides a bug.

The endpoints are trusted infrastructure: when one gives no answer, no task or model is to
blame. ``endpoint_answers_or_fault`` is how callers tell a request the endpoint refused
(its own problem: untrusted text can make a request too long) from an endpoint that is down;
``OpenAIClient.verdict_chat`` does it for the callers to whom a refusal is a missing verdict.
"""

from __future__ import annotations

import json
import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from acdc.errors import InfrastructureFault

log = logging.getLogger(__name__)

Message = dict[str, str]

_RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class LLMError(Exception):
    """The endpoint could not give an answer (after retries, or a non-retryable error)."""


class LLMUnavailable(LLMError):
    """Every attempt failed in a way retrying is for (refused connection, timeout, 429, 5xx):
    the endpoint is down or overloaded, whatever the request said."""


class EndpointDown(InfrastructureFault):
    """A trusted endpoint gave no answer: down past its retries, or failing even a minimal
    request (a wrong model name or key, replies that are not chat completions). Read as a "No",
    a zero score or a rejected task, that changed a run's results silently; the step stops
    instead (exit 75) and runs again on resume."""

    def __init__(self, role: str, cause: LLMError) -> None:
        first = next(iter(str(cause).splitlines()), "")[:300]
        super().__init__(f"the {role} endpoint gave no answer ({first}); check that it is up and "
                         "that the run file names it right")


def endpoint_answers_or_fault(role: str, failure: LLMError, probe: Callable[[], object]) -> None:
    """Return when ``failure`` was this one request's (refused, or answered unreadably) while the
    endpoint still answers ``probe``, a minimal request; raise ``EndpointDown`` otherwise.

    The probe is what keeps untrusted text from stopping a run: a task whose judge request is
    too long for the judge's context is refused, and only that request goes without an answer.
    """
    if isinstance(failure, LLMUnavailable):
        raise EndpointDown(role, failure) from failure
    try:
        probe()
    except LLMError as again:
        raise EndpointDown(role, again) from failure


@dataclass
class OpenAIClient:
    """Client for one model on one OpenAI-compatible server.

    ``base_url`` ends in ``/v1`` (as vLLM serves it). ``on_request`` is called with
    (endpoint, seconds, ok) after every attempt so callers can export latency metrics
    without this module knowing about Prometheus.
    """

    base_url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 20.0
    on_request: Callable[[str, float, bool], None] | None = None
    _rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)

    def chat(
        self,
        messages: Sequence[Message],
        *,
        temperature: float = 0.0,
        max_tokens: int = 512,
        top_p: float = 1.0,
        seed: int | None = None,
        stop: Sequence[str] | None = None,
    ) -> str:
        """Return the assistant text of one chat completion ("" when the server sends none).

        Content that is not text (a JSON object, a list) is an ``LLMError``: every caller
        parses the reply as a string, and a reply it cannot read is the endpoint's failure.
        """
        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "temperature": temperature,
            "max_tokens": max_tokens,
            "top_p": top_p,
        }
        if seed is not None:
            body["seed"] = seed
        if stop:
            body["stop"] = list(stop)
        reply = self._post("chat/completions", body)
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"{self.base_url}: malformed chat completion: {str(reply)[:200]}") from exc
        if content is not None and not isinstance(content, str):  # the server's JSON, not ours to trust
            raise LLMError(f"{self.base_url}: chat completion content is a {type(content).__name__}, not text")
        return content or ""

    def verdict_chat(self, role: str, messages: Sequence[Message], *, temperature: float, max_tokens: int) -> str | None:
        """The reply to a request for one verdict (a judge's, the novelty check's); None, logged,
        when the endpoint refused this request yet still answers (``endpoint_answers_or_fault``):
        the verdict is missing, and the caller goes on without it. ``EndpointDown`` otherwise."""
        try:
            return self.chat(messages, temperature=temperature, max_tokens=max_tokens)
        except LLMError as exc:
            endpoint_answers_or_fault(role, exc, self.probe)
            log.warning("%s refused this request, no verdict: %s", role, exc)
            return None

    def probe(self) -> None:
        """One minimal chat completion, for ``endpoint_answers_or_fault``: does the endpoint answer at all?"""
        self.chat([{"role": "user", "content": "Reply with OK."}], max_tokens=1)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one embedding per text, in input order."""
        reply = self._post("embeddings", {"model": self.model, "input": list(texts)})
        try:
            rows = sorted(reply["data"], key=lambda row: row["index"])
            return [list(map(float, row["embedding"])) for row in rows]
        except (KeyError, TypeError, ValueError) as exc:
            raise LLMError(f"{self.base_url}: malformed embeddings reply: {str(reply)[:200]}") from exc

    def _post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url.rstrip('/')}/{endpoint}"
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last_error = "no attempt made"
        for attempt in range(self.max_retries + 1):
            started = time.monotonic()
            try:
                request = urllib.request.Request(url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    payload: dict[str, Any] = json.loads(response.read().decode("utf-8"))
                self._report(endpoint, started, ok=True)
                return payload
            except urllib.error.HTTPError as exc:
                self._report(endpoint, started, ok=False)
                detail = exc.read()[:300].decode("utf-8", "replace")
                last_error = f"HTTP {exc.code}: {detail}"
                if exc.code not in _RETRYABLE_STATUS:
                    raise LLMError(f"{url}: {last_error}") from exc
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                self._report(endpoint, started, ok=False)
                last_error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            except json.JSONDecodeError as exc:
                self._report(endpoint, started, ok=False)
                raise LLMError(f"{url}: reply is not JSON ({exc})") from exc
            if attempt < self.max_retries:
                delay = min(self.max_backoff_s, self.backoff_s * 2**attempt)
                delay *= 0.5 + self._rng.random() / 2
                log.warning("%s failed (%s); retry %d/%d in %.1fs", url, last_error, attempt + 1, self.max_retries, delay)
                time.sleep(delay)
        raise LLMUnavailable(f"{url}: gave up after {self.max_retries + 1} attempts: {last_error}")

    def _report(self, endpoint: str, started: float, ok: bool) -> None:
        if self.on_request is not None:
            self.on_request(endpoint, time.monotonic() - started, ok)
