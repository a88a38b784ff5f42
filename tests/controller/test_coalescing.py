"""A burst of events for one run costs at most two reconciles, never one each (handlers._reconcile)."""

from __future__ import annotations

import threading
from typing import Any

import kopf
import pytest

from acdc.controller import handlers


def test_calls_during_a_reconcile_coalesce_into_one_more_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    started, release = threading.Event(), threading.Event()
    passes: list[str] = []

    def slow_once(memo: Any, namespace: str, name: str) -> None:
        passes.append(name)
        if len(passes) == 1:
            started.set()
            release.wait(timeout=60)

    monkeypatch.setattr(handlers, "_reconcile_once", slow_once)
    first = threading.Thread(target=handlers._reconcile, args=(None, "ns", "demo"))
    first.start()
    assert started.wait(timeout=60)
    for _ in range(10):  # ten Jobs finish while the first pass runs: each returns at once
        handlers._reconcile(None, "ns", "demo")
    handlers._reconcile(None, "ns", "other")  # another run is not held back
    release.set()
    first.join(timeout=60)
    assert passes == ["demo", "other", "demo"]
    assert not handlers._again


def test_a_failed_pass_raises_in_its_own_thread_and_frees_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_once(memo: Any, namespace: str, name: str) -> None:
        raise kopf.TemporaryError("API down", delay=5)

    monkeypatch.setattr(handlers, "_reconcile_once", failing_once)
    with pytest.raises(kopf.TemporaryError):
        handlers._reconcile(None, "ns", "demo")
    assert not handlers._again  # the next event reconciles again
